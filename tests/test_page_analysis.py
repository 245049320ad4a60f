"""The Analysis page's first visit (verb–noun parse under a progress bar, controls disabled),
compare mode (tiles of both sets, histograms in percent) and Table 1 shown once, for people."""

from __future__ import annotations

import json
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from selfinstruct import analysis
from selfinstruct.cli import main
from selfinstruct.config import RunConfig
from selfinstruct.pipeline import start_run
from selfinstruct.records import Instance, Task
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from selfinstruct.filter_views import view_tasks
from tests.browser_util import browser_page, goto, needs_chromium, streamlit_server, wait_idle
from tests.apptest_util import APP, SEEDS, ak, button, fk, metric, page, unescape


TEXTS = [t.instruction for t in load_tasks(SEEDS)]


@pytest.mark.parametrize("n_process", [1, 2])
def test_the_parse_reports_advancing_counts_and_parses_the_same_pairs(n_process: int) -> None:
    calls: list[tuple[int, int]] = []
    got = analysis.verb_noun(TEXTS, analysis.DictCache(), batch_size=8, n_process=n_process,
                             progress=lambda done, total: calls.append((done, total)))
    assert got == analysis.verb_noun(TEXTS)  # no cache, no callback, one process, default batches
    total = len(set(TEXTS))
    assert calls[0] == (0, total) and calls[-1] == (total, total) and len(calls) > 5
    assert all(t == total for _, t in calls) and all(a < b for (a, _), (b, _) in zip(calls, calls[1:]))


def test_a_cut_short_parse_keeps_its_pieces_and_a_cached_one_reports_nothing() -> None:
    cache, calls = analysis.DictCache(), []

    def stop_after_a_piece(done: int, total: int) -> None:
        if done:
            raise KeyboardInterrupt  # what a rerun of the dashboard does to a parse under way

    with pytest.raises(KeyboardInterrupt):
        analysis.verb_noun(TEXTS, cache, batch_size=8, progress=stop_after_a_piece)
    kept = len(cache.data[analysis.VERB_NOUN_NAMESPACE])
    assert kept == 8 * analysis.PIECE_BATCHES
    assert analysis.verb_noun(TEXTS, cache, progress=lambda d, t: calls.append((d, t))) == analysis.verb_noun(TEXTS)
    assert calls[0] == (0, len(set(TEXTS)) - kept)
    calls.clear()
    analysis.verb_noun(TEXTS, cache, progress=lambda d, t: calls.append((d, t)))
    assert calls == []


def test_stats_fills_the_parse_cache_the_page_reads(ws):
    assert main(["stats", "--workspace", str(ws)]) == 0
    calls: list = []
    with Store(ws) as s:
        kept = [t.instruction for t in view_tasks(s, s.run(1))]  # the page's default data set: the run, kept
        analysis.verb_noun(kept, cache=s, progress=lambda d, t: calls.append((d, t)))
    assert kept and calls == []


def stalled_parse(texts, cache=None, *, progress, **kwargs):
    """Stands in for ``analysis.verb_noun``: reports two thirds done, then fails, so the page
    is caught in the middle of a parse."""
    progress(0, 120)
    time.sleep(0.3)  # past the redraw interval
    progress(80, 120)
    raise RuntimeError("stopped mid-parse")


def test_a_first_visit_parses_under_a_progress_bar_with_the_controls_disabled(ws, monkeypatch):
    monkeypatch.setattr(analysis, "verb_noun", stalled_parse)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("dashboard/screens/analysis.py").run()
    assert at.exception  # the stand-in stopped the parse
    [bar] = at.get("progress")
    assert bar.proto.value == 66 and "80 / 120 instructions" in bar.proto.text and "left" in bar.proto.text
    assert at.selectbox(key=ak(ws, "a")).disabled and at.toggle(key=ak(ws, "compare")).disabled
    assert not at.session_state[ak(ws, "busy")]  # a failed parse never leaves the controls dead
    monkeypatch.undo()
    at.run()
    assert not at.exception and not at.get("progress")
    assert not at.selectbox(key=ak(ws, "a")).disabled and at.get("plotly_chart")


