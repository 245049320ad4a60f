"""The dashboard's background work: one runner (``Worker``) for generation and for
answer/translate jobs, watched by any number of tabs.

A ``Worker`` is a daemon thread with stop flags and a snapshot that pages poll
(copied under a lock, so a page never sees half an update). A ``Job`` drives one run's
``Pipeline`` on its own thread and keeps in memory what the page needs to draw every iteration
under way (the pipeline keeps up to ``generate.pool_lag`` open at once): each prompt, its
completion as it streams, candidates with verdicts, instances, and the pipeline's speed.
Everything durable is in the workspace already, so a page that reloads, or a second tab, reads
the same store and the same in-memory snapshot. Nothing here imports Streamlit: the page only
polls ``Job.snapshot()``.

Pause launches nothing more and stops once the iterations under way are saved (nothing is
lost). Cancel stops at the next streamed token: the iterations under way are dropped and redone
on resume, with every LM call that had already finished answered from the cache.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from selfinstruct.config import LMConfig
from selfinstruct.lm.base import LM, retries_reported_to
from selfinstruct.lm.batches import Progress
from selfinstruct.pipeline import Event, Pipeline, PipelineError, Stats
from selfinstruct.responses import JobResult
from selfinstruct.store import Store, StoreError

OWNER = "dashboard"


class JobBusy(RuntimeError):
    """The run already has a live worker in this process."""


class _Cancelled(Exception):
    """Raised from the token callback to abandon the iterations under way."""


PARTIAL_CHARS = 2_000  # of a completion still streaming, the end kept: the page shows less
KEEP_SAVED = 2  # saved iterations kept for display once they leave the live set


@dataclass
class LiveIteration:
    """One iteration as the worker has heard it so far, from its events and streamed tokens."""

    number: int
    prompts: list[dict[str, Any]] = field(default_factory=list)  # slot, prompt, in_context
    partial: dict[int, str] = field(default_factory=dict)  # slot -> the end of its completion so far
    completions: dict[int, dict[str, Any]] = field(default_factory=dict)  # slot -> its "completion" event
    candidates: list[dict[str, Any]] = field(default_factory=list)
    classifications: list[dict[str, Any]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)
    saved: bool = False  # in the workspace already


@dataclass
class Snapshot:
    """What a page shows of a job; a copy, safe to read while the worker goes on."""

    state: str = "idle"  # idle | running | pausing | cancelling | stopped | failed
    message: str = ""
    # every iteration under way and the last KEEP_SAVED saved ones, by number: a bounded copy
    iterations: dict[int, LiveIteration] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    stats: Stats | None = None  # the pipeline's numbers (in flight, queued, speed, ETA) at the latest event
    streamed_pieces: int = 0
    started_at: float = 0.0
    kept_at_start: int | None = None  # machine instructions kept when the job began
    iterations_done: int = 0
    retry: str = ""  # the latest retry of the endpoint, while one is under way
    retry_at: float = 0.0
    version: int = 0

    @property
    def active(self) -> bool:
        return self.state in ("running", "pausing", "cancelling")

    @property
    def open(self) -> list[LiveIteration]:
        """The iterations under way (launched, not saved yet), oldest first: the next saved first."""
        return [it for _, it in sorted(self.iterations.items()) if not it.saved]

    def under_way(self) -> str:
        """``iteration 4`` or ``iterations 4–9``: the open ones, for a status line ("" when none)."""
        numbers = [it.number for it in self.open]
        if not numbers:
            return ""
        return f"iteration {numbers[0]}" if len(numbers) == 1 else f"iterations {numbers[0]}–{numbers[-1]}"

    @property
    def newest(self) -> LiveIteration | None:
        return self.iterations[max(self.iterations)] if self.iterations else None

    def unsaved(self) -> tuple[int, int]:
        """(generated, kept) candidates of the iterations under way that the workspace does not
        hold yet: stored counts plus these are the live counts."""
        judged = [c for it in self.open for c in it.candidates]
        return len(judged), sum(bool(c["keep"]) for c in judged)

    def kept_per_minute(self, kept_now: int) -> float:
        """Instructions kept per minute of this job (``kept_now``: the live kept count)."""
        minutes = (time.time() - self.started_at) / 60 if self.started_at else 0.0
        if self.kept_at_start is None or minutes <= 0:
            return 0.0
        return max(0, kept_now - self.kept_at_start) / minutes


class Worker:
    """Work on a daemon thread with a snapshot to poll: the one background runner of the dashboard.

    ``stopping`` asks the work to end at its next safe point (it polls ``stop_requested``);
    ``_set`` changes the snapshot under the lock and ``snapshot`` hands out a copy.
    """

    def __init__(self, name: str, snapshot: Any):
        self.name = name
        self._lock = threading.Lock()
        self._snap = snapshot
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work ends; True if it did (for tests and the CLI)."""
        t = self._thread
        if t is not None:
            t.join(timeout)
        return not self.running

    def snapshot(self) -> Any:
        with self._lock:
            return copy.deepcopy(self._snap)

    def _set(self, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self._snap, k, v)
            if hasattr(self._snap, "version"):
                self._snap.version += 1

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        """Start ``target(*args)`` on the worker thread; call with ``self._lock`` held."""
        self._stop.clear()
        self._thread = threading.Thread(target=target, args=args, name=self.name, daemon=True)
        self._thread.start()


