"""Every LM call goes through here: answered from the workspace when it was made
before, otherwise executed and written to the workspace *before* its result is used.

That ordering is what makes a killed run resumable without paying any call twice:
the resumed run rebuilds the same prompts, and each one is found under its key
(model, prompt, parameters).
"""

from __future__ import annotations

import contextvars
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Callable, Iterator, Protocol, Sequence

from .base import LM, LMError, LMRequest, LMResponse, LMUnavailable, TokenCallback


_SURROGATE = re.compile("[\ud800-\udfff]")


class CallLog(Protocol):
    """Where earlier answers are found and every call is written: the workspace (``store.Store``),
    named by what it does so this module needs nothing of the store's."""

    def cached_response(self, cache_key: str) -> tuple[int, LMResponse] | None: ...

    def record_call(self, run_id: int | None, model: str, request: LMRequest,
                    response: LMResponse | None = None, error: LMError | None = None) -> int: ...


class RecordedLM:
    """An LM bound to a workspace and a run: cached, logged, never paid twice."""

    def __init__(self, lm: LM, store: CallLog, run_id: int | None):
        self.lm = lm
        self.store = store
        self.run_id = run_id
        self.name = lm.name

    def call(self, request: LMRequest, on_token: TokenCallback | None = None) -> tuple[int, LMResponse]:
        """(call id, response); raises the backend's LMError after recording it."""
        hit = self.store.cached_response(request.cache_key(self.name))
        if hit is not None:
            if on_token is not None:
                on_token(hit[1].text)
            return hit
        try:
            response = storable(self.lm.execute(request, on_token=on_token))
        except LMError as e:
            self.store.record_call(self.run_id, self.name, request, error=e)
            raise
        return self.store.record_call(self.run_id, self.name, request, response=response), response

    def call_many(self, requests: Sequence[LMRequest]) -> list[tuple[int, LMResponse] | LMError]:
        """Like ``call`` for a batch; cache misses go to the backend together (concurrently if it can).

        Identical requests (one cache key) in a batch are sent and recorded once: the
        repeats get the same call id and response, marked ``cached`` (they cost nothing)."""
        keys = [req.cache_key(self.name) for req in requests]
        results: dict[str, tuple[int, LMResponse] | LMError] = {}
        misses: dict[str, int] = {}  # cache key -> the first request that has it
        for i, key in enumerate(keys):
            if key in results or key in misses:
                continue
            hit = self.store.cached_response(key)
            if hit is None:
                misses[key] = i
            else:
                results[key] = hit
        if misses:
            answers = [_storable_or_error(a) for a in self.lm.execute_many([requests[i] for i in misses.values()])]
            for (key, i), ans in zip(misses.items(), answers):
                if isinstance(ans, LMError):
                    self.store.record_call(self.run_id, self.name, requests[i], error=ans)
                    results[key] = ans
                else:
                    results[key] = (self.store.record_call(self.run_id, self.name, requests[i], response=ans), ans)
        out: list[tuple[int, LMResponse] | LMError] = []
        seen: set[str] = set()
        for key in keys:
            res = results[key]
            if key in seen and not isinstance(res, LMError):
                res = (res[0], replace(res[1], cached=True))
            seen.add(key)
            out.append(res)
        return out

    def stream_many(
        self, requests: Sequence[LMRequest], on_token: Callable[[int, str], None]
    ) -> Iterator[tuple[int, LMResponse]]:
        """Each request's (call id, response) in request order, as soon as it and those before
        it are in, while every request streams its pieces to ``on_token(index, piece)``.

        Backends with a ``concurrency`` above 1 get that many requests at once (each streaming
        on a worker thread); others run them one by one. Calls are recorded on the caller's
        thread, in request order, before they are yielded; the first failure is raised there
        after it is recorded, like ``call``. Identical requests are paid once: repeats are cached.
        """
        width = min(max(1, int(getattr(self.lm, "concurrency", 1))), len(requests))
        if width <= 1:
            for i, req in enumerate(requests):
                yield self.call(req, on_token=lambda piece, i=i: on_token(i, piece))
            return
        keys = [req.cache_key(self.name) for req in requests]
        first: dict[str, int] = {}  # cache key -> index of the first request that has it
        answered: dict[str, tuple[int, LMResponse]] = {}
        pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="selfinstruct-stream")
        try:
            pending: list[Future | None] = []
            for i, (req, key) in enumerate(zip(requests, keys)):
                hit = None if key in first else self.store.cached_response(key)
                if key in first or hit is not None:
                    pending.append(None)
                    if hit is not None:
                        answered[key] = hit
                else:
                    pending.append(pool.submit(contextvars.copy_context().run, self.lm.execute, req,
                                               lambda piece, i=i: on_token(i, piece)))
                first.setdefault(key, i)
            for i, (req, key, future) in enumerate(zip(requests, keys, pending)):
                if future is not None:
                    try:
                        response = storable(future.result())
                    except LMError as e:
                        self.store.record_call(self.run_id, self.name, req, error=e)
                        self._record_rest(requests[i + 1:], pending[i + 1:])
                        raise
                    answered[key] = (self.store.record_call(self.run_id, self.name, req, response=response),
                                     response)
                call_id, response = answered[key]
                if first[key] != i or future is None:
                    on_token(i, response.text)
                    if first[key] != i:
                        response = replace(response, cached=True)
                yield call_id, response
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _record_rest(self, requests: Sequence[LMRequest], pending: Sequence[Future | None]) -> None:
        """After a failure, keep the answers that still arrive, so a resumed run never pays for them again."""
        for req, future in zip(requests, pending):
            if future is None:
                continue
            try:
                response = storable(future.result())
            except Exception:  # their errors are the backend's to report on the resumed run
                continue
            if self.store.cached_response(req.cache_key(self.name)) is None:
                self.store.record_call(self.run_id, self.name, req, response=response)


def storable(response: LMResponse) -> LMResponse:
    """The response as the workspace can hold it, whatever the backend handed over.

    Text that is not a string is an LM error (recorded as a failed call, never a crash);
    a token count that is not a non-negative integer is stored as 0 and noted as a fault;
    a lone UTF-16 surrogate (which a broken server can send as \\ud800 in JSON) is replaced
    by U+FFFD, since such text cannot be stored and a call that cannot be recorded would be
    paid for again on every retry."""
    if not isinstance(response.text, str):
        raise LMUnavailable(f"the model's reply is not text ({type(response.text).__name__})")
    for name in ("tokens_in", "tokens_out"):
        value = getattr(response, name)
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            response = replace(response, **{name: 0},
                               faults=[*response.faults, f"{name} {str(value)[:40]!r} is not a token count; stored as 0"])
    try:
        response.text.encode("utf-8")
        return response
    except UnicodeEncodeError:
        return replace(response, text=_SURROGATE.sub("\ufffd", response.text),
                       faults=[*response.faults, "reply held lone UTF-16 surrogates; replaced by U+FFFD"])


def _storable_or_error(answer: LMResponse | LMError) -> LMResponse | LMError:
    """``storable`` for a batch, where a failure is a value like the backend's own."""
    if isinstance(answer, LMError):
        return answer
    try:
        return storable(answer)
    except LMError as e:
        return e
