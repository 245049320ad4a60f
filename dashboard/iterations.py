"""A run's iterations as the pages draw them, stored or live, and replayed without any LM.

The workspace keeps every prompt, raw completion, candidate verdict and
instance, so an iteration can be rebuilt exactly as it happened: for browsing
past iterations, for the Data page's "where did this come from", and for the
demo mode that plays a recorded run for an audience, its completions appearing
as if streamed. The live worker's snapshot converts to the same shape, one view per iteration
under way, so the page draws live and stored iterations with the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from selfinstruct.store import Store


@dataclass(frozen=True)
class SlotView:
    """One prompt of an iteration and the model's continuation of it."""

    slot: int
    in_context: list[dict[str, str]]  # [{text, origin}] in prompt order
    prompt: str
    completion: str
    finish_reason: str = "stop"
    call_id: int | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    done: bool = True  # False while the completion is still streaming

    @property
    def state(self) -> str:
        """``waiting`` (sent, no token yet), ``streaming`` or ``finished``: what the live view marks."""
        return "finished" if self.done else "streaming" if self.completion else "waiting"


STATE_ICONS = {"waiting": "🕒", "streaming": "⏳", "finished": "✅"}


@dataclass(frozen=True)
class CandidateView:
    """A parsed candidate instruction with its verdict, evidence and instances."""

    slot: int
    text: str
    keep: bool
    reason: str | None
    detail: str
    max_rouge: float | None
    similar: list[tuple[str, float]]
    is_classification: bool | None = None
    instances: list[dict[str, Any]] = field(default_factory=list)  # input, output, keep, reason, detail
    id: int | None = None


@dataclass(frozen=True)
class IterationView:
    iteration: int
    slots: list[SlotView]
    candidates: list[CandidateView]


def iteration_view(store: Store, run_id: int, iteration: int) -> IterationView:
    """A stored iteration, rebuilt from its prompts, calls, instructions and instances."""
    slots = []
    slot_of: dict[int, int] = {}
    for p in store.prompts(run_id, iteration):
        slot_of[p["id"]] = p["slot"]
        call = store.call(p["call_id"]) if p["call_id"] is not None else {}
        slots.append(SlotView(
            slot=p["slot"], in_context=p["in_context"], prompt=call.get("prompt", ""),
            completion=call.get("text") or "", finish_reason=call.get("finish_reason") or "stop",
            call_id=p["call_id"], tokens_in=call.get("tokens_in", 0), tokens_out=call.get("tokens_out", 0),
        ))
    rows = store.instructions(run_id, origin="machine", iteration=iteration)
    insts: dict[int, list[dict[str, Any]]] = {r.id: [] for r in rows}
    for i in store.instances([r.id for r in rows]):
        insts[i.instruction_id].append(
            {"input": i.input, "output": i.output, "keep": i.verdict == "keep", "reason": i.reason, "detail": i.detail}
        )
    candidates = [
        CandidateView(
            slot=slot_of[r.prompt_id], text=r.text, keep=r.verdict == "keep",
            reason=r.reason, detail=r.detail, max_rouge=r.max_rouge, similar=r.similar,
            is_classification=r.is_classification, instances=insts[r.id], id=r.id,
        )
        for r in rows
    ]
    return IterationView(iteration, slots, candidates)


def live_view(snap: Any, number: int | None = None) -> IterationView | None:
    """Iteration ``number`` (the newest by default) of the worker's in-memory snapshot
    (``jobs.Snapshot``) as an ``IterationView``; None when the snapshot does not hold it."""
    it = snap.newest if number is None else snap.iterations.get(number)
    return None if it is None else _live(it)


def live_views(snap: Any) -> list[IterationView]:
    """Every iteration under way in the snapshot whose prompts are out, oldest (next saved) first:
    the prompts in flight at once."""
    return [_live(it) for it in snap.open if it.prompts]


def _live(it: Any) -> IterationView:
    """One ``jobs.LiveIteration`` as an ``IterationView``."""
    slots = []
    for p in it.prompts:
        done = it.completions.get(p["slot"])
        slots.append(SlotView(
            slot=p["slot"], in_context=p["in_context"], prompt=p["prompt"],
            completion=done["text"] if done else it.partial.get(p["slot"], ""),
            finish_reason=done["finish_reason"] if done else "", call_id=done["call_id"] if done else None,
            tokens_in=done["tokens_in"] if done else 0, tokens_out=done["tokens_out"] if done else 0,
            done=done is not None,
        ))
    clf = {c["text"]: c["is_classification"] for c in it.classifications}
    inst = {i["text"]: i["instances"] for i in it.instances}
    candidates = [
        CandidateView(
            slot=c["slot"], text=c["text"], keep=c["keep"], reason=c["reason"], detail=c["detail"],
            max_rouge=c["max_rouge"], similar=[tuple(s) for s in c["similar"]],
            is_classification=clf.get(c["text"]) if c["keep"] else None,
            instances=inst.get(c["text"], []) if c["keep"] else [],
        )
        for c in it.candidates
    ]
    return IterationView(it.number, slots, candidates)


def reveal(view: IterationView, chars: int) -> tuple[IterationView, bool]:
    """The iteration as an audience sees it after ``chars`` characters have "streamed".

    Slots stream one after another; a slot's candidates appear once its
    completion is whole, instances once every slot is. Returns (view, finished).
    """
    left = max(chars, 0)
    slots, complete = [], set()
    for s in view.slots:
        shown = s.completion[:left]
        left -= len(shown)
        whole = len(shown) == len(s.completion)
        if whole:
            complete.add(s.slot)
        # a slot still streaming has no token count yet: it is known once the call is whole
        slots.append(replace(s, completion=shown, done=whole, tokens_out=s.tokens_out if whole else 0))
        if not whole:
            left = 0
    finished = len(complete) == len(view.slots)
    candidates = [
        c if finished else replace(c, instances=[], is_classification=None)
        for c in view.candidates if c.slot in complete
    ]
    return IterationView(view.iteration, slots, candidates), finished


def total_chars(view: IterationView) -> int:
    return sum(len(s.completion) for s in view.slots)


def provenance(store: Store, run_id: int, instruction_id: int, iteration: int) -> tuple[SlotView, CandidateView] | None:
    """The prompt and raw completion a machine instruction of ``iteration`` came from."""
    view = iteration_view(store, run_id, iteration)
    for c in view.candidates:
        if c.id == instruction_id and c.slot < len(view.slots):
            return view.slots[c.slot], c
    return None
