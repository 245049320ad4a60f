"""Figures carry the numbers of the analysis results they draw."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfinstruct import analysis, charts
from selfinstruct.records import Instance, Task

PAIRS = ([("write", "poem")] * 6 + [("write", "story")] * 3 + [("write", "essay")]
         + [("give", "list")] * 4 + [("give", "example")] * 2 + [("find", "word")] * 2
         + [("write", None)] * 3 + [(None, None)] * 4)


@pytest.fixture
def summary() -> dict:
    return analysis.verb_noun_summary(PAIRS, top_verbs=2, top_nouns=2)


def test_sunburst_sectors_match_summary(summary: dict) -> None:
    fig = charts.sunburst(summary)
    (trace,) = fig.data
    values = dict(zip(trace.ids, trace.values))
    assert values["write"] == 9 and values["write/poem"] == 6 and values["write/story"] == 3
    assert values["give"] == 6 and "write/essay" not in values and "find" not in values
    leaves = [v for i, v in values.items() if "/" in i]
    assert sum(leaves) == summary["covered"] == 15
    assert {lab for i, lab in zip(trace.ids, trace.labels) if "/" not in i} == {"write", "give"}
    assert f"{15 / len(PAIRS):.1%}" in fig.layout.title.text


def test_sunburst_side_by_side(summary: dict) -> None:
    other = analysis.verb_noun_summary([("make", "cake")] * 3 + [(None, None)])
    fig = charts.sunburst(summary, other, names=("ours", "theirs"))
    assert len(fig.data) == 2
    assert set(fig.data[1].labels) == {"make", "cake"}
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("ours") and "75.0%" in titles[1]


def test_sunburst_accepts_full_report_keys(summary: dict) -> None:
    report = {"top_verbs": summary["top_verbs"], "sunburst_coverage": summary["coverage"],
              "verb_noun_total": summary["n_total"]}
    assert charts.sunburst(report).layout.title.text == charts.sunburst(summary).layout.title.text


def test_sunburst_empty() -> None:
    fig = charts.sunburst(analysis.verb_noun_summary([(None, None)]))
    assert len(fig.data[0].ids) == 0


def test_overlap_histogram_counts(summary: dict) -> None:
    scores = [0.05, 0.12, 0.33, 0.33, 0.9, 1.0]
    a = analysis.overlap_summary(scores)
    b = analysis.overlap_summary([0.5])
    fig = charts.overlap_histogram(a)
    assert sum(fig.data[0].y) == len(scores)
    assert fig.layout.xaxis.title.text == "ROUGE-L vs. the most similar seed instruction"
    assert fig.layout.yaxis.title.text == "# instructions"
    both = charts.overlap_histogram(a, b, names=("x", "y"), share=True)
    assert [t.name for t in both.data] == ["x", "y"]
    assert sum(both.data[0].y) == pytest.approx(1.0) and sum(both.data[1].y) == pytest.approx(1.0)
    assert all(0 <= x <= 1 for x in both.data[0].x)


def test_pairwise_and_within_charts() -> None:
    hist = {"counts": [3, 1], "edges": [0.0, 0.5, 1.0]}
    fig = charts.pairwise_histogram_chart(hist)
    assert list(fig.data[0].y) == [0.75, 0.25] and list(fig.data[0].x) == [0.25, 0.75]
    fig = charts.within_histogram(hist, hist)
    assert len(fig.data) == 2 and list(fig.data[1].y) == [3, 1]


def _tasks() -> list[Task]:
    return [
        Task("1", "Write a poem about the sea.", (Instance("", "Waves roll in."),), False),
        Task("2", "Is this positive?", (Instance("I love it", "Yes"), Instance("Bad", "No")), True,
             origin="machine"),
        Task("3", "Sort the list.", (Instance("3 1 2", "1 2 3"),), None, origin="machine"),
    ]


def test_length_histograms_sum_to_totals() -> None:
    lens = analysis.lengths(_tasks())
    fig = charts.length_histograms(lens)
    assert len(fig.data) == 3
    totals = [len(lens["groups"]["all"][f]) for f in ("instruction", "input", "output")]
    assert [sum(t.y) for t in fig.data] == totals == [3, 3, 4]
    split = charts.length_histograms(lens, groups=("seed", "machine"))
    assert [t.name for t in split.data[:2]] == ["A · seed", "A · machine"]
    assert sum(split.data[1].y) == 2


def test_length_histograms_two_datasets_share_bins() -> None:
    a = analysis.lengths(_tasks())
    b = analysis.lengths([Task("9", " ".join(["word"] * 90), (Instance("", "ok"),), False)])
    fig = charts.length_histograms(a, b, names=("a", "b"))
    instruction = [t for t in fig.data if t.xaxis == "x"]
    assert [t.name for t in instruction] == ["a · all", "b · all"]
    assert list(instruction[0].x) == list(instruction[1].x)
    assert sum(instruction[1].y) == 1


@given(st.lists(st.integers(min_value=0, max_value=5000), max_size=50))
def test_length_edges_cover_values(values: list[int]) -> None:
    edges = charts.length_edges(values)
    assert edges[0] == 0 and len(edges) - 1 <= charts.MAX_LENGTH_BINS
    assert all(v < edges[-1] for v in values)


def _report(summary: dict) -> dict:
    hist = analysis.overlap_summary([0.1, 0.2, 0.7])
    return {"top_verbs": summary["top_verbs"], "sunburst_coverage": summary["coverage"],
            "verb_noun_total": summary["n_total"],
            "rouge_vs_seeds_hist": hist, "rouge_within_hist": hist, "rouge_pairwise_hist": hist}


def test_write_charts_offline(tmp_path, summary: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charts, "png_available", lambda: False)
    lens = analysis.lengths(_tasks())
    figs = charts.report_figures([_report(summary), _report(summary)], [lens, lens])
    assert set(figs) == {"verb_noun_sunburst", "lengths", "rouge_vs_seeds", "rouge_within",
                         "rouge_pairwise"}
    assert all(len(f.data) >= 2 for f in figs.values())
    written = charts.write_charts(figs, tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == sorted([f"{n}.html" for n in figs] + ["plotly.min.js"])
    page = (tmp_path / "out" / "rouge_vs_seeds.html").read_text(encoding="utf-8")
    assert "cdn.plot.ly" not in page and 'src="plotly.min.js"' in page
    assert charts.write_charts(figs, tmp_path / "out")[-1].suffix == ".html"  # bundle kept once
    one = charts.write_charts({"s": figs["lengths"]}, tmp_path / "solo", standalone=True)
    assert [p.name for p in one] == ["s.html"] and one[0].stat().st_size > 1_000_000


def test_figures_serialise(summary: dict) -> None:
    json.loads(charts.sunburst(summary).to_json())


def test_figures_of_a_real_report() -> None:
    """Official seeds plus the 252 user-oriented instructions, end to end."""
    from test_analysis import SEEDS, USER, load_jsonl

    seeds, user = load_jsonl(SEEDS, "seed"), load_jsonl(USER, "import")
    report = analysis.full_report(seeds + user, cache=analysis.DictCache())
    figs = charts.report_figures([report], [analysis.lengths(seeds + user)], names=["all"])
    sun = figs["verb_noun_sunburst"].data[0]
    verbs = [lab for i, lab in zip(sun.ids, sun.labels) if "/" not in i]
    assert sorted(verbs) == sorted(v["verb"] for v in report["top_verbs"])
    inner = {i: v for i, v in zip(sun.ids, sun.values) if "/" not in i}
    assert inner == {v["verb"]: sum(n["count"] for n in v["nouns"]) for v in report["top_verbs"]}
    assert sum(figs["rouge_vs_seeds"].data[0].y) == 252  # every non-seed instruction
    assert sum(figs["rouge_within"].data[0].y) == 175 + 252
    assert sum(figs["lengths"].data[0].y) == 175 + 252


def test_a_truncated_plotly_bundle_is_rewritten(tmp_path, summary: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from plotly.offline import get_plotlyjs

    monkeypatch.setattr(charts, "png_available", lambda: False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "plotly.min.js").write_text(get_plotlyjs()[:1000], encoding="utf-8")
    written = charts.write_charts({"s": charts.sunburst(summary)}, out)
    assert (out / "plotly.min.js").read_text(encoding="utf-8") == get_plotlyjs()
    assert out / "plotly.min.js" in written


def test_a_write_cut_short_leaves_no_partial_file(tmp_path, summary: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import pathlib

    from plotly.offline import get_plotlyjs

    monkeypatch.setattr(charts, "png_available", lambda: False)
    real_text, real_bytes = pathlib.Path.write_text, pathlib.Path.write_bytes

    def full_text(self, data, *a, **k):  # the disk fills half-way through any large file
        if len(data) > 1_000_000:
            real_text(self, data[: len(data) // 2], *a, **k)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_text(self, data, *a, **k)

    def full_bytes(self, data):
        if len(data) > 1_000_000:
            real_bytes(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_bytes(self, data)

    monkeypatch.setattr(pathlib.Path, "write_text", full_text)
    monkeypatch.setattr(pathlib.Path, "write_bytes", full_bytes)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        charts.write_charts({"s": charts.sunburst(summary)}, out)
    assert not [p for p in out.iterdir() if p.name == "plotly.min.js" or p.name.endswith(".tmp")]
    monkeypatch.undo()
    monkeypatch.setattr(charts, "png_available", lambda: False)
    charts.write_charts({"s": charts.sunburst(summary)}, out)
    assert (out / "plotly.min.js").read_text(encoding="utf-8") == get_plotlyjs()


def test_out_must_be_a_folder(tmp_path, summary: dict) -> None:
    notadir = tmp_path / "notadir"
    notadir.write_text("x")
    for out in (notadir, notadir / "sub"):
        with pytest.raises(NotADirectoryError, match=f"{out}: must be a folder"):
            charts.write_charts({"s": charts.sunburst(summary)}, out)
    assert notadir.read_text() == "x"


def test_charts_command_names_an_out_that_is_a_file(tmp_path, capsys) -> None:
    from conftest import OUR_SEEDS

    from selfinstruct.cli import main

    notadir = tmp_path / "notadir"
    notadir.write_text("x")
    assert main(["charts", "--seeds", str(OUR_SEEDS), "--out", str(notadir)]) == 2
    assert f"error: {notadir}: must be a folder" in capsys.readouterr().err  # before any analysis
