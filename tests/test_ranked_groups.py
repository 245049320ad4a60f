"""Ranked groups (relative judge scores drawn as "Instruction Tuning with GPT-4" does) and their export."""

from __future__ import annotations

import json

import pytest

from selfinstruct.charts import png_available, write_figure
from selfinstruct.evaluate import figures
from selfinstruct.evaluate.judge import RelativeScore
from selfinstruct.records import Instance, Task
from selfinstruct.store import Store
from selfinstruct.store.evals import Judgment, save_judgments
from selfinstruct.store.responses import create_response_set, save_responses

from conftest import cli_main

SCORES = [RelativeScore("B", 10, 95.0, 100.0), RelativeScore("C", 10, 110.0, 100.0),
          RelativeScore("D", 0, 0.0, 0.0), RelativeScore("E", 10, 60.0, 100.0)]


def test_bars_are_sorted_with_the_reference_at_100_percent():
    fig = figures.relative_figure({"gpt-4o": SCORES}, "A")
    [bars] = fig.data
    assert list(bars.y) == ["C", "A", "B", "E", "D"]  # best first; no common score ("n/a") last
    assert list(bars.x) == pytest.approx([110, 100, 95, 60, 0])
    assert bars.text[1] == "100% (A)" and bars.text[0] == "110% (110 : 100, n=10)" and bars.text[-1].startswith("n/a")
    assert bars.marker.color[1] != bars.marker.color[0]  # the reference stands out
    assert "judge: gpt-4o" in fig.layout.title.text
    assert [s.x0 for s in fig.layout.shapes] == [100]


def test_one_panel_per_judge():
    fig = figures.relative_figure({"gpt-4o": SCORES[:2], "claude": [RelativeScore("B", 10, 120.0, 100.0)]}, "A")
    assert [t.name for t in fig.data] == ["gpt-4o", "claude"]
    assert list(fig.data[1].y) == ["B", "A"] and fig.data[1].yaxis == "y2"
    assert [a.text for a in fig.layout.annotations] == ["judge: gpt-4o", "judge: claude"]
    with pytest.raises(ValueError, match="at least one judge"):
        figures.relative_figure({}, "A")


def test_write_figure_html_and_png_only_with_kaleido(tmp_path):
    fig = figures.relative_figure({"j": SCORES}, "A")
    page = write_figure(fig, tmp_path / "ranked.html").read_text()
    assert "<html>" in page and "plotly" in page.lower() and "<script src=" not in page  # plotly.js inside: works offline
    with pytest.raises(ValueError, match=r"\.html or \.png"):
        write_figure(fig, tmp_path / "ranked.svg")
    if not png_available():
        with pytest.raises(ValueError, match="kaleido"):
            write_figure(fig, tmp_path / "ranked.png")
        assert not (tmp_path / "ranked.png").exists()


def judged_workspace(tmp_path) -> str:
    """Three sets scored alone by two judges: 'strict' gives A 8, B 6, C 9; 'kind' gives A 8, B 8, C 10."""
    store = Store(tmp_path / "w.sqlite")
    run = store.create_run("ev", kind="import")
    store.add_tasks(run.id, [Task(str(i), f"Task {i}.", (Instance("", f"ref {i}"),)) for i in range(2)],
                    origin="import")
    insts = store.instances(run_id=run.id)
    judged = []
    for name, strict, kind in (("A", 8, 8), ("B", 6, 8), ("C", 9, 10)):
        rs = create_response_set(store, run.id, name, model=name)
        save_responses(store, rs.id, [(i.id, f"{name} answer", None, None) for i in insts])
        for i in insts:
            judged += [Judgment(i.id, "openai:strict@http://h/v1", "t", rs.id, 0, strict, None, None),
                       Judgment(i.id, "kind", "t", rs.id, 0, kind, None, None)]
    save_judgments(store, judged)
    store.close()
    return str(tmp_path / "w.sqlite")


def test_scores_cli_several_judges_and_chart(tmp_path, capsys):
    w = judged_workspace(tmp_path)
    chart = tmp_path / "ranked.html"
    code, out, err = cli_main(capsys, "evaluate", "scores", "-w", w, "--sets", "A,B,C", "--judge", "strict",
                              "--judge", "kind", "--chart", str(chart), "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["judge"], r["set"], r["ratio"]) for r in rows] == [
        ("openai:strict@http://h/v1", "B", 0.75), ("openai:strict@http://h/v1", "C", 1.125),
        ("kind", "B", 1.0), ("kind", "C", 1.25)]
    page = chart.read_text()
    assert "judge: kind" in page and "112% (18 : 16, n=2)" in page and f"wrote {chart}" in err
    code, out, _ = cli_main(capsys, "evaluate", "scores", "-w", w, "--sets", "A,B,C", "--judge", "kind")
    assert code == 0 and out.splitlines()[0] == "judge kind: totals relative to A"
    if not png_available():
        code, _, err = cli_main(capsys, "evaluate", "scores", "-w", w, "--sets", "A,B", "--judge", "kind",
                                "--chart", str(tmp_path / "r.png"))
        assert code == 2 and "PNG export needs the optional kaleido package" in err
