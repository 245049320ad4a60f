"""Answer length against judge score: "Instruction Tuning with GPT-4" finds that judges favour
longer answers, so a score gap between two models may be partly a length gap.

``length_vs_score`` reads the stored judge scores of response sets and returns plain numbers:
each response's length and score, a least-squares line, Pearson and Spearman correlations (with
n), and the mean score per length bucket. Lengths are in words, or in characters when most letters
are in scripts written without spaces (``analysis.length_unit``). Buckets are quantiles of the
pooled lengths (quartiles by default): about equally many responses in each, the same edges for
every set, and tied lengths always in one bucket. The figures are in ``figures``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from ..analysis import Unit, length_unit, text_length
from ..prompts.judge import template_id
from ..store import RunInfo, Store
from ..store.evals import judges, judgments
from ..store.responses import response_set, response_sets, responses

ALL = "all"  # the pooled responses of every chosen set
BUCKETS = 4


@dataclass(frozen=True)
class Fit:
    """How score follows length over ``n`` responses; None where the numbers do not define it
    (fewer than two responses, or all lengths or all scores equal)."""

    n: int
    slope: float | None  # score per unit of length
    intercept: float | None
    pearson: float | None
    spearman: float | None


@dataclass(frozen=True)
class Bucket:
    """Responses whose length lies in [lo, hi) (the last bucket closed), and their mean score."""

    lo: float
    hi: float
    n: int
    mean_length: float | None
    mean_score: float | None


@dataclass(frozen=True)
class LengthScore:
    """Everything the length-vs-score table and figures show, per set and pooled (``ALL``)."""

    run: str
    judge: str
    paired: bool
    unit: Unit
    lengths: dict[str, list[int]]  # per set, aligned with scores
    scores: dict[str, list[float]]
    fits: dict[str, Fit]
    edges: list[float]
    buckets: dict[str, list[Bucket]]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready numbers (``evaluate length-score --json``)."""
        return asdict(self)


def bucket_label(b: Bucket, *, last: bool) -> str:
    """"[10, 25)" or, for the last (closed) bucket, "[25, 80]"."""
    return f"[{b.lo:g}, {b.hi:g}{']' if last else ')'}"


# ------------------------------------------------------------------ statistics (pure)


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    return float((dx @ dy) / math.sqrt((dx @ dx) * (dy @ dy)))


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of their places (as Spearman's rho needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def fit(lengths: Sequence[float], scores: Sequence[float]) -> Fit:
    """Least-squares line of score on length, and Pearson's r and Spearman's rho."""
    x, y = np.asarray(lengths, dtype=float), np.asarray(scores, dtype=float)
    n = len(x)
    if n < 2 or np.ptp(x) == 0:
        return Fit(n, None, None, None, None)
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean()) / (dx @ dx))
    return Fit(n, slope, float(y.mean() - slope * x.mean()), _pearson(x, y),
               _pearson(np.asarray(average_ranks(lengths)), np.asarray(average_ranks(scores))))


def quantile_edges(lengths: Sequence[float], buckets: int = BUCKETS) -> list[float]:
    """Edges at the 0, 1/k, ..., 1 quantiles (numpy's linear rule), repeated edges merged,
    so fewer buckets come back when many lengths are equal."""
    if buckets < 1:
        raise ValueError(f"the number of length buckets must be at least 1, got {buckets}")
    if not len(lengths):
        return []
    edges = np.unique(np.quantile(np.asarray(lengths, dtype=float), np.linspace(0, 1, buckets + 1)))
    return edges.tolist() if len(edges) > 1 else [float(edges[0])] * 2


