"""Tables of a run for people: the Runs page's summary, the Data page's instruction and
instance tables, and per-iteration progress for the Generate page's charts.

Built from the store in one read each, as pandas frames the pages show as they are.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from .config import RunConfig
from .pipeline import estimate_cost
from .store import InstructionRow, RunInfo, Store


def progress(rows: list[InstructionRow]) -> pd.DataFrame:
    """Per iteration: generated, kept, and dropped by reason (machine candidates only)."""
    per: dict[int, Counter[str]] = {}
    for r in rows:
        if r.origin != "machine" or r.iteration is None:
            continue
        c = per.setdefault(r.iteration, Counter())
        c["generated"] += 1
        c["kept" if r.verdict == "keep" else (r.reason or "dropped")] += 1
    frame = pd.DataFrame.from_dict(per, orient="index").fillna(0).astype(int).sort_index()
    frame.index.name = "iteration"
    if not frame.empty:
        frame["kept_total"] = frame["kept"].cumsum() if "kept" in frame else 0
    return frame


def run_summary(store: Store, run: RunInfo) -> dict[str, Any]:
    """One line of the runs table: size, cost and state."""
    counts = store.counts(run.id)
    usage = store.usage(run.id)
    try:
        cost = estimate_cost(usage, RunConfig.from_dict(run.config))
    except ValueError:
        cost = 0.0
    target = run.config.get("target") if run.kind == "generate" else None
    return {
        "id": run.id, "name": run.name, "kind": run.kind, "state": run.state, "status": run.status,
        "model": run.config.get("lm", {}).get("backend", ""), "seeds": counts["seeds"],
        "generated": counts["generated"], "kept": counts["kept"], "target": target,
        "iterations": counts["iterations"], "instances": counts["instances_kept"],
        "imported": counts.get("import", 0), "tokens": usage["tokens_in"] + usage["tokens_out"],
        "calls": usage["calls"], "cost_usd": cost,
    }


def instruction_table(store: Store, run_id: int) -> pd.DataFrame:
    """Every instruction of a run with its verdict, reason, scores and instance counts."""
    rows = store.instructions(run_id)
    kept: Counter[int] = Counter()
    total: Counter[int] = Counter()
    for i in store.instances(run_id=run_id):
        total[i.instruction_id] += 1
        kept[i.instruction_id] += i.verdict == "keep"
    return pd.DataFrame({
        "id": [r.id for r in rows],
        "seq": [r.seq for r in rows],
        "iteration": pd.array([r.iteration for r in rows], dtype="Int64"),
        "origin": [r.origin for r in rows],
        "instruction": [r.text for r in rows],
        "verdict": [r.verdict for r in rows],
        "reason": [r.reason or "" for r in rows],
        "detail": [r.detail for r in rows],
        "max_rouge": pd.array([r.max_rouge for r in rows], dtype="Float64"),
        "classification": pd.array([r.is_classification for r in rows], dtype="boolean"),
        "instances": [total[r.id] for r in rows],
        "instances_kept": [kept[r.id] for r in rows],
    })


def instances_table(store: Store, instruction_id: int) -> pd.DataFrame:
    rows = store.instances([instruction_id])
    return pd.DataFrame({
        "input": [i.input for i in rows], "output": [i.output for i in rows],
        "verdict": [i.verdict for i in rows], "reason": [i.reason or "" for i in rows],
        "detail": [i.detail for i in rows],
    })
