"""Evaluation records: quality-question answers, A-D ratings and judge scores.

Each answer is written as soon as it is given (one small transaction), so a
reviewer who closes the tab, or a judge job that is interrupted, resumes
exactly where it stopped. Saving the same answer again replaces it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from .core import Store, StoreError

GRADES = ("A", "B", "C", "D")


@dataclass(frozen=True)
class ReviewAnswer:
    run_id: int
    instance_id: int
    rater: str
    question: int
    answer: bool
    call_id: int | None


@dataclass(frozen=True)
class Rating:
    set_id: int
    instance_id: int
    rater: str
    grade: str


@dataclass(frozen=True)
class Judgment:
    """A judge's scores: ``set_b`` is 0 when ``set_a``'s response was judged alone;
    otherwise ``set_a``'s response was shown first and ``set_b``'s second."""

    instance_id: int
    judge: str
    template: str
    set_a: int
    set_b: int
    score_a: float | None
    score_b: float | None
    call_id: int | None


# ---------------------------------------------------------------- reviews


def save_review_answers(store: Store, items: Sequence[ReviewAnswer]) -> None:
    for a in items:
        if not 1 <= a.question <= 4:
            raise StoreError(f"workspace {store.path}: review question must be 1-4, got {a.question}")
    now = time.time()
    with store.tx() as c:
        c.executemany(
            "INSERT INTO reviews(run_id, instance_id, rater, question, answer, call_id, created_at)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT(instance_id, rater, question) DO UPDATE SET"
            " answer = excluded.answer, call_id = excluded.call_id, created_at = excluded.created_at",
            [(a.run_id, a.instance_id, a.rater, a.question, int(a.answer), a.call_id, now) for a in items],
        )


def review_answers(store: Store, run_id: int, rater: str | None = None) -> list[ReviewAnswer]:
    sql, params = "SELECT * FROM reviews WHERE run_id = ?", [run_id]
    if rater is not None:
        sql += " AND rater = ?"
        params.append(rater)
    return [
        ReviewAnswer(r["run_id"], r["instance_id"], r["rater"], r["question"], bool(r["answer"]), r["call_id"])
        for r in store.query(sql + " ORDER BY instance_id, rater, question", params)
    ]


def review_raters(store: Store, run_id: int) -> list[str]:
    return [r[0] for r in store.query("SELECT DISTINCT rater FROM reviews WHERE run_id = ? ORDER BY rater", (run_id,))]


# ---------------------------------------------------------------- ratings


def save_rating(store: Store, set_id: int, instance_id: int, grade: str, rater: str = "human") -> None:
    if grade not in GRADES:
        raise StoreError(f"workspace {store.path}: a rating is one of {', '.join(GRADES)}, got {grade!r}")
    with store.tx() as c:
        c.execute(
            "INSERT INTO ratings(set_id, instance_id, rater, grade, created_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT(set_id, instance_id, rater) DO UPDATE SET grade = excluded.grade,"
            " created_at = excluded.created_at",
            (set_id, instance_id, rater, grade, time.time()),
        )


def ratings(store: Store, set_ids: Sequence[int], rater: str | None = None) -> list[Rating]:
    ids = list(set_ids)
    if not ids:
        return []
    sql = f"SELECT * FROM ratings WHERE set_id IN ({','.join('?' * len(ids))})"
    params: list[object] = list(ids)
    if rater is not None:
        sql += " AND rater = ?"
        params.append(rater)
    return [
        Rating(r["set_id"], r["instance_id"], r["rater"], r["grade"])
        for r in store.query(sql + " ORDER BY set_id, instance_id", params)
    ]


# ---------------------------------------------------------------- judge scores


def save_judgments(store: Store, items: Sequence[Judgment]) -> None:
    now = time.time()
    with store.tx() as c:
        c.executemany(
            "INSERT INTO judgments(instance_id, judge, template, set_a, set_b, score_a, score_b, call_id,"
            " created_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(instance_id, judge, template, set_a, set_b)"
            " DO UPDATE SET score_a = excluded.score_a, score_b = excluded.score_b,"
            " call_id = excluded.call_id, created_at = excluded.created_at",
            [(j.instance_id, j.judge, j.template, j.set_a, j.set_b, j.score_a, j.score_b, j.call_id, now)
             for j in items],
        )


def judgments(
    store: Store, set_ids: Sequence[int], *, judge: str | None = None, template: str | None = None,
    paired: bool | None = None,
) -> list[Judgment]:
    """Judgments whose first set is one of ``set_ids`` (``paired``: only pairs / only singles)."""
    ids = list(set_ids)
    if not ids:
        return []
    sql = f"SELECT * FROM judgments WHERE set_a IN ({','.join('?' * len(ids))})"
    params: list[object] = list(ids)
    for col, value in (("judge", judge), ("template", template)):
        if value is not None:
            sql += f" AND {col} = ?"
            params.append(value)
    if paired is not None:
        sql += " AND set_b != 0" if paired else " AND set_b = 0"
    return [
        Judgment(r["instance_id"], r["judge"], r["template"], r["set_a"], r["set_b"], r["score_a"],
                 r["score_b"], r["call_id"])
        for r in store.query(sql + " ORDER BY id", params)
    ]


def judges(store: Store, set_ids: Sequence[int], *, paired: bool | None = None) -> list[tuple[str, str, int]]:
    """(judge, template, how many judgments) over the given sets, most used first
    (``paired``: only pairwise / only single judgments)."""
    ids = list(set_ids)
    if not ids:
        return []
    kind = "" if paired is None else " AND set_b != 0" if paired else " AND set_b = 0"
    return [
        (r[0], r[1], r[2])
        for r in store.query(
            f"SELECT judge, template, COUNT(*) FROM judgments WHERE set_a IN ({','.join('?' * len(ids))}){kind}"
            " GROUP BY judge, template ORDER BY COUNT(*) DESC, judge", ids,
        )
    ]
