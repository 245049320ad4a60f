"""Replay the greedy ROUGE-L filter of a stored run at any threshold, without an LM.

The decision at threshold t only depends on pairs scoring above t, and the
reported score on the best pair whose earlier member is in the pool. So one
build keeps every (candidate, earlier text) pair scoring above
``min_threshold``, each candidate's list sorted best first; a replay walks the
candidates in order and takes, for each, the first listed neighbour that is in
the pool (a seed, or a candidate kept earlier in this replay).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .core import TOL, exact_top, fmeasure_np, lcs_from_sim, rows_for_block, sim_block
from .tokens import Encoder

_FORMAT = 1

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` with candidates scored so far and in all."""


def work_share(done: int, total: int, n_seeds: int) -> float:
    """Share of a build's comparisons behind its first ``done`` of ``total`` candidates.

    Candidate i is scored against the ``n_seeds + i`` texts before it, so later
    candidates cost more: counting candidates alone would promise too early an end.
    """
    def work(d: int) -> float:
        return d * (n_seeds + (d + 1) / 2)  # sum of n_seeds + i + 1 over i < d

    return work(done) / work(total) if total else 1.0


@dataclass
class WhatIfResult:
    """Per candidate: kept?, its max ROUGE-L vs the pool as it stood then, and the
    most similar pool member (seed i as ``-1 - i``, candidate j as ``j``).

    Scores above the graph's ``min_threshold`` are exact. Below it the score is
    the exact max against the seeds alone (a lower bound on the true max, which is
    itself <= min_threshold), and the blocker is that best seed (None when every
    seed scores 0).
    """

    kept: list[bool]
    scores: list[float]
    blocker: list[int | None]


@dataclass
class Edges:
    """One candidate range's share of a graph: each candidate's best seed, and its pairs
    (candidate, earlier text) above min_threshold (rows are candidate numbers)."""

    seed_max: np.ndarray
    seed_best: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    score: np.ndarray


def block_edges(codes: Sequence[str], lens: np.ndarray, n0: int, start: int, stop: int,
                min_threshold: float) -> Edges:
    """Candidates start..stop-1 (``codes[n0 + i]``) scored against the seeds and every earlier text."""
    q = slice(n0 + start, n0 + stop)
    seed_max, seed_best = np.zeros(stop - start), np.full(stop - start, -1, dtype=np.int64)
    if n0:
        s = sim_block(codes[q], codes[:n0], lens[q], lens[:n0])
        best, tops = exact_top(s, lens[q], lens[:n0], 1)
        seed_max[:] = best
        seed_best[:] = [t[0][0] if t else -1 for t in tops]
    s = sim_block(codes[q], codes[: n0 + stop], lens[q], lens[: n0 + stop],
                  cutoff=max(min_threshold - TOL, 0.0))
    r, c = np.nonzero(s)
    r, c = r[c < n0 + start + r], c[c < n0 + start + r]  # earlier texts only
    la, lb = lens[n0 + start + r], lens[c]
    f = fmeasure_np(lcs_from_sim(s[r, c], la, lb), la, lb)
    above = f > min_threshold
    return Edges(seed_max, seed_best, (r[above] + start).astype(np.int32), c[above].astype(np.int32), f[above])


