"""Filtered views: re-filtering a stored run without an LM."""

from dataclasses import replace

import pytest

from selfinstruct import filter_views, filters
from selfinstruct.config import FilterConfig, RunConfig
from selfinstruct.lm.fake import FakeLM
from selfinstruct.novelty import rouge_l
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

from conftest import OUR_SEEDS


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("v") / "w.sqlite")
    cfg = RunConfig(target=150)
    run = start_run(store, "r", load_tasks(OUR_SEEDS), cfg)
    list(Pipeline(store, run, FakeLM()).events())
    return store, store.run(run.id)


def test_replay_with_the_run_settings_equals_the_stored_verdicts(generated):
    store, run = generated
    rp = filter_views.replay(store, run, RunConfig.from_dict(run.config).filters)
    assert rp.changed == []
    assert [r.reason for r in rp.rows] == rp.reason
    assert rp.kept == store.counts(run.id)["kept"]


def test_threshold_change_follows_greedy_order(generated):
    store, run = generated
    base = RunConfig.from_dict(run.config).filters
    for t in (0.3, 0.5, 0.9, 1.0):
        rp = filter_views.replay(store, run, replace(base, rouge_threshold=t))
        pool = [r.text for r in store.instructions(run.id, origin="seed")]
        for row, keep, reason in zip(rp.rows, rp.keep, rp.reason):
            if reason not in (None, filters.ROUGE_SIMILAR):
                continue
            best = max(rouge_l(p, row.text) for p in pool)
            assert keep == (best <= t), (t, row.text)
            if keep:
                pool.append(row.text)
    loose = filter_views.replay(store, run, replace(base, rouge_threshold=0.9))
    strict = filter_views.replay(store, run, replace(base, rouge_threshold=0.4))
    assert strict.kept < loose.kept


def test_other_filters_toggle_and_views_feed_analysis(generated):
    store, run = generated
    base = RunConfig.from_dict(run.config).filters
    no_blacklist = replace(base, blacklist=[])
    rp = filter_views.replay(store, run, no_blacklist)
    assert filters.BLACKLIST not in rp.counts
    filter_views.save_view(store, run, "loose", no_blacklist)
    assert filter_views.view_settings(store, run, "loose") == no_blacklist
    tasks = filter_views.view_tasks(store, run, "loose")
    assert len(tasks) == rp.kept
    assert len(filter_views.view_tasks(store, run)) == store.counts(run.id)["kept"]


def test_bad_threshold_is_refused(generated):
    store, run = generated
    with pytest.raises(ValueError, match="threshold"):
        filter_views.replay(store, run, FilterConfig(rouge_threshold=0.1))
