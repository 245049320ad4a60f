"""Shared fixtures and helpers: paths to the public data beside the project, workspaces holding a
fake-LM run, the command line in a child process or in this one, and waiting on a condition."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, TypeVar

import pytest

from selfinstruct.config import RunConfig
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.records import Instance, Task
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUR_SEEDS = ROOT / "seeds" / "seed_tasks.jsonl"
OFFICIAL_SEEDS = SHARED / "self-instruct" / "seed_tasks.jsonl"
USER_ORIENTED = SHARED / "self-instruct" / "user_oriented_instructions.jsonl"


def shared_file(path: Path) -> Path:
    """The shared data file, or skip the test cleanly when the data is not beside the project."""
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "ws.sqlite"


# --------------------------------------------------------------------------- a fake run


def fake_run(path: Path, iterations: int = 3, *, name: str = "fake-run", target: int = 60, batch_size: int = 3,
             responder=None, extra_seeds=()) -> int:
    """Start a generation run named ``name`` on the fake LM in the workspace at ``path`` (made when missing),
    from our seed tasks plus ``extra_seeds``, and run ``iterations`` iterations of it; returns the run's id."""
    cfg = RunConfig(target=target)
    cfg.lm.backend = "fake"
    cfg.generate.request_batch_size = batch_size
    with Store(path) as store:
        run = start_run(store, name, [*load_tasks(OUR_SEEDS), *extra_seeds], cfg)
        for _ in Pipeline(store, run, FakeLM(responder=responder)).events(iterations=iterations):
            pass
        return run.id


@pytest.fixture
def fake_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """A maker of the workspace the app opens by default, with fake LMs allowed:
    ``fake_ws(iterations=3, **options of fake_run)`` adds one fake-LM run of that many iterations."""
    path = tmp_path / "ws.sqlite"

    def make(iterations: int = 3, **options) -> Path:
        fake_run(path, iterations, **options)
        monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
        monkeypatch.setenv("SELFINSTRUCT_ALLOW_FAKE", "1")
        return path

    return make


@pytest.fixture
def ws(fake_ws: Callable[..., Path]) -> Path:
    """A workspace with one fake-LM run of three iterations ("fake-run", run 1); the app opens it by default."""
    return fake_ws(3)


# --------------------------------------------------------------------------- imported data sets


def imported_tasks(n: int, per: int = 2) -> list[Task]:
    return [Task(f"t{i}", f"Imported task number {i} about rivers.",
                 tuple(Instance(f"in {i}.{k}", f"out {i}.{k}") for k in range(per))) for i in range(n)]


@pytest.fixture
def import_only(tmp_path, monkeypatch) -> Path:
    """A workspace whose only run is an import of 44 tasks with 110 instances; the app opens it by default."""
    path = tmp_path / "imp.sqlite"
    tasks = [replace(t, instances=t.instances + ((Instance("x", "y"),) if i < 22 else ()))
             for i, t in enumerate(imported_tasks(44))]
    with Store(path) as store:
        store.create_run("imported", kind="import", config={"format": "alpaca"}, tasks=tasks, origin="import",
                         state="done")
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
    monkeypatch.setenv("SELFINSTRUCT_ALLOW_FAKE", "1")
    return path


# --------------------------------------------------------------------------- the command line


def cli(*args: str, env: dict | None = None, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """``selfinstruct ARGS`` in a child process started in the project root, with ``env`` added to this
    process's environment; its output is captured as text."""
    return subprocess.run([sys.executable, "-m", "selfinstruct", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})}, **kw)


def cli_main(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """``selfinstruct ARGS`` in this process (faster, and monkeypatches apply): (exit code, stdout, stderr)."""
    from selfinstruct.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# --------------------------------------------------------------------------- waiting on a condition

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 60, interval: float = 0.1,
               message: str = "the condition") -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something true, and return that;
    fail the test (AssertionError) when ``timeout`` seconds pass first. It is always called at least once."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} did not hold within {timeout:g} s")
        time.sleep(interval)


# --------------------------------------------------------------------------- a real Ray cluster

@pytest.fixture(scope="session")
def ray_cluster():
    """A head and a second node on 127.0.0.1 (separate processes, one CPU each) that this test
    process joins, with RAY_ADDRESS set while it lives: every Ray test of the session shares it,
    and their ``--ray auto`` joins it."""
    ray = pytest.importorskip("ray")
    from local_ray import local_cluster

    from selfinstruct import cluster

    if ray.is_initialized():  # a cluster some earlier test started on its own
        ray.shutdown()
        cluster._connected = None
    with local_cluster(nodes=2) as c:
        old = os.environ.get("RAY_ADDRESS")
        os.environ["RAY_ADDRESS"] = c["address"]
        try:
            cluster.connect(c["address"])
            deadline = time.monotonic() + 30
            while len([n for n in ray.nodes() if n["Alive"]]) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            yield c
        finally:
            ray.shutdown()
            cluster._connected = None
            os.environ.pop("RAY_ADDRESS") if old is None else os.environ.__setitem__("RAY_ADDRESS", old)
