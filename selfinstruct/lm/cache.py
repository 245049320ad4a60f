"""Every LM call goes through here: answered from the workspace when it was made
before, otherwise executed and written to the workspace *before* its result is used.

That ordering is what makes a killed run resumable without paying any call twice:
the resumed run rebuilds the same prompts, and each one is found under its key
(model, prompt, parameters).
"""

from __future__ import annotations

from typing import Sequence

from ..store import Store
from .base import LM, LMError, LMRequest, LMResponse, TokenCallback


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
            response = self.lm.execute(request, on_token=on_token)
        except LMError as e:
            self.store.record_call(self.run_id, self.name, request, error=e)
            raise
        return self.store.record_call(self.run_id, self.name, request, response=response), response

    def call_many(self, requests: Sequence[LMRequest]) -> list[tuple[int, LMResponse] | LMError]:
        """Like ``call`` for a batch; cache misses go to the backend together (concurrently if it can)."""
        results: list[tuple[int, LMResponse] | LMError | None] = []
        misses: list[int] = []
        for i, req in enumerate(requests):
            hit = self.store.cached_response(req.cache_key(self.name))
            results.append(hit)
            if hit is None:
                misses.append(i)
        if misses:
            answers = self.lm.execute_many([requests[i] for i in misses])
            for i, ans in zip(misses, answers):
                if isinstance(ans, LMError):
                    self.store.record_call(self.run_id, self.name, requests[i], error=ans)
                    results[i] = ans
                else:
                    results[i] = (self.store.record_call(self.run_id, self.name, requests[i], response=ans), ans)
        return [r for r in results if r is not None]
