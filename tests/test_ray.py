"""The sharded novelty engines on a real local Ray cluster equal the single-machine ones.

The cluster is started as a user would: ``ray start --head`` on 127.0.0.1 and a second node
joined with ``ray start --address`` as separate processes (one CPU each), so tasks really run
in other processes and objects cross the object store. One cluster (conftest's ``ray_cluster``)
serves every Ray test of the session.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from selfinstruct import cluster  # noqa: E402
from selfinstruct.novelty import (WhatIfGraph, fast_greedy_filter, join, max_against,  # noqa: E402
                                  max_within, pairwise_histogram, sharded)
from selfinstruct.novelty.tokens import Encoder  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

VERBS = ["write", "list", "give", "explain", "classify", "summarize", "find", "make"]
WORDS = [f"w{i}" for i in range(3000)]
ZIPF = [1 / (i + 1) ** 1.1 for i in range(len(WORDS))]


def texts(n: int, seed: int = 0) -> list[str]:
    """Instruction-like texts, a fifth of them small edits of earlier ones (so the filter drops some)."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.2:
            toks = rng.choice(out).split()
            toks[rng.randrange(len(toks))] = rng.choice(WORDS)
        else:
            toks = [rng.choice(VERBS)] + rng.choices(WORDS, ZIPF, k=rng.randint(2, 20))
        out.append(" ".join(toks))
    return out


def test_two_nodes_and_connect_is_idempotent(ray_cluster):
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    cluster.connect(ray_cluster["address"])  # again: nothing happens
    with pytest.raises(cluster.ClusterError, match="127.0.0.1:1"):
        cluster.connect("127.0.0.1:1")


def test_fast_greedy_filter_equals_single_machine(ray_cluster):
    cands, pool = texts(3000), texts(100, seed=1)
    stats: list[dict] = []
    for t in (0.5, 0.7):
        single = fast_greedy_filter(cands, pool, t)
        got = sharded.fast_greedy_filter(cands, pool, t, shards=2, stats=stats)
        assert got == single
        assert not all(single.kept)
    assert all(s["bytes_out"] > 0 and s["shared_bytes"] > 0 for s in stats)


def test_similar_pairs_equal_single_machine(ray_cluster):
    codes = Encoder().encode_many(texts(2000, seed=2))
    for first in (0, 500):
        want = join.similar_pairs(codes, 0.4, first=first)
        got = sharded.similar_pairs(codes, 0.4, first=first, shards=3)
        for a, b in zip(want, got):
            np.testing.assert_array_equal(a, b)


def test_whatif_graph_equals_single_machine(ray_cluster):
    seeds, cands = texts(50, seed=3), texts(1500, seed=4)
    want = WhatIfGraph.build(seeds, cands)
    seen = []
    got = sharded.whatif_graph(seeds, cands, progress=lambda d, t: seen.append((d, t)))
    assert got.to_bytes() == want.to_bytes()
    assert seen[0] == (0, 1500) and seen[-1] == (1500, 1500)


def test_distributions_equal_single_machine(ray_cluster):
    xs, ref = texts(1500, seed=5), texts(120, seed=6)
    assert sharded.max_against(xs, ref) == max_against(xs, ref)
    assert sharded.max_within(xs, shards=3) == max_within(xs)
    for bins in (20, [0.0, 0.1, 0.3, 0.7, 1.0]):
        counts, edges = sharded.pairwise_histogram(xs, bins)
        want_counts, want_edges = pairwise_histogram(xs, bins)
        np.testing.assert_array_equal(counts, want_counts)
        np.testing.assert_array_equal(edges, want_edges)
    assert int(counts.sum()) == 1500 * 1499 // 2
    assert sharded.max_within([]) == [] and sharded.pairwise_histogram(["a"])[0].sum() == 0


def _kill_first_join_worker(temp_dir: str, killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the first worker of this test's cluster seen running a join part."""
    while not stop.is_set() and not killed:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
                if not title.startswith(b"ray::_timed"):
                    continue
                parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
                if temp_dir.encode() not in Path(f"/proc/{parent}/cmdline").read_bytes():
                    continue  # another cluster's worker: not ours to touch
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
            except (OSError, IndexError):
                continue
        time.sleep(0.005)


def test_killed_worker_leaves_the_result_identical(ray_cluster):
    cands, pool = texts(40000, seed=7), texts(100, seed=8)
    single = fast_greedy_filter(cands, pool, 0.6)
    stats: list[dict] = []
    assert sharded.fast_greedy_filter(cands, pool, 0.6, shards=2, stats=stats) == single
    assert len({s["node"] for s in stats}) == 2  # the two parts ran side by side, one per node
    killed: list[int] = []
    stats.clear()
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_join_worker, args=(ray_cluster["temp_dir"], killed, stop))
    killer.start()
    try:
        got = sharded.fast_greedy_filter(cands, pool, 0.6, shards=2, stats=stats)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was caught running a join part"
    assert got == single
    assert killed[0] not in {s["pid"] for s in stats}  # the killed worker's part was redone elsewhere


def test_prepare_graph_on_the_cluster_is_the_graph_of_one_process(ray_cluster, tmp_path):
    from conftest import OUR_SEEDS
    from selfinstruct import filter_views
    from selfinstruct.config import RunConfig
    from selfinstruct.lm.fake import FakeLM
    from selfinstruct.pipeline import Pipeline, start_run
    from selfinstruct.seeds import load_tasks
    from selfinstruct.store import Store

    store = Store(tmp_path / "w.sqlite")
    run = start_run(store, "r", load_tasks(OUR_SEEDS), RunConfig(target=60))
    list(Pipeline(store, run, FakeLM()).events())
    run = store.run(run.id)
    shown = []
    got = filter_views.prepare_graph(store, run, show=lambda share, text: shown.append(share),
                                     ray=ray_cluster["address"])
    seeds = [r.text for r in store.instructions(run.id, origin="seed")]
    cands = [r.text for r in store.instructions(run.id, origin="machine")]
    assert got.to_bytes() == WhatIfGraph.build(seeds, cands, min_threshold=filter_views.MIN_THRESHOLD).to_bytes()
    assert shown and shown[-1] == 1.0
