"""Every LM call goes through here: answered from the workspace when it was made
before, otherwise executed and written to the workspace *before* its result is used.

That ordering is what makes a killed run resumable without paying any call twice:
the resumed run rebuilds the same prompts, and each one is found under its key
(model, prompt, parameters).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Sequence

from ..store import Store
from .base import LM, LMError, LMRequest, LMResponse, TokenCallback


_SURROGATE = re.compile("[\ud800-\udfff]")


class RecordedLM:
    """An LM bound to a workspace and a run: cached, logged, never paid twice."""

    def __init__(self, lm: LM, store: Store, run_id: int | None):
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
            answers = [a if isinstance(a, LMError) else storable(a)
                       for a in self.lm.execute_many([requests[i] for i in misses.values()])]
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


def storable(response: LMResponse) -> LMResponse:
    """The response with any lone UTF-16 surrogate (which a broken server can send as
    \\ud800 in JSON) replaced by U+FFFD: such text cannot be stored, and a call that
    cannot be recorded would be paid for again on every retry. The fix is noted as a fault."""
    try:
        response.text.encode("utf-8")
        return response
    except UnicodeEncodeError:
        return replace(response, text=_SURROGATE.sub("\ufffd", response.text),
                       faults=[*response.faults, "reply held lone UTF-16 surrogates; replaced by U+FFFD"])
