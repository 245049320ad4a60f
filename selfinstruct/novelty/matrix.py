"""The full ROUGE-L similarity matrix of a set of texts, exact (rouge-score's arithmetic),
for kernels such as the Vendi score that need every pair rather than row maxima."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .core import BLOCK_ELEMS, exact_matrix, rows_for_block, sim_block
from .tokens import Encoder


def rouge_matrix(texts: Sequence[str], *, tokenizer: str = "rouge", stem: bool = False,
                 diagonal: float | None = 1.0) -> np.ndarray:
    """Symmetric float64 matrix of ROUGE-L F between every two texts.

    The diagonal is ``diagonal`` (a kernel wants 1 even for a text with no token, which
    rouge-score scores 0 against itself); None leaves rouge-score's own self-scores.
    Filled in row blocks of the upper triangle, each mirrored at once, so memory stays at
    the matrix plus one block.
    """
    codes = Encoder(tokenizer, stem).encode_many(list(texts))
    lens = np.fromiter(map(len, codes), dtype=np.int64, count=len(codes))
    n = len(codes)
    out = np.zeros((n, n))
    a = 0
    while a < n:
        b = min(n, a + rows_for_block(n - a, BLOCK_ELEMS // 8))  # float64 temporaries
        s = sim_block(codes[a:b], codes[a:], lens[a:b], lens[a:])
        f = exact_matrix(s, lens[a:b], lens[a:])
        out[a:b, a:] = f
        out[a:, a:b] = f.T  # F is symmetric in IEEE arithmetic too: p and r only swap
        a = b
    if diagonal is not None:
        np.fill_diagonal(out, diagonal)
    return out
