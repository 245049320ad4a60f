"""Length vs judge score: exact numbers on hand-made data, the store reading, figures and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from selfinstruct.evaluate import figures
from selfinstruct.evaluate.length import (
    ALL,
    Bucket,
    average_ranks,
    bucket_means,
    fit,
    length_vs_score,
    quantile_edges,
    response_scores,
)
from selfinstruct.prompts.judge import SINGLE_TEMPLATE, template_id
from selfinstruct.records import Instance, Task
from selfinstruct.store import Store
from selfinstruct.store.evals import Judgment, save_judgments
from selfinstruct.store.responses import create_response_set, save_responses

from conftest import cli_main

X = [1, 2, 3, 4, 5]
Y = [2, 4, 5, 4, 5]


def test_fit_by_hand_and_against_numpy():
    f = fit(X, Y)
    # by hand: mean x 3, mean y 4; sum dx*dy = 6, sum dx^2 = 10, sum dy^2 = 6
    assert f.n == 5 and f.slope == pytest.approx(0.6) and f.intercept == pytest.approx(2.2)
    assert f.pearson == pytest.approx(6 / math.sqrt(60))
    # ranks of Y: 1, 2.5, 4.5, 2.5, 4.5 -> rho = 7 / sqrt(10 * 9)
    assert f.spearman == pytest.approx(7 / math.sqrt(90))
    assert (f.slope, f.intercept) == pytest.approx(tuple(np.polyfit(X, Y, 1)))
    assert f.pearson == pytest.approx(np.corrcoef(X, Y)[0, 1])
    ranked = [pd.Series(v).rank(method="average") for v in (X, Y)]  # no scipy here: Spearman is r of the ranks
    assert f.spearman == pytest.approx(np.corrcoef(*ranked)[0, 1])


def test_fit_is_undefined_where_the_numbers_do_not_define_it():
    assert fit([], []).n == 0 and fit([], []).pearson is None
    assert fit([3], [7]).slope is None
    same_length = fit([4, 4, 4], [1, 5, 9])
    assert same_length.n == 3 and same_length.slope is None and same_length.pearson is None
    same_score = fit([1, 2, 3], [6, 6, 6])
    assert same_score.slope == 0 and same_score.intercept == 6 and same_score.pearson is None
    assert same_score.spearman is None


def test_average_ranks_share_ties():
    assert average_ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1]


def test_quantile_buckets_by_hand():
    lengths = [1, 2, 3, 4, 5, 6, 7, 8]
    scores = [2, 4, 3, 5, 6, 6, 9, 7]
    edges = quantile_edges(lengths, 4)
    assert edges == [1, 2.75, 4.5, 6.25, 8]  # numpy's linear quantiles: (n-1)q = 0, 1.75, 3.5, 5.25, 7
    assert edges == np.quantile(lengths, [0, .25, .5, .75, 1]).tolist()
    got = bucket_means(lengths, scores, edges)
    assert got == [Bucket(1, 2.75, 2, 1.5, 3.0), Bucket(2.75, 4.5, 2, 3.5, 4.0), Bucket(4.5, 6.25, 2, 5.5, 6.0),
                   Bucket(6.25, 8, 2, 7.5, 8.0)]  # the last bucket is closed: 8 is in it


def test_tied_lengths_share_a_bucket_and_buckets_merge():
    assert quantile_edges([3, 3, 3, 3, 10], 4) == [3, 10]
    [b] = bucket_means([3, 3, 3, 3, 10], [1, 2, 3, 4, 10], [3, 10])
    assert (b.n, b.mean_score) == (5, 4.0)
    assert quantile_edges([5, 5], 3) == [5, 5]
    assert bucket_means([5, 5], [2, 4], [5, 5]) == [Bucket(5, 5, 2, 5.0, 3.0)]
    assert quantile_edges([], 4) == [] and bucket_means([], [], []) == []
    with pytest.raises(ValueError, match="at least 1"):
        quantile_edges([1, 2], 0)


# ------------------------------------------------------------------ from the store

ANSWERS = {
    "short": ["yes", "no idea", "it is blue", "ok"],
    "long": ["a b c d e f g h", "one two three four five six", "a b c d e f g h i j", "x y z w v"],
}
SHORT_SCORES = [3, 4, 6, 2]
LONG_SCORES = [8, 6, 9, 7]


def scored_workspace(tmp_path, *, paired: bool = False):
    store = Store(tmp_path / "w.sqlite")
    run = store.create_run("ev", kind="import")
    store.add_tasks(run.id, [Task(str(i), f"Task {i}.", (Instance("", f"ref {i}"),)) for i in range(4)],
                    origin="import")
    insts = store.instances(run_id=run.id)
    ids = {}
    for name, texts in ANSWERS.items():
        rs = create_response_set(store, run.id, name, model=name)
        save_responses(store, rs.id, [(i.id, t, None, None) for i, t in zip(insts, texts)])
        ids[name] = rs.id
    tid = template_id(SINGLE_TEMPLATE)
    judged = []
    for k, inst in enumerate(insts):
        if paired:  # both orders; the judge likes the first a little more
            judged += [Judgment(inst.id, "judge", "p", ids["short"], ids["long"], SHORT_SCORES[k] + 1, LONG_SCORES[k], None),
                       Judgment(inst.id, "judge", "p", ids["long"], ids["short"], LONG_SCORES[k] + 1, SHORT_SCORES[k], None)]
        else:
            judged += [Judgment(inst.id, "judge", tid, ids["short"], 0, SHORT_SCORES[k], None, None),
                       Judgment(inst.id, "judge", tid, ids["long"], 0, LONG_SCORES[k], None, None)]
    judged.append(Judgment(insts[0].id, "other-judge", tid, ids["short"], 0, 10, None, None))
    save_judgments(store, judged)
    return store, store.run(run.id)


def test_length_vs_score_reads_the_judges_scores(tmp_path):
    store, run = scored_workspace(tmp_path)
    ls = length_vs_score(store, run, ["short", "long"], judge="judge", buckets=2)
    assert ls.unit == "words"
    assert ls.lengths == {"short": [1, 2, 3, 1], "long": [8, 6, 10, 5], ALL: [1, 2, 3, 1, 8, 6, 10, 5]}
    assert ls.scores == {"short": SHORT_SCORES, "long": LONG_SCORES, ALL: SHORT_SCORES + LONG_SCORES}
    pooled = ls.fits[ALL]
    want = np.polyfit(ls.lengths[ALL], ls.scores[ALL], 1)
    assert pooled.n == 8 and (pooled.slope, pooled.intercept) == pytest.approx(tuple(want))
    assert pooled.pearson == pytest.approx(np.corrcoef(ls.lengths[ALL], ls.scores[ALL])[0, 1])
    assert ls.edges == [1, 4, 10]  # the median of 1 1 2 3 5 6 8 10 is 4
    assert [(b.n, b.mean_score) for b in ls.buckets[ALL]] == [(4, 3.75), (4, 7.5)]
    assert [(b.n, b.mean_score) for b in ls.buckets["short"]] == [(4, 3.75), (0, None)]
    assert json.loads(json.dumps(ls.as_dict()))["fits"]["all"]["n"] == 8


def test_pairwise_scores_average_both_orders(tmp_path):
    store, run = scored_workspace(tmp_path, paired=True)
    got = response_scores(store, run, ["long"], judge="judge", paired=True)
    assert list(got["long"].values()) == [s + 0.5 for s in LONG_SCORES]  # (s+1 + s) / 2: position bias cancels
    assert response_scores(store, run, ["long"], judge="judge", paired=False) == {"long": {}}


def test_length_score_figures_carry_the_numbers(tmp_path):
    store, run = scored_workspace(tmp_path)
    ls = length_vs_score(store, run, ["short", "long"], judge="judge")
    figs = figures.length_score_figures(ls)
    assert set(figs) == {"length_vs_score", "length_score_correlation", "score_by_length_bucket"}
    scatter = figs["length_vs_score"]
    assert [t.name for t in scatter.data[:2]] == ["short", "long"] and list(scatter.data[1].x) == [8, 6, 10, 5]
    trend = scatter.data[-1]  # the pooled line, from the shortest to the longest answer
    f = ls.fits[ALL]
    assert list(trend.x) == [1, 10] and list(trend.y) == pytest.approx([f.intercept + f.slope, f.intercept + 10 * f.slope])
    corr = figs["length_score_correlation"]
    assert list(corr.data[0].x) == ["short (n=4)", "long (n=4)", "all (n=8)"]
    assert corr.data[0].y[2] == pytest.approx(f.pearson) and corr.data[1].y[2] == pytest.approx(f.spearman)
    buckets = figs["score_by_length_bucket"]
    assert buckets.data[-1].name == ALL and list(buckets.data[-1].y) == [b.mean_score for b in ls.buckets[ALL]]
    assert buckets.data[-1].x[-1].endswith("]")  # the last bucket is closed


def test_characters_for_scripts_written_without_spaces(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = store.create_run("zh", kind="import", language="zh")
    store.add_tasks(run.id, [Task("0", "问题", (Instance("", "答案"),)), Task("1", "问题二", (Instance("", "答"),))],
                    origin="import")
    rs = create_response_set(store, run.id, "m", model="m")
    insts = store.instances(run_id=run.id)
    save_responses(store, rs.id, [(insts[0].id, "巴黎是法国的首都。", None, None), (insts[1].id, "是的", None, None)])
    save_judgments(store, [Judgment(insts[0].id, "j", "t", rs.id, 0, 8, None, None),
                           Judgment(insts[1].id, "j", "t", rs.id, 0, 5, None, None)])
    ls = length_vs_score(store, store.run(run.id), ["m"], judge="j")
    assert ls.unit == "characters" and ls.lengths["m"] == [9, 2]


# ------------------------------------------------------------------ CLI


def test_length_score_cli_table_json_and_charts(tmp_path, capsys):
    store, run = scored_workspace(tmp_path)
    w = str(store.path)
    code, out, err = cli_main(capsys, "evaluate", "length-score", "-w", w, "--run", "ev", "--judge", "judge",
                              "--buckets", "2", "--json")
    assert code == 0, err
    got = json.loads(out)
    ls = length_vs_score(store, run, ["short", "long"], judge="judge", buckets=2)
    assert got["fits"]["all"]["pearson"] == pytest.approx(ls.fits[ALL].pearson) and got["judge"] == "judge"
    assert got["lengths"]["long"] == [8, 6, 10, 5] and got["edges"] == [1, 4, 10]

    code, out, err = cli_main(capsys, "evaluate", "length-score", "-w", w, "--run", "ev", "--judge", "judge",
                              "--buckets", "2", "--charts", str(tmp_path / "charts"))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "judge judge (scores alone); length in words"
    pooled = next(line.split() for line in lines if line.startswith("all "))
    assert pooled[:4] == ["all", "8", f"{ls.fits[ALL].pearson:.3f}", f"{ls.fits[ALL].spearman:.3f}"]
    assert pooled[4] == f"{100 * ls.fits[ALL].slope:.3f}"
    assert any(line.split()[:3] == ["[1,", "4)", "3.75"] for line in lines)
    assert (tmp_path / "charts" / "length_vs_score.html").is_file()


def test_length_score_cli_errors(tmp_path, capsys):
    store, _ = scored_workspace(tmp_path)
    w = str(store.path)
    code, _, err = cli_main(capsys, "evaluate", "length-score", "-w", w, "--judge", "nobody")
    assert code == 2 and "no judge 'nobody' scored these response sets (judges: judge, other-judge)" in err
    code, _, err = cli_main(capsys, "evaluate", "length-score", "-w", w, "--judge", "judge", "--sets", "nope")
    assert code == 2 and "nope" in err
    with pytest.raises(SystemExit):
        cli_main(capsys, "evaluate", "length-score", "-w", w, "--judge", "judge", "--buckets", "0")
    code, out, err = cli_main(capsys, "evaluate", "length-score", "-w", w, "--judge", "judge", "--pairwise")
    assert code == 2 and "no judge 'judge'" in err  # no pairwise scores at all


def test_stats_reports_the_pooled_fit_per_judge(tmp_path, capsys):
    from selfinstruct.evaluate.length import length_score_summary

    store, run = scored_workspace(tmp_path)
    summary = length_score_summary(store, run)
    pooled = length_vs_score(store, run, ["short", "long"], judge="judge").fits[ALL]
    assert [(s["judge"], s["paired"], s["sets"], s["n"]) for s in summary] == [
        ("judge", False, ["short", "long"], 8), ("other-judge", False, ["short"], 1)]
    assert summary[0]["pearson"] == pooled.pearson and summary[0]["slope"] == pooled.slope
    code, out, err = cli_main(capsys, "stats", "-w", str(store.path), "--run", "ev", "--json")
    assert code == 0, err
    assert json.loads(out)["length_vs_score"] == json.loads(json.dumps(summary))
    code, out, _ = cli_main(capsys, "stats", "-w", str(store.path), "--run", "ev")
    assert (f"length vs score, judge judge (alone, n=8 in short, long): Pearson r {pooled.pearson:.2f}, "
            f"Spearman rho {pooled.spearman:.2f}; details: evaluate length-score") in out
