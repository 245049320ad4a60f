"""Similarity distributions for the dashboard: how close are instructions to the
seeds, to each other, and across all pairs. Everything works in row blocks, so
memory stays bounded whatever the number of texts."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .core import BLOCK_ELEMS, exact_matrix, exact_top, rows_for_block, sim_block
from .tokens import Encoder


def encode(texts: Sequence[str], tokenizer: str = "rouge", stem: bool = False
           ) -> tuple[list[str], np.ndarray]:
    """Token-encoded texts (one encoder, so codes agree across them) and their lengths."""
    codes = Encoder(tokenizer, stem).encode_many(texts)
    return codes, np.fromiter(map(len, codes), dtype=np.int64, count=len(codes))


def hist_edges(bins: int | Sequence[float]) -> np.ndarray:
    """``np.histogram``'s edges for ``bins`` (int: equal bins over [0, 1])."""
    return np.linspace(0.0, 1.0, bins + 1) if isinstance(bins, int) else np.asarray(bins, float)


def against_rows(codes: list[str], lens: np.ndarray, n: int, a: int, b: int) -> np.ndarray:
    """Highest ROUGE-L of texts a..b-1 against the reference texts ``codes[n:]``."""
    out = np.zeros(b - a)
    step = rows_for_block(len(codes) - n)
    for r in range(a, b, step):
        e = min(b, r + step)
        s = sim_block(codes[r:e], codes[n:], lens[r:e], lens[n:])
        out[r - a:e - a] = exact_top(s, lens[r:e], lens[n:], 0)[0]
    return out


def within_rows(codes: list[str], lens: np.ndarray, a: int, b: int) -> np.ndarray:
    """Highest ROUGE-L of texts a..b-1 against every other text."""
    out = np.zeros(b - a)
    step = rows_for_block(len(codes))
    for r in range(a, b, step):
        e = min(b, r + step)
        s = sim_block(codes[r:e], codes, lens[r:e], lens)
        s[np.arange(e - r), np.arange(r, e)] = 0  # not against itself
        out[r - a:e - a] = exact_top(s, lens[r:e], lens, 0)[0]
    return out


def histogram_rows(codes: list[str], lens: np.ndarray, a: int, b: int, edges: np.ndarray) -> np.ndarray:
    """Histogram counts of the pairs (i, j), a <= i < b, i < j."""
    n = len(codes)
    counts = np.zeros(edges.size - 1, dtype=np.int64)
    while a < b:
        e = min(b, a + rows_for_block(n - a, BLOCK_ELEMS // 8))  # float64 temporaries
        s = sim_block(codes[a:e], codes[a:], lens[a:e], lens[a:])
        f = exact_matrix(s, lens[a:e], lens[a:])
        del s
        upper = np.arange(n - a)[None, :] > np.arange(e - a)[:, None]  # pairs i < j
        counts += np.histogram(f[upper], edges)[0]
        a = e
    return counts


def max_against(texts: Sequence[str], reference: Sequence[str], *,
                tokenizer: str = "rouge", stem: bool = False) -> list[float]:
    """Each text's highest ROUGE-L against ``reference`` (e.g. the seed tasks)."""
    codes, lens = encode(list(texts) + list(reference), tokenizer, stem)
    return against_rows(codes, lens, len(texts), 0, len(texts)).tolist()


def max_within(texts: Sequence[str], *, tokenizer: str = "rouge",
               stem: bool = False) -> list[float]:
    """Each text's highest ROUGE-L against every *other* text of the set (an exact
    duplicate elsewhere in the set scores 1.0)."""
    codes, lens = encode(texts, tokenizer, stem)
    return within_rows(codes, lens, 0, len(codes)).tolist()


def pairwise_histogram(texts: Sequence[str], bins: int | Sequence[float] = 20, *,
                       tokenizer: str = "rouge", stem: bool = False,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of ROUGE-L over all n*(n-1)/2 pairs, as ``np.histogram`` would give
    for the exact scores (int bins: equal bins over [0, 1])."""
    edges = hist_edges(bins)
    codes, lens = encode(texts, tokenizer, stem)
    return histogram_rows(codes, lens, 0, max(len(codes) - 1, 0), edges), edges
