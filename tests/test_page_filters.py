"""The Filters page's first visit (graph build under a progress bar, controls disabled), the
`prepare` command that builds ahead, the changed-verdicts table, reason colours and the Kept delta."""

from __future__ import annotations

import json
import random

import pytest
from streamlit.testing.v1 import AppTest

from selfinstruct import analysis, charts, filter_views
from selfinstruct.cli import main
from selfinstruct.progress_line import duration
from selfinstruct.novelty import WhatIfGraph, whatif
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from tests.apptest_util import APP, SEEDS, button, fk, metric, page, unescape


def candidates(n: int) -> list[str]:
    """Instructions with near-duplicates, so the graph has edges to keep."""
    rng = random.Random(0)
    words = [f"w{i}" for i in range(60)]
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.3:
            base = rng.choice(out).split()
            base[rng.randrange(len(base))] = rng.choice(words)
            out.append(" ".join(base))
        else:
            out.append(" ".join(["Write"] + rng.sample(words, rng.randint(4, 12))))
    return out


def test_a_graph_build_reports_advancing_counts_and_builds_the_same_graph(monkeypatch):
    monkeypatch.setattr(whatif, "rows_for_block", lambda n_cols: 32)  # many blocks from a small set
    seeds, cands = [t.instruction for t in load_tasks(SEEDS)], candidates(300)
    calls: list[tuple[int, int]] = []
    built = WhatIfGraph.build(seeds, cands, progress=lambda done, total: calls.append((done, total)))
    assert built.to_bytes() == WhatIfGraph.build(seeds, cands).to_bytes() and built.n_edges > 0
    done = [d for d, _ in calls]
    assert calls[0] == (0, 300) and calls[-1] == (300, 300) and len(calls) == 1 + -(-300 // 32)
    assert done == sorted(set(done)) and {t for _, t in calls} == {300}


def test_graph_progress_is_throttled_and_weights_later_candidates():
    now, shown = [0.0], []
    p = filter_views.GraphProgress(0, lambda share, text: shown.append((share, text)), every=0.25, clock=lambda: now[0])
    p(0, 100)
    now[0] = 0.1
    p(10, 100)  # within 0.25 s of the last line: not shown
    now[0] = 1.0
    p(50, 100)
    now[0] = 1.1
    p(100, 100)  # the last one always
    assert [t for _, t in shown] == ["Similarity graph: 0 / 100 candidates",
                                     "Similarity graph: 50 / 100 candidates · about 3 s left",
                                     "Similarity graph: 100 / 100 candidates · keeping it in the workspace…"]
    assert shown[1][0] == pytest.approx(50 * 25.5 / (100 * 50.5)) and shown[-1][0] == 1.0  # half the candidates, a quarter of the work
    assert duration(125.2) == "2 min 06 s"


def visit_filters() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("dashboard/screens/filters.py")
    return at.run()


def test_first_visit_builds_under_a_progress_bar_with_the_controls_disabled(ws, monkeypatch):
    real, seen = WhatIfGraph.build, []

    def build_then_stop(seeds, cands, **kw):
        tell = kw.pop("progress")
        real(seeds, cands, progress=lambda done, total: (seen.append((done, total)), tell(done, total)), **kw)
        raise RuntimeError("stopped after the build, to see the page as it was meanwhile")

    monkeypatch.setattr(WhatIfGraph, "build", build_then_stop)
    at = visit_filters()
    assert len(at.exception) == 1  # ours (its text is redacted by the app's settings)
    n = seen[-1][1]
    assert seen[0] == (0, n) and seen[-1] == (n, n) and n > 0
    assert at.slider(key=fk(ws, "rouge")).disabled and at.slider(key=fk(ws, "words")).disabled
    assert at.toggle(key=fk(ws, "drop_duplicates")).disabled and at.text_area(key=fk(ws, "black")).disabled
    bar = at.get("progress")[0]
    assert bar.proto.value == 100 and bar.proto.text.startswith(f"Similarity graph: {n:,} / {n:,} candidates")
    assert not at.metric  # nothing computed before the graph is there


def test_first_visit_ends_with_live_controls_and_no_arrow_for_no_change(ws, monkeypatch):
    at = page("filters")
    assert not at.slider(key=fk(ws, "rouge")).disabled and not at.get("progress")
    kept = next(m for m in at.metric if m.label == "Kept")
    assert kept.proto.delta == "same as run" and kept.proto.direction == kept.proto.MetricDirection.NONE
    monkeypatch.setattr(WhatIfGraph, "build", lambda *a, **kw: pytest.fail("built twice"))
    at.slider(key=fk(ws, "rouge")).set_value(0.3).run()
    kept = next(m for m in at.metric if m.label == "Kept")
    assert kept.proto.delta.startswith("-") and kept.proto.direction == kept.proto.MetricDirection.DOWN


def bar_colours(at: AppTest) -> dict[str, str]:
    chart = next(c for c in at.get("plotly_chart") if "Kept and dropped" in c.proto.spec)
    return {t["name"]: t["marker"]["color"] for t in json.loads(chart.proto.spec)["data"]}


def test_reason_colours_and_order_stay_whatever_the_counts(ws):
    at = page("filters")
    loose = bar_colours(at)
    at.slider(key=fk(ws, "rouge")).set_value(0.3).run()
    strict = bar_colours(at)
    assert "rouge_similar" in strict and len(strict) > 1
    assert loose == charts.reason_colors(loose) and strict == charts.reason_colors(strict)
    assert list(strict) == charts.reason_order(strict) and strict["kept"] == charts.REASON_COLORS["kept"]
    assert charts.reason_colors(["zz_new"])["zz_new"] == charts.reason_colors(["kept", "zz_new"])["zz_new"]
    assert charts.reason_order(["zz_new", "too_short", "kept"]) == ["kept", "too_short", "zz_new"]


def test_changed_verdicts_table_puts_the_verdicts_first_and_shows_a_picked_row_whole(ws):
    at = page("filters")
    at.slider(key=fk(ws, "rouge")).set_value(0.3).run()
    table = next(d for d in at.dataframe if "why" in d.value.columns)
    assert list(table.value.columns) == ["now", "run said", "why", "instruction"]
    widths = {name: cfg["width"] for name, cfg in json.loads(table.proto.columns).items() if name != "_index"}
    assert sum(widths.values()) <= 1000 and widths["instruction"] >= 400  # fits a 1,400 px window beside the sidebar
    text = table.value["instruction"][1]
    at.session_state[f"{fk(ws, 'changed')}"] = {"selection": {"rows": [1], "columns": []}}
    at.run()
    assert any(t.value == text for t in at.text)
    assert any(c.value.startswith("Run said") and "now" in c.value for c in at.caption)


def test_prepare_fills_the_caches_so_filters_and_analysis_compute_nothing(ws, monkeypatch, capsys):
    assert main(["prepare", "-w", str(ws)]) == 0
    out, err = capsys.readouterr()
    assert "similarity graph of run 'fake-run'" in out and "verb-noun parses of run 'fake-run'" in out
    assert " candidates" in err and "verb-noun parse:" in err
    with Store(ws) as s:
        texts = [t.instruction for t in s.tasks(1, origin="machine")]
    with Store(ws) as s:
        assert len(s.get_many(analysis.VERB_NOUN_NAMESPACE, [analysis.text_key(t) for t in texts])) == len(set(texts))
    for key in [k for k in filter_views._graphs if k[0] == str(ws)]:  # a new dashboard process: nothing in memory
        del filter_views._graphs[key]
    monkeypatch.setattr(WhatIfGraph, "build", lambda *a, **kw: pytest.fail("Filters rebuilt the graph"))
    monkeypatch.setattr(analysis, "_parse", lambda *a, **kw: pytest.fail("Analysis parsed again"))
    at = page("filters")
    assert metric(at, "Candidates") and not at.slider(key=fk(ws, "rouge")).disabled
    page("analysis")


def test_list_boxes_read_items_by_the_runs_forms_rule(ws):
    """A quoted item is read as JSON, as on the Runs form; a stray backslash is named, not read as two characters."""
    at = page("filters")
    at.text_area(key=fk(ws, "black")).set_value("the").run()
    plain = metric(at, "Kept")
    at.text_area(key=fk(ws, "black")).set_value('"th\\u0065"').run()  # "the", with an escape
    assert metric(at, "Kept") == plain and not at.error
    at.text_area(key=fk(ws, "black")).set_value("image\\n").run()
    assert any("filters.blacklist, line 1" in unescape(e.value) for e in at.error)


# --------------------------------------------------------------------------- the what-if sliders and saved views


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


def test_filters_keep_their_settings_across_a_page_switch(ws):
    at = page("filters")
    at.slider(key=fk(ws, "rouge")).set_value(0.3).run()
    at.toggle(key=fk(ws, "drop_duplicates")).set_value(False).run()
    kept = metric(at, "Kept")
    at.switch_page("dashboard/screens/data.py").run()
    at.switch_page("dashboard/screens/filters.py").run()
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


def test_filters_say_when_the_run_used_a_threshold_below_the_what_if_range(ws):
    with Store(ws) as s:
        config = s.run(1).config
        config["filters"]["rouge_threshold"] = 0.2  # as the command line may still make it
        s.set_run_config(1, config)
    at = page("filters")
    assert any("below what the what-if can replay" in unescape(w.value) for w in at.warning)
