"""The live view's sources: every prompt in flight streams at once, verdicts come in prompt order,
retries are heard while they happen, and live counts."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from selfinstruct.config import LMConfig, RunConfig
from dashboard.iterations import live_views
from dashboard.jobs import Job
from selfinstruct.lm.base import LMRequest, LMResponse, LMUnavailable, retries_reported_to
from selfinstruct.lm.cache import RecordedLM
from selfinstruct.lm.dispatch import Concurrent
from selfinstruct.lm.fake import FakeLM, demo_responder
from selfinstruct.lm.openai_compat import OpenAICompatLM
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from tests.openai_stub import OpenAIStub, ok, status

from conftest import OUR_SEEDS, wait_until


def new_run(path, target=40, batch=3) -> tuple[Store, object]:
    store = Store(path)
    cfg = RunConfig(target=target)
    cfg.lm.backend = "fake"
    cfg.generate.request_batch_size = batch
    return store, start_run(store, "r", load_tasks(OUR_SEEDS), cfg)


def test_every_prompt_of_an_iteration_streams_at_once_and_is_judged_in_prompt_order(workspace):
    """Answers arrive in any order (the first prompt is slowest); candidates come out in prompt order."""
    store, run = new_run(workspace, batch=3)
    backend = SlowJudge()
    order: list[tuple] = []
    events = Pipeline(store, run, backend).events(
        iterations=1, on_token=lambda it, slot, _: order.append(("token", it, slot)))
    for ev in events:
        order.append((ev.kind, ev.iteration, ev.data.get("slot")))
    assert backend.peak >= 3, "the prompts were not in flight together"
    streamed = {(it, slot) for kind, it, slot in order if kind == "token"}
    assert {(1, 0), (1, 1), (1, 2)} <= streamed
    judged = [slot for kind, it, slot in order if kind == "candidate" and it == 1]
    assert judged == sorted(judged) and set(judged) == {0, 1, 2}
    first_completion = [slot for kind, _, slot in order if kind == "completion"][0]
    assert first_completion != 0  # the slow first prompt finished later, yet was judged first


def test_watched_and_unwatched_runs_store_the_same_data(tmp_path):
    """Streaming per prompt changes when verdicts are shown, never what is decided."""
    rows = []
    for name, watch in (("a.sqlite", True), ("b.sqlite", False)):
        store, run = new_run(tmp_path / name, target=30)
        list(Pipeline(store, run, FakeLM()).events(on_token=(lambda i, s, p: None) if watch else None))
        rows.append([(r.iteration, r.text, r.verdict, r.reason, r.is_classification)
                     for r in store.instructions(run.id, origin="machine")])
    assert rows[0] == rows[1] and rows[0]


class SlowConcurrent:
    """A backend that serves several requests at once, the first ones slowest, streaming as it goes."""

    name = "slow"
    concurrency = 3

    def __init__(self, fail: set[str] = frozenset()):
        self.fail = fail
        self.active = 0
        self.peak = 0
        self.executed: list[str] = []
        self._lock = threading.Lock()

    def execute(self, request: LMRequest, on_token=None) -> LMResponse:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.executed.append(request.prompt)
        try:
            time.sleep(0.3 if request.prompt == "p0" else 0.05)
            if request.prompt in self.fail:
                raise LMUnavailable(f"{request.prompt} failed", ["503"])
            text = f"answer to {request.prompt}"
            if on_token is not None:
                for word in text.split(" "):
                    on_token(word + " ")
            return LMResponse(text=text, tokens_out=3)
        finally:
            with self._lock:
                self.active -= 1

    def execute_many(self, requests):  # pragma: no cover - the scheduler never batches online
        raise AssertionError("not used")


class SlowJudge(SlowConcurrent):
    """Answers every pipeline step like the fake; the first prompt of each iteration slowest."""

    concurrency = 8

    def execute(self, request: LMRequest, on_token=None) -> LMResponse:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            slow = request.step == "instructions" and request.seed is not None and request.seed % 3 == 0
            time.sleep(0.3 if slow else 0.02)
            return FakeLM().execute(request, on_token)
        finally:
            with self._lock:
                self.active -= 1


def drain(dispatch, n: int) -> list:
    out: list = []
    while len(out) < n:
        out += dispatch.results(timeout=5)
    return out


def test_concurrent_dispatch_runs_side_by_side_most_urgent_first_and_pays_once(workspace):
    store = Store(workspace)
    backend = SlowConcurrent()
    rec = RecordedLM(backend, store, None)
    pieces: dict[int, str] = {}
    d = Concurrent(rec, 3, lambda tag, piece: pieces.__setitem__(tag, pieces.get(tag, "") + piece))
    for i in range(4):
        d.submit(i, LMRequest(f"p{i}"), (i,), stream=True)
    d.submit(4, LMRequest("p1"), (0,), stream=True)  # a repeat of a request on its way: paid once
    out = {done.tag: done for done in drain(d, 5)}
    d.close(wait=True)
    assert {t: o.response.text for t, o in out.items()} == {i: f"answer to p{i}" for i in (0, 1, 2, 3)} | {4: "answer to p1"}
    assert backend.peak > 1, "requests were not sent side by side"
    assert sorted(backend.executed) == ["p0", "p1", "p2", "p3"]
    assert out[4].call_id == out[1].call_id and out[4].response.cached
    assert all(pieces[i].strip() == out[i].response.text for i in range(4))
    again = Concurrent(rec, 3)
    for i in range(4):
        again.submit(i, LMRequest(f"p{i}"))
    hits = drain(again, 4)  # every answer now from the workspace
    again.close(wait=False)
    assert {h.tag: h.call_id for h in hits} == {i: out[i].call_id for i in range(4)}
    assert all(h.response.cached for h in hits) and len(backend.executed) == 4


def test_concurrent_dispatch_keeps_the_answers_that_arrive_after_a_failure(workspace):
    """Closing after a failure waits for the calls under way and records them: never paid twice."""
    store = Store(workspace)
    backend = SlowConcurrent(fail={"p1"})
    rec = RecordedLM(backend, store, None)
    d = Concurrent(rec, 3)
    reqs = [LMRequest(f"p{i}") for i in range(3)]
    for i, req in enumerate(reqs):
        d.submit(i, req)
    first = d.results(timeout=5)
    assert any(done.error is not None for done in first + d.results(timeout=5))
    d.close(wait=True)
    assert store.cached_response(reqs[0].cache_key(rec.name)) is not None  # the slow one, recorded
    assert store.cached_response(reqs[2].cache_key(rec.name)) is not None


def test_retries_reach_the_listener_of_this_thread_only():
    heard: list[str] = []
    with OpenAIStub() as stub:
        stub.script(status(503), status(503), ok("fine"))
        lm = OpenAICompatLM(LMConfig(backend="openai", model="m", base_url=stub.base_url, max_retries=3),
                            api_key="sk-test-SECRET", sleep=lambda s: None, backoff_base_s=0.01)
        with retries_reported_to(heard.append):
            assert lm.execute(LMRequest("hi", max_tokens=4)).text == "fine"
        stub.script(status(503), ok("again"))
        lm.execute(LMRequest("hi again", max_tokens=4))  # nobody listens now
    assert len(heard) == 2
    assert heard[0].startswith("503 service unavailable; retry 1 of 3 in ")
    assert heard[1].startswith("503 service unavailable; retry 2 of 3 in ")
    assert not any("SECRET" in h for h in heard)


def test_concurrent_batch_retries_reach_the_listener():
    heard: list[str] = []
    with OpenAIStub() as stub:
        stub.script(status(500), ok("a"), ok("b"))
        lm = OpenAICompatLM(LMConfig(backend="openai", model="m", base_url=stub.base_url, max_retries=2,
                                     concurrency=2), api_key="k", sleep=lambda s: None, backoff_base_s=0.01)
        with retries_reported_to(heard.append):
            out = lm.execute_many([LMRequest("x", max_tokens=4), LMRequest("y", max_tokens=4)])
    assert all(isinstance(r, LMResponse) for r in out)
    assert len(heard) == 1 and heard[0].startswith("500 ")


def test_job_shows_retries_and_dashboard_wording_when_the_endpoint_is_down(tmp_path):
    store, run = new_run(tmp_path / "w.sqlite")
    with OpenAIStub(responder=lambda body: status(503)) as stub:
        lm = OpenAICompatLM(LMConfig(backend="openai", model="m", base_url=stub.base_url, max_retries=2),
                            api_key="k", sleep=lambda s: time.sleep(0.2), backoff_base_s=0.01)
        job = Job(store.path, run.id, lm)
        job.start()
        seen = ""
        deadline = time.time() + 20
        while job.running and time.time() < deadline:
            seen = seen or job.snapshot().retry
            time.sleep(0.02)
        assert job.wait(20)
    assert seen.startswith("503 service unavailable; retry 1 of 2")
    snap = job.snapshot()
    assert snap.state == "failed" and snap.message.endswith("Press Start / resume to go on.")
    assert "run the same command" not in snap.message
    assert store.run(run.id).state == "paused"


def test_live_counts_add_every_iteration_under_way(tmp_path):
    """Iteration 1 waits for its instances while 2 and 3 are judged: the live counts hold all three."""
    store, run = new_run(tmp_path / "w.sqlite", batch=2, target=100)
    gate = threading.Event()

    def responder(req: LMRequest) -> str:
        if req.step == "instances":
            gate.wait(30)
        return demo_responder(req)

    # room for every held instance call beside the prompts, which must not wait behind them
    job = Job(store.path, run.id, FakeLM(responder=responder, concurrency=64))
    job.start(iterations=3)
    try:
        wait_until(lambda: len([it for it in job.snapshot().open if it.candidates]) == 3, 30, 0.01,
                   "three iterations judged, none saved")
        snap = job.snapshot()
        judged = [c for it in snap.open for c in it.candidates]
        assert snap.unsaved() == (len(judged), sum(c["keep"] for c in judged))
        assert len(judged) > len(snap.iterations[1].candidates) and store.completed_iterations(run.id) == 0
    finally:
        gate.set()
    assert job.wait(30)
    snap = job.snapshot()
    assert snap.unsaved() == (0, 0)  # saved: the stored counts hold them now
    assert sorted(snap.iterations) == [2, 3]  # saved iterations leave the live set; the last ones stay for display
    kept = store.counts(run.id)["kept"]
    assert snap.counts["kept"] == kept and snap.kept_at_start == 0 and snap.kept_per_minute(kept) > 0


class HeldStream(FakeLM):
    """The fake model, 8 requests at once, whose instruction answers stream three pieces, then
    hold until ``gate`` is set: a slow endpoint, caught mid-stream."""

    def __init__(self, gate: threading.Event):
        super().__init__(concurrency=8)
        self.gate = gate

    def execute(self, request: LMRequest, on_token=None) -> LMResponse:
        if request.step != "instructions" or on_token is None:
            return super().execute(request, on_token)
        sent = itertools.count()

        def held(piece: str) -> None:
            if next(sent) == 3:
                self.gate.wait(30)
            on_token(piece)

        return super().execute(request, held)


def streaming(snap) -> list[tuple[int, int]]:
    """(iteration, slot) of every prompt of the snapshot streaming now."""
    return [(v.iteration, s.slot) for v in live_views(snap) for s in v.slots if s.state == "streaming"]


def test_a_snapshot_shows_every_prompt_streaming_at_once_across_iterations(tmp_path):
    store, run = new_run(tmp_path / "w.sqlite", batch=2, target=100)
    gate = threading.Event()
    job = Job(store.path, run.id, HeldStream(gate))
    job.start()
    try:
        # 8 requests at once, 2 prompts an iteration: 4 iterations stream, the 5th waits its turn
        wait_until(lambda: len(streaming(job.snapshot())) == 8 and job.snapshot().under_way() == "iterations 1–5",
                   30, 0.01, "8 prompts streaming at once")
        snap = job.snapshot()
        assert sorted(streaming(snap)) == [(it, slot) for it in (1, 2, 3, 4) for slot in (0, 1)]
        assert all(snap.iterations[it].partial[slot] for it, slot in streaming(snap))
        assert [(v.iteration, s.state) for v in live_views(snap)[4:] for s in v.slots] == [(5, "waiting")] * 2
        assert snap.stats is not None and snap.stats.calls == 0
    finally:
        job.cancel()
        gate.set()
    assert job.wait(30)
    assert store.run(run.id).status == "cancelled by the user during iterations 1–5; redone on resume"


def test_batch_jobs_run_on_the_same_worker_as_generation(tmp_path):
    """An answer/translate job: progress polled as a copy, stop seen by the work, failure kept."""
    from dashboard.jobs import BatchJob, Worker
    from selfinstruct.lm.batches import Progress
    from selfinstruct.responses import JobResult

    gate = threading.Event()

    def work(on_progress, should_stop):
        on_progress(Progress(total=4, done=1))
        gate.wait(10)
        while not should_stop():
            time.sleep(0.01)
        return JobResult(Progress(total=4, done=2), stopped="stopped")

    job = BatchJob("answer → x", work).start()
    assert isinstance(job, Worker) and job.running
    wait_until(lambda: job.snapshot().progress.done == 1, 10, 0.01, "the first progress report")
    snap = job.snapshot()
    snap.progress.done = 99  # a copy: the job's own snapshot is untouched
    assert job.snapshot().progress.done == 1
    gate.set()
    job.stop()
    assert job.wait(10)
    assert job.snapshot().result.stopped == "stopped" and job.snapshot().failure is None

    def broken(on_progress, should_stop):
        raise ValueError("no such view")

    bad = BatchJob("answer → y", broken).start()
    assert bad.wait(10) and bad.snapshot().failure == "ValueError: no such view"
