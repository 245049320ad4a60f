"""Tables of a run for people: the Runs page's summary, the Data page's instruction and
instance tables, per-iteration progress for the Generate page's charts, and the Evaluate
page's judge scores per response set.

Built from the store in one read each, as pandas frames the pages show as they are.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from selfinstruct.filter_views import select
from selfinstruct.pipeline import run_costs
from selfinstruct.store import InstructionRow, RunInfo, Store
from selfinstruct.store.evals import judgments


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


def run_model(run: RunInfo) -> str:
    """The model a run was made with: a generation run's backend (the model name for an
    endpoint), the model a translation ran with; '' when the run records none (an import)."""
    lm = run.config.get("lm")
    if isinstance(lm, dict):
        backend = str(lm.get("backend", ""))
        return str(lm.get("model") or backend) if backend == "openai" else backend
    return str(run.config.get("model") or "")


def run_summary(store: Store, run: RunInfo) -> dict[str, Any]:
    """One line of the runs table: size, cost and state, counted the way the run's kind means.

    A generation run counts its seeds, its machine candidates and what it kept of them; an
    import or translation run has neither seeds nor candidates, so ``kept`` and ``instances``
    count its tasks and their instances (columns that do not apply are None, not 0).
    ``tokens`` counts every call of the run; ``cost`` prices them where prices are known
    (``pipeline.run_costs``) and says "unknown" for the rest; ``cost_usd`` is the whole cost,
    None when some calls' prices are unknown.
    """
    usage = store.usage(run.id)
    cost = run_costs(store, run)
    row: dict[str, Any] = {"id": run.id, "name": run.name, "kind": run.kind, "state": run.state,
                           "language": run.language, "seeds": None, "generated": None, "kept": None,
                           "target": None, "iterations": None, "instances": None}
    if run.kind == "generate":
        counts = store.counts(run.id)
        row |= {"seeds": counts["seeds"], "generated": counts["generated"], "kept": counts["kept"],
                "target": run.config.get("target"), "iterations": counts["iterations"],
                "instances": counts["instances_kept"]}
    else:
        kept = select(store, run)
        row |= {"kept": len(kept), "instances": sum(len(s.instances) for s in kept)}
    return row | {"model": run_model(run), "tokens": usage["tokens_in"] + usage["tokens_out"],
                  "calls": usage["calls"], "cost": cost.describe(), "cost_usd": cost.total,
                  "unpriced_tokens": cost.unpriced_tokens, "status": run.status}


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


def judge_table(store: Store, set_ids: dict[str, int], *, judge: str, template: str | None,
                paired: bool) -> pd.DataFrame:
    """Per response set (name -> id): responses ``judge`` scored with ``template`` (an id;
    None: any), how many of its answers held no readable score, and the mean readable score.

    Only the latest judgment of each (instance, order) counts, as in ``judge.relative_scores``;
    pairwise judgments count for both sets of the pair.
    """
    latest = {(j.instance_id, j.set_a, j.set_b): j
              for j in judgments(store, list(set_ids.values()), judge=judge, template=template, paired=paired)}
    rows = []
    for name, sid in set_ids.items():
        scores, unreadable = [], 0
        for j in latest.values():
            for side, score in ((j.set_a, j.score_a), (j.set_b, j.score_b)):
                if side == sid:
                    if score is None:
                        unreadable += 1
                    else:
                        scores.append(score)
        rows.append({"set": name, "judged": len(scores) + unreadable, "unreadable": unreadable,
                     "mean score": round(sum(scores) / len(scores), 2) if scores else None})
    return pd.DataFrame(rows, columns=["set", "judged", "unreadable", "mean score"])
