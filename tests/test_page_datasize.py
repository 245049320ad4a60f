"""The Analysis page's Diversity and Data size tabs and the Export page's nested subsets."""

from __future__ import annotations

import json
from pathlib import Path

from selfinstruct import analysis, diversity
from selfinstruct.filter_views import view_tasks
from selfinstruct.formats.subsets import nested_order
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from tests.apptest_util import SEEDS, ak, button, metric, page
from tests.test_page_analysis import compared_with_seeds


def kept(ws: Path) -> list:
    with Store(ws) as s:
        return view_tasks(s, s.run(1))


def test_diversity_shows_vendi_beside_distinct_n_for_both_sets(ws):
    at = compared_with_seeds(ws)
    seeds = [t.instruction for t in load_tasks(SEEDS)]
    want = diversity.vendi_score(seeds)["score"]
    assert [m.value for m in at.metric if m.label == "Vendi score"][1] == f"{want:.1f}"
    table = next(d.value for d in at.dataframe if "Vendi score (effective distinct instructions)" in d.value.index)
    assert list(table.columns) == ["fake-run · kept", "fake-run · seeds"]
    assert table.loc["Vendi score (effective distinct instructions)", "fake-run · seeds"] == f"{want:,.1f}"
    assert table.loc["how", "fake-run · seeds"] == f"exact, over all {len(seeds):,} instructions"
    d2 = analysis.distinct_n(seeds, 2)
    assert table.loc["distinct-2", "fake-run · seeds"] == f"{d2:.3f}"
    assert table.loc["2-gram repetition (1 - distinct-2)", "fake-run · seeds"] == f"{1 - d2:.1%}"


def test_data_size_charts_the_diversity_of_the_nested_subsets(ws):
    at = page("analysis")
    key = ak(ws, "scaling")
    at.text_input(key=f"{key}.sizes").set_value("2,4").run()
    at.number_input(key=f"{key}.seed").set_value(3).run()
    button(at, "Compute the subsets' diversity").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "Data-size scaling" in c.proto.spec)
    assert spec["layout"]["xaxis"]["type"] == "log" and spec["data"][0]["x"] == [2, 4]
    order = [t.instruction for t in nested_order([t for t in kept(ws) if t.instances], 3)]
    assert spec["data"][0]["y"][1] == diversity.vendi_score(order[:4])["score"]
    at.text_input(key=f"{key}.sizes").set_value("2,4,3").run()  # other sizes: the old chart is not drawn
    assert not any("Data-size scaling" in c.proto.spec for c in at.get("plotly_chart"))


def test_export_page_writes_nested_subsets(ws):
    at = page("export")
    next(t for t in at.text_input if t.label == "Sizes").set_value("2,4").run()
    button(at, "Write subsets").click().run()
    assert not at.error, [e.value for e in at.error]
    folder = ws.resolve().parent / "exports" / "ws" / "fake-run-gpt3-subsets"
    index = json.loads((folder / "subsets.json").read_text())
    assert index["sizes"] == [2, 4] and index["format"] == "gpt3"
    ids = [json.loads((folder / s["manifest"]).read_text())["subset"]["ids"] for s in index["subsets"]]
    assert ids[1][:2] == ids[0]
    assert any("Wrote 2 nested subsets" in s.value for s in at.success)
