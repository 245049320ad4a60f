"""Integrity checks of a workspace: what ``python -m selfinstruct check`` verifies.

Each check returns the problems it found as sentences; an empty list means
the workspace is consistent. They are what a crash, a kill or a full disk
must never break.
"""

from __future__ import annotations

import json
from typing import Callable

from .core import Store


def _sqlite(store: Store) -> list[str]:
    out = [f"SQLite integrity: {r[0]}" for r in store.query("PRAGMA integrity_check") if r[0] != "ok"]
    out += [f"foreign key broken: {r[0]} row {r[1]} -> {r[2]}" for r in store.query("PRAGMA foreign_key_check")]
    return out


def _duplicate_instructions(store: Store) -> list[str]:
    rows = store.query(
        "SELECT run_id, text, COUNT(*) AS n FROM instructions WHERE verdict = 'keep'"
        " AND origin IN ('seed', 'machine') GROUP BY run_id, text HAVING n > 1"
    )
    return [f"run {r['run_id']}: instruction kept {r['n']} times: {r['text'][:80]!r}" for r in rows]


def _instances(store: Store) -> list[str]:
    rows = store.query(
        "SELECT i.id, t.run_id FROM instances i JOIN instructions t ON t.id = i.instruction_id"
        " WHERE i.verdict = 'keep' AND t.verdict != 'keep'"
    )
    return [f"run {r['run_id']}: kept instance {r['id']} belongs to a dropped instruction" for r in rows]


def _iterations(store: Store) -> list[str]:
    out = []
    for run in store.query("SELECT id, config FROM runs WHERE kind = 'generate'"):
        its = [r[0] for r in store.query("SELECT iteration FROM iterations WHERE run_id = ? ORDER BY iteration", (run["id"],))]
        if its != list(range(1, len(its) + 1)):
            out.append(f"run {run['id']}: iterations are not numbered 1..{len(its)}: {its[:10]}")
        stray = store.scalar(
            "SELECT COUNT(*) FROM instructions WHERE run_id = ? AND origin = 'machine'"
            " AND iteration NOT IN (SELECT iteration FROM iterations WHERE run_id = ?)", (run["id"], run["id"]))
        if stray:
            out.append(f"run {run['id']}: {stray} instructions belong to no completed iteration")
        unprompted = store.scalar(
            "SELECT COUNT(*) FROM iterations it WHERE run_id = ? AND NOT EXISTS"
            " (SELECT 1 FROM prompts p WHERE p.run_id = it.run_id AND p.iteration = it.iteration)", (run["id"],))
        if unprompted:
            out.append(f"run {run['id']}: {unprompted} completed iterations have no stored prompt")
        bad_calls = store.scalar(
            "SELECT COUNT(*) FROM prompts p LEFT JOIN lm_calls c ON c.id = p.call_id"
            " WHERE p.run_id = ? AND (c.id IS NULL OR c.error IS NOT NULL)", (run["id"],))
        if bad_calls:
            out.append(f"run {run['id']}: {bad_calls} prompts point at a missing or failed LM call")
    return out


def _calls(store: Store) -> list[str]:
    out = []
    twice = store.query(
        "SELECT cache_key, COUNT(*) AS n FROM lm_calls WHERE error IS NULL GROUP BY cache_key HAVING n > 1"
    )
    out += [f"LM call paid {r['n']} times for one cached request ({r['cache_key'][:12]})" for r in twice]
    unretried = store.query(
        "SELECT f.id, f.run_id FROM lm_calls f JOIN runs r ON r.id = f.run_id WHERE f.error IS NOT NULL"
        " AND r.state = 'done' AND r.kind IN ('generate', 'translation') AND NOT EXISTS (SELECT 1 FROM lm_calls ok WHERE ok.cache_key = f.cache_key"
        " AND ok.error IS NULL AND ok.id > f.id)"
    )
    # 'done' means its LM work is finished only for the runs an LM makes; an imported set's
    # answers and judgments are jobs of their own, which report what is missing themselves
    out += [f"run {r['run_id']}: failed LM call {r['id']} was never retried although the run is done"
            for r in unretried]
    return out


def _counts(store: Store) -> list[str]:
    out = []
    for run in store.query("SELECT id, state, config FROM runs WHERE kind = 'generate' AND state = 'done'"):
        target = json.loads(run["config"]).get("target", 0)
        kept = store.scalar("SELECT COUNT(*) FROM instructions WHERE run_id = ? AND origin = 'machine'"
                            " AND verdict = 'keep'", (run["id"],))
        if kept < target:
            out.append(f"run {run['id']}: marked done with {kept} kept instructions, below its target {target}")
    seqs = store.query("SELECT run_id, COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi FROM instructions GROUP BY run_id")
    out += [f"run {r['run_id']}: instruction order has gaps ({r['n']} rows, seq {r['lo']}..{r['hi']})"
            for r in seqs if r["hi"] - r["lo"] + 1 != r["n"]]
    return out


CHECKS: dict[str, Callable[[Store], list[str]]] = {
    "sqlite": _sqlite,
    "duplicate instructions": _duplicate_instructions,
    "instances": _instances,
    "iterations": _iterations,
    "LM calls": _calls,
    "counts": _counts,
}


def check(store: Store) -> dict[str, list[str]]:
    """Every check's problems by check name."""
    return {name: fn(store) for name, fn in CHECKS.items()}
