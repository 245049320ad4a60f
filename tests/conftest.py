"""Shared fixtures: paths to the public data beside the project, and small workspaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfinstruct.config import RunConfig
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import Pipeline, start_run
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


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with one fake-LM run of three iterations; the app opens it by default."""
    path = tmp_path / "ws.sqlite"
    cfg = RunConfig(target=60)
    cfg.lm.backend = "fake"
    cfg.generate.request_batch_size = 3
    with Store(path) as store:
        run = start_run(store, "fake-run", load_tasks(OUR_SEEDS), cfg)
        for _ in Pipeline(store, run, FakeLM()).events(iterations=3):
            pass
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
    monkeypatch.setenv("SELFINSTRUCT_ALLOW_FAKE", "1")
    return path
