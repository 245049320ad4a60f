"""A growing pool of instructions that answers "how similar is this one?" exactly.

The pipeline asks one candidate at a time (query, then add if it survives), so
the pool is kept token-encoded and each query is one batched rapidfuzz call.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .core import exact_top, sim_block
from .tokens import Encoder


class NoveltyIndex:
    """Texts added so far, with exact ROUGE-L queries against all of them."""

    def __init__(self, texts: Iterable[str] = (), *, tokenizer: str = "rouge",
                 stem: bool = False) -> None:
        self.encoder = Encoder(tokenizer, stem)
        self.texts: list[str] = []
        self._codes: list[str] = []
        self._lens = np.zeros(64, dtype=np.int64)
        texts = list(texts)
        if texts:
            for t, c in zip(texts, self.encoder.encode_many(texts)):
                self._append(t, c)

    def __len__(self) -> int:
        return len(self.texts)

    def _append(self, text: str, code: str) -> int:
        n = len(self.texts)
        if n == self._lens.size:
            self._lens = np.resize(self._lens, 2 * n)
        self._lens[n] = len(code)
        self.texts.append(text)
        self._codes.append(code)
        return n

    def add(self, text: str) -> int:
        """Add ``text`` to the pool; returns its index."""
        return self._append(text, self.encoder.encode(text))

    @property
    def codes(self) -> list[str]:
        """Token-encoded texts (one character per token), for batch scoring."""
        return self._codes

    @property
    def lengths(self) -> np.ndarray:
        return self._lens[: len(self.texts)]

    def query(self, text: str, k: int = 10) -> tuple[float, list[tuple[int, float]]]:
        """(max ROUGE-L vs every text, top-k (index, score) highest first, ties by
        index; zero scores are not listed). (0.0, []) on an empty index."""
        if not self.texts:
            return 0.0, []
        code = self.encoder.encode(text)
        qlen = np.array([len(code)])
        s = sim_block([code], self._codes, qlen, self.lengths)
        best, tops = exact_top(s, qlen, self.lengths, k)
        return float(best[0]), tops[0]
