"""The Demo page: a run of the workspace replayed without an LM, the run chosen in the sidebar, the
shipped demo as the only source, and controls in a wrapping row so no label is cut."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.proto.Block_pb2 import Block as BlockProto

from selfinstruct.store import Store
from tests.apptest_util import DEMO, button, candidates_table, metric, page, unescape

from conftest import fake_run


def test_demo_page_replays_a_workspace_run_without_an_lm(ws):
    at = page("demo")
    at.radio(key="demo_source").set_value("workspace").run()
    assert metric(at, "Iteration") == "1 / 3"
    assert candidates_table(at) is None  # nothing streamed yet
    button(at, "Show whole").click().run()
    cands = candidates_table(at)
    with Store(ws) as s:
        assert list(cands["instruction"]) == [r.text for r in s.instructions(1, origin="machine", iteration=1)]
    button(at, "Next iteration").click().run()
    assert metric(at, "Iteration") == "2 / 3"
    button(at, "Play").click().run()
    assert at.session_state["demo"]["playing"] is True


def test_demo_says_nothing_streamed_before_play(ws):
    at = page("demo")
    at.radio(key="demo_source").set_value("workspace").run()
    raw = [m.value for m in at.markdown if m.value.startswith("**Raw completion**")]
    assert raw and all("waiting" in m and "tokens" not in m for m in raw)


def test_demo_controls_sit_in_a_wrapping_row_so_no_label_is_cut(ws):
    at = page("demo")
    bar = next(c for c in at.main.container if c.proto.flex_container.direction == BlockProto.FlexContainer.HORIZONTAL
               and any(b.label == "Next iteration" for b in c.button))
    assert bar.proto.flex_container.wrap
    assert [b.label for b in bar.button] == ["Play", "Restart", "Next iteration", "Show whole"]


def second_run(ws: Path, iterations: int = 1) -> None:
    fake_run(ws, iterations, name="second", batch_size=2)


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
    import dashboard.state as state

    if not DEMO.exists():
        pytest.skip("demo/demo.sqlite is not shipped in this checkout")
    monkeypatch.setattr(state, "DEMO_WORKSPACE", tmp_path / "demo-workspace.sqlite", raising=False)
    monkeypatch.setattr(state, "DEMO_REPLAY", tmp_path / "demo-replay.sqlite", raising=False)
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(DEMO))
    at = page("demo")
    assert not at.radio  # the recording is the open workspace: one source, the sidebar's run
    assert any("the recorded demo (a private copy)" in unescape(c.value) for c in at.caption)
    assert not (tmp_path / "demo-replay.sqlite").exists()
