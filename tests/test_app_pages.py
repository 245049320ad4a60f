"""Every dashboard page under Streamlit's AppTest, on workspaces made with the fake LM."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from selfinstruct.config import RunConfig
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import start_run
from selfinstruct.records import Instance, Task
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from dashboard.common import compact, run_key, workspace_id
from tests.apptest_util import APP, DEMO, SEEDS, ak, button, candidates_table, fk, metric, page, unescape



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
    at.slider(key=fk(ws, "rouge")).set_value(0.3).run()
    assert not at.exception
    strict = int(metric(at, "Kept").replace(",", ""))
    assert strict < stored
    assert int(metric(at, "Change verdict").replace(",", "")) >= stored - strict
    at.slider(key=fk(ws, "words")).set_value((0, 300)).run()
    at.text_area(key=fk(ws, "black")).set_value("").run()
    assert int(metric(at, "Kept").replace(",", "")) >= strict


def test_filters_apply_saves_a_named_view(ws):
    at = page("filters")
    at.slider(key=fk(ws, "rouge")).set_value(0.5).run()
    at.text_input(key=fk(ws, "name")).set_value("strict").run()
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
    assert "# of instructions" in at.dataframe[0].value.index


def test_analysis_compares_a_run_with_its_seeds(ws):
    at = page("analysis")
    at.toggle(key=ak(ws, "compare")).set_value(True).run()
    at.selectbox(key=ak(ws, "b")).set_value("fake-run · seeds").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == ["fake-run · kept", "fake-run · seeds", "diff"]
    assert table.loc["# of instructions", "fake-run · seeds"] == f"{len(load_tasks(SEEDS)):,}"


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
    from dashboard.common import md

    hostile = '![x](http://127.0.0.1:9/b.png) <img src=x onerror="a()"> [l](javascript:a()) **b** `c` # h'
    escaped = md(hostile)
    assert unescape(escaped) == hostile
    assert not re.search(r"(?<!\\)[\[\]()<>!`*#]", escaped)  # no special character is left bare


# --------------------------------------------------------------------------- audit fixes

PAGES = ["runs", "seeds", "generate", "filters", "analysis", "data", "responses", "evaluate", "export", "demo"]


def imported_tasks(n: int, per: int = 2) -> list[Task]:
    return [Task(f"t{i}", f"Imported task number {i} about rivers.",
                 tuple(Instance(f"in {i}.{k}", f"out {i}.{k}") for k in range(per))) for i in range(n)]


@pytest.fixture
def import_only(tmp_path, monkeypatch) -> Path:
    """A workspace whose only run is an import of 44 tasks with 110 instances."""
    path = tmp_path / "imp.sqlite"
    tasks = [replace(t, instances=t.instances + ((Instance("x", "y"),) if i < 22 else ()))
             for i, t in enumerate(imported_tasks(44))]
    with Store(path) as store:
        store.create_run("imported", kind="import", config={"format": "alpaca"}, tasks=tasks, origin="import",
                         state="done")
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
    monkeypatch.setenv("SELFINSTRUCT_ALLOW_FAKE", "1")
    return path


def test_the_shipped_demo_opens_as_a_private_copy_and_is_never_written(tmp_path, monkeypatch):
    import dashboard.common as common

    if not DEMO.exists():
        pytest.skip("demo/demo.sqlite is not shipped in this checkout")
    monkeypatch.setattr(common, "DEMO_WORKSPACE", tmp_path / "demo-workspace.sqlite", raising=False)
    monkeypatch.setattr(common, "DEMO_REPLAY", tmp_path / "demo-replay.sqlite", raising=False)
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
    import dashboard.common as common

    if not DEMO.exists():
        pytest.skip("demo/demo.sqlite is not shipped in this checkout")
    monkeypatch.setattr(common, "DEMO_WORKSPACE", tmp_path / "demo-workspace.sqlite", raising=False)
    before = hashlib.sha256(DEMO.read_bytes()).hexdigest()
    at = page("runs")
    at.text_input[0].set_value(str(DEMO)).run()
    button(at, "Open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["workspace"] == str(tmp_path / "demo-workspace.sqlite")
    assert list(at.dataframe[0].value["name"]) == ["demo"]
    assert any("private copy" in unescape(i.value) for i in at.info)
    at.switch_page("dashboard/generate.py").run()
    at.switch_page("dashboard/analysis.py").run()
    assert not at.exception
    assert hashlib.sha256(DEMO.read_bytes()).hexdigest() == before


def compare_a_view_with_itself(ws, view: str) -> AppTest:
    """Save ``view``, compare something with it on Analysis, then pick it on the other side too."""
    at = page("filters")
    at.text_input(key=fk(ws, "name")).set_value(view).run()
    button(at, "Apply: save view").click().run()
    at.switch_page("dashboard/analysis.py").run()
    at.toggle(key=ak(ws, "compare")).set_value(True).run()
    at.selectbox(key=ak(ws, "b")).set_value(f"fake-run · view {view}").run()
    at.selectbox(key=ak(ws, "a")).set_value(f"fake-run · view {view}").run()
    return at


def test_analysis_never_compares_a_data_set_with_itself(ws):
    at = compare_a_view_with_itself(ws, "strict")
    assert not at.exception, [e.value for e in at.exception]
    assert "fake-run · view strict" not in at.selectbox(key=ak(ws, "b")).options
    table = at.dataframe[0].value
    assert list(table.columns)[0] == "fake-run · view strict" and len(set(table.columns)) == 3


def test_analysis_of_a_lone_import_offers_no_comparison(import_only):
    at = page("analysis")
    assert at.toggle(key=ak(import_only, "compare")).disabled
    assert any("nothing to compare" in c.value for c in at.caption)
    assert len(at.dataframe[0].value.columns) == 1


def test_analysis_of_a_run_with_nothing_kept_says_so_instead_of_blank_charts(tmp_path, monkeypatch):
    path = tmp_path / "new.sqlite"
    cfg = RunConfig(target=5)
    cfg.lm.backend = "fake"
    with Store(path) as store:
        start_run(store, "fresh", load_tasks(SEEDS), cfg)
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
    at = page("analysis")
    assert any("holds no instructions yet" in unescape(i.value) for i in at.info)
    assert not at.get("plotly_chart")


def test_seeds_delete_removes_the_selected_task_after_the_search_is_cleared(ws):
    at = page("seeds")
    at.text_input(key="seed_query").set_value("haiku").run()
    [haiku] = list(at.dataframe[0].value["id"])
    first = at.session_state["seed_draft"][0].id
    assert haiku != first
    at.session_state["seed_table"] = {"selection": {"rows": [0], "columns": []}}  # the user picks the one match
    at.run()
    at.text_input(key="seed_query").set_value("").run()
    assert at.session_state["seed_pick"] == haiku  # the selection followed the task, not row 0
    button(at, "Delete this task").click().run()
    ids = [t.id for t in at.session_state["seed_draft"]]
    assert haiku not in ids and first in ids


def test_seeds_selection_disappears_when_its_task_is_filtered_out(ws):
    at = page("seeds")
    at.session_state["seed_table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert any(b.label == "Delete this task" for b in at.button)
    at.text_input(key="seed_query").set_value("haiku").run()
    assert not any(b.label == "Delete this task" for b in at.button)
    at.text_input(key="seed_query").set_value("").run()
    assert not any(b.label == "Delete this task" for b in at.button)


def test_data_detail_follows_the_instruction_when_a_filter_changes(ws):
    at = page("data")
    shown = at.dataframe[0].value
    row = next(i for i, v in enumerate(shown["verdict"]) if v == "drop" and i > 0)
    wanted = int(shown["id"].iloc[row])
    at.session_state[run_key("data_table", 1, str(ws))] = {"selection": {"rows": [row], "columns": []}}
    at.run()
    assert any(s.value.startswith(f"Instruction {wanted} ") for s in at.subheader)
    at.selectbox(key="data_v").set_value("drop").run()  # the rows move: the panel stays on the instruction
    assert [s.value for s in at.subheader if s.value.startswith("Instruction ")] == \
           [next(s.value for s in at.subheader if s.value.startswith(f"Instruction {wanted} "))]
    at.selectbox(key="data_v").set_value("keep").run()  # filtered out: the panel closes
    assert not any(s.value.startswith("Instruction ") for s in at.subheader)


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


def test_filters_keep_their_settings_across_a_page_switch(ws):
    at = page("filters")
    at.slider(key=fk(ws, "rouge")).set_value(0.3).run()
    at.toggle(key=fk(ws, "drop_duplicates")).set_value(False).run()
    kept = metric(at, "Kept")
    at.switch_page("dashboard/data.py").run()
    at.switch_page("dashboard/filters.py").run()
    assert at.slider(key=fk(ws, "rouge")).value == 0.3
    assert at.toggle(key=fk(ws, "drop_duplicates")).value is False
    assert metric(at, "Kept") == kept


def test_filters_load_a_saved_view_back_into_the_widgets(ws):
    at = page("filters")
    at.slider(key=fk(ws, "rouge")).set_value(0.5).run()
    at.slider(key=fk(ws, "words")).set_value((5, 40)).run()
    at.text_input(key=fk(ws, "name")).set_value("strict").run()
    button(at, "Apply: save view").click().run()
    at.slider(key=fk(ws, "rouge")).set_value(0.9).run()
    at.slider(key=fk(ws, "words")).set_value((0, 300)).run()
    at.selectbox(key=fk(ws, "load")).set_value("strict").run()
    button(at, "Load view").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key=fk(ws, "rouge")).value == 0.5 and at.slider(key=fk(ws, "words")).value == (5, 40)


def test_filters_refuse_to_overwrite_a_view_unless_replace_is_ticked(ws):
    at = page("filters")
    at.slider(key=fk(ws, "rouge")).set_value(0.5).run()
    at.text_input(key=fk(ws, "name")).set_value("strict").run()
    button(at, "Apply: save view").click().run()
    at.slider(key=fk(ws, "rouge")).set_value(0.3).run()
    button(at, "Apply: save view").click().run()
    assert any("exists already" in unescape(w.value) for w in at.warning)
    with Store(ws) as s:
        assert s.view(1, "strict")["rouge_threshold"] == 0.5
    at.checkbox(key=fk(ws, "replace")).check().run()
    button(at, "Apply: save view").click().run()
    with Store(ws) as s:
        assert s.view(1, "strict")["rouge_threshold"] == 0.3


def test_an_import_only_workspace_says_there_is_no_generation_run(import_only):
    for name in ("generate", "filters"):
        at = page(name)
        [note] = [i.value for i in at.info]
        assert "No generation run" in note and "New run" in note


def test_responses_tabs_show_each_jobs_own_progress(ws):
    at = page("responses")
    at.radio(key="ans.backend").set_value("fake").run()
    at.number_input(key="ans.limit").set_value(5).run()
    at.button(key="ans.go").click().run()
    wait_for(lambda s: (rs := s.query("SELECT COUNT(*) FROM responses")) and rs[0][0] >= 5, ws)
    at.radio(key="tr.backend").set_value("fake").run()
    at.number_input(key="tr.limit").set_value(3).run()
    at.button(key="tr.go").click().run()
    wait_for(lambda s: any(r.kind == "translation" and r.state == "done" for r in s.runs()), ws)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    answer, translate, compare_tab = at.tabs
    assert [s.value for s in answer.subheader] == ["Job: answer → answers"]
    assert [s.value for s in translate.subheader] == ["Job: translate → zh"]
    assert not [s.value for s in compare_tab.subheader if s.value.startswith("Job:")]


def test_generate_rate_and_seed_source_metrics_are_short(ws):
    at = page("generate")
    assert re.fullmatch(r"\d+(\.\d)?[kMG]?", metric(at, "Tokens/s")), metric(at, "Tokens/s")
    at = page("seeds")
    assert len(metric(at, "Source")) <= 12
    good = b'{"instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}], "is_classification": false}\n'
    at.file_uploader[0].set_value(("good.jsonl", good, "application/jsonl")).run()
    assert metric(at, "Source") == "upload"
    at.switch_page("dashboard/runs.py").run()
    assert any("the 1 task prepared" in i.value for i in at.info)


def test_demo_says_nothing_streamed_before_play(ws):
    at = page("demo")
    at.radio(key="demo_source").set_value("workspace").run()
    raw = [m.value for m in at.markdown if m.value.startswith("**Raw completion**")]
    assert raw and all("waiting" in m and "tokens" not in m for m in raw)


def test_a_fresh_session_shows_the_newest_generation_run(ws):
    with Store(ws) as s:
        s.create_run("fake-run-zh", kind="translation", language="zh", source_run_id=1)
    at = page("runs")
    assert at.session_state["run_id"] == 1


def wait_for(ready, path: Path, timeout_s: float = 60) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        with Store(path) as s:
            if ready(s):
                return
        time.sleep(0.1)
    raise AssertionError("the background job did not finish in time")


# --------------------------------------------------------------------------- re-audit fixes


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


def test_filters_say_when_the_run_used_a_threshold_below_the_what_if_range(ws):
    with Store(ws) as s:
        config = s.run(1).config
        config["filters"]["rouge_threshold"] = 0.2  # as the command line may still make it
        s.set_run_config(1, config)
    at = page("filters")
    assert any("below what the what-if can replay" in unescape(w.value) for w in at.warning)


def with_translation(ws: Path) -> int:
    with Store(ws) as s:
        return s.create_run("fake-run-zh", kind="translation", language="zh", source_run_id=1,
                            config={"model": "fake"}, tasks=imported_tasks(5, per=1), origin="translation",
                            state="done").id


@pytest.mark.parametrize("name", ["generate", "filters"])
def test_generation_pages_never_show_another_run_than_the_chosen_one(ws, name):
    tr = with_translation(ws)
    at = page("runs")
    at.session_state["run_id"] = tr
    at.switch_page(f"dashboard/{name}.py").run()
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


def copy_workspace(ws: Path, other: Path) -> Path:
    """Another workspace whose run is also run 1 (a copy: every id is the same)."""
    with Store(ws) as s, Store(other) as o:
        s.conn.backup(o.conn)
    return other


def test_filter_settings_and_picks_stay_in_their_workspace(ws, tmp_path):
    other = copy_workspace(ws, tmp_path / "other.sqlite")
    at = page("filters")
    at.slider(key=fk(ws, "rouge")).set_value(0.3).run()
    at.switch_page("dashboard/data.py").run()
    at.session_state[run_key("data_table", 1, str(ws))] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert any(s.value.startswith("Instruction ") for s in at.subheader)
    at.session_state["workspace"] = str(other)  # what the Runs page's Open does
    at.switch_page("dashboard/filters.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key=fk(other, "rouge")).value == 0.7  # the run's own setting, not the other workspace's
    at.switch_page("dashboard/data.py").run()
    assert not any(s.value.startswith("Instruction ") for s in at.subheader)
    at.session_state["workspace"] = str(ws)
    at.switch_page("dashboard/filters.py").run()
    assert at.slider(key=fk(ws, "rouge")).value == 0.3  # and the first workspace keeps its own


def test_analysis_sets_the_new_with_choice_before_drawing_the_box(ws):
    at = compare_a_view_with_itself(ws, "v1")
    box = at.selectbox(key=ak(ws, "b"))
    assert box.value != "fake-run · view v1" and box.value in box.options
    # the value is sent with set_value, so the browser shows it instead of the old, hidden choice
    assert box.proto.set_value and box.proto.raw_value == box.value
    assert list(at.dataframe[0].value.columns)[:2] == ["fake-run · view v1", box.value]


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


def test_generate_shows_the_generations_own_tokens_and_cost(ws):
    from selfinstruct.lm.base import LMRequest
    from selfinstruct.lm.cache import RecordedLM
    from selfinstruct.pipeline import generation_usage

    with Store(ws) as s:
        config = s.run(1).config
        config["lm"] |= {"price_in_per_1m": 10.0, "price_out_per_1m": 10.0}
        s.set_run_config(1, config)
        own = generation_usage(s, 1)
        rlm = RecordedLM(FakeLM(), s, 1)
        for i in range(20):  # a judge's calls: their prices are not the generation's
            rlm.call(LMRequest(prompt=f"Judge answer {i}: " + "word " * 200, step="judge", max_tokens=8))
        every = s.usage(1)
    assert every["tokens_in"] > own["tokens_in"] + 3000
    at = page("generate")
    tokens = own["tokens_in"] + own["tokens_out"]
    assert metric(at, "Tokens") == compact(tokens)
    assert metric(at, "Cost") == f"${tokens * 10 / 1e6:.4f}"
    at = page("runs")
    row = at.dataframe[0].value.set_index("name").loc["fake-run"]
    assert row["tokens"] == every["tokens_in"] + every["tokens_out"]
    assert row["cost"] == f"${tokens * 10 / 1e6:.4f} + unknown"


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


def test_analysis_notes_instead_of_empty_charts_without_seeds_or_verbs(tmp_path, monkeypatch):
    path = tmp_path / "zh.sqlite"
    tasks = [Task(f"t{i}", f"请用{i}个词描述这条河流的名字。", (Instance("", f"答案 {i}"),)) for i in range(6)]
    with Store(path) as s:
        s.create_run("imported-zh", kind="import", config={}, tasks=tasks, origin="import", state="done",
                     language="zh")
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
    at = page("analysis")
    notes = [unescape(i.value) for i in at.info]
    assert any("no seed instructions to compare with" in n for n in notes)
    assert any("no English verb–noun structure" in n for n in notes)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert not any('"sunburst"' in s for s in specs)
    assert not any("most similar seed instruction" in s for s in specs)


def test_seeds_add_proposes_an_unused_id_after_a_delete(ws):
    at = page("seeds")
    at.session_state["seed_table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    button(at, "Delete this task").click().run()
    ids = {t.id for t in at.session_state["seed_draft"]}
    proposed = [t.value for t in at.text_input if t.label == "id"][-1]
    assert proposed.startswith("seed_task_") and proposed not in ids


def test_evaluate_keeps_the_answer_buttons_in_view_of_a_long_output(tmp_path, monkeypatch):
    path = tmp_path / "long.sqlite"
    with Store(path) as s:
        run = s.create_run("gen", kind="generate")
        s.add_tasks(run.id, [Task("m0", "Write a very long story.", (Instance("", "once upon a time " * 2400),))],
                    origin="machine")
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
    at = page("evaluate")
    review = at.tabs[0]
    boxes = [b for b in review.children.values() if type(b).__name__ == "Block" and b.proto.height_config.pixel_height]
    [long] = [t for b in boxes for t in b.text if len(t.value) > 30_000]  # in a box of fixed height: it scrolls
    assert long.value.startswith("once upon a time") and boxes[0].proto.height_config.pixel_height <= 400
    assert review.button(key="review_yes").label == "Yes"
    assert all(len(t.value) < 1000 for t in review.text if t not in boxes[0].text)  # short text stays as it is
