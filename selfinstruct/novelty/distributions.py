"""Similarity distributions for the dashboard: how close are instructions to the
seeds, to each other, and across all pairs. Everything works in row blocks, so
memory stays bounded whatever the number of texts."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .core import BLOCK_ELEMS, exact_matrix, exact_top, rows_for_block, sim_block
from .tokens import Encoder


def _encode(texts: Sequence[str], tokenizer: str, stem: bool) -> tuple[list[str], np.ndarray]:
    codes = Encoder(tokenizer, stem).encode_many(texts)
    return codes, np.fromiter(map(len, codes), dtype=np.int64, count=len(codes))


def max_against(texts: Sequence[str], reference: Sequence[str], *,
                tokenizer: str = "rouge", stem: bool = False) -> list[float]:
    """Each text's highest ROUGE-L against ``reference`` (e.g. the seed tasks)."""
    codes, lens = _encode(list(texts) + list(reference), tokenizer, stem)
    n = len(texts)
    out = np.zeros(n)
    step = rows_for_block(len(reference))
    for a in range(0, n, step):
        b = min(n, a + step)
        s = sim_block(codes[a:b], codes[n:], lens[a:b], lens[n:])
        out[a:b] = exact_top(s, lens[a:b], lens[n:], 0)[0]
    return out.tolist()


def max_within(texts: Sequence[str], *, tokenizer: str = "rouge",
               stem: bool = False) -> list[float]:
    """Each text's highest ROUGE-L against every *other* text of the set (an exact
    duplicate elsewhere in the set scores 1.0)."""
    codes, lens = _encode(texts, tokenizer, stem)
    n = len(texts)
    out = np.zeros(n)
    step = rows_for_block(n)
    for a in range(0, n, step):
        b = min(n, a + step)
        s = sim_block(codes[a:b], codes, lens[a:b], lens)
        s[np.arange(b - a), np.arange(a, b)] = 0  # not against itself
        out[a:b] = exact_top(s, lens[a:b], lens, 0)[0]
    return out.tolist()


def pairwise_histogram(texts: Sequence[str], bins: int | Sequence[float] = 20, *,
                       tokenizer: str = "rouge", stem: bool = False,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of ROUGE-L over all n*(n-1)/2 pairs, as ``np.histogram`` would give
    for the exact scores (int bins: equal bins over [0, 1])."""
    edges = np.linspace(0.0, 1.0, bins + 1) if isinstance(bins, int) else np.asarray(bins, float)
    counts = np.zeros(edges.size - 1, dtype=np.int64)
    codes, lens = _encode(texts, tokenizer, stem)
    n = len(texts)
    a = 0
    while a < n - 1:
        b = min(n - 1, a + rows_for_block(n - a, BLOCK_ELEMS // 8))  # float64 temporaries
        s = sim_block(codes[a:b], codes[a:], lens[a:b], lens[a:])
        f = exact_matrix(s, lens[a:b], lens[a:])
        del s
        upper = np.arange(n - a)[None, :] > np.arange(b - a)[:, None]  # pairs i < j
        counts += np.histogram(f[upper], edges)[0]
        a = b
    return counts, edges
