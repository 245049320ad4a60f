"""The Evaluate page's experiment sections under AppTest: ranked groups with their export, length
against judge score, and the guided output-quality steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfinstruct.evaluate.length import ALL, length_vs_score
from selfinstruct.prompts.judge import SINGLE_TEMPLATE, template_id
from selfinstruct.records import Instance, Task
from selfinstruct.store import Store
from selfinstruct.store.evals import Judgment, save_judgments
from selfinstruct.store.responses import create_response_set, save_responses
from tests.apptest_util import page

SCORES = {"model-a": [6, 7, 5, 8, 6], "model-b": [8, 9, 7, 9, 8]}


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Path:
    """A generation run with two response sets, every response scored alone by the judge "judge"."""
    path = tmp_path / "ws.sqlite"
    with Store(path) as store:
        run = store.create_run("gen", kind="generate")
        store.add_tasks(run.id, [Task(f"m{i}", f"Machine task {i}.", (Instance(f"in {i}", f"out {i}"),))
                                 for i in range(5)], origin="machine")
        insts = store.instances(run_id=run.id)
        judged = []
        for k, name in enumerate(SCORES):
            rs = create_response_set(store, run.id, name, model=name)
            save_responses(store, rs.id, [(i.id, " ".join(["word"] * (3 + j + 4 * k)), None, None)
                                          for j, i in enumerate(insts)])
            judged += [Judgment(i.id, "judge", template_id(SINGLE_TEMPLATE), rs.id, 0, s, None, None)
                       for i, s in zip(insts, SCORES[name])]
        save_judgments(store, judged)
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(path))
    return path


def tab(at, label: str):
    return next(t for t in at.tabs if t.label == label)


def test_judge_tab_draws_ranked_groups_with_an_html_download(ws):
    at = page("evaluate")
    judge = tab(at, "Judge")
    assert any("Ranked groups" in m.value for m in judge.markdown)
    chart = next(c for c in at.get("plotly_chart") if "Judge scores relative to model-a" in c.proto.spec)
    assert '"model-b","model-a"' in chart.proto.spec.replace(" ", "")  # sorted: 128% above the reference's 100%
    table = next(d.value for d in judge.dataframe if "relative %" in d.value.columns)
    assert table.to_dict("records") == [{"judge": "judge", "set": "model-b", "n": 5, "total": 41.0,
                                         "reference total": 32.0, "relative %": 128.1}]
    downloads = [b for b in at.get("download_button") if b.proto.label == "Download HTML"]
    assert downloads
    from selfinstruct.charts import png_available

    if not png_available():
        assert any("kaleido" in c.value for c in judge.caption)


def test_length_tab_shows_the_library_numbers(ws):
    at = page("evaluate")
    length = tab(at, "Length vs score")
    assert not at.exception, [e.value for e in at.exception]
    fits = next(d.value for d in length.dataframe if "Pearson r" in d.value.columns)
    with Store(ws) as store:
        ls = length_vs_score(store, store.run("gen"), list(SCORES), judge="judge")
    assert fits["set"].tolist() == ["model-a", "model-b", ALL]
    assert fits["n"].tolist() == [5, 5, 10]
    assert fits["Pearson r"].tolist() == [round(f.pearson, 3) for f in ls.fits.values()]
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    for want in ("Judge score against answer length", "Correlation of answer length", "Mean judge score per length"):
        assert any(want in t for t in titles)
    buckets = next(d.value for d in length.dataframe if "length" in d.value.columns)
    assert buckets["all n"].sum() == 10


def test_output_quality_tab_guides_through_the_responses_page(ws):
    at = page("evaluate")
    quality = tab(at, "Output quality")
    assert any("stronger" in m.value for m in quality.markdown)
    assert "responses" in [link.proto.page for link in at.get("page_link")]
    assert any("evaluate output-quality" in c.value for c in quality.code)
    table = next(d.value for d in quality.dataframe if "answered" in d.value.columns)
    assert table["set"].tolist() == ["model-a", "model-b"] and table["answered"].tolist() == ["5 of 5", "5 of 5"]
