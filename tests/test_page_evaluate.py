"""The Evaluate page under Streamlit's AppTest: a review answer and a blind rating are saved."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from selfinstruct.evaluate.ratings import rating_queue
from selfinstruct.evaluate.review import review_sample
from selfinstruct.records import Instance, Task
from selfinstruct.store import Store
from selfinstruct.store.evals import judges, ratings, review_answers
from selfinstruct.store.responses import create_response_set, save_responses
from tests.apptest_util import page


ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Path:
    """A generation run with kept machine instructions and two response sets."""
    path = tmp_path / "ws.sqlite"
    with Store(path) as store:
        run = store.create_run("gen", kind="generate")
        store.add_tasks(run.id, [Task(f"m{i}", f"Machine task {i}.", (Instance(f"in {i}", f"out {i}"),))
                                 for i in range(5)], origin="machine")
        for k, name in enumerate(("model-a", "model-b")):
            rs = create_response_set(store, run.id, name, model=name)
            save_responses(store, rs.id, [(i.id, f"response {k} to {i.output}", None, None)
                                          for i in store.instances(run_id=run.id)])
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
    monkeypatch.setenv("SELFINSTRUCT_ALLOW_FAKE", "1")
    return path


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("dashboard/screens/evaluate.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_review_answer_and_rating_are_saved(ws):
    at = open_page()
    assert at.title[0].value == "⚖️ Evaluate"
    with Store(ws) as store:
        run = store.run("gen")
        first = review_sample(store, run)[0]
        queue = rating_queue(store, run, ["model-a", "model-b"])
    assert first.instruction in [t.value for t in at.text]
    assert "model-a" not in " ".join(t.value for t in at.text)  # rating is blind

    at.button(key="review_yes").click().run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="review_no").click().run()
    at.button(key="rate_B").click().run()
    assert not at.exception, [e.value for e in at.exception]

    with Store(ws) as store:
        run = store.run("gen")
        got = [(a.instance_id, a.question, a.answer) for a in review_answers(store, run.id, "human")]
        assert got == [(first.instance_id, 1, True), (first.instance_id, 2, False)]
        [r] = ratings(store, [queue[0].set_id])
        assert (r.instance_id, r.grade, r.rater) == (queue[0].instance_id, "B", "human")
    assert "Q3. Is the output a correct" in " ".join(m.value for m in at.markdown)
    assert any("Human ratings" in c.proto.spec for c in at.get("plotly_chart")) is False  # still blind


def test_judge_tab_runs_the_fake_judge(ws):
    at = open_page()
    at.radio(key="ev.judge.lm.backend").set_value("fake").run()
    at.button(key="ev.judge.run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with Store(ws) as store:
        run = store.run("gen")
        from selfinstruct.store.responses import response_sets

        assert judges(store, [s.id for s in response_sets(store, run.id)])[0][:1] == ("fake",)


def test_judging_one_set_alone_reports_unreadable_answers_and_shows_its_scores(ws):
    at = open_page()
    picker(at, "Response sets").set_value(["model-a"]).run()
    at.radio(key="ev.judge.lm.backend").set_value("fake").run()
    at.button(key="ev.judge.run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("5 judged, 5 unreadable" in w.value for w in at.warning)  # the fake judge gives no score
    table = next(d.value for d in at.dataframe if "unreadable" in d.value.columns)
    assert table.to_dict("records") == [{"set": "model-a", "judged": 5, "unreadable": 5, "mean score": None}]


def test_set_pickers_follow_the_run_chosen_in_the_sidebar(ws):
    with Store(ws) as store:
        other = store.create_run("other", kind="generate")
        store.add_tasks(other.id, [Task("o", "Other task.", (Instance("", "x"),))], origin="machine")
        rs = create_response_set(store, other.id, "model-c", model="model-c")
        save_responses(store, rs.id, [(i.id, "a response", None, None) for i in store.instances(run_id=other.id)])
    at = open_page()
    at.sidebar.selectbox(key="run_pick").set_value(1).run()  # "gen"
    assert picker(at, "Response sets to rate").value == ["model-a", "model-b"]
    at.sidebar.selectbox(key="run_pick").set_value(other.id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert picker(at, "Response sets to rate").value == ["model-c"]
    assert picker(at, "Response sets").value == ["model-c"]


def picker(at: AppTest, label: str):
    return next(m for m in at.multiselect if m.label == label)


# --------------------------------------------------------------------------- long outputs


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