class Job(Worker):
    """One run of one workspace, generated on a worker thread."""

    def __init__(self, workspace: str | Path, run_id: int, lm: LM, *, owner: str = OWNER):
        super().__init__(f"selfinstruct-run-{run_id}", Snapshot())
        self.workspace = Path(workspace)
        self.run_id = run_id
        self.lm = lm
        self.owner = owner
        self._cancel = threading.Event()

    def start(self, iterations: int | None = None) -> None:
        """Generate until the target (or ``iterations`` more iterations) in the background."""
        with self._lock:
            if self.running:
                raise JobBusy(f"run {self.run_id} is already generating in this process")
            self._cancel.clear()
            self._snap = Snapshot(state="running", started_at=time.time(),
                                  message="one iteration" if iterations == 1 else "generating")
            self._spawn(self._work, iterations)

    def step(self) -> None:
        """Generate exactly one iteration."""
        self.start(iterations=1)

    resume = start

    def pause(self) -> None:
        """Launch nothing more; stop once the iterations under way are saved."""
        self._stop.set()
        self._set(state="pausing", message="pausing once the iterations under way are saved")

    def cancel(self) -> None:
        """Stop now; the iterations under way are redone on resume (finished calls are cached)."""
        self._cancel.set()
        self._stop.set()
        self._set(state="cancelling", message="cancelling")

    # ------------------------------------------------------------------ worker
    def _on_token(self, iteration: int, slot: int, piece: str) -> None:
        """Heard from the LM's worker threads, for every prompt in flight; a token can come
        before its iteration's launch event is applied, so the iteration is made here if need be."""
        if self._cancel.is_set():
            raise _Cancelled()
        with self._lock:
            s = self._snap
            it = s.iterations.setdefault(iteration, LiveIteration(iteration))
            it.partial[slot] = (it.partial.get(slot, "") + piece)[-PARTIAL_CHARS:]
            s.streamed_pieces += 1
            s.version += 1

    def _on_retry(self, message: str) -> None:
        self._set(retry=message, retry_at=time.time())

    def _apply(self, ev: Event, stats: Stats) -> None:
        with self._lock:
            s = self._snap
            d = ev.data
            s.stats = replace(stats)  # the pipeline goes on changing its own
            if ev.kind == "stopped":
                s.state, s.message = "stopped", d.get("status", "")
                # iterations launched past the target are dropped by the pipeline (redone on resume)
                s.iterations = {n: it for n, it in s.iterations.items() if it.saved}
                s.version += 1
                return
            it = s.iterations.setdefault(ev.iteration, LiveIteration(ev.iteration))
            if ev.kind == "iteration":
                it.prompts = d["prompts"]
            elif ev.kind == "completion":
                it.completions[d["slot"]] = d
                it.partial[d["slot"]] = d["text"][-PARTIAL_CHARS:]
                s.retry = ""  # an answer came: the endpoint is back
            elif ev.kind == "candidate":
                it.candidates.append(d)
            elif ev.kind == "classification":
                it.classifications.append(d)
            elif ev.kind == "instances":
                it.instances.append(d)
            elif ev.kind == "saved":
                s.counts, s.usage = d["counts"], d["usage"]
                s.iterations_done += 1
                it.saved = True
                for n in sorted(n for n, i in s.iterations.items() if i.saved)[:-KEEP_SAVED]:
                    del s.iterations[n]
            s.version += 1

    def _work(self, iterations: int | None) -> None:
        store: Store | None = None
        try:
            store = Store(self.workspace)
            pipe = Pipeline(store, store.run(self.run_id), self.lm, owner=self.owner)
            self._set(kept_at_start=pipe.kept)
            with retries_reported_to(self._on_retry):
                for ev in pipe.events(iterations=iterations, should_stop=self.stop_requested,
                                      on_token=self._on_token):
                    self._apply(ev, pipe.stats())
        except _Cancelled:
            status = f"cancelled by the user during {self.snapshot().under_way() or 'the run'}; redone on resume"
            if store is not None:
                store.set_run_state(self.run_id, "paused", status)
            self._set(state="stopped", message=status)
        except PipelineError as e:
            paused = store is not None and store.run(self.run_id).state == "paused"
            self._set(state="failed", message=f"{e}. Press Start / resume to go on." if paused else str(e))
        except StoreError as e:
            self._set(state="failed", message=str(e))
        except Exception as e:  # a bug must not leave the run marked "running" forever
            status = f"the worker stopped on an unexpected error: {type(e).__name__}: {e}"
            if store is not None:
                try:
                    store.set_run_state(self.run_id, "failed", status)
                except StoreError:
                    pass
            self._set(state="failed", message=status)
        finally:
            if store is not None:
                store.close()


