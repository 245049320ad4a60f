"""Data, Demo, Seeds and Export pages after the main-flow audit at 1,400 px: tables that fit,
controls whose labels fit, the Demo that follows the sidebar, seed edits that an upload never
drops unasked, and exports that land beside the workspace and never from an empty path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit
from streamlit.proto.Block_pb2 import Block as BlockProto

from selfinstruct.config import RunConfig
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from tests.apptest_util import DEMO, SEEDS, button, metric, page, unescape

ROOT = Path(__file__).resolve().parents[1]
GOOD = b'{"instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}], "is_classification": false}\n'


def test_data_table_shows_25_rows_and_room_for_reason_and_why(ws, monkeypatch):
    heights: dict[str, int] = {}
    original = streamlit.dataframe

    def spy(data, *args, **kwargs):
        heights[str(kwargs.get("key"))] = kwargs.get("height")
        return original(data, *args, **kwargs)

    monkeypatch.setattr(streamlit, "dataframe", spy)
    at = page("data")
    at.selectbox(key="data_o").set_value("all").run()  # the seeds too: far more than 25 rows
    assert len(at.dataframe[0].value) > 25
    assert next(h for k, h in heights.items() if k.startswith("data_table")) >= 26 * 35  # 25 rows and the header
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["reason"]["width"] >= 100 and config["detail"]["width"] >= 250  # "rouge_similar", the evidence
    assert list(at.dataframe[0].proto.column_order)[:3] == ["id", "verdict", "reason"]


def test_demo_controls_sit_in_a_wrapping_row_so_no_label_is_cut(ws):
    at = page("demo")
    bar = next(c for c in at.main.container if c.proto.flex_container.direction == BlockProto.FlexContainer.HORIZONTAL
               and any(b.label == "Next iteration" for b in c.button))
    assert bar.proto.flex_container.wrap
    assert [b.label for b in bar.button] == ["Play", "Restart", "Next iteration", "Show whole"]


def second_run(ws: Path, iterations: int = 1) -> None:
    cfg = RunConfig(target=60)
    cfg.lm.backend = "fake"
    cfg.generate.request_batch_size = 2
    with Store(ws) as store:
        run = start_run(store, "second", load_tasks(SEEDS), cfg)
        for _ in Pipeline(store, run, FakeLM()).events(iterations=iterations):
            pass


def test_demo_replays_the_run_chosen_in_the_sidebar(ws):
    second_run(ws)
    at = page("demo")  # the sidebar shows the newest generation run: "second", 1 iteration
    assert metric(at, "Iteration") == "1 / 1"
    assert any("Run **second**" in c.value for c in at.caption)
    assert not [s for s in at.main.selectbox if s.label == "Run"]  # no run box of its own
    at.sidebar.selectbox[0].set_value(1).run()
    assert metric(at, "Iteration") == "1 / 3"
    assert any("Run **fake\\-run**" in c.value for c in at.caption)


def test_demo_on_the_demo_workspace_follows_the_sidebar_with_no_second_source(tmp_path, monkeypatch):
    import dashboard.common as common

    if not DEMO.exists():
        pytest.skip("demo/demo.sqlite is not shipped in this checkout")
    monkeypatch.setattr(common, "DEMO_WORKSPACE", tmp_path / "demo-workspace.sqlite", raising=False)
    monkeypatch.setattr(common, "DEMO_REPLAY", tmp_path / "demo-replay.sqlite", raising=False)
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(DEMO))
    at = page("demo")
    assert not at.radio  # the recording is the open workspace: one source, the sidebar's run
    assert any("the recorded demo (a private copy)" in unescape(c.value) for c in at.caption)
    assert not (tmp_path / "demo-replay.sqlite").exists()


def test_seed_upload_asks_before_it_replaces_manual_edits(ws):
    at = page("seeds")
    n = len(load_tasks(SEEDS))
    at.session_state["seed_table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    button(at, "Delete this task").click().run()  # a manual edit
    at.file_uploader[0].set_value(("one.jsonl", GOOD, "application/jsonl")).run()
    assert int(metric(at, "Seed tasks")) == n - 1  # nothing replaced yet
    warning = unescape(next(w.value for w in at.warning if "Replace" in w.value))
    assert f"{n - 1} seed tasks" in warning and "1 deleted" in warning and "1 task" in warning
    assert "one.jsonl" in warning
    button(at, "Keep my edits").click().run()
    assert int(metric(at, "Seed tasks")) == n - 1 and not at.warning
    at.file_uploader[0].set_value(("one.jsonl", GOOD, "application/jsonl")).run()
    button(at, "Replace").click().run()
    assert int(metric(at, "Seed tasks")) == 1 and metric(at, "Source") == "upload" and not at.warning


def test_export_writes_beside_the_workspace_by_default(ws):
    at = page("export")
    out = next(t for t in at.text_input if t.label == "Write to")
    expected = ws.resolve().parent / "exports" / "ws" / "fake-run-gpt3.jsonl"
    assert Path(out.value) == expected and not Path(out.value).is_relative_to(ROOT)
    button(at, "Export").click().run()
    assert not at.error, [e.value for e in at.error]
    assert expected.is_file()


def test_export_refuses_an_empty_write_to_box_naming_it(ws, tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # where an empty path would have written
    at = page("export")
    at.radio(key="ex_fmt").set_value("hf").run()
    next(t for t in at.text_input if t.label == "Write to").set_value("   ").run()
    button(at, "Export").click().run()
    assert any("**Write to** is empty" in e.value for e in at.error)
    assert not list(cwd.iterdir()) and not at.success
