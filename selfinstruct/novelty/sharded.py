"""The novelty engines on a Ray cluster: the single-machine results, the work spread over workers.

Nothing is computed here: every task runs a kernel of ``join``, ``distributions`` or
``whatif`` on a share of the work. This process (the coordinator) encodes the texts once
(one vocabulary, so codes agree everywhere), puts what the tasks read into Ray's object
store once (each node fetches one copy, read-only), and keeps what depends on order:

- the greedy filter: the signature join is split by signature key (each task joins the
  keys of one residue and returns its candidate pairs); the coordinator scores the union
  exactly (a few pairs per candidate) and makes the in-order keep/drop pass;
- the what-if graph: candidate ranges of equal work, each scored against everything before it;
- ``max_against``/``max_within``: row ranges; ``pairwise_histogram``: row ranges of the upper
  triangle, the per-bin counts summed (integers: exact in any order).

Tasks take one CPU each (rapidfuzz then uses one thread) and Ray reruns a task whose worker
died (``MAX_RETRIES``), on any node holding or fetching its inputs, so a lost worker costs
time, never a different result. Each function takes ``shards`` (default: the cluster's CPUs)
and ``stats``: a list that receives one dict per task (node, seconds, work, bytes).
"""

from __future__ import annotations

import os
import pickle
import time
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from .. import cluster
from . import join
from .core import rows_for_block
from .distributions import against_rows, encode, hist_edges, histogram_rows, within_rows
from .join import FastGreedyResult
from .whatif import Edges, Progress, WhatIfGraph, block_edges

# A task whose worker dies is rerun up to this many times (Ray's own task retries).
MAX_RETRIES = 4
# Row-range work is cut into this many tasks per shard: idle workers take the next one,
# and a lost worker costs a smaller share.
TASKS_PER_SHARD = 2

Stats = list[dict[str, Any]]


def _ray():
    """Ray, connected: to the cluster ``cluster.connect`` chose, else a local one."""
    import ray

    if not ray.is_initialized():
        cluster.connect("auto")
    return ray


def _shards(shards: int | None) -> int:
    if shards is not None and shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    return shards or max(1, int(_ray().cluster_resources().get("CPU", 1)))


@lru_cache(maxsize=1)
def _task() -> Any:
    """``_timed`` as a Ray task of one CPU, spread over the nodes, rerun when its worker dies."""
    return _ray().remote(num_cpus=1, max_retries=MAX_RETRIES, scheduling_strategy="SPREAD")(_timed)


def _run(fn: Callable, shared: Any, args: Sequence[tuple], stats: Stats | None,
         pairs: Sequence[int] | None = None, on_done: Callable[[int], None] | None = None) -> list[Any]:
    """``fn(shared, *a)`` for each ``a`` in ``args`` as tasks; their values in order.
    ``pairs[i]``: the pairs task i scores, for ``stats`` (None: the size of its value, the
    candidate pairs a join part found). ``on_done(i)`` hears each task as it finishes."""
    ray = _ray()
    ref = ray.put(shared)
    futures = [_task().remote(fn, ref, *a) for a in args]
    index = {f: i for i, f in enumerate(futures)}
    out: list[Any] = [None] * len(futures)
    pending = list(futures)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        i = index[done[0]]
        out[i], info = ray.get(done[0])
        if stats is not None:
            stats.append({"task": i, "pairs": int(pairs[i]) if pairs is not None else int(out[i].size), **info})
        if on_done is not None:
            on_done(i)
    if stats is not None:
        size = len(pickle.dumps(shared, protocol=5))
        for s in stats[-len(futures):]:
            s["shared_bytes"] = size  # fetched once per node, not per task
    return out


