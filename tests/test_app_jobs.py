"""The dashboard's background worker and stored-run replay, without Streamlit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from selfinstruct.config import LMConfig, RunConfig
from dashboard.iterations import iteration_view, live_view, provenance, reveal, total_chars
from dashboard.tables import instruction_table, progress, run_summary
from dashboard.workspaces import prepare_copy
from dashboard.jobs import Job, JobBusy, JobRegistry
from selfinstruct.lm.base import LMFatalError
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

from conftest import wait_until

ROOT = Path(__file__).resolve().parents[1]


def make_run(path: Path, *, batch: int = 3, target: int = 40) -> tuple[Store, int]:
    cfg = RunConfig(target=target)
    cfg.lm.backend = "fake"
    cfg.generate.request_batch_size = batch
    store = Store(path)
    run = start_run(store, "r", load_tasks(ROOT / "seeds" / "seed_tasks.jsonl"), cfg)
    return store, run.id


def test_step_runs_one_iteration_and_snapshot_shows_it(tmp_path):
    store, rid = make_run(tmp_path / "w.sqlite")
    job = Job(store.path, rid, FakeLM())
    job.step()
    assert job.wait(30)
    snap = job.snapshot()
    assert snap.state == "stopped" and snap.iterations_done == 1
    assert snap.newest.number == 1 and len(snap.newest.prompts) == 3
    assert all(len(p["in_context"]) == 8 for p in snap.newest.prompts)
    assert snap.newest.candidates and all("keep" in c for c in snap.newest.candidates)
    assert snap.streamed_pieces > 0
    assert set(snap.newest.partial) == {0, 1, 2}
    assert store.completed_iterations(rid) == 1
    assert store.run(rid).state == "paused"
    assert snap.counts["generated"] == len(snap.newest.candidates)


def test_live_view_equals_stored_iteration(tmp_path):
    """What the page draws while generating is what it later reads back from the store."""
    store, rid = make_run(tmp_path / "w.sqlite")
    job = Job(store.path, rid, FakeLM())
    for _ in range(2):
        job.step()
        assert job.wait(30)
    live = live_view(job.snapshot())
    stored = iteration_view(store, rid, 2)
    assert live is not None and live.iteration == stored.iteration == 2
    assert [(c.slot, c.text, c.keep, c.reason) for c in live.candidates] == \
           [(c.slot, c.text, c.keep, c.reason) for c in stored.candidates]
    assert [s.completion for s in live.slots] == [s.completion for s in stored.slots]
    assert [s.in_context for s in live.slots] == [s.in_context for s in stored.slots]
    kept_live = [(c.is_classification, [(i["input"], i["keep"]) for i in c.instances]) for c in live.candidates]
    kept_stored = [(c.is_classification, [(i["input"], i["keep"]) for i in c.instances]) for c in stored.candidates]
    assert kept_live == kept_stored


def test_pause_stops_after_the_iteration(tmp_path):
    store, rid = make_run(tmp_path / "w.sqlite")
    job = Job(store.path, rid, FakeLM(delay_s=0.02))
    job.start()
    wait_until(lambda: job.snapshot().newest is not None, 20, 0.01, "an iteration under way")
    job.pause()
    assert job.wait(30)
    assert store.run(rid).state == "paused"
    assert "paused by the user" in store.run(rid).status
    assert store.completed_iterations(rid) >= 1
    assert store.run_lock(rid) is None


def test_cancel_drops_the_iteration_in_flight_and_resume_reuses_finished_calls(tmp_path):
    store, rid = make_run(tmp_path / "w.sqlite", batch=2)
    lm = FakeLM(delay_s=0.3)
    job = Job(store.path, rid, lm)
    job.step()
    wait_until(lambda: len(lm.requests) >= 2, 20, 0.005, "the second prompt being answered")
    job.cancel()
    assert job.wait(30)
    assert job.snapshot().state == "stopped"
    run = store.run(rid)
    assert run.state == "paused" and "cancelled" in run.status
    assert store.completed_iterations(rid) == 0
    assert store.run_lock(rid) is None
    assert store.usage(rid)["calls"] == 1  # the finished first answer was recorded, the abandoned one not
    lm.delay_s = 0.0
    job.step()
    assert job.wait(30)
    assert store.completed_iterations(rid) == 1
    prompts_called = [r for r in lm.requests if r.step == "instructions"]
    assert len(prompts_called) == 3  # the first prompt came from the cache on resume


def test_second_start_is_refused_while_running(tmp_path):
    store, rid = make_run(tmp_path / "w.sqlite")
    job = Job(store.path, rid, FakeLM(delay_s=0.05))
    job.start()
    with pytest.raises(JobBusy):
        job.start()
    job.cancel()
    assert job.wait(30)


def test_lm_failure_marks_the_job_and_the_run(tmp_path):
    store, rid = make_run(tmp_path / "w.sqlite")
    job = Job(store.path, rid, FakeLM([LMFatalError("bad key")]))
    job.step()
    assert job.wait(30)
    snap = job.snapshot()
    assert snap.state == "failed" and "bad key" in snap.message
    assert store.run(rid).state == "failed"


def test_registry_shares_jobs_and_lms_between_tabs(tmp_path):
    store, rid = make_run(tmp_path / "w.sqlite")
    made = []

    def fake_make(cfg, api_key=None):
        made.append(api_key)
        return FakeLM(delay_s=0.05)

    reg = JobRegistry(make_lm=fake_make)
    cfg = LMConfig(backend="fake")
    lm = reg.lm(cfg, api_key="k1")
    assert reg.lm(cfg, api_key="k1") is lm and reg.lm(cfg, api_key="k2") is not lm
    assert made == ["k1", "k2"]
    a = reg.job(store.path, rid, lm)
    a.start()
    b = reg.job(Path(os.path.relpath(store.path)), rid, FakeLM())  # another tab, another spelling of the path
    assert b is a and reg.active() == [a]
    a.cancel()
    assert a.wait(30)
    assert reg.job(store.path, rid, lm) is not a  # a finished job is replaced by a fresh one


def _stored_run(tmp_path, iterations=3) -> tuple[Store, int]:
    store, rid = make_run(tmp_path / "w.sqlite")
    for _ in Pipeline(store, store.run(rid), FakeLM()).events(iterations=iterations):
        pass
    return store, rid


def test_iteration_view_rebuilds_slots_from_the_pipeline_events(tmp_path):
    store, rid = make_run(tmp_path / "w.sqlite")
    events = list(Pipeline(store, store.run(rid), FakeLM()).events(iterations=2))
    want = [(e.data["slot"], e.data["text"], e.data["keep"], e.data["max_rouge"])
            for e in events if e.kind == "candidate" and e.iteration == 2]
    view = iteration_view(store, rid, 2)
    assert [(c.slot, c.text, c.keep, c.max_rouge) for c in view.candidates] == want
    prompt_events = next(e for e in events if e.kind == "iteration" and e.iteration == 2).data["prompts"]
    assert [s.prompt for s in view.slots] == [p["prompt"] for p in prompt_events]


def test_reveal_streams_slots_in_order(tmp_path):
    store, rid = _stored_run(tmp_path, 1)
    full = iteration_view(store, rid, 1)
    empty, done = reveal(full, 0)
    assert not done and empty.candidates == [] and all(s.completion == "" for s in empty.slots)
    first = len(full.slots[0].completion)
    part, done = reveal(full, first)
    assert not done
    assert part.slots[0].done and not part.slots[1].done and part.slots[1].completion == ""
    assert {c.slot for c in part.candidates} == {0}
    assert all(c.instances == [] for c in part.candidates)
    whole, done = reveal(full, total_chars(full))
    assert done and whole == full


def test_progress_summary_and_table_agree_with_counts(tmp_path):
    store, rid = _stored_run(tmp_path, 3)
    counts = store.counts(rid)
    frame = progress(store.instructions(rid))
    assert list(frame.index) == [1, 2, 3]
    assert frame["generated"].sum() == counts["generated"]
    assert frame["kept"].sum() == counts["kept"] == frame["kept_total"].iloc[-1]
    dropped = frame.drop(columns=["generated", "kept", "kept_total"]).sum().to_dict()
    assert {k: v for k, v in dropped.items() if v} == counts["reasons"]
    summary = run_summary(store, store.run(rid))
    assert (summary["kept"], summary["iterations"], summary["cost_usd"]) == (counts["kept"], 3, 0.0)
    table = instruction_table(store, rid)
    assert len(table) == counts["seeds"] + counts["generated"]
    assert table["instances_kept"].sum() == counts["instances_kept"] + sum(
        len(t.instances) for t in store.tasks(rid, origin="seed"))


def test_provenance_points_at_the_prompt_that_made_an_instruction(tmp_path):
    store, rid = _stored_run(tmp_path, 2)
    row = store.instructions(rid, origin="machine", iteration=2)[-1]
    slot, cand = provenance(store, rid, row.id, 2)
    assert cand.text == row.text
    assert row.text in slot.completion
    assert slot.prompt.startswith(store.call(slot.call_id)["prompt"][:50])


def test_prepare_copy_never_writes_the_source(tmp_path):
    store, rid = _stored_run(tmp_path, 1)
    store.close()
    src = tmp_path / "w.sqlite"
    before = src.read_bytes()
    dst = prepare_copy(src, tmp_path / "copy" / "demo.sqlite")
    with Store(dst) as s:
        s.save_view(rid, "v", {})
    assert src.read_bytes() == before
    assert prepare_copy(src, dst) == dst
    with pytest.raises(FileNotFoundError):
        prepare_copy(tmp_path / "missing.sqlite", dst)



@pytest.mark.parametrize("changes", [
    {}, {"rouge_threshold": 0.3}, {"rouge_threshold": 0.5, "min_words": 8}, {"rouge_threshold": 1.0},
    {"max_words": 12, "drop_duplicates": False, "blacklist": ["haiku", "tweet"]},
    {"forbidden_prefixes": ["Explain"], "max_instances": 1, "drop_conflicting_outputs": False},
])
def test_what_if_equals_views_replay(tmp_path, changes):
    from dataclasses import asdict, replace

    from selfinstruct.config import FilterConfig
    from selfinstruct.filter_views import WhatIf
    from selfinstruct.filter_views import replay

    store, rid = _stored_run(tmp_path, 4)
    run = store.run(rid)
    what_if = WhatIf(store, run)
    what_if.replay(FilterConfig())  # a previous setting must not leak into the next answer
    settings = replace(FilterConfig(), **changes)
    assert asdict(what_if.replay(settings)) == asdict(replay(store, run, settings))


def test_reveal_gives_no_token_count_before_a_slot_has_streamed(tmp_path):
    store, rid = _stored_run(tmp_path, 1)
    full = iteration_view(store, rid, 1)
    assert all(s.tokens_out for s in full.slots)
    empty, _ = reveal(full, 0)
    assert all(s.tokens_out == 0 and not s.done for s in empty.slots)
    whole, _ = reveal(full, total_chars(full))
    assert [s.tokens_out for s in whole.slots] == [s.tokens_out for s in full.slots]


def test_private_workspace_stands_in_for_the_shipped_file_only(tmp_path):
    from dashboard.workspaces import private_workspace

    store, _ = _stored_run(tmp_path, 1)
    store.close()
    shipped, copy = tmp_path / "w.sqlite", tmp_path / "copy.sqlite"
    before = shipped.read_bytes()
    assert private_workspace(shipped, shipped, copy) == copy and copy.read_bytes() == before
    assert private_workspace(tmp_path / "." / "w.sqlite", shipped, copy) == copy  # another spelling
    assert private_workspace(tmp_path / "other.sqlite", shipped, copy) == tmp_path / "other.sqlite"


def test_run_summary_counts_import_and_translation_runs_by_their_kind(tmp_path):
    from selfinstruct.records import Instance, Task

    store, rid = _stored_run(tmp_path, 1)
    tasks = [Task(f"t{i}", f"Task {i}.", tuple(Instance(f"i{k}", f"o{k}") for k in range(1 + i % 2)))
             for i in range(44)]
    imp = store.create_run("imp", kind="import", tasks=tasks, origin="import")
    tr = store.create_run("r-zh", kind="translation", language="zh", source_run_id=rid, tasks=tasks[:10],
                          origin="translation")
    got = run_summary(store, imp)
    assert (got["kept"], got["instances"], got["seeds"], got["generated"]) == (44, 66, None, None)
    got = run_summary(store, tr)
    assert (got["kept"], got["instances"], got["language"]) == (10, 15, "zh")


def test_length_histograms_leave_out_empty_groups(tmp_path):
    from selfinstruct import analysis, charts

    store, rid = _stored_run(tmp_path, 1)
    machine = store.tasks(rid, origin="machine")
    fig = charts.length_histograms(analysis.lengths(machine), groups=("seed", "machine"))
    assert {t.name for t in fig.data} == {"A · machine"}


def test_comparison_draws_no_verb_noun_chart_without_pairs():
    from selfinstruct import compare

    cmp = {"lengths": {"a": [3, 4]}, "unit": "words", "summary": {"a": {"n": 2, "empty_or_refused": 0, "empty": 0,
                                                                          "refused": 0}},
           "rouge_vs_base": {}, "base": "original", "verb_noun": {"a": {"counts": {}}}}
    assert "verb_noun_pairs" not in compare.comparison_figures(cmp)
    cmp["verb_noun"] = {"a": {"counts": {"write poem": 2}}}
    assert "verb_noun_pairs" in compare.comparison_figures(cmp)


def test_judge_table_counts_unreadable_answers_per_set(tmp_path):
    from selfinstruct.records import Instance, Task
    from selfinstruct.store.evals import Judgment, save_judgments
    from selfinstruct.store.responses import create_response_set, save_responses
    from dashboard.tables import judge_table

    store = Store(tmp_path / "w.sqlite")
    run = store.create_run("g", tasks=[Task(f"m{i}", f"T {i}.", (Instance("", f"o{i}"),)) for i in range(3)],
                           origin="machine")
    rs = create_response_set(store, run.id, "a", model="a")
    inst = store.instances(run_id=run.id)
    save_responses(store, rs.id, [(i.id, "r", None, None) for i in inst])
    save_judgments(store, [Judgment(inst[0].id, "j", "t", rs.id, 0, 8.0, None, None),
                           Judgment(inst[1].id, "j", "t", rs.id, 0, None, None, None),
                           Judgment(inst[2].id, "j", "t", rs.id, 0, 6.0, None, None)])
    table = judge_table(store, {"a": rs.id}, judge="j", template="t", paired=False)
    assert table.to_dict("records") == [{"set": "a", "judged": 3, "unreadable": 1, "mean score": 7.0}]


def test_two_tabs_starting_a_run_at_once_share_one_job_and_one_worker(tmp_path, monkeypatch):
    import threading

    store, rid = make_run(tmp_path / "w.sqlite")
    reg = JobRegistry(make_lm=lambda cfg, api_key=None: FakeLM(delay_s=0.02))
    made: list[Job] = []
    real_init = Job.__init__

    def slow_init(self, *args, **kwargs):  # widen the window between looking a job up and starting it
        real_init(self, *args, **kwargs)
        made.append(self)
        time.sleep(0.05)

    monkeypatch.setattr(Job, "__init__", slow_init)
    barrier = threading.Barrier(2)
    got: list[Job] = []

    def tab() -> None:
        barrier.wait()
        got.append(reg.launch(store.path, rid, FakeLM(delay_s=0.02), 1))

    threads = [threading.Thread(target=tab) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == 2 and got[0] is got[1] and len(made) == 1
    assert reg.get(store.path, rid) is got[0] and reg.active() == [got[0]]
    assert got[0].wait(30) and got[0].snapshot().state == "stopped"  # one worker, no UNIQUE failure
    assert store.completed_iterations(rid) == 1
