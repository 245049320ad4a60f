"""The Seeds page: search, an upload refused with its line or asking before it replaces manual
edits, a task refused without an output, and delete and add that follow the selected task."""

from __future__ import annotations

from selfinstruct.seeds import load_tasks
from tests.apptest_util import SEEDS, button, metric, page, unescape


GOOD = b'{"instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}], "is_classification": false}\n'


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


def test_seeds_add_proposes_an_unused_id_after_a_delete(ws):
    at = page("seeds")
    at.session_state["seed_table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    button(at, "Delete this task").click().run()
    ids = {t.id for t in at.session_state["seed_draft"]}
    proposed = [t.value for t in at.text_input if t.label == "id"][-1]
    assert proposed.startswith("seed_task_") and proposed not in ids


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
