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
from selfinstruct.lm.fake import FakeLM
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

from tests.apptest_util import APP, SEEDS, button, make_workspace, page, with_translation

from conftest import imported_tasks


@pytest.fixture
def created_ws(tmp_path, monkeypatch) -> Path:
    """The default workspace of the app, with one created (never started) run, "first"; no fake LM offered.
    (The tests at the end use conftest's ``ws``: a run of three iterations on the fake LM.)"""
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


def test_the_untouched_form_stores_the_default_config_with_every_stop_sequence(created_ws):
    from dashboard.state import registry

    at = create(runs_page(), "defaults")
    with Store(created_ws) as s:
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
    assert registry().get(created_ws, run.id) is None  # creating a run starts nothing: no model is loaded
    assert at.title[0].value.endswith("Generate")


def test_list_boxes_show_escaped_items_and_what_will_be_stored(created_ws):
    at = runs_page()
    box = at.text_area(key="new.generate.stop")
    assert box.value == '"\\n\\n"\n"\\n16"\n16.\n16 .'
    assert "JSON string" in box.help
    assert any(unescape(c.value) == 'Stored as 4 items: ["\\n\\n", "\\n16", "16.", "16 ."]' for c in at.caption)


def test_typed_whitespace_items_are_stored_exactly(created_ws):
    at = runs_page()
    at.text_area(key="new.generate.stop").set_value('"\\n\\n"\n\n  "\\t"  \n" "\n"a\\\\b"\n日本語\n')
    at.text_area(key="new.classify.stop").set_value('"\\n"\nTask')
    create(at, "typed")
    with Store(created_ws) as s:
        config = s.run("typed").config
    assert config["generate"]["stop"] == ["\n\n", "\t", " ", "a\\b", "日本語"]
    assert config["classify"]["stop"] == ["\n", "Task"]


def test_a_malformed_list_is_refused_naming_the_field_and_line(created_ws):
    at = runs_page()
    at.text_area(key="new.generate.stop").set_value('16.\n\\n\n"\\q"')
    at.run()
    assert any("generate.stop, line 2" in unescape(e.value) for e in at.error)  # shown under the box at once
    create(at, "malformed")
    refusal = unescape(at.error[-1].value)
    assert "generate.stop, line 2: a backslash outside double quotes" in refusal
    assert "generate.stop, line 3: not a valid JSON string" in refusal
    assert run_names(created_ws) == ["first"]


# --------------------------------------------------------------------------- refusals, never clamping


def test_out_of_range_values_are_kept_as_typed_and_each_is_named(created_ws):
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
    assert run_names(created_ws) == ["first"] and at.title[0].value.endswith("Runs")


def test_no_number_box_has_bounds_a_browser_would_clamp_to(created_ws):
    at = runs_page()
    at.radio(key="new.lm.backend").set_value("openai").run()
    assert all(box.min is None and box.max is None for box in at.number_input), \
        [box.key for box in at.number_input if box.min is not None or box.max is not None]


def test_a_missing_name_and_model_are_listed_with_the_settings(created_ws):
    at = runs_page()
    at.radio(key="new.lm.backend").set_value("openai").run()
    at.number_input(key="new.lm.conc").set_value(0)
    create(at, " ")
    [refusal] = [unescape(e.value) for e in at.error]
    for problem in ("run name: the run needs a name", "lm.model: the OpenAI-compatible endpoint needs a model name",
                    "lm.concurrency: must be at least 1"):
        assert problem in refusal
    assert run_names(created_ws) == ["first"]


# --------------------------------------------------------------------------- the address keeps the workspace and run


def test_the_address_names_the_open_workspace_and_run(created_ws):
    at = runs_page()
    assert at.query_params == {"ws": str(created_ws), "run": "1"}


def test_a_session_reopens_the_workspace_and_run_of_its_address(created_ws, tmp_path):
    other = make_workspace(tmp_path / "other.sqlite", "a", "b", "c")
    at = runs_page({"ws": str(other), "run": "2"})
    assert at.session_state["workspace"] == str(other)
    assert at.session_state["run_id"] == 2 and at.sidebar.selectbox[0].value == 2
    assert list(at.dataframe[0].value["name"]) == ["a", "b", "c"]
    assert at.query_params == {"ws": str(other), "run": "2"}


def test_opening_a_workspace_and_picking_a_run_write_the_address(created_ws, tmp_path):
    other = make_workspace(tmp_path / "other.sqlite", "a", "b")
    at = runs_page()
    at.text_input[0].set_value(str(other)).run()
    next(b for b in at.button if b.label == "Open").click().run()
    assert at.query_params == {"ws": str(other), "run": "2"}  # the newest generation run of the new workspace
    at.sidebar.selectbox[0].set_value(1).run()
    assert at.query_params == {"ws": str(other), "run": "1"}
    at.switch_page("dashboard/screens/seeds.py").run()  # a page switch clears the address: the sidebar writes it again
    assert at.query_params == {"ws": str(other), "run": "1"}


def test_an_address_naming_no_workspace_creates_none_and_opens_the_default(created_ws, tmp_path):
    missing = tmp_path / "nowhere" / "gone.sqlite"
    at = runs_page({"ws": str(missing), "run": "7"})
    assert not missing.parent.exists()
    assert at.session_state["workspace"] == str(created_ws) and at.session_state["run_id"] == 1
    assert any(f"No workspace at {missing}" in unescape(w.value) for w in at.warning)
    assert at.query_params == {"ws": str(created_ws), "run": "1"}


