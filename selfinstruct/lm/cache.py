"""Every LM call goes through here: answered from the workspace when it was made
before, otherwise executed and written to the workspace *before* its result is used.

That ordering is what makes a killed run resumable without paying any call twice:
the resumed run rebuilds the same prompts, and each one is found under its key
(model, prompt, parameters).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Protocol, Sequence

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

    def lookup(self, request: LMRequest, key: str | None = None) -> tuple[int, LMResponse] | None:
        """The stored (call id, response) of an earlier identical request, if any (``key``: its cache key)."""
        return self.store.cached_response(key or request.cache_key(self.name))

    def record(self, request: LMRequest, answer: LMResponse | LMError) -> tuple[int, LMResponse] | LMError:
        """Write what the backend answered, before anyone uses it: (call id, the response as
        stored), or the failure (a reply that cannot be stored is one) after it is written."""
        if not isinstance(answer, LMError):
            try:
                answer = storable(answer)
            except LMError as e:
                answer = e
        if isinstance(answer, LMError):
            self.store.record_call(self.run_id, self.name, request, error=answer)
            return answer
        return self.store.record_call(self.run_id, self.name, request, response=answer), answer

    def call(self, request: LMRequest, on_token: TokenCallback | None = None) -> tuple[int, LMResponse]:
        """(call id, response); raises the backend's LMError after recording it."""
        hit = self.lookup(request)
        if hit is not None:
            if on_token is not None:
                on_token(hit[1].text)
            return hit
        try:
            answer: LMResponse | LMError = self.lm.execute(request, on_token=on_token)
        except LMError as e:
            answer = e
        result = self.record(request, answer)
        if isinstance(result, LMError):
            raise result
        return result

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
            hit = self.lookup(requests[i], key)
            if hit is None:
                misses[key] = i
            else:
                results[key] = hit
        if misses:
            answers = self.lm.execute_many([requests[i] for i in misses.values()])
            for (key, i), answer in zip(misses.items(), answers):
                results[key] = self.record(requests[i], answer)
        out: list[tuple[int, LMResponse] | LMError] = []
        seen: set[str] = set()
        for key in keys:
            res = results[key]
            if key in seen and not isinstance(res, LMError):
                res = (res[0], replace(res[1], cached=True))
            seen.add(key)
            out.append(res)
        return out


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