def _timed(fn: Callable, shared: Any, *args: Any) -> tuple[Any, dict[str, Any]]:
    """Run one kernel in a worker: its value, and where it ran, how long and how big its reply was."""
    import ray

    os.environ["NOVELTY_WORKERS"] = "1"  # the task holds one CPU
    start = time.perf_counter()
    value = fn(shared, *args)
    return value, {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
                   "seconds": time.perf_counter() - start,
                   "bytes_out": len(pickle.dumps(value, protocol=5)), "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """This worker's peak resident memory so far, over every task it ran (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0.0


def _ranges(work: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Consecutive ranges [a, b) of rows, about equal in total ``work``."""
    n = work.size
    if n == 0:
        return []
    cum = np.cumsum(work, dtype=np.float64)
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, parts) / parts) + 1
    bounds = np.unique(np.r_[0, np.minimum(cuts, n), n])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def _join_part(plan: join.JoinPlan, part: int, first: int) -> np.ndarray:
    return join.part_pairs(plan, part, first)


def similar_pairs(codes: Sequence[str], threshold: float, *, first: int = 0,
                  shards: int | None = None, stats: Stats | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``join.similar_pairs`` with the signature join split by key over the cluster."""
    plan = join.join_plan(codes, threshold, split=_shards(shards))
    parts = _run(_join_part, plan, [(p, first) for p in range(plan.parts)], stats)
    tiny = join.tiny_pairs(codes, threshold, first)
    return join.score_pairs(codes, np.concatenate(parts + [tiny]), threshold)


def fast_greedy_filter(candidates: Sequence[str], pool: Sequence[str], threshold: float = 0.7, *,
                       tokenizer: str = "rouge", stem: bool = False, shards: int | None = None,
                       stats: Stats | None = None) -> FastGreedyResult:
    """``join.fast_greedy_filter`` on the cluster: the same decisions, scores and blockers."""
    def find(codes: Sequence[str], t: float, *, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return similar_pairs(codes, t, first=first, shards=shards, stats=stats)

    return join.greedy_from_pairs(candidates, pool, threshold, tokenizer, stem, find)


def _against(data: tuple[list[str], np.ndarray], n: int, a: int, b: int) -> np.ndarray:
    return against_rows(*data, n, a, b)


def _within(data: tuple[list[str], np.ndarray], a: int, b: int) -> np.ndarray:
    return within_rows(*data, a, b)


def _histogram(data: tuple[list[str], np.ndarray], a: int, b: int, edges: np.ndarray) -> np.ndarray:
    return histogram_rows(*data, a, b, edges)


def max_against(texts: Sequence[str], reference: Sequence[str], *, tokenizer: str = "rouge",
                stem: bool = False, shards: int | None = None, stats: Stats | None = None) -> list[float]:
    """``distributions.max_against`` over row ranges on the cluster."""
    n = len(texts)
    data = encode(list(texts) + list(reference), tokenizer, stem)
    ranges = _ranges(np.ones(n), _shards(shards) * TASKS_PER_SHARD)
    out = _run(_against, data, [(n, a, b) for a, b in ranges], stats,
               [(b - a) * len(reference) for a, b in ranges])
    return np.concatenate(out).tolist() if out else []


def max_within(texts: Sequence[str], *, tokenizer: str = "rouge", stem: bool = False,
               shards: int | None = None, stats: Stats | None = None) -> list[float]:
    """``distributions.max_within`` over row ranges on the cluster."""
    data = encode(texts, tokenizer, stem)
    ranges = _ranges(np.ones(len(texts)), _shards(shards) * TASKS_PER_SHARD)
    out = _run(_within, data, ranges, stats, [(b - a) * len(texts) for a, b in ranges])
    return np.concatenate(out).tolist() if out else []


def pairwise_histogram(texts: Sequence[str], bins: int | Sequence[float] = 20, *,
                       tokenizer: str = "rouge", stem: bool = False, shards: int | None = None,
                       stats: Stats | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``distributions.pairwise_histogram``: the upper triangle in row ranges of equal pair
    counts, each task's per-bin counts summed."""
    edges = hist_edges(bins)
    data = encode(texts, tokenizer, stem)
    n = len(texts)
    work = np.arange(n - 1, 0, -1)  # row i pairs with the n - 1 - i texts after it
    ranges = _ranges(work, _shards(shards) * TASKS_PER_SHARD)
    counts = np.zeros(edges.size - 1, dtype=np.int64)
    for c in _run(_histogram, data, [(a, b, edges) for a, b in ranges], stats,
                  [int(work[a:b].sum()) for a, b in ranges]):
        counts += c
    return counts, edges


def _graph_rows(data: tuple[list[str], np.ndarray], n0: int, a: int, b: int, min_threshold: float) -> list[Edges]:
    codes, lens = data
    step = rows_for_block(len(codes))
    return [block_edges(codes, lens, n0, s, min(b, s + step), min_threshold) for s in range(a, b, step)]


def whatif_graph(seeds: Sequence[str], candidates: Sequence[str], *, min_threshold: float = 0.3,
                 tokenizer: str = "rouge", stem: bool = False, progress: Progress | None = None,
                 shards: int | None = None, stats: Stats | None = None) -> WhatIfGraph:
    """``WhatIfGraph.build`` on the cluster: candidate ranges of equal work (candidate i is
    scored against the n_seeds + i texts before it); ``progress`` hears candidates done."""
    n0, n = len(seeds), len(candidates)
    data = encode(list(seeds) + list(candidates), tokenizer, stem)
    work = n0 + np.arange(n)  # candidate i against the n0 + i texts before it
    ranges = _ranges(work + 1, _shards(shards) * TASKS_PER_SHARD)
    done = [0]

    def tick(i: int) -> None:
        done[0] += ranges[i][1] - ranges[i][0]
        if progress is not None:
            progress(done[0], n)

    if progress is not None:
        progress(0, n)
    parts = _run(_graph_rows, data, [(n0, a, b, min_threshold) for a, b in ranges], stats,
                 [int(work[a:b].sum()) for a, b in ranges], tick)
    return WhatIfGraph.assemble(n0, min_threshold, tokenizer, [e for p in parts for e in p])
