"""The sharded novelty engines on a real local Ray cluster equal the single-machine ones.

The cluster is started as a user would: ``ray start --head`` on 127.0.0.1 and a second node
joined with ``ray start --address`` as separate processes (one CPU each), so tasks really run
in other processes and objects cross the object store. One cluster serves the whole module.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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

RAY = str(Path(sys.executable).parent / "ray")
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_pids(sids: set[int]) -> list[int]:
    """Processes in the given sessions: what our two ``ray start`` calls left running."""
    pids = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and int((p / "stat").read_text().rsplit(")", 1)[1].split()[3]) in sids:
                pids.append(int(p.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


@pytest.fixture(scope="module")
def ray_cluster():
    """A head and a second node on 127.0.0.1 (separate processes), joined by this test process;
    no token authentication (a short-lived local cluster, and this process read Ray's settings
    when it imported ray). Torn down by killing the processes of the two ``ray start`` sessions by pid:
    ``ray stop`` would stop every Ray process of this machine's user, other clusters' too."""
    tmp = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Ray's socket paths have a length limit
    port = _free_port()
    address = f"127.0.0.1:{port}"
    ours = {"RAY_ADDRESS": address, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env = {**os.environ, **ours}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", f"--temp-dir={tmp}"]
    old = {k: os.environ.get(k) for k in ours}
    sids: set[int] = set()
    try:
        for args in (["--head", f"--port={port}", "--include-dashboard=false"], [f"--address={address}"]):
            p = subprocess.Popen([RAY, "start", *args, *common], env={**env, "RAY_ADDRESS": ""}, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            sids.add(p.pid)  # a new session: its id is the leader's pid, and the daemons inherit it
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-2000:]
        os.environ.update(ours)  # this process only, for the tests of this module
        cluster.connect(address)
        deadline = time.monotonic() + 30
        while len([n for n in ray.nodes() if n["Alive"]]) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        yield {"address": address, "temp_dir": tmp}
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster._connected = None
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _session_pids(sids):
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
            time.sleep(1)
        shutil.rmtree(tmp, ignore_errors=True)


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
    assert len({s["node"] for s in stats}) == 2  # both nodes did work
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
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_join_worker, args=(ray_cluster["temp_dir"], killed, stop))
    killer.start()
    try:
        got = sharded.fast_greedy_filter(cands, pool, 0.6, shards=2)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was caught running a join part"
    assert got == single
