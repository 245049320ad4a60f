"""Every dashboard page under Streamlit's AppTest, on workspaces made with the fake LM."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from selfinstruct.config import RunConfig
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
SEEDS = ROOT / "seeds" / "seed_tasks.jsonl"


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Path:
    """A workspace with one fake-LM run of three iterations; the app opens it by default."""
    path = tmp_path / "ws.sqlite"
    cfg = RunConfig(target=60)
    cfg.lm.backend = "fake"
    cfg.generate.request_batch_size = 3
    with Store(path) as store:
        run = start_run(store, "fake-run", load_tasks(SEEDS), cfg)
        for _ in Pipeline(store, run, FakeLM()).events(iterations=3):
            pass
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
    monkeypatch.setenv("SELFINSTRUCT_ALLOW_FAKE", "1")
    return path


def page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(f"pages/{name}.py")
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


def test_navigation_opens_runs_with_a_run_picker(ws):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert at.title[0].value.endswith("Runs")
    assert at.sidebar.selectbox[0].label == "Run"


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


def test_seeds_page_searches_and_rejects_a_bad_upload_with_its_line(ws):
    at = page("seeds")
    n = int(metric(at, "Seed tasks"))
    assert n == len(load_tasks(SEEDS))
    at.text_input(key="seed_query").set_value("poem").run()
    shown = at.dataframe[0].value
    assert 0 < len(shown) < n
    assert all("poem" in f"{i} {m}".lower() for i, m in zip(shown["instruction"], shown["name"]))
    bad = b'{"instruction": "ok", "instances": [{"input": "", "output": "x"}]}\n{"instruction": 5}\n'
    at.file_uploader[0].set_value(("bad.jsonl", bad, "application/jsonl")).run()
    assert any("bad.jsonl:2" in unescape(e.value) for e in at.error)
    assert int(metric(at, "Seed tasks")) == n  # nothing was changed
    good = b'{"instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}], "is_classification": false}\n'
    at.file_uploader[0].set_value(("good.jsonl", good, "application/jsonl")).run()
    assert int(metric(at, "Seed tasks")) == 1


def test_seeds_page_refuses_a_task_without_an_output(ws):
    at = page("seeds")
    n = int(metric(at, "Seed tasks"))
    [t for t in at.text_area if t.label == "instruction"][-1].set_value("Name three rivers in the given country.")
    button(at, "Add task").click().run()
    assert any("at least one instance" in e.value for e in at.error)
    assert int(metric(at, "Seed tasks")) == n


def test_generate_page_steps_one_iteration_in_the_background(ws):
    at = page("generate")
    assert metric(at, "Iterations") == "3"
    button(at, "Step one iteration").click().run()
    deadline = time.time() + 60
    while time.time() < deadline:
        with Store(ws) as s:
            if s.completed_iterations(1) == 4 and s.run(1).state != "running":
                break
        time.sleep(0.1)
    at.run()
    assert not at.exception
    assert metric(at, "Iterations") == "4"
    assert any(s.value == "Iteration 4" for s in at.subheader)
    cands = candidates_table(at)
    assert len(cands) > 0 and set(cands["verdict"]) <= {"✅ kept"} | {v for v in cands["verdict"] if v.startswith("❌")}
    with Store(ws) as s:
        assert list(cands["instruction"]) == [r.text for r in s.instructions(1, origin="machine", iteration=4)]
    assert any(c.value.startswith("Come up with a series of tasks:") for c in at.code)


def test_generate_page_shows_drop_reasons_over_time(ws):
    at = page("generate")
    chart = next(c for c in at.get("plotly_chart") if "Drop reasons" in c.proto.spec)
    assert '"iteration"' in chart.proto.spec


def test_filters_slider_changes_the_kept_count_without_an_lm(ws):
    at = page("filters")
    with Store(ws) as s:
        stored = s.counts(1)["kept"]
    assert metric(at, "Kept") == f"{stored:,}"
    at.slider(key="flt1.rouge").set_value(0.3).run()
    assert not at.exception
    strict = int(metric(at, "Kept").replace(",", ""))
    assert strict < stored
    assert int(metric(at, "Change verdict").replace(",", "")) >= stored - strict
    at.slider(key="flt1.words").set_value((0, 300)).run()
    at.text_area(key="flt1.black").set_value("").run()
    assert int(metric(at, "Kept").replace(",", "")) >= strict


def test_filters_apply_saves_a_named_view(ws):
    at = page("filters")
    at.slider(key="flt1.rouge").set_value(0.5).run()
    at.text_input(key="flt1.name").set_value("strict").run()
    button(at, "Apply: save view").click().run()
    with Store(ws) as s:
        assert s.views(1) == ["strict"] and s.view(1, "strict")["rouge_threshold"] == 0.5


def test_analysis_draws_the_sunburst_and_table1(ws):
    at = page("analysis")
    charts = at.get("plotly_chart")
    assert '"sunburst"' in charts[0].proto.spec
    with Store(ws) as s:
        kept = s.counts(1)["kept"]
    assert metric(at, "Instructions") == f"{kept:,}"
    assert any("# of instructions" in c.value for c in at.code)


def test_analysis_compares_a_run_with_its_seeds(ws):
    at = page("analysis")
    at.toggle(key="an_compare").set_value(True).run()
    at.selectbox(key="an_b").set_value("fake-run · seeds").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == ["fake-run · kept", "fake-run · seeds", "diff"]
    assert table.loc["n_instructions", "fake-run · seeds"] == len(load_tasks(SEEDS))


def test_data_page_searches_and_filters(ws):
    at = page("data")
    with Store(ws) as s:
        total = len(s.instructions(1))
        machine = len(s.instructions(1, origin="machine"))
        dropped = len(s.instructions(1, verdict="drop"))
    assert len(at.dataframe[0].value) == machine  # generated candidates by default
    at.selectbox(key="data_o").set_value("all").run()
    assert len(at.dataframe[0].value) == total
    at.selectbox(key="data_v").set_value("drop").run()
    assert len(at.dataframe[0].value) == dropped
    at.selectbox(key="data_v").set_value("all").run()
    at.text_input(key="data_q").set_value("haiku").run()
    assert all("haiku" in t.lower() for t in at.dataframe[0].value["instruction"])


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


def test_md_escapes_every_markdown_construct():
    from pages.common import md

    hostile = '![x](http://127.0.0.1:9/b.png) <img src=x onerror="a()"> [l](javascript:a()) **b** `c` # h'
    escaped = md(hostile)
    assert unescape(escaped) == hostile
    assert not re.search(r"(?<!\\)[\[\]()<>!`*#]", escaped)  # no special character is left bare
