"""The sharded novelty engine on a real local Ray cluster (two nodes of one CPU) against one process.

    .venv/bin/python bench/bench_ray.py                  # 1M filter, 200K pairwise histogram
    .venv/bin/python bench/bench_ray.py --quick          # 100K filter, 10K histogram
    .venv/bin/python bench/bench_ray.py --largest 5000000  # also the filter at that size, cluster only

Prints the filter's wall time on the cluster and in one process (same decisions, scores and
blockers checked), what each shard did and sent (candidate pairs, bytes, seconds, peak RSS),
the coordinator's serial share for a projection to N nodes, and the pairwise histogram's time
with its counts checked against the single-machine engine on a prefix.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from bench_novelty import in_child, load, peak_rss_mb, run_fast, seeds, workload  # noqa: E402
from local_ray import local_cluster  # noqa: E402

from selfinstruct import cluster  # noqa: E402
from selfinstruct.novelty import join, pairwise_histogram, sharded  # noqa: E402
from selfinstruct.novelty.tokens import Encoder  # noqa: E402


def cluster_filter(cands: list[str], pool: list[str]) -> tuple[float, float, object, list[dict]]:
    """The sharded filter: (seconds end to end, seconds finding the pairs, result, per-task stats)."""
    stats: list[dict] = []
    found = [0.0]

    def find(codes, t, *, first):
        start = time.perf_counter()
        out = sharded.similar_pairs(codes, t, first=first, stats=stats)
        found[0] = time.perf_counter() - start
        return out

    start = time.perf_counter()
    r = join.greedy_from_pairs(cands, pool, 0.7, "rouge", False, find)
    return time.perf_counter() - start, found[0], r, stats


def shard_table(stats: list[dict]) -> None:
    print("| task | node | seconds | candidate pairs | bytes returned | shared object (once per node) | worker peak RSS |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for s in sorted(stats, key=lambda s: s["task"]):
        print(f"| {s['task']} | {s['node'][:8]} | {s['seconds']:.1f} | {s['pairs']:,} | {s['bytes_out'] / 1e6:.1f} MB "
              f"| {s['shared_bytes'] / 1e6:.0f} MB | {s['peak_rss_mb']:.0f} MB |")


def bench_filter(n: int) -> None:
    print(f"\n## Greedy filter, {n:,} candidates, threshold 0.7 ({load()})")
    t = time.perf_counter()
    cands, pool = workload(n), seeds()
    print(f"workload generated in {time.perf_counter() - t:.0f} s (not timed)")
    (single_s, single), rss = in_child(run_fast, cands, pool)
    print(f"one process (fast_greedy_filter): {single_s:.1f} s, peak RSS {rss:.0f} MB, kept {sum(single.kept):,} ({load()})")
    secs, find_s, got, stats = cluster_filter(cands, pool)
    same = (got.kept == single.kept, got.scores == single.scores, got.blocker == single.blocker)
    print(f"cluster (2 nodes x 1 CPU): {secs:.1f} s = {secs / single_s:.2f}x one process; same decisions {same[0]}, "
          f"same scores {same[1]}, same blockers {same[2]} ({load()})")
    nodes: dict[str, float] = {}
    for s in stats:
        nodes[s["node"]] = nodes.get(s["node"], 0.0) + s["seconds"]
    wall = max(nodes.values())
    t = time.perf_counter()
    codes = Encoder().encode_many(pool + cands)
    enc = time.perf_counter() - t
    t = time.perf_counter()
    plan = join.join_plan(codes, 0.7, split=2)
    plan_s = time.perf_counter() - t
    print(f"pairs found in {find_s:.1f} s; the shards' join: {sum(nodes.values()):.1f} s of work, {wall:.1f} s on the "
          f"busier node; {plan.signatures:,} signatures in {plan.parts} parts. Serial on the coordinator: encoding "
          f"{enc:.1f} s, join plan {plan_s:.1f} s, the rest (object store, exact scores of the candidate pairs, "
          f"in-order pass) {secs - wall - enc - plan_s:.1f} s; driver peak RSS {peak_rss_mb():.0f} MB")
    shard_table(stats)


def bench_largest(n: int) -> None:
    print(f"\n## Largest filter: {n:,} candidates on the cluster only ({load()})")
    cands, pool = workload(n), seeds()
    secs, _, got, stats = cluster_filter(cands, pool)
    print(f"{secs:.1f} s, kept {sum(got.kept):,}, driver peak RSS {peak_rss_mb():.0f} MB ({load()})")
    shard_table(stats)


def bench_histogram(n: int, check: int) -> None:
    print(f"\n## Pairwise histogram, {n:,} texts ({n * (n - 1) // 2:,} pairs) ({load()})")
    texts = workload(n, seed=1)
    stats: list[dict] = []
    t = time.perf_counter()
    counts, _ = sharded.pairwise_histogram(texts, 20, stats=stats)
    secs = time.perf_counter() - t
    print(f"cluster: {secs:.1f} s, {sum(counts):,} pairs counted (= n(n-1)/2: {int(counts.sum()) == n * (n - 1) // 2}), "
          f"worker peak RSS {max(s['peak_rss_mb'] for s in stats):.0f} MB ({load()})")
    sub = texts[:check]
    t = time.perf_counter()
    want, _ = pairwise_histogram(sub, 20)
    one = time.perf_counter() - t
    t = time.perf_counter()
    got, _ = sharded.pairwise_histogram(sub, 20)
    print(f"first {check:,}: one process {one:.1f} s, cluster {time.perf_counter() - t:.1f} s, "
          f"same counts {bool(np.array_equal(want, got))}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100K filter, 10K histogram")
    ap.add_argument("--filter", type=int, help="candidates in the filter comparison (default 1M)")
    ap.add_argument("--hist", type=int, help="texts in the pairwise histogram (default 200K)")
    ap.add_argument("--largest", type=int, help="also run the filter at this size on the cluster only")
    a = ap.parse_args()
    n_filter = a.filter or (100_000 if a.quick else 1_000_000)
    n_hist = a.hist or (10_000 if a.quick else 200_000)
    with local_cluster(nodes=2, cpus=1) as c:
        os.environ["RAY_ADDRESS"] = c["address"]
        cluster.connect(c["address"])
        print(f"local cluster at {c['address']}: 2 nodes x 1 CPU, this process the coordinator")
        bench_filter(n_filter)
        bench_histogram(n_hist, min(n_hist, 20_000))
        if a.largest:
            bench_largest(a.largest)
        import ray

        ray.shutdown()


if __name__ == "__main__":
    main()
