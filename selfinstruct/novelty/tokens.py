"""Tokenizers for ROUGE-L, and the token-to-character encoding that lets rapidfuzz
compare token sequences.

"rouge" copies rouge-score's default tokenizer step by step (lowercase, every
non ``[a-z0-9]`` run becomes a space, optional Porter stemming of tokens longer
than 3 characters) so scores match the paper's filter. "unicode" keeps words of
any script: Chinese or Russian text would otherwise tokenize to nothing and
every pair would score 0.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache
from typing import Callable, Iterable

from ..config import TOKENIZERS

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")
_VALID = re.compile(r"^[a-z0-9]+$")

# Scripts written without spaces between words: one token per character.
_CHAR_SCRIPTS = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff\u31f0-\u31ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\U00020000-\U0003ffff"  # CJK extensions
)


@lru_cache(maxsize=None)
def _unicode_pattern() -> re.Pattern[str]:
    """Words = runs of letters, digits and combining marks (Hindi vowel signs are
    marks, not letters); built once because finding the marks scans Unicode."""
    marks: list[str] = []
    start = prev = -2
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me"):
            if cp != prev + 1:
                if start >= 0:
                    marks.append(_range(start, prev))
                start = cp
            prev = cp
    marks.append(_range(start, prev))
    cls = "".join(marks)
    return re.compile(f"[{_CHAR_SCRIPTS}]|(?:[^\\W_{_CHAR_SCRIPTS}]|[{cls}])+")


def _range(a: int, b: int) -> str:
    return re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"


@lru_cache(maxsize=None)
def _porter() -> Callable[[str], str]:
    """NLTK's Porter stemmer, as rouge-score uses it; imported only when asked for."""
    from nltk.stem import porter

    return lru_cache(maxsize=1 << 16)(porter.PorterStemmer().stem)


def tokenize(text: str, *, tokenizer: str = "rouge", stem: bool = False) -> list[str]:
    """Split ``text`` into the tokens ROUGE-L compares.

    "rouge" equals ``rouge_score.tokenize.tokenize`` (with a Porter stemmer when
    ``stem``); "unicode" lowercases, keeps words of any space-separated script
    and gives one token per character of CJK/Thai/Lao/Khmer/Myanmar text.
    """
    if tokenizer == "rouge":
        tokens = _SPACES.split(_NON_ALNUM.sub(" ", text.lower()))
        if stem:
            st = _porter()
            tokens = [st(t) if len(t) > 3 else t for t in tokens]
        return [t for t in tokens if _VALID.match(t)]
    if tokenizer == "unicode":
        tokens = _unicode_pattern().findall(text.casefold())
        if stem:
            st = _porter()
            tokens = [st(t) if len(t) > 3 and t.isascii() else t for t in tokens]
        return tokens
    raise ValueError(f"unknown tokenizer {tokenizer!r}; expected one of {TOKENIZERS}")


class Encoder:
    """Maps each distinct token to one code point, so a text becomes a short string
    whose characters are tokens and rapidfuzz's bit-parallel LCS counts tokens."""

    def __init__(self, tokenizer: str = "rouge", stem: bool = False) -> None:
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer {tokenizer!r}; expected one of {TOKENIZERS}")
        self.tokenizer = tokenizer
        self.stem = stem
        self._vocab: dict[str, str] = {}

    def tokens(self, text: str) -> list[str]:
        return tokenize(text, tokenizer=self.tokenizer, stem=self.stem)

    def encode_tokens(self, tokens: Iterable[str]) -> str:
        vocab = self._vocab
        out = []
        for t in tokens:
            c = vocab.get(t)
            if c is None:
                c = vocab[t] = _char(len(vocab))
            out.append(c)
        return "".join(out)

    def encode(self, text: str) -> str:
        return self.encode_tokens(self.tokens(text))

    def encode_many(self, texts: Iterable[str]) -> list[str]:
        """Encode a batch, giving the most frequent tokens the lowest code points
        first (rapidfuzz looks characters below 256 up in a plain array)."""
        toks = [self.tokens(t) for t in texts]
        counts: dict[str, int] = {}
        for ts in toks:
            for t in ts:
                counts[t] = counts.get(t, 0) + 1
        for t in sorted(counts, key=counts.__getitem__, reverse=True):
            if t not in self._vocab:
                self._vocab[t] = _char(len(self._vocab))
        return [self.encode_tokens(ts) for ts in toks]


def _char(i: int) -> str:
    """The i-th code point, skipping surrogates (not valid in a str for rapidfuzz)."""
    return chr(i if i < 0xD800 else i + 0x800)
