"""HHH judgements: answer A against answer B on helpful, honest and harmless.

A row keeps the verdict as the rater gave it (about the answers as shown) and which set was
shown as A, so what it means for either set is read back, never guessed. A pair is stored
lower set id first, whichever set a person calls "set 1". Each verdict is written as soon as
it is given, so a rater who stops resumes at the next unjudged item; saving again replaces.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from ..prompts.hhh import CRITERIA, VERDICTS
from .core import Store, StoreError

OUTCOMES = ("win", "tie", "lose")  # a verdict as one set's outcome


@dataclass(frozen=True)
class HHHJudgement:
    run_id: int
    set_1: int
    set_2: int
    instance_id: int
    rater: str
    criterion: str
    verdict: str  # better | tie | worse: answer A against answer B
    a_set: int  # the set shown as answer A
    call_id: int | None = None

    def outcome(self, set_id: int) -> str:
        """win / tie / lose for ``set_id``, one of the pair."""
        if set_id not in (self.set_1, self.set_2):
            raise ValueError(f"set {set_id} is not one of the pair ({self.set_1}, {self.set_2})")
        if self.verdict == "tie":
            return "tie"
        return "win" if (self.verdict == "better") == (self.a_set == set_id) else "lose"


def save_hhh(store: Store, items: Sequence[HHHJudgement]) -> None:
    """Store verdicts in one transaction, each pair lower set id first; a bad value stores none."""
    for j in items:
        if j.criterion not in CRITERIA:
            raise StoreError(f"workspace {store.path}: an HHH criterion is one of {', '.join(CRITERIA)}, "
                             f"got {j.criterion!r}")
        if j.verdict not in VERDICTS:
            raise StoreError(f"workspace {store.path}: an HHH verdict is one of {', '.join(VERDICTS)}, "
                             f"got {j.verdict!r}")
        if j.set_1 == j.set_2 or j.a_set not in (j.set_1, j.set_2):
            raise StoreError(f"workspace {store.path}: an HHH judgement needs two different sets and answer A "
                             f"from one of them, got sets {j.set_1}, {j.set_2} and A from {j.a_set}")
    now = time.time()
    with store.tx() as c:
        c.executemany(
            "INSERT INTO hhh_judgements(run_id, set_1, set_2, instance_id, rater, criterion, verdict, a_set, call_id,"
            " created_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(set_1, set_2, instance_id, rater, criterion)"
            " DO UPDATE SET verdict = excluded.verdict, a_set = excluded.a_set, call_id = excluded.call_id,"
            " created_at = excluded.created_at",
            [(j.run_id, *sorted((j.set_1, j.set_2)), j.instance_id, j.rater, j.criterion, j.verdict, j.a_set,
              j.call_id, now) for j in items],
        )


def hhh_judgements(store: Store, set_x: int, set_y: int, rater: str | None = None) -> list[HHHJudgement]:
    """The pair's verdicts (either order of the two ids), optionally one rater's."""
    sql, params = "SELECT * FROM hhh_judgements WHERE set_1 = ? AND set_2 = ?", [*sorted((set_x, set_y))]
    if rater is not None:
        sql += " AND rater = ?"
        params.append(rater)
    return [
        HHHJudgement(r["run_id"], r["set_1"], r["set_2"], r["instance_id"], r["rater"], r["criterion"],
                     r["verdict"], r["a_set"], r["call_id"])
        for r in store.query(sql + " ORDER BY instance_id, rater, criterion", params)
    ]
