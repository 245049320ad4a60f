"""The paper's order-dependent ROUGE-L filter over a whole batch of candidates.

Each candidate is compared with the pool as it stood when its turn came (seeds
plus every earlier candidate that was kept). Candidates are processed in blocks:
one batched pass scores a block against the pool at the block's start, a small
block-by-block matrix covers candidates kept earlier in the same block, and a
short sequential pass makes the keep/drop decisions in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .core import Pool, exact_matrix, fold_codes, rows_for_block, sim_block, top_k
from .tokens import Encoder

# Largest block: the exact within-block matrix is INTRA_MAX**2 float64 entries.
INTRA_MAX = 1024


@dataclass
class GreedyResult:
    """Per candidate: its highest ROUGE-L vs the pool as it stood then, whether it
    was kept (score <= threshold), and its k most similar pool texts."""

    scores: list[float]
    kept: list[bool]
    nearest: list[list[tuple[str, float]]]


def greedy_filter(
    candidates: Sequence[str], pool: Sequence[str], threshold: float = 0.7, *,
    k: int = 10, tokenizer: str = "rouge", stem: bool = False,
    block: int | None = None,
) -> GreedyResult:
    """Keep each candidate whose max ROUGE-L against the pool is <= ``threshold``;
    kept ones join the pool. ``pool`` is not modified."""
    texts = list(pool) + list(candidates)
    codes = Encoder(tokenizer, stem).encode_many(texts)
    folded = fold_codes(codes)
    lens = np.fromiter(map(len, codes), dtype=np.int64, count=len(codes))
    n_pool0, end_all = len(pool), len(texts)
    live = Pool()  # ids (positions in ``texts``) of the pool as it stands
    for i in range(n_pool0):
        live.add(i, int(lens[i]), folded[i])
    scores: list[float] = []
    kept: list[bool] = []
    nearest: list[list[tuple[str, float]]] = []
    start = n_pool0
    while start < end_all:
        b = block or min(INTRA_MAX, rows_for_block(len(live)))
        stop = min(start + b, end_all)
        q_codes, q_lens = codes[start:stop], lens[start:stop]
        best, tops = top_k(q_codes, folded[start:stop], q_lens, live, codes, lens, k)
        intra = exact_matrix(sim_block(q_codes, q_codes, q_lens, q_lens), q_lens, q_lens)
        in_pool = np.zeros(stop - start, dtype=bool)  # block rows kept so far
        for r in range(stop - start):
            score = float(best[r])
            near = tops[r]
            if in_pool[:r].any():
                row = np.where(in_pool[:r], intra[r, :r], 0.0)
                score = max(score, float(row.max()))
                if k > 0:
                    floor = near[-1][1] if len(near) == k else 0.0
                    hits = np.flatnonzero(row >= max(floor, 1e-300))
                    if hits.size:
                        extra = list(zip((hits + start).tolist(), row[hits].tolist()))
                        near = sorted(near + extra, key=lambda t: (-t[1], t[0]))[:k]
            keep = score <= threshold
            scores.append(score)
            kept.append(keep)
            nearest.append([(texts[j], v) for j, v in near])
            if keep:
                in_pool[r] = True
        for r in np.flatnonzero(in_pool).tolist():
            live.add(start + r, int(lens[start + r]), folded[start + r])
        start = stop
    return GreedyResult(scores, kept, nearest)
