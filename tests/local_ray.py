"""A real Ray cluster on this machine for the tests and the bench: a head and more nodes, each
started with ``ray start`` as its own process group, stopped by killing exactly those processes.

``ray stop`` is not used: it stops every Ray process of this machine's user, other people's
clusters included.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_pids(sids: set[int]) -> list[int]:
    """Processes in the given sessions: what our ``ray start`` calls left running."""
    pids = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and int((p / "stat").read_text().rsplit(")", 1)[1].split()[3]) in sids:
                pids.append(int(p.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


@contextlib.contextmanager
def local_cluster(nodes: int = 2, cpus: int = 1, object_store_mb: int | None = None) -> Iterator[dict]:
    """Yields {"address", "temp_dir", "env"} of a cluster of ``nodes`` nodes on 127.0.0.1 with
    ``cpus`` CPUs each. No token authentication: short-lived, local, and a process that already
    imported ray has read its settings. Pass ``env`` to processes that should join it."""
    tmp = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Ray's socket paths have a length limit
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": ""}
    common = ["--node-ip-address=127.0.0.1", f"--num-cpus={cpus}", "--disable-usage-stats", f"--temp-dir={tmp}"]
    if object_store_mb:
        common.append(f"--object-store-memory={object_store_mb << 20}")
    sids: set[int] = set()
    try:
        for i in range(nodes):
            where = ["--head", f"--port={port}", "--include-dashboard=false"] if i == 0 else [f"--address={address}"]
            p = subprocess.Popen([RAY, "start", *where, *common], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            sids.add(p.pid)  # a new session: its id is the leader's pid, and the daemons inherit it
            _, err = p.communicate(timeout=120)
            if p.returncode:
                raise RuntimeError(f"ray start failed: {err[-2000:]}")
        yield {"address": address, "temp_dir": tmp, "env": {**env, "RAY_ADDRESS": address}}
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _session_pids(sids):
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
            time.sleep(1)
        shutil.rmtree(tmp, ignore_errors=True)
