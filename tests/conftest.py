"""Shared fixtures: paths to the public data beside the project, and small workspaces."""

from __future__ import annotations

from pathlib import Path

import pytest

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
