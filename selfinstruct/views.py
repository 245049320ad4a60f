"""Filtered views: re-run the filters of a stored run with other settings, no LM call.

The novelty filter is order-dependent (a candidate kept at a looser threshold
joins the pool and may block later ones), so a view replays the run's
candidates in their original order over a similarity graph built once per
run (``novelty.WhatIfGraph``); the other filters are pure and re-run as they
are. A named view stores its settings; Analysis and Export read what it keeps.
"""

from __future__ import annotations

import base64
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from . import filters
from .config import FilterConfig, from_mapping
from .novelty import WhatIfGraph
from .records import Instance, Task
from .store import InstanceRow, InstructionRow, RunInfo, Store

MIN_THRESHOLD = 0.3
_graphs: dict[tuple[str, int, int, str], WhatIfGraph] = {}
_graphs_lock = threading.Lock()


@dataclass
class Replay:
    """What a filter setting keeps of a run's machine candidates, in arrival order."""

    rows: list[InstructionRow]
    keep: list[bool]
    reason: list[str | None]
    detail: list[str]
    score: list[float]
    instance_keep: dict[int, list[bool]]
    instances: dict[int, list[InstanceRow]]
    counts: dict[str, int]
    changed: list[int]

    @property
    def kept(self) -> int:
        return sum(self.keep)


def graph(store: Store, run: RunInfo, tokenizer: str = "rouge") -> WhatIfGraph:
    """The run's similarity graph: from memory, else from the workspace cache, else built (once)."""
    seeds = [r.text for r in store.instructions(run.id, origin="seed")]
    cands = [r.text for r in store.instructions(run.id, origin="machine")]
    key = (str(store.path), run.id, len(cands), tokenizer)
    with _graphs_lock:
        if key in _graphs:
            return _graphs[key]
    ns, ck = "whatif:v1", f"{run.id}:{len(seeds)}:{len(cands)}:{tokenizer}:{MIN_THRESHOLD}"
    cached = store.get_many(ns, [ck]).get(ck)
    if cached is not None:
        g = WhatIfGraph.from_bytes(base64.b64decode(cached))
    else:
        g = WhatIfGraph.build(seeds, cands, min_threshold=MIN_THRESHOLD, tokenizer=tokenizer)
        store.put_many(ns, {ck: base64.b64encode(g.to_bytes()).decode("ascii")})
    with _graphs_lock:
        _graphs[key] = g
    return g


def replay(store: Store, run: RunInfo, settings: FilterConfig) -> Replay:
    """Keep/drop of every machine candidate under ``settings``, honouring the greedy order."""
    if not MIN_THRESHOLD <= settings.rouge_threshold <= 1.0:
        raise ValueError(f"the ROUGE-L threshold must lie in [{MIN_THRESHOLD}, 1.0], got {settings.rouge_threshold}")
    seeds = store.instructions(run.id, origin="seed")
    rows = store.instructions(run.id, origin="machine")
    seen = {r.text.strip() for r in seeds}
    eligible: list[bool] = []
    pre: list[filters.Verdict] = []
    for r in rows:
        v = filters.instruction_verdict(r.text, settings, seen)
        if r.reason == filters.OVER_TARGET:
            v = filters.Verdict.drop(filters.OVER_TARGET, r.detail)
        seen.add(r.text.strip())
        pre.append(v)
        eligible.append(v.keep)
    result = graph(store, run, settings.tokenizer).run(settings.rouge_threshold, eligible)
    keep, reason, detail = [], [], []
    for i, v in enumerate(pre):
        if not v.keep:
            keep.append(False), reason.append(v.reason), detail.append(v.detail)
        elif not result.kept[i]:
            keep.append(False), reason.append(filters.ROUGE_SIMILAR)
            detail.append(f"ROUGE-L {result.scores[i]:.3f} > {settings.rouge_threshold}")
        else:
            keep.append(True), reason.append(None), detail.append("")
    by_instr: dict[int, list[InstanceRow]] = {}
    for inst in store.instances(run_id=run.id):
        by_instr.setdefault(inst.instruction_id, []).append(inst)
    instance_keep = {
        r.id: [v.keep for v in filters.instance_verdicts(
            [Instance(i.input, i.output) for i in by_instr.get(r.id, [])], settings)]
        for r, k in zip(rows, keep) if k
    }
    counts = Counter(rs or "kept" for rs in reason)
    changed = [i for i, (r, k) in enumerate(zip(rows, keep)) if (r.verdict == "keep") != k]
    return Replay(rows, keep, reason, detail, list(result.scores), instance_keep, by_instr, dict(counts), changed)


def save_view(store: Store, run: RunInfo, name: str, settings: FilterConfig) -> None:
    if not name.strip():
        raise ValueError("a view needs a name")
    store.save_view(run.id, name.strip(), asdict(settings))


def view_settings(store: Store, run: RunInfo, name: str) -> FilterConfig:
    return from_mapping(FilterConfig, store.view(run.id, name), f"view {name}")


def view_tasks(store: Store, run: RunInfo, view: str | None = None) -> list[Task]:
    """What a view keeps, as tasks with their kept instances (None: the verdicts stored by the run).

    For a generation run these are its kept machine instructions; for imported
    or translated data sets, every kept record.
    """
    origin: Any = "machine" if run.kind == "generate" else None
    if view is None:
        return store.tasks(run.id, origin=origin)
    settings = view_settings(store, run, view)
    if run.kind != "generate":
        raise ValueError(f"run {run.name!r} is an {run.kind} data set; filtered views apply to generation runs")
    rp = replay(store, run, settings)
    out = []
    for r, k in zip(rp.rows, rp.keep):
        if not k:
            continue
        insts = rp.instances.get(r.id, [])
        kept = tuple(Instance(i.input, i.output) for i, ok in zip(insts, rp.instance_keep[r.id]) if ok)
        out.append(Task(id=str(r.id), instruction=r.text, instances=kept,
                        is_classification=r.is_classification, origin=r.origin))
    return out
