"""The dashboard's background worker and stored-run replay, without Streamlit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from selfinstruct.config import LMConfig, RunConfig
from selfinstruct.replay import iteration_view, live_view, prepare_copy, provenance, reveal, total_chars
from selfinstruct.tables import instruction_table, progress, run_summary
from selfinstruct.jobs import Job, JobBusy, JobRegistry
from selfinstruct.lm.base import LMFatalError
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

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
    assert snap.iteration == 1 and len(snap.prompts) == 3
    assert all(len(p["in_context"]) == 8 for p in snap.prompts)
    assert snap.candidates and all("keep" in c for c in snap.candidates)
    assert snap.streamed_pieces > 0
    assert set(snap.partial) == {0, 1, 2}
    assert store.completed_iterations(rid) == 1
    assert store.run(rid).state == "paused"
    assert snap.counts["generated"] == len(snap.candidates)


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
    deadline = time.time() + 20
    while job.snapshot().iteration is None and time.time() < deadline:
        time.sleep(0.01)
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
    deadline = time.time() + 20
    while len(lm.requests) < 2 and time.time() < deadline:  # the second prompt is being answered
        time.sleep(0.005)
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
    from selfinstruct.views import WhatIf
    from selfinstruct.views import replay

    store, rid = _stored_run(tmp_path, 4)
    run = store.run(rid)
    what_if = WhatIf(store, run)
    what_if.replay(FilterConfig())  # a previous setting must not leak into the next answer
    settings = replace(FilterConfig(), **changes)
    assert asdict(what_if.replay(settings)) == asdict(replay(store, run, settings))
