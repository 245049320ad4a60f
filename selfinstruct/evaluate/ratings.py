"""Human rating of responses on the paper's A-D scale, blind to the model.

Responses of several sets are mixed into one queue whose order is a hash of a
seed (stable across sessions, so a rater resumes where they stopped); the page
shows no set names until every response is rated.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

from ..store import RunInfo, Store
from ..store.evals import GRADES, Rating, ratings
from ..store.responses import response_set, responses

GRADE_TEXT = {
    "A": "valid and satisfying",
    "B": "acceptable, with minor imperfections",
    "C": "responds to the instruction but has significant errors",
    "D": "irrelevant or invalid",
}


@dataclass(frozen=True)
class RatingItem:
    set_id: int
    instance_id: int
    instruction: str
    input: str
    response: str


def rating_queue(store: Store, run: RunInfo, set_names: Sequence[str], seed: int = 0) -> list[RatingItem]:
    """Every response of the sets, shuffled together by a seeded hash."""
    items = [
        RatingItem(rs.id, r.instance_id, r.instruction, r.input, r.text)
        for rs in (response_set(store, run.id, n) for n in set_names)
        for r in responses(store, rs.id)
    ]
    return sorted(items, key=lambda it: hashlib.sha256(f"{seed}:{it.set_id}:{it.instance_id}".encode()).digest())


def next_unrated(items: Sequence[RatingItem], done: Sequence[Rating]) -> int | None:
    have = {(r.set_id, r.instance_id) for r in done}
    return next((i for i, it in enumerate(items) if (it.set_id, it.instance_id) not in have), None)


def grade_counts(store: Store, run: RunInfo, set_names: Sequence[str], rater: str | None = "human") -> dict[str, dict[str, int]]:
    """{set name: {grade: count}} with every grade present (zeros included), in the sets' order."""
    sets = {response_set(store, run.id, n).id: n for n in set_names}
    out = {n: dict.fromkeys(GRADES, 0) for n in set_names}
    for r in ratings(store, list(sets), rater=rater):
        out[sets[r.set_id]][r.grade] += 1
    return out
