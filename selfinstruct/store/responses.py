"""Response sets: named, alternative outputs for a run's instances.

A response set answers the same (instruction, input) pairs as the run, e.g. a
stronger model's re-answers or a tuned model's predictions under evaluation;
the original output stays on the instance, so both can be compared, judged,
exported, or paired for a reward model.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Sequence

from .core import Store, StoreError


@dataclass(frozen=True)
class ResponseSet:
    id: int
    run_id: int
    name: str
    model: str
    kind: str
    config: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class ResponseRow:
    """One response with what it answers: the instruction, the input and the original output."""

    id: int
    set_id: int
    instance_id: int
    instruction_id: int
    instruction: str
    input: str
    reference: str
    text: str
    call_id: int | None
    finish_reason: str | None


def create_response_set(
    store: Store, run_id: int, name: str, *, model: str = "", kind: str = "answer",
    config: dict[str, Any] | None = None,
) -> ResponseSet:
    """Create a response set, or return the existing one of that name (resuming it)."""
    with store.tx() as c:
        c.execute(
            "INSERT INTO response_sets(run_id, name, model, kind, config, created_at) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(run_id, name) DO NOTHING",
            (run_id, name, model, kind, json.dumps(config or {}), time.time()),
        )
    return response_set(store, run_id, name)


def response_set(store: Store, run_id: int, name: str) -> ResponseSet:
    found = find_response_set(store, run_id, name)
    if found is None:
        known = ", ".join(s.name for s in response_sets(store, run_id)) or "none"
        raise StoreError(f"workspace {store.path}: run {store.run(run_id).name!r} has no response set {name!r} "
                         f"(sets: {known})")
    return found


def find_response_set(store: Store, run_id: int, name: str) -> ResponseSet | None:
    """The set of that name, or None: for callers that must not resume an existing set."""
    rows = store.query("SELECT * FROM response_sets WHERE run_id = ? AND name = ?", (run_id, name))
    return _set(rows[0]) if rows else None


def response_sets(store: Store, run_id: int) -> list[ResponseSet]:
    return [_set(r) for r in store.query("SELECT * FROM response_sets WHERE run_id = ? ORDER BY id", (run_id,))]


def save_responses(store: Store, set_id: int, items: Sequence[tuple[int, str, int | None, str | None]]) -> None:
    """Store (instance_id, text, call_id, finish_reason) answers in one transaction; re-saving replaces."""
    with store.tx() as c:
        _upsert(c, set_id, items)


def replace_responses(
    store: Store, set_id: int, items: Sequence[tuple[int, str, int | None, str | None]], config: dict[str, Any],
) -> None:
    """Swap a set's whole content for ``items`` in one transaction, dropping the judge scores,
    ratings and HHH verdicts of the old texts: a score must never attach to a text it did not judge."""
    with store.tx() as c:
        c.execute("DELETE FROM judgments WHERE set_a = ? OR set_b = ?", (set_id, set_id))
        c.execute("DELETE FROM ratings WHERE set_id = ?", (set_id,))
        c.execute("DELETE FROM hhh_judgements WHERE set_1 = ? OR set_2 = ?", (set_id, set_id))
        c.execute("DELETE FROM responses WHERE set_id = ?", (set_id,))
        c.execute("UPDATE response_sets SET config = ?, created_at = ? WHERE id = ?",
                  (json.dumps(config), time.time(), set_id))
        _upsert(c, set_id, items)


def _upsert(c: Any, set_id: int, items: Sequence[tuple[int, str, int | None, str | None]]) -> None:
    now = time.time()
    c.executemany(
        "INSERT INTO responses(set_id, instance_id, text, call_id, finish_reason, created_at)"
        " VALUES (?,?,?,?,?,?) ON CONFLICT(set_id, instance_id) DO UPDATE SET text = excluded.text,"
        " call_id = excluded.call_id, finish_reason = excluded.finish_reason, created_at = excluded.created_at",
        [(set_id, iid, text, call_id, fr, now) for iid, text, call_id, fr in items],
    )


def responses(store: Store, set_id: int) -> list[ResponseRow]:
    rows = store.query(
        "SELECT r.*, i.instruction_id, i.input, i.output AS reference, t.text AS instruction"
        " FROM responses r JOIN instances i ON i.id = r.instance_id JOIN instructions t ON t.id = i.instruction_id"
        " WHERE r.set_id = ? ORDER BY t.seq, i.position",
        (set_id,),
    )
    return [
        ResponseRow(
            id=r["id"], set_id=r["set_id"], instance_id=r["instance_id"], instruction_id=r["instruction_id"],
            instruction=r["instruction"], input=r["input"], reference=r["reference"], text=r["text"],
            call_id=r["call_id"], finish_reason=r["finish_reason"],
        )
        for r in rows
    ]


def answered_instance_ids(store: Store, set_id: int) -> set[int]:
    """Instances that already have an answer in the set: what a resumed job skips."""
    return {r[0] for r in store.query("SELECT instance_id FROM responses WHERE set_id = ?", (set_id,))}


def note_prices(store: Store, set_id: int, price_in_per_1m: float, price_out_per_1m: float) -> None:
    """Add the prices a job on the set starts with to its config's ``prices`` (from now on),
    so each call stays priced as it was made when a resumed job pays others; unchanged
    prices add nothing."""
    with store.tx() as c:
        config = json.loads(c.execute("SELECT config FROM response_sets WHERE id = ?", (set_id,)).fetchone()[0])
        prices = config.setdefault("prices", [])
        if prices and (prices[-1]["in"], prices[-1]["out"]) == (price_in_per_1m, price_out_per_1m):
            return
        prices.append({"since": time.time(), "in": price_in_per_1m, "out": price_out_per_1m})
        c.execute("UPDATE response_sets SET config = ? WHERE id = ?", (json.dumps(config), set_id))


def set_calls(store: Store, run_id: int) -> list[dict[str, Any]]:
    """The successful LM calls made in run ``run_id`` that answers of its response sets come
    from, once per set holding them: what answering the sets paid for. ``prompt`` and ``text``
    are there only when the endpoint reported no token count, to estimate it as ``answer`` does."""
    return [dict(r) for r in store.query(
        "SELECT DISTINCT r.set_id, c.id, c.tokens_in, c.tokens_out, c.created_at,"
        " CASE WHEN c.tokens_in > 0 THEN NULL ELSE c.prompt END AS prompt,"
        " CASE WHEN c.tokens_out > 0 THEN NULL ELSE c.text END AS text"
        " FROM responses r JOIN response_sets s ON s.id = r.set_id JOIN lm_calls c ON c.id = r.call_id"
        " WHERE s.run_id = ? AND c.run_id = ? AND c.error IS NULL ORDER BY c.id",
        (run_id, run_id),
    )]


def _set(r: Any) -> ResponseSet:
    return ResponseSet(
        id=r["id"], run_id=r["run_id"], name=r["name"], model=r["model"], kind=r["kind"],
        config=json.loads(r["config"]), created_at=r["created_at"],
    )
