"""The Runs page's new-run form and the address that keeps a workspace and run, under AppTest.

The form must store exactly what it shows (stop sequences made of newlines included), refuse a
value out of range by name instead of replacing it, and a session must reopen the workspace and
run named in its address (``?ws=&run=``) without ever creating a workspace for a bad one.
"""

from __future__ import annotations

import re
from dataclasses import asdict, fields
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from selfinstruct.config import RunConfig
from selfinstruct.store import Store

from tests.apptest_util import APP, make_workspace


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Path:
    """The default workspace of the app, with one run."""
    path = make_workspace(tmp_path / "ws.sqlite", "first")
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
    monkeypatch.delenv("SELFINSTRUCT_ALLOW_FAKE", raising=False)
    return path


def runs_page(query: dict[str, str] | None = None) -> AppTest:
    """The Runs page (app.py's first page), in a session whose address holds ``query``."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def create(at: AppTest, name: str) -> AppTest:
    at.text_input(key="new.name").set_value(name)
    next(b for b in at.button if b.label == "Create run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run_names(path: Path) -> list[str]:
    with Store(path) as s:
        return [r.name for r in s.runs()]


# --------------------------------------------------------------------------- the form stores what it shows


def test_the_untouched_form_stores_the_default_config_with_every_stop_sequence(ws):
    from dashboard.common import registry

    at = create(runs_page(), "defaults")
    with Store(ws) as s:
        run = s.run("defaults")
        stored = RunConfig.from_dict(run.config)
        assert s.usage(run.id)["calls"] == 0 and run.state == "new"
    default = RunConfig()
    for section in ("generate", "classify", "instances", "filters", "lm"):
        for f in fields(getattr(default, section)):
            assert getattr(getattr(stored, section), f.name) == getattr(getattr(default, section), f.name), \
                f"{section}.{f.name}"
    assert asdict(stored) == asdict(default)
    assert stored.generate.stop == ["\n\n", "\n16", "16.", "16 ."] and stored.classify.stop == ["\n", "Task"]
    assert registry().get(ws, run.id) is None  # creating a run starts nothing: no model is loaded
    assert at.title[0].value.endswith("Generate")


def test_list_boxes_show_escaped_items_and_what_will_be_stored(ws):
    at = runs_page()
    box = at.text_area(key="new.generate.stop")
    assert box.value == '"\\n\\n"\n"\\n16"\n16.\n16 .'
    assert "JSON string" in box.help
    assert any(unescape(c.value) == 'Stored as 4 items: ["\\n\\n", "\\n16", "16.", "16 ."]' for c in at.caption)


def test_typed_whitespace_items_are_stored_exactly(ws):
    at = runs_page()
    at.text_area(key="new.generate.stop").set_value('"\\n\\n"\n\n  "\\t"  \n" "\n"a\\\\b"\n日本語\n')
    at.text_area(key="new.classify.stop").set_value('"\\n"\nTask')
    create(at, "typed")
    with Store(ws) as s:
        config = s.run("typed").config
    assert config["generate"]["stop"] == ["\n\n", "\t", " ", "a\\b", "日本語"]
    assert config["classify"]["stop"] == ["\n", "Task"]


def test_a_malformed_list_is_refused_naming_the_field_and_line(ws):
    at = runs_page()
    at.text_area(key="new.generate.stop").set_value('16.\n\\n\n"\\q"')
    at.run()
    assert any("generate.stop, line 2" in unescape(e.value) for e in at.error)  # shown under the box at once
    create(at, "malformed")
    refusal = unescape(at.error[-1].value)
    assert "generate.stop, line 2: a backslash outside double quotes" in refusal
    assert "generate.stop, line 3: not a valid JSON string" in refusal
    assert run_names(ws) == ["first"]


# --------------------------------------------------------------------------- refusals, never clamping


def test_out_of_range_values_are_kept_as_typed_and_each_is_named(ws):
    at = runs_page()
    at.number_input(key="new.run.target").set_value(-3)
    at.number_input(key="new.filters.rouge_threshold").set_value(0.1)
    at.number_input(key="new.filters.min_words").set_value(-5)
    create(at, "out-of-range")
    assert [at.number_input(key=k).value for k in
            ("new.run.target", "new.filters.rouge_threshold", "new.filters.min_words")] == [-3, 0.1, -5]
    [refusal] = [unescape(e.value) for e in at.error]
    assert "target: must be at least 1, got -3" in refusal
    assert "filters.rouge_threshold: must be between 0.3 and 1, got 0.1" in refusal
    assert "filters.min_words: must be at least 0, got -5" in refusal
    assert run_names(ws) == ["first"] and at.title[0].value.endswith("Runs")


def test_no_number_box_has_bounds_a_browser_would_clamp_to(ws):
    at = runs_page()
    at.radio(key="new.lm.backend").set_value("openai").run()
    assert all(box.min is None and box.max is None for box in at.number_input), \
        [box.key for box in at.number_input if box.min is not None or box.max is not None]


def test_a_missing_name_and_model_are_listed_with_the_settings(ws):
    at = runs_page()
    at.radio(key="new.lm.backend").set_value("openai").run()
    at.number_input(key="new.lm.conc").set_value(0)
    create(at, " ")
    [refusal] = [unescape(e.value) for e in at.error]
    for problem in ("run name: the run needs a name", "lm.model: the OpenAI-compatible endpoint needs a model name",
                    "lm.concurrency: must be at least 1"):
        assert problem in refusal
    assert run_names(ws) == ["first"]


# --------------------------------------------------------------------------- the address keeps the workspace and run


def test_the_address_names_the_open_workspace_and_run(ws):
    at = runs_page()
    assert at.query_params == {"ws": str(ws), "run": "1"}


def test_a_session_reopens_the_workspace_and_run_of_its_address(ws, tmp_path):
    other = make_workspace(tmp_path / "other.sqlite", "a", "b", "c")
    at = runs_page({"ws": str(other), "run": "2"})
    assert at.session_state["workspace"] == str(other)
    assert at.session_state["run_id"] == 2 and at.sidebar.selectbox[0].value == 2
    assert list(at.dataframe[0].value["name"]) == ["a", "b", "c"]
    assert at.query_params == {"ws": str(other), "run": "2"}


def test_opening_a_workspace_and_picking_a_run_write_the_address(ws, tmp_path):
    other = make_workspace(tmp_path / "other.sqlite", "a", "b")
    at = runs_page()
    at.text_input[0].set_value(str(other)).run()
    next(b for b in at.button if b.label == "Open").click().run()
    assert at.query_params == {"ws": str(other), "run": "2"}  # the newest generation run of the new workspace
    at.sidebar.selectbox[0].set_value(1).run()
    assert at.query_params == {"ws": str(other), "run": "1"}
    at.switch_page("dashboard/seeds.py").run()  # a page switch clears the address: the sidebar writes it again
    assert at.query_params == {"ws": str(other), "run": "1"}


def test_an_address_naming_no_workspace_creates_none_and_opens_the_default(ws, tmp_path):
    missing = tmp_path / "nowhere" / "gone.sqlite"
    at = runs_page({"ws": str(missing), "run": "7"})
    assert not missing.parent.exists()
    assert at.session_state["workspace"] == str(ws) and at.session_state["run_id"] == 1
    assert any(f"No workspace at {missing}" in unescape(w.value) for w in at.warning)
    assert at.query_params == {"ws": str(ws), "run": "1"}


def test_an_address_run_that_is_not_in_the_workspace_falls_back_to_the_newest(ws):
    at = runs_page({"ws": str(ws), "run": "99"})
    assert at.session_state["run_id"] == 1 and at.query_params["run"] == "1"


def test_the_shipped_demo_in_the_address_opens_its_private_copy(ws, tmp_path, monkeypatch):
    import dashboard.common as common

    if not common.DEMO_SHIPPED.exists():
        pytest.skip("demo/demo.sqlite is not shipped in this checkout")
    copy = tmp_path / "demo-workspace.sqlite"
    monkeypatch.setattr(common, "DEMO_WORKSPACE", copy)
    at = runs_page({"ws": str(common.DEMO_SHIPPED)})
    assert at.session_state["workspace"] == str(copy) and at.query_params["ws"] == str(copy)