def bucket_means(lengths: Sequence[float], scores: Sequence[float], edges: Sequence[float]) -> list[Bucket]:
    """Mean length and score per [edge_i, edge_i+1) bucket, the last closed (numpy's histogram rule)."""
    if len(edges) < 2:
        return []
    inner = np.asarray(edges[1:-1], dtype=float)
    where = np.searchsorted(inner, np.asarray(lengths, dtype=float), side="right")
    out = []
    for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        mine = [k for k, w in enumerate(where) if w == b]
        out.append(Bucket(lo, hi, len(mine),
                          float(np.mean([lengths[k] for k in mine])) if mine else None,
                          float(np.mean([scores[k] for k in mine])) if mine else None))
    return out


# ------------------------------------------------------------------ from the store


def response_scores(
    store: Store, run: RunInfo, names: Sequence[str], *, judge: str, paired: bool, template: str | None = None,
) -> dict[str, dict[int, float]]:
    """Per set, each judged response's score by instance id. Alone: its latest readable 1-10
    score. Pairwise: the mean of its readable scores over the latest judgment of every pair
    and order it was in (both orders against each other set), so position bias cancels."""
    by_id = {response_set(store, run.id, n).id: n for n in names}
    every = [s.id for s in response_sets(store, run.id)]  # a pair's other side may be any set
    tid = template_id(template) if template is not None else None
    latest = {(j.instance_id, j.set_a, j.set_b): j
              for j in judgments(store, every, judge=judge, template=tid, paired=paired)}
    sums: dict[str, dict[int, list[float]]] = {n: {} for n in names}
    for j in latest.values():
        for side, score in ((j.set_a, j.score_a), (j.set_b, j.score_b)):
            if side in by_id and score is not None:
                sums[by_id[side]].setdefault(j.instance_id, []).append(score)
    return {n: {i: sum(v) / len(v) for i, v in got.items()} for n, got in sums.items()}


def length_vs_score(
    store: Store, run: RunInfo, names: Sequence[str], *, judge: str, paired: bool = False,
    template: str | None = None, buckets: int = BUCKETS,
) -> LengthScore:
    """Length and judge score of every judged response of ``names``, fitted per set and pooled."""
    names = list(dict.fromkeys(names))
    if not names:
        raise ValueError("length vs score needs at least one response set")
    scored = response_scores(store, run, names, judge=judge, paired=paired, template=template)
    texts = {n: {r.instance_id: r.text for r in responses(store, response_set(store, run.id, n).id)} for n in names}
    unit = length_unit(t for n in names for t in texts[n].values())
    judged = {n: [i for i in scored[n] if i in texts[n]] for n in names}
    lengths = {n: [text_length(texts[n][i], unit) for i in judged[n]] for n in names}
    scores = {n: [scored[n][i] for i in judged[n]] for n in names}
    lengths[ALL] = [v for n in names for v in lengths[n]]
    scores[ALL] = [v for n in names for v in scores[n]]
    edges = quantile_edges(lengths[ALL], buckets)
    return LengthScore(
        run=run.name, judge=judge, paired=paired, unit=unit, lengths=lengths, scores=scores,
        fits={n: fit(lengths[n], scores[n]) for n in lengths}, edges=edges,
        buckets={n: bucket_means(lengths[n], scores[n], edges) for n in lengths},
    )


def length_score_summary(store: Store, run: RunInfo) -> list[dict[str, Any]]:
    """Per judge and mode (alone, pairwise), the pooled fit over the sets it scored: what
    ``stats`` shows (``evaluate length-score`` has the per-set numbers and the buckets)."""
    sets = response_sets(store, run.id)
    out = []
    for paired in (False, True):
        for judge in sorted({j for j, _, _ in judges(store, [s.id for s in sets], paired=paired)}):
            names = [s.name for s in sets if any(j == judge for j, _, _ in judges(store, [s.id], paired=paired))]
            ls = length_vs_score(store, run, names, judge=judge, paired=paired)
            if ls.fits[ALL].n:
                out.append({"judge": judge, "paired": paired, "sets": names, "unit": ls.unit,
                            **asdict(ls.fits[ALL])})
    return out
