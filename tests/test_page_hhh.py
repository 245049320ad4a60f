"""The Evaluate page's HHH comparison under Streamlit's AppTest: blind items, a saved verdict,
a refused half-filled form, the bars and counts, and the judge with its agreement."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfinstruct.evaluate.hhh import hhh_items, hhh_pair
from selfinstruct.records import Instance, Task
from selfinstruct.store import Store
from selfinstruct.store.hhh import hhh_judgements
from selfinstruct.store.responses import create_response_set, save_responses
from tests.apptest_util import button, page


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Path:
    """A run of 6 tasks answered by sets "alpha" and "beta"."""
    path = tmp_path / "ws.sqlite"
    with Store(path) as store:
        run = store.create_run("ev", kind="import")
        store.add_tasks(run.id, [Task(str(i), f"Task number {i}.", (Instance("", f"ref {i}"),)) for i in range(6)],
                        origin="import")
        for name in ("alpha", "beta"):
            rs = create_response_set(store, run.id, name, model=name)
            save_responses(store, rs.id, [(i.id, f"{name} says {k}", None, None)
                                          for k, i in enumerate(store.instances(run_id=run.id))])
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
    monkeypatch.setenv("SELFINSTRUCT_ALLOW_FAKE", "1")
    return path


def texts(tab) -> list[str]:
    return [t.value for t in tab.text]


def test_blind_item_saved_and_counted(ws):
    at = page("evaluate")
    tab = next(t for t in at.tabs if t.label == "HHH comparison")
    with Store(ws) as store:
        pair = hhh_pair(store, store.run("ev"), "alpha", "beta")
        items = hhh_items(store, pair)
    first = items[0]
    assert [first.instruction, first.answer_a, first.answer_b] == [t for t in texts(tab) if t.startswith(("Task", "alpha", "beta"))]
    assert "Item 1 of 6" in tab.get("progress")[0].proto.text
    assert {"**Answer A**", "**Answer B**"} <= {m.value for m in tab.markdown}

    at.radio(key=f"ev.hhh.helpful.{first.instance_id}").set_value("better")
    button(at, "Save & next").click().run()  # two criteria left open: nothing saved
    assert not at.exception, [e.value for e in at.exception]
    assert any("Pick a verdict for honest, harmless too" in w.value for w in at.warning)
    with Store(ws) as store:
        assert hhh_judgements(store, pair.first.id, pair.second.id) == []

    at.radio(key=f"ev.hhh.helpful.{first.instance_id}").set_value("better")
    at.radio(key=f"ev.hhh.honest.{first.instance_id}").set_value("tie")
    at.radio(key=f"ev.hhh.harmless.{first.instance_id}").set_value("worse")
    button(at, "Save & next").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with Store(ws) as store:
        got = {j.criterion: (j.verdict, j.a_set) for j in hhh_judgements(store, pair.first.id, pair.second.id, "human")}
    assert got == {c: (v, first.a_set) for c, v in (("helpful", "better"), ("honest", "tie"), ("harmless", "worse"))}
    tab = next(t for t in at.tabs if t.label == "HHH comparison")
    assert "Item 2 of 6" in tab.get("progress")[0].proto.text and items[1].answer_a in texts(tab)
    assert "**human**: 1 of 6 items judged" in [m.value for m in tab.markdown]
    alpha_won = first.a_set == pair.first.id  # "A is better" on helpful
    table = next(d.value for d in tab.dataframe if "alpha better" in d.value.columns)
    assert table.to_dict("records")[0] == {"criterion": "helpful", "alpha better": int(alpha_won), "tie": 0,
                                           "beta better": int(not alpha_won), "n": 1}
    assert any("HHH comparison by human" in c.proto.spec for c in tab.get("plotly_chart"))


def test_judge_runs_and_one_set_is_not_a_pair(ws):
    at = page("evaluate")
    at.radio(key="ev.hhh.lm.backend").set_value("fake").run()
    button(at, "Judge the pair").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("6 items judged in both orders, 0 judged before, 18 verdicts unreadable" in s.value for s in at.success)
    next(b for b in at.selectbox if b.label == "Set 2").set_value("alpha").run()
    assert any("Pick two different sets" in i.value for i in at.info)
