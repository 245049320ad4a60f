"""Keeping an endpoint busy: requests go out as they are asked for, answers come back as they arrive.

The generation scheduler (``pipeline``) submits requests tagged with what they are for and
takes finished ones from ``results``; it never waits for a whole batch. Two ways to run them:

- ``Concurrent``: up to ``width`` requests at once on worker threads, the most urgent first,
  each streaming its pieces to ``on_token(tag, piece)``. The online path, for every backend.
- ``Stepwise``: everything submitted so far goes to the backend as one ``call_many`` when
  results are asked for. The Batch API's path (one batch file per step), and the original
  loop's (one batch per step, nothing overlapping) for comparisons.

Both answer from the workspace first and record each answer on the caller's thread
(``RecordedLM``) before handing it over, so a killed run pays for nothing it had received.
"""

from __future__ import annotations

import contextvars
import heapq
from abc import ABC, abstractmethod
import itertools
import queue
import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, Hashable

from .base import LMError, LMRequest, LMResponse
from .cache import RecordedLM

TagCallback = Callable[[Hashable, str], None]


@dataclass
class Done:
    """One finished request: (call id, response), or the error it ended with (already recorded)."""

    tag: Hashable
    request: LMRequest
    call_id: int | None
    response: LMResponse | None
    error: LMError | None = None


class Dispatch(ABC):
    """What the scheduler needs of either way: submit, results, counts, close."""

    def __init__(self, rec: RecordedLM):
        self.rec = rec
        self._ready: list[tuple[Done, bool]] = []  # answered from the workspace (and whether to stream it)
        self._waiting: dict[str, list[tuple[Hashable, LMRequest]]] = {}  # key in flight -> repeats

    @property
    @abstractmethod
    def in_flight(self) -> int:
        """Requests the backend is answering now."""

    @property
    @abstractmethod
    def queued(self) -> int:
        """Requests waiting for their turn."""

    def submit(self, tag: Hashable, request: LMRequest, priority: tuple = (), *, stream: bool = False) -> None:
        """Ask for ``request``; ``priority`` orders waiting requests (smallest first); ``stream``
        sends its pieces to the ``on_token`` of a dispatch that has one."""
        key = request.cache_key(self.rec.name)
        if key in self._waiting:  # the same request is already on its way: share its answer
            self._waiting[key].append((tag, request))
            return
        hit = self.rec.lookup(request, key)
        if hit is not None:
            self._ready.append((Done(tag, request, hit[0], replace(hit[1], cached=True)), stream))
            return
        self._waiting[key] = []
        self._send(tag, request, key, priority, stream)

    @abstractmethod
    def _send(self, tag: Hashable, request: LMRequest, key: str, priority: tuple, stream: bool) -> None:
        """Start (or queue) a request that needs the backend."""

    def _finish(self, tag: Hashable, request: LMRequest, key: str, answer: LMResponse | BaseException) -> list[Done]:
        """Record one answer (caller's thread) and hand it to its request and any repeats."""
        if isinstance(answer, BaseException) and not isinstance(answer, LMError):
            raise answer  # a bug, or a cancel raised from on_token: not the endpoint's doing
        repeats = self._waiting.pop(key, [])
        result = self.rec.record(request, answer)
        if isinstance(result, LMError):
            return [Done(t, r, None, None, result) for t, r in [(tag, request), *repeats]]
        call_id, response = result
        return [Done(tag, request, call_id, response),
                *(Done(t, r, call_id, replace(response, cached=True)) for t, r in repeats)]

    @abstractmethod
    def results(self, timeout: float | None = None) -> list[Done]:
        """Finished requests, at least one unless nothing is outstanding or ``timeout`` passes."""

    @abstractmethod
    def close(self, *, wait: bool) -> None:
        """Drop what has not started; with ``wait``, let what runs finish and record it."""


class Concurrent(Dispatch):
    """Up to ``width`` requests at once on worker threads, the smallest priority first."""

    def __init__(self, rec: RecordedLM, width: int, on_token: TagCallback | None = None):
        super().__init__(rec)
        self.width = max(1, width)
        self.on_token = on_token
        self._heap: list[tuple[tuple, int, Hashable, LMRequest, str, bool, contextvars.Context]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._running = 0
        self._closed = False
        self._answers: queue.SimpleQueue[tuple[Hashable, LMRequest, str, Any]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    @property
    def in_flight(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return len(self._heap)

    def _send(self, tag: Hashable, request: LMRequest, key: str, priority: tuple, stream: bool) -> None:
        with self._cond:
            # each request runs in a copy of the submitter's context: retries reach its listener
            heapq.heappush(self._heap, (priority, next(self._order), tag, request, key, stream,
                                        contextvars.copy_context()))
            if len(self._threads) < self.width and len(self._threads) < self._running + len(self._heap):
                t = threading.Thread(target=self._worker, name=f"selfinstruct-lm-{len(self._threads)}", daemon=True)
                self._threads.append(t)
                t.start()
            self._cond.notify()

    def _worker(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                _, _, tag, request, key, stream, context = heapq.heappop(self._heap)
                self._running += 1
            on_token = self.on_token
            pieces = (lambda piece, tag=tag: on_token(tag, piece)) if stream and on_token is not None else None
            try:
                answer: Any = context.run(self.rec.lm.execute, request, pieces)
            except BaseException as e:  # handed to the caller's thread, which decides
                answer = e
            with self._cond:  # one step, so close() counts what is still to come exactly
                self._running -= 1
                self._answers.put((tag, request, key, answer))

    def results(self, timeout: float | None = None) -> list[Done]:
        out: list[Done] = []
        for done, stream in self._ready:
            if stream and self.on_token is not None and done.response is not None:
                self.on_token(done.tag, done.response.text)  # a stored answer shows whole
            out.append(done)
        self._ready = []
        if not out and (self._running or self._heap or not self._answers.empty()):
            try:
                out += self._finish(*self._answers.get(timeout=timeout))
            except queue.Empty:
                return out
        while not self._answers.empty():
            out += self._finish(*self._answers.get_nowait())
        return out

    def close(self, *, wait: bool) -> None:
        with self._cond:
            for *_, key, _, _ in self._heap:
                self._waiting.pop(key, None)
            self._heap.clear()
            left = self._running + self._answers.qsize()
        if wait:
            for _ in range(left):
                answer = self._answers.get()
                if isinstance(answer[3], (LMResponse, LMError)):  # not a bug's or a cancel's exception
                    self._finish(*answer)
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Stepwise(Dispatch):
    """Everything submitted goes out together, as one ``call_many``, when results are asked for."""

    def __init__(self, rec: RecordedLM):
        super().__init__(rec)
        self._pending: list[tuple[Hashable, LMRequest, str]] = []
        self._busy = 0

    @property
    def in_flight(self) -> int:
        return self._busy

    @property
    def queued(self) -> int:
        return len(self._pending)

    def _send(self, tag: Hashable, request: LMRequest, key: str, priority: tuple, stream: bool) -> None:
        self._pending.append((tag, request, key))

    def results(self, timeout: float | None = None) -> list[Done]:
        out, self._ready = [done for done, _ in self._ready], []
        if out or not self._pending:
            return out
        batch, self._pending = self._pending, []
        self._busy = len(batch)
        try:
            answers = self.rec.lm.execute_many([r for _, r, _ in batch])
        finally:
            self._busy = 0
        for (tag, request, key), answer in zip(batch, answers):
            out += self._finish(tag, request, key, answer)
        return out

    def close(self, *, wait: bool) -> None:
        for _, _, key in self._pending:
            self._waiting.pop(key, None)
        self._pending = []