def test_an_address_run_that_is_not_in_the_workspace_falls_back_to_the_newest(created_ws):
    at = runs_page({"ws": str(created_ws), "run": "99"})
    assert at.session_state["run_id"] == 1 and at.query_params["run"] == "1"


def test_the_shipped_demo_in_the_address_opens_its_private_copy(created_ws, tmp_path, monkeypatch):
    import dashboard.state as state

    if not state.DEMO_SHIPPED.exists():
        pytest.skip("demo/demo.sqlite is not shipped in this checkout")
    copy = tmp_path / "demo-workspace.sqlite"
    monkeypatch.setattr(state, "DEMO_WORKSPACE", copy)
    at = runs_page({"ws": str(state.DEMO_SHIPPED)})
    assert at.session_state["workspace"] == str(copy) and at.query_params["ws"] == str(copy)


# --------------------------------------------------------------------------- on a workspace with a fake-LM run


def test_runs_page_lists_runs_and_creates_one_on_the_fake_lm(ws):
    at = page("runs")
    table = at.dataframe[0].value
    assert list(table["name"]) == ["fake-run"] and table["kept"][0] > 0 and table["iterations"][0] == 3
    at.radio(key="new.lm.backend").set_value("fake")
    at.text_input(key="new.name").set_value("second")
    at.number_input(key="new.run.target").set_value(7)
    at.number_input(key="new.generate.request_batch_size").set_value(2)
    button(at, "Create run").click()
    at.run()
    assert not at.exception
    with Store(ws) as s:
        run = s.run("second")
        assert run.config["target"] == 7 and run.config["lm"]["backend"] == "fake"
        assert run.config["generate"]["request_batch_size"] == 2
        assert s.counts(run.id)["seeds"] == len(load_tasks(SEEDS))
    assert at.title[0].value.endswith("Generate")


def test_runs_page_rejects_an_empty_name(ws):
    at = page("runs")
    at.text_input(key="new.name").set_value("  ")
    button(at, "Create run").click()
    at.run()
    assert any("needs a name" in e.value for e in at.error)


def test_fake_lm_is_offered_only_when_allowed(ws, monkeypatch):
    monkeypatch.delenv("SELFINSTRUCT_ALLOW_FAKE")
    at = page("runs")
    assert at.radio(key="new.lm.backend").options == [
        "Embedded model (Gemma 3 270M, llama.cpp, offline)", "OpenAI-compatible endpoint"]


def test_api_key_is_held_in_memory_and_cleared_from_the_widget(ws):
    at = page("runs")
    at.radio(key="new.lm.backend").set_value("openai").run()
    at.text_input(key="api_key_input").input("sk-TEST-0123456789").run()
    assert at.session_state["api_key"] == "sk-TEST-0123456789"
    assert at.text_input(key="api_key_input").value == ""
    assert any("held in memory" in s.value for s in at.success)
    button(at, "Forget key").click().run()
    assert "api_key" not in at.session_state


def test_runs_table_counts_import_and_translation_runs(ws):
    with Store(ws) as s:
        s.create_run("imp", kind="import", tasks=imported_tasks(44), origin="import", state="done")
        s.create_run("fake-run-zh", kind="translation", language="zh", source_run_id=1,
                     tasks=imported_tasks(63, per=1), origin="translation", state="done")
    at = page("runs")
    table = at.dataframe[0].value.set_index("name")
    assert (table.loc["imp", "kept"], table.loc["imp", "instances"]) == (44, 88)
    assert (table.loc["fake-run-zh", "kept"], table.loc["fake-run-zh", "instances"]) == (63, 63)
    assert table.loc["fake-run-zh", "language"] == "zh"
    assert table.loc["fake-run", "kept"] > 0 and table.loc["fake-run", "seeds"] == len(load_tasks(SEEDS))


def test_runs_form_names_every_bad_setting_instead_of_raising(ws):
    at = page("runs")
    at.radio(key="new.lm.backend").set_value("fake")
    at.text_input(key="new.name").set_value("bad")
    for key, value in (("new.run.target", 0), ("new.filters.min_words", 50), ("new.filters.max_words", 3),
                       ("new.generate.request_batch_size", 0), ("new.generate.n_machine", 20),
                       ("new.generate.temperature", 50.0)):
        at.number_input(key=key).set_value(value)
    at.text_input(key="new.filters.tokenizer").set_value("bogus")
    button(at, "Create run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [error] = [unescape(e.value) for e in at.error]
    for field in ("target", "filters.max_words", "generate.request_batch_size", "generate.n_machine",
                  "filters.tokenizer", "generate.temperature"):
        assert field in error, field
    assert at.title[0].value.endswith("Runs")
    with Store(ws) as s:
        assert [r.name for r in s.runs()] == ["fake-run"]


def test_runs_table_shows_a_translations_model_and_an_unknown_cost(ws):
    from selfinstruct.lm.base import LMRequest
    from selfinstruct.lm.cache import RecordedLM

    tr = with_translation(ws)
    with Store(ws) as s:
        RecordedLM(FakeLM(), s, tr).call(LMRequest(prompt="Translate: hello", step="translate", max_tokens=8))
        s.create_run("imp", kind="import", config={"source": {"format": "alpaca"}}, tasks=imported_tasks(3),
                     origin="import", state="done")
    at = page("runs")
    table = at.dataframe[0].value.set_index("name")
    assert table.loc["fake-run-zh", "model"] == "fake" and table.loc["fake-run-zh", "cost"] == "unknown"
    assert table.loc["imp", "cost"] == "—" and table.loc["fake-run", "cost"] == "$0.0000"
    assert table.loc["fake-run", "model"] == "fake"
