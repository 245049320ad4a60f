"""What the dashboard's pages share, under Streamlit's AppTest: navigation and the sidebar's run, the
pages of a generation run when the chosen run is none, markdown escaping, and workspaces (opening one,
the shipped demo's private copy, settings kept per workspace). Each page's own tests are in
test_page_<page>.py."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from selfinstruct.store import Store
from dashboard.state import run_key, workspace_id
from tests.apptest_util import APP, DEMO, button, fk, metric, page, unescape, with_translation


def test_navigation_opens_runs_with_a_run_picker(ws):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert at.title[0].value.endswith("Runs")
    assert at.sidebar.selectbox[0].label == "Run"


def test_md_escapes_every_markdown_construct():
    from dashboard.text import md

    hostile = '![x](http://127.0.0.1:9/b.png) <img src=x onerror="a()"> [l](javascript:a()) **b** `c` # h'
    escaped = md(hostile)
    assert unescape(escaped) == hostile
    assert not re.search(r"(?<!\\)[\[\]()<>!`*#]", escaped)  # no special character is left bare


def test_a_fresh_session_shows_the_newest_generation_run(ws):
    with Store(ws) as s:
        s.create_run("fake-run-zh", kind="translation", language="zh", source_run_id=1)
    at = page("runs")
    assert at.session_state["run_id"] == 1


def test_an_import_only_workspace_says_there_is_no_generation_run(import_only):
    for name in ("generate", "filters"):
        at = page(name)
        [note] = [i.value for i in at.info]
        assert "No generation run" in note and "New run" in note


@pytest.mark.parametrize("name", ["generate", "filters"])
def test_generation_pages_never_show_another_run_than_the_chosen_one(ws, name):
    tr = with_translation(ws)
    at = page("runs")
    at.session_state["run_id"] = tr
    at.switch_page(f"dashboard/screens/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    [warning] = [unescape(w.value) for w in at.warning]
    assert "fake-run-zh" in warning and "not a generation run" in warning
    assert not [b for b in at.button if b.label in ("Start / resume", "Step one iteration")]
    assert not at.metric and not at.slider
    assert at.selectbox(key=f"switch_run.{workspace_id(str(ws))}").value == 1
    button(at, "Switch").click().run()
    at.run()
    assert at.session_state["run_id"] == 1 and not at.warning
    assert any("fake-run" in unescape(c.value) and c.value.startswith("Run ") for c in at.caption)


def test_generate_rate_and_seed_source_metrics_are_short(ws):
    at = page("generate")
    assert re.fullmatch(r"\d+(\.\d)?[kMG]?", metric(at, "Tokens/s")), metric(at, "Tokens/s")
    at = page("seeds")
    assert len(metric(at, "Source")) <= 12
    good = b'{"instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}], "is_classification": false}\n'
    at.file_uploader[0].set_value(("good.jsonl", good, "application/jsonl")).run()
    assert metric(at, "Source") == "upload"
    at.switch_page("dashboard/screens/runs.py").run()
    assert any("the 1 task prepared" in i.value for i in at.info)


PAGES = ["runs", "seeds", "generate", "filters", "analysis", "data", "responses", "evaluate", "export", "demo"]


def test_the_shipped_demo_opens_as_a_private_copy_and_is_never_written(tmp_path, monkeypatch):
    import dashboard.state as state

    if not DEMO.exists():
        pytest.skip("demo/demo.sqlite is not shipped in this checkout")
    monkeypatch.setattr(state, "DEMO_WORKSPACE", tmp_path / "demo-workspace.sqlite", raising=False)
    monkeypatch.setattr(state, "DEMO_REPLAY", tmp_path / "demo-replay.sqlite", raising=False)
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(DEMO))
    before = hashlib.sha256(DEMO.read_bytes()).hexdigest()
    for name in PAGES:
        page(name)
    assert hashlib.sha256(DEMO.read_bytes()).hexdigest() == before
    assert not Path(f"{DEMO}-wal").exists() and not Path(f"{DEMO}-shm").exists()
    at = page("runs")
    assert any("private copy" in unescape(i.value) for i in at.info)
    assert at.session_state["workspace"] == str(tmp_path / "demo-workspace.sqlite")


def test_opening_the_shipped_demo_on_the_runs_page_opens_the_copy(ws, tmp_path, monkeypatch):
    import dashboard.state as state

    if not DEMO.exists():
        pytest.skip("demo/demo.sqlite is not shipped in this checkout")
    monkeypatch.setattr(state, "DEMO_WORKSPACE", tmp_path / "demo-workspace.sqlite", raising=False)
    before = hashlib.sha256(DEMO.read_bytes()).hexdigest()
    at = page("runs")
    at.text_input[0].set_value(str(DEMO)).run()
    button(at, "Open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["workspace"] == str(tmp_path / "demo-workspace.sqlite")
    assert list(at.dataframe[0].value["name"]) == ["demo"]
    assert any("private copy" in unescape(i.value) for i in at.info)
    at.switch_page("dashboard/screens/generate.py").run()
    at.switch_page("dashboard/screens/analysis.py").run()
    assert not at.exception
    assert hashlib.sha256(DEMO.read_bytes()).hexdigest() == before


def test_workspace_path_is_stripped_blank_refused_and_a_new_one_confirmed(ws, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    at = page("runs")
    at.text_input[0].set_value(f"{ws} ").run()  # a trailing space is the same workspace
    button(at, "Open").click().run()
    assert at.session_state["workspace"] == str(ws) and not Path(f"{ws} ").exists()
    at.text_input[0].set_value("   ").run()
    button(at, "Open").click().run()
    assert any("Give a workspace file" in e.value for e in at.error)
    assert not [p.name for p in tmp_path.iterdir() if p.name != p.name.strip() or not p.name.strip()]
    new = tmp_path / "sub" / "fresh.sqlite"
    at.text_input[0].set_value(str(new)).run()
    assert any("creates a new, empty workspace" in unescape(i.value) and str(tmp_path / "sub") in unescape(i.value)
               for i in at.info)
    button(at, "Open").click().run()
    assert any("Tick" in w.value for w in at.warning)
    assert not (tmp_path / "sub").exists() and at.session_state["workspace"] == str(ws)
    next(c for c in at.checkbox if c.label == "Create a new workspace there").check().run()
    button(at, "Open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert new.exists() and at.session_state["workspace"] == str(new)


def copy_workspace(ws: Path, other: Path) -> Path:
    """Another workspace whose run is also run 1 (a copy: every id is the same)."""
    with Store(ws) as s, Store(other) as o:
        s.conn.backup(o.conn)
    return other


def test_filter_settings_and_picks_stay_in_their_workspace(ws, tmp_path):
    other = copy_workspace(ws, tmp_path / "other.sqlite")
    at = page("filters")
    at.slider(key=fk(ws, "rouge")).set_value(0.3).run()
    at.switch_page("dashboard/screens/data.py").run()
    at.session_state[run_key("data_table", 1, str(ws))] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert any(s.value.startswith("Instruction ") for s in at.subheader)
    at.session_state["workspace"] = str(other)  # what the Runs page's Open does
    at.switch_page("dashboard/screens/filters.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key=fk(other, "rouge")).value == 0.7  # the run's own setting, not the other workspace's
    at.switch_page("dashboard/screens/data.py").run()
    assert not any(s.value.startswith("Instruction ") for s in at.subheader)
    at.session_state["workspace"] = str(ws)
    at.switch_page("dashboard/screens/filters.py").run()
    assert at.slider(key=fk(ws, "rouge")).value == 0.3  # and the first workspace keeps its own
