"""What the AppTest page tests share: the app, opening a page, and reading what it drew."""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard.state import run_key, workspace_id
from selfinstruct.config import RunConfig
from selfinstruct.pipeline import start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

from conftest import imported_tasks

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
SEEDS = ROOT / "seeds" / "seed_tasks.jsonl"


def page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(f"dashboard/screens/{name}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def candidates_table(at: AppTest):
    """The candidates table of a drawn iteration (the only one with a 'max ROUGE-L' column), or None."""
    return next((d.value for d in at.dataframe if "max ROUGE-L" in d.value.columns and "prompt" in d.value.columns),
                None)


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def fk(ws: Path, name: str, run_id: int = 1) -> str:
    """The key of a Filters widget of run ``run_id`` in workspace ``ws``."""
    return f"{run_key('flt', run_id, str(ws))}.{name}"


def ak(ws: Path, name: str) -> str:
    """The key of an Analysis widget in workspace ``ws``."""
    return f"an.{workspace_id(str(ws))}.{name}"

DEMO = ROOT / "demo" / "demo.sqlite"


def make_workspace(path: Path, *names: str) -> Path:
    """A workspace holding one created (never started) generation run per name."""
    with Store(path) as store:
        for name in names:
            start_run(store, name, load_tasks(SEEDS)[:10], RunConfig())
    return path


def with_translation(ws: Path) -> int:
    """Add a finished translation of run 1 into Chinese (5 tasks, model "fake") to ``ws``; returns its id."""
    with Store(ws) as s:
        return s.create_run("fake-run-zh", kind="translation", language="zh", source_run_id=1,
                            config={"model": "fake"}, tasks=imported_tasks(5, per=1), origin="translation",
                            state="done").id