class WhatIfGraph:
    """Sparse graph of all pairs above ``min_threshold``, built once per run."""

    def __init__(self, *, n_seeds: int, min_threshold: float, tokenizer: str,
                 indptr: np.ndarray, nbr: np.ndarray, score: np.ndarray,
                 seed_max: np.ndarray, seed_best: np.ndarray) -> None:
        self.n_seeds = n_seeds
        self.min_threshold = min_threshold
        self.tokenizer = tokenizer
        self.indptr, self.nbr, self.score = indptr, nbr, score
        self.seed_max, self.seed_best = seed_max, seed_best

    def __len__(self) -> int:
        """Number of candidates."""
        return self.seed_max.size

    @property
    def n_edges(self) -> int:
        return self.nbr.size

    @classmethod
    def build(cls, seeds: Sequence[str], candidates: Sequence[str], *,
              min_threshold: float = 0.3, tokenizer: str = "rouge",
              stem: bool = False, progress: Progress | None = None) -> "WhatIfGraph":
        """Score every candidate against the seeds and all earlier candidates once;
        ``progress`` hears after each block, so a long build can show how far it is."""
        n0, n = len(seeds), len(candidates)
        codes = Encoder(tokenizer, stem).encode_many(list(seeds) + list(candidates))
        lens = np.fromiter(map(len, codes), dtype=np.int64, count=n0 + n)
        if progress is not None:
            progress(0, n)
        parts = []
        step = rows_for_block(n0 + n)
        for start in range(0, n, step):
            parts.append(block_edges(codes, lens, n0, start, min(n, start + step), min_threshold))
            if progress is not None:
                progress(min(n, start + step), n)
        return cls.assemble(n0, min_threshold, tokenizer, parts)

    @classmethod
    def assemble(cls, n_seeds: int, min_threshold: float, tokenizer: str,
                 parts: Sequence["Edges"]) -> "WhatIfGraph":
        """The graph from the ``block_edges`` of consecutive candidate ranges covering them all."""
        parts = list(parts) or [Edges(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int32),
                                      np.zeros(0, np.int32), np.zeros(0))]
        seed_max, seed_best, rows, cols, f = (np.concatenate([getattr(p, a) for p in parts])
                                              for a in ("seed_max", "seed_best", "rows", "cols", "score"))
        n = seed_max.size
        order = np.lexsort((cols, -f, rows))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return cls(n_seeds=n_seeds, min_threshold=min_threshold, tokenizer=tokenizer,
                   indptr=indptr, nbr=cols[order], score=f[order],
                   seed_max=seed_max, seed_best=seed_best)

    def run(self, threshold: float, eligible: Sequence[bool] | None = None) -> WhatIfResult:
        """Greedy keep/drop at ``threshold``; ``eligible[i]`` False means another
        filter dropped candidate i, so it is reported but never joins the pool."""
        if not self.min_threshold <= threshold:
            raise ValueError(f"threshold {threshold} is below the graph's "
                             f"min_threshold {self.min_threshold}")
        n, n0 = len(self), self.n_seeds
        elig = [True] * n if eligible is None else [bool(e) for e in eligible]
        if len(elig) != n:
            raise ValueError(f"eligible has {len(elig)} entries for {n} candidates")
        in_pool = np.zeros(n0 + n, dtype=bool)
        in_pool[:n0] = True
        indptr = self.indptr.tolist()
        nbr, score = self.nbr, self.score
        scores = self.seed_max.tolist()
        blocker: list[int | None] = [None if b < 0 else -1 - b for b in self.seed_best.tolist()]
        kept = [False] * n
        for i in range(n):
            a, b = indptr[i], indptr[i + 1]
            if a < b:
                nb = nbr[a:b]
                hit = in_pool[nb]
                j = int(hit.argmax())
                if hit[j]:
                    scores[i] = float(score[a + j])
                    c = int(nb[j])
                    blocker[i] = c - n0 if c >= n0 else -1 - c
            if elig[i] and scores[i] <= threshold:
                kept[i] = True
                in_pool[n0 + i] = True
        return WhatIfResult(kept, scores, blocker)

    def to_bytes(self) -> bytes:
        """A compact, pickle-free serialisation (numpy ``.npz``) for the run store."""
        buf = io.BytesIO()
        np.savez(buf, format=np.array([_FORMAT, self.n_seeds]),
                 min_threshold=np.array(self.min_threshold),
                 tokenizer=np.frombuffer(self.tokenizer.encode(), dtype=np.uint8),
                 indptr=self.indptr, nbr=self.nbr, score=self.score,
                 seed_max=self.seed_max, seed_best=self.seed_best)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "WhatIfGraph":
        z = np.load(io.BytesIO(data), allow_pickle=False)
        version, n_seeds = z["format"].tolist()
        if version != _FORMAT:
            raise ValueError(f"unsupported WhatIfGraph format {version}")
        return cls(n_seeds=int(n_seeds), min_threshold=float(z["min_threshold"]),
                   tokenizer=z["tokenizer"].tobytes().decode(), indptr=z["indptr"],
                   nbr=z["nbr"], score=z["score"], seed_max=z["seed_max"],
                   seed_best=z["seed_best"])