def compared_with_seeds(ws):
    at = page("analysis")
    at.toggle(key=ak(ws, "compare")).set_value(True).run()
    at.selectbox(key=ak(ws, "b")).set_value("fake-run · seeds").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_compare_mode_shows_the_tiles_of_both_sets_side_by_side(ws):
    at = compared_with_seeds(ws)
    with Store(ws) as s:
        kept = s.counts(1)["kept"]
    seeds = len(load_tasks(SEEDS))
    tiles = [m for m in at.metric if m.label == "Instructions"]
    assert [m.value for m in tiles] == [f"{kept:,}", f"{seeds:,}"]
    assert tiles[1].proto.delta == f"{seeds - kept:+,}"
    assert {m.label for m in at.metric} == {"Instructions", "Instances", "Root verbs", "ROUGE-L vs seeds",
                                             "Classification", "Vendi score"}
    assert len(at.metric) == 12


def spec(at, title: str) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if title in c.proto.spec)


def test_histograms_of_sets_of_different_sizes_are_in_percent_of_each_set(ws):
    at = compared_with_seeds(ws)
    lengths = spec(at, "Lengths in")
    instruction = [t for t in lengths["data"] if t.get("xaxis", "x") == "x"]
    assert len(instruction) == 2 and all(sum(t["y"]) == pytest.approx(1.0) for t in instruction)
    layout = lengths["layout"]
    assert layout["yaxis"]["title"]["text"] == "% of instructions" and layout["yaxis"]["tickformat"] == ".0%"
    assert layout["yaxis2"]["title"]["text"] == "% of instances"
    within = spec(at, "most similar other instruction in the pool")
    assert within["layout"]["yaxis"]["title"]["text"] == "% of instructions"
    assert all(sum(t["y"]) == pytest.approx(1.0) for t in within["data"])


def test_histograms_of_sets_of_one_size_stay_in_counts(ws):
    at = page("filters")
    at.text_input(key=fk(ws, "name")).set_value("same").run()  # the run's own settings: as many as kept
    button(at, "Apply: save view").click().run()
    at.switch_page("dashboard/screens/analysis.py").run()
    at.toggle(key=ak(ws, "compare")).set_value(True).run()
    at.selectbox(key=ak(ws, "b")).set_value("fake-run · view same").run()
    lengths = spec(at, "Lengths in")
    assert lengths["layout"]["yaxis"]["title"]["text"] == "# instructions"
    with Store(ws) as s:
        kept = s.counts(1)["kept"]
    assert [sum(t["y"]) for t in lengths["data"] if t.get("xaxis", "x") == "x"] == [kept, kept]


def test_table1_is_shown_once_with_labels_for_people(ws):
    at = compared_with_seeds(ws)
    assert not any("# of instructions" in c.value for c in at.code)
    [table] = [d.value for d in at.dataframe if "# of instructions" in d.value.index]
    assert not [label for label in table.index if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", label)]
    assert list(table.columns) == ["fake-run · kept", "fake-run · seeds", "diff"]
    with Store(ws) as s:
        kept = s.counts(1)["kept"]
    seeds = len(load_tasks(SEEDS))
    assert table.loc["# of instructions"].tolist() == [f"{kept:,}", f"{seeds:,}", f"{seeds - kept:+,}"]
    assert table.loc["ave. instruction length (in words)", "diff"].startswith(("+", "-"))


@pytest.mark.browser
@needs_chromium
@pytest.mark.timeout(240)
def test_no_tile_of_either_set_is_cut_off_at_1100_px(tmp_path):
    from test_browser import METRICS_CUT, fake_run

    ws = tmp_path / "ws.sqlite"
    fake_run(ws, 2)
    with streamlit_server(ws, tmp_path / "server.log") as base, browser_page(width=1100) as page:
        goto(page, f"{base}/analysis")
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        page.get_by_text("Compare", exact=True).click()
        page.locator('[data-testid="stMetric"]').nth(9).wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        wait_idle(page)
        assert page.evaluate(METRICS_CUT) == []


# --------------------------------------------------------------------------- charts, Table 1 and what is compared


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


def compare_a_view_with_itself(ws, view: str) -> AppTest:
    """Save ``view``, compare something with it on Analysis, then pick it on the other side too."""
    at = page("filters")
    at.text_input(key=fk(ws, "name")).set_value(view).run()
    button(at, "Apply: save view").click().run()
    at.switch_page("dashboard/screens/analysis.py").run()
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


def test_analysis_sets_the_new_with_choice_before_drawing_the_box(ws):
    at = compare_a_view_with_itself(ws, "v1")
    box = at.selectbox(key=ak(ws, "b"))
    assert box.value != "fake-run · view v1" and box.value in box.options
    # the value is sent with set_value, so the browser shows it instead of the old, hidden choice
    assert box.proto.set_value and box.proto.raw_value == box.value
    assert list(at.dataframe[0].value.columns)[:2] == ["fake-run · view v1", box.value]


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
