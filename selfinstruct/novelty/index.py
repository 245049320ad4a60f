"""A growing pool of instructions that answers "how similar is this one?" exactly.

The pipeline asks one candidate at a time (query, then add if it survives), so
the pool is kept token-encoded (and folded, see ``core.fold_codes``) and each
query is a few batched rapidfuzz calls.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .core import Pool, fold_codes, top_k
from .tokens import Encoder


class NoveltyIndex:
    """Texts added so far, with exact ROUGE-L queries against all of them."""

    def __init__(self, texts: Iterable[str] = (), *, tokenizer: str = "rouge",
                 stem: bool = False) -> None:
        self.encoder = Encoder(tokenizer, stem)
        self.texts: list[str] = []
        self._codes: list[str] = []
        self._folded: list[str] = []
        self._lens = np.zeros(64, dtype=np.int64)
        self._pool = Pool()
        texts = list(texts)
        if texts:
            codes = self.encoder.encode_many(texts)
            for t, c, f in zip(texts, codes, fold_codes(codes)):
                self._append(t, c, f)

    def __len__(self) -> int:
        return len(self.texts)

    def _append(self, text: str, code: str, folded: str) -> int:
        n = len(self.texts)
        if n == self._lens.size:
            self._lens = np.resize(self._lens, 2 * n)
        self._lens[n] = len(code)
        self.texts.append(text)
        self._codes.append(code)
        self._folded.append(folded)
        self._pool.add(n, len(code), folded)
        return n

    def add(self, text: str) -> int:
        """Add ``text`` to the pool; returns its index."""
        code = self.encoder.encode(text)
        return self._append(text, code, fold_codes([code])[0])

    @property
    def codes(self) -> list[str]:
        """Token-encoded texts (one character per token), for batch scoring."""
        return self._codes

    @property
    def folded(self) -> list[str]:
        """8-bit folded codes (``core.fold_codes``), for upper-bound scoring."""
        return self._folded

    @property
    def lengths(self) -> np.ndarray:
        return self._lens[: len(self.texts)]

    def query(self, text: str, k: int = 10) -> tuple[float, list[tuple[int, float]]]:
        """(max ROUGE-L vs every text, top-k (index, score) highest first, ties by
        index; zero scores are not listed). (0.0, []) on an empty index."""
        code = self.encoder.encode(text)
        best, tops = top_k([code], fold_codes([code]), np.array([len(code)]), self._pool,
                           self._codes, self.lengths, k)
        return float(best[0]), tops[0]