@dataclass
class BatchSnapshot:
    """What a page shows of an answer or translate job."""

    progress: Progress = field(default_factory=Progress)
    result: JobResult | None = None
    failure: str | None = None


# ``work(on_progress, should_stop)`` runs a batch job (e.g. a lambda around ``answer_set``).
BatchWork = Callable[[Callable[[Progress], None], Callable[[], bool]], JobResult]


class BatchJob(Worker):
    """An answer or translate job on a worker thread. ``stop`` asks it to end after the batch
    in flight, which is saved, so starting the same job again resumes it."""

    def __init__(self, label: str, work: BatchWork):
        super().__init__(f"responses:{label}", BatchSnapshot())
        self.label = label
        self._work = work

    def start(self) -> "BatchJob":
        with self._lock:
            self._spawn(self._run)
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        try:
            self._set(result=self._work(lambda p: self._set(progress=replace(p)), self.stop_requested))
        except Exception as e:  # shown on the page; the traceback is for the server log
            self._set(failure=f"{type(e).__name__}: {e}")
            traceback.print_exc()


def _key(workspace: str | Path, run_id: int) -> tuple[str, int]:
    return str(Path(workspace).resolve()), run_id


class JobRegistry:
    """Every job of this process, keyed by (workspace, run), and the LMs they share.

    The dashboard holds one registry for the whole server, so every browser
    tab finds the same job. LMs are kept so the embedded model loads once; an
    API key only ever lives in this memory (its hash tells LMs apart).
    """

    def __init__(self, make_lm: Callable[..., LM] | None = None):
        if make_lm is None:
            from selfinstruct.lm import make_lm as default_make_lm

            make_lm = default_make_lm
        self._make_lm = make_lm
        self._jobs: dict[tuple[str, int], Job] = {}
        self._lms: dict[tuple[Any, ...], LM] = {}
        self._lock = threading.Lock()

    def get(self, workspace: str | Path, run_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(_key(workspace, run_id))

    def lm(self, cfg: LMConfig, api_key: str | None = None) -> LM:
        """The LM for ``cfg`` (built once per configuration and key)."""
        key_hash = hashlib.sha256(api_key.encode()).hexdigest() if api_key else ""
        key = (cfg.backend, cfg.model, cfg.base_url, tuple(cfg.replicas), cfg.api_mode, cfg.model_path, cfg.n_ctx,
               cfg.threads, cfg.concurrency, cfg.rpm, cfg.tpm, cfg.timeout_s, cfg.max_retries, key_hash)
        with self._lock:
            if key not in self._lms:
                self._lms[key] = self._make_lm(cfg, api_key=api_key)
            return self._lms[key]

    def launch(self, workspace: str | Path, run_id: int, lm: LM, iterations: int | None = None) -> Job:
        """Start the run's job (``Job.start(iterations)``) with ``lm``, or return the one working on it.

        Looking up, making and starting happen under the registry's lock, so two tabs that
        press Start at the same moment get the same job and the run gets one worker (``job``
        then ``start`` would let both make a job, and the registry would keep only one).
        """
        k = _key(workspace, run_id)
        with self._lock:
            job = self._jobs.get(k)
            if job is None or not job.running:
                job = Job(k[0], run_id, lm)
                job.start(iterations)
                self._jobs[k] = job
            return job

    def job(self, workspace: str | Path, run_id: int, lm: LM) -> Job:
        """The run's job, made afresh (with ``lm``) unless one is still working; not started.
        To start one, use ``launch``: it cannot race another tab."""
        k = _key(workspace, run_id)
        with self._lock:
            old = self._jobs.get(k)
            if old is not None and old.running:
                return old
            job = Job(k[0], run_id, lm)
            self._jobs[k] = job
            return job

    def active(self) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.running]
