"""One way to run a batched LM job: answer, translate, judge and review all go through ``run_batches``.

A job is a list of items, each asking one or more requests. Batches hold
whole items and about ``batch_size`` requests, so a concurrent endpoint stays
busy; each goes through ``RecordedLM`` (cached and logged, never paid twice)
and its complete items are saved before the next batch starts, so a job that
ends early resumes by running again. One error contract: an LM failure
(``LMFatalError``, or ``LMUnavailable`` once the backend's retries are spent)
ends the job after its batch's good answers are saved, and is raised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from ..costs import cost_of
from ..scripts import NO_SPACE_SCRIPT
from .base import LMError, LMRequest, LMResponse
from .cache import RecordedLM

T = TypeVar("T")
Answer = tuple[int, LMResponse]  # (call id, response)


def estimate_tokens(text: str) -> int:
    """Rough BPE token count without a tokenizer.

    The larger of characters/4 and words*1.3 (the usual rules of thumb for
    English; the maximum guards against long words and against short ones),
    plus one token per character of a script written without spaces.
    """
    n_dense = len(NO_SPACE_SCRIPT.findall(text))
    rest = NO_SPACE_SCRIPT.sub(" ", text) if n_dense else text
    return math.ceil(max(len(rest.strip()) / 4, len(rest.split()) * 1.3)) + n_dense


@dataclass
class Progress:
    """Where a job stands. ``done``/``total`` count items, earlier sessions included;
    the rest counts this session only. Cache hits add to ``cached`` and cost nothing."""

    total: int = 0
    done: int = 0
    calls: int = 0
    cached: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    errors: int = 0

    def add(self, req: LMRequest, ans: Answer | LMError, prices: tuple[float, float]) -> None:
        """Count one answer: usage and cost from the response (estimated where it reports none)."""
        if isinstance(ans, LMError):
            self.errors += 1
            return
        resp = ans[1]
        if resp.cached:
            self.cached += 1
            return
        tin = resp.tokens_in or estimate_tokens(req.prompt)
        tout = resp.tokens_out or estimate_tokens(resp.text)
        self.calls += 1
        self.tokens_in += tin
        self.tokens_out += tout
        self.cost += cost_of(tin, tout, *prices)


def run_batches(
    rec: RecordedLM,
    items: Sequence[T],
    requests: Callable[[T], Sequence[LMRequest]],
    save: Callable[[list[tuple[T, list[Answer]]]], None],
    progress: Progress,
    *,
    batch_size: int,
    prices: tuple[float, float] = (0.0, 0.0),
    stop: Callable[[], str | None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> str | None:
    """Ask every item's ``requests`` in batches; ``save`` gets each batch's complete items with
    their answers (in request order). ``stop``, checked between batches, names why the job
    should end there; that reason is returned (None: all done). An LM failure is raised once
    its batch is saved: an item with a failed request is not saved and is asked again next time."""
    batches: list[list[tuple[T, Sequence[LMRequest]]]] = []
    count = 0
    for item in items:
        if not batches or count >= batch_size:
            batches.append([])
            count = 0
        reqs = requests(item)
        batches[-1].append((item, reqs))
        count += len(reqs)
    if on_progress:
        on_progress(progress)
    for batch in batches:
        reason = stop() if stop else None
        if reason:
            return reason
        flat = [r for _, reqs in batch for r in reqs]
        answers = rec.call_many(flat)  # identical requests in one batch: one call, repeats cached
        for req, ans in zip(flat, answers):
            progress.add(req, ans, prices)
        complete, at = [], 0
        for item, reqs in batch:
            mine, at = answers[at:at + len(reqs)], at + len(reqs)
            if not any(isinstance(a, LMError) for a in mine):
                complete.append((item, mine))
        save(complete)
        progress.done += len(complete)
        if on_progress:
            on_progress(progress)
        error = next((a for a in answers if isinstance(a, LMError)), None)
        if error is not None:
            raise error
    return None
