"""Filtered views: re-run the filters of a stored run with other settings, no LM call.

The novelty filter is order-dependent (a candidate kept at a looser threshold
joins the pool and may block later ones), so a view replays the run's
candidates in their original order over a similarity graph built once per
run (``novelty.WhatIfGraph``); the other filters are pure and re-run as they
are. A named view stores its settings; Analysis and Export read what it keeps.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from . import filters
from .config import FilterConfig, from_mapping
from .novelty import WhatIfGraph
from .novelty.whatif import Progress, work_share
from .progress_line import ProgressLine
from .records import Instance, Task
from .store import InstanceRow, InstructionRow, RunInfo, Store

MIN_THRESHOLD = 0.3
GRAPH_NAMESPACE = "whatif:v2"
_graphs: dict[tuple[str, int, int, int, str], WhatIfGraph] = {}
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


def _graph_key(store: Store, run: RunInfo, n_seeds: int, n_candidates: int,
               tokenizer: str) -> tuple[str, int, int, int, str]:
    return (str(store.path), run.id, n_seeds, n_candidates, tokenizer)


def graph(store: Store, run: RunInfo, seeds: Sequence[str], candidates: Sequence[str],
          tokenizer: str = "rouge", progress: Progress | None = None, ray: str | None = None) -> WhatIfGraph:
    """The run's similarity graph: from memory, else from the workspace, else built (once).

    Building costs about a second per thousand candidates, so the graph is kept
    in the workspace (as raw bytes: about 4 KB per candidate at paper scale).
    ``progress`` hears how a build advances (a graph read back says nothing).
    ``ray`` (a ``cluster.connect`` address) builds it on a Ray cluster: the same graph.
    """
    key = _graph_key(store, run, len(seeds), len(candidates), tokenizer)
    with _graphs_lock:
        if key in _graphs:
            return _graphs[key]
    ck = f"{run.id}:{len(seeds)}:{len(candidates)}:{tokenizer}:{MIN_THRESHOLD}"
    blob = store.get_blob(GRAPH_NAMESPACE, ck)
    if blob is not None:
        g = WhatIfGraph.from_bytes(blob)
    else:
        build = WhatIfGraph.build
        if ray is not None:
            from .cluster import connect
            from .novelty.sharded import whatif_graph as build

            connect(ray)
        g = build(seeds, candidates, min_threshold=MIN_THRESHOLD, tokenizer=tokenizer, progress=progress)
        store.put_blob(GRAPH_NAMESPACE, ck, g.to_bytes())
    with _graphs_lock:
        _graphs[key] = g
    return g


def graph_ready(store: Store, run: RunInfo, tokenizer: str = "rouge") -> bool:
    """Whether the run's graph is in memory, so a ``WhatIf`` only reads rows: the Filters
    page draws its controls live then, and otherwise disabled above a progress bar."""
    c = store.counts(run.id)
    with _graphs_lock:
        return _graph_key(store, run, c["seeds"], c["generated"], tokenizer) in _graphs


def prepare_graph(store: Store, run: RunInfo, tokenizer: str = "rouge",
                  show: Callable[[float, str], None] | None = None, ray: str | None = None) -> WhatIfGraph:
    """The run's graph (``graph``, on the Ray cluster at ``ray`` if given), its build reported to
    ``show(share, text)`` as ``GraphProgress`` says."""
    seeds = [r.text for r in store.instructions(run.id, origin="seed")]
    candidates = [r.text for r in store.instructions(run.id, origin="machine")]
    return graph(store, run, seeds, candidates, tokenizer,
                 GraphProgress(len(seeds), show) if show is not None else None, ray)


class GraphProgress(ProgressLine):
    """A graph build's progress line: later candidates weigh more (each is compared with every
    one before it), and at 100 % it says the graph is being stored, which takes a while too."""

    def __init__(self, n_seeds: int, show: Callable[[float, str], None], *, every: float = 0.25,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__("Similarity graph", "candidates", show, share=lambda d, t: work_share(d, t, n_seeds),
                         ending=" · keeping it in the workspace…", every=every, clock=clock)


class WhatIf:
    """Replays of one run's stored candidates under any filter setting, fast enough for a slider.

    The rows, instances and similarity graph are read once. The pure filters'
    verdicts are kept for the last setting of their own knobs, so moving the
    ROUGE-L slider only re-runs the greedy pass (a linear walk over the graph).
    Build a new one when the run's data changes.
    """

    def __init__(self, store: Store, run: RunInfo, tokenizer: str = "rouge"):
        self.run, self.tokenizer = run, tokenizer
        self.seeds = store.instructions(run.id, origin="seed")
        self.rows = store.instructions(run.id, origin="machine")
        self.instances: dict[int, list[InstanceRow]] = {}
        for inst in store.instances(run_id=run.id):
            self.instances.setdefault(inst.instruction_id, []).append(inst)
        self.graph = graph(store, run, [r.text for r in self.seeds], [r.text for r in self.rows], tokenizer)
        self._pre: dict[tuple[Any, ...], list[filters.Verdict]] = {}
        self._inst: dict[tuple[Any, ...], dict[int, list[bool]]] = {}

    def _prefilter(self, s: FilterConfig) -> list[filters.Verdict]:
        key = (s.min_words, s.max_words, tuple(s.blacklist), tuple(s.forbidden_prefixes),
               s.drop_punctuation_start, s.drop_non_ascii_start, s.drop_duplicates)
        if key not in self._pre:
            seen = {r.text.strip() for r in self.seeds}
            out = []
            for r in self.rows:
                v = filters.instruction_verdict(r.text, s, seen)
                if r.reason == filters.OVER_TARGET:  # never classified nor given instances
                    v = filters.Verdict.drop(filters.OVER_TARGET, r.detail)
                seen.add(r.text.strip())
                out.append(v)
            self._pre = {key: out}  # one setting at a time: the slider being moved
        return self._pre[key]

    def _instance_keep(self, s: FilterConfig) -> dict[int, list[bool]]:
        key = (s.drop_output_equals_input, s.drop_empty_output, s.drop_conflicting_outputs,
               s.drop_colon_ending, s.max_instances)
        if key not in self._inst:
            self._inst = {key: {
                r.id: [v.keep for v in filters.instance_verdicts(
                    [Instance(i.input, i.output) for i in self.instances.get(r.id, [])], s)]
                for r in self.rows
            }}
        return self._inst[key]

    def replay(self, settings: FilterConfig) -> Replay:
        """Keep/drop of every machine candidate under ``settings``, honouring the greedy order."""
        if settings.tokenizer != self.tokenizer:
            raise ValueError(f"this what-if was built for tokenizer {self.tokenizer!r}, not {settings.tokenizer!r}")
        if not MIN_THRESHOLD <= settings.rouge_threshold <= 1.0:
            raise ValueError(f"the ROUGE-L threshold must lie in [{MIN_THRESHOLD}, 1.0], got {settings.rouge_threshold}")
        pre = self._prefilter(settings)
        result = self.graph.run(settings.rouge_threshold, [v.keep for v in pre])
        keep, reason, detail = [], [], []
        for i, v in enumerate(pre):
            if not v.keep:
                keep.append(False), reason.append(v.reason), detail.append(v.detail)
            elif not result.kept[i]:
                keep.append(False), reason.append(filters.ROUGE_SIMILAR)
                detail.append(f"ROUGE-L {result.scores[i]:.3f} > {settings.rouge_threshold}")
            else:
                keep.append(True), reason.append(None), detail.append("")
        every = self._instance_keep(settings)
        instance_keep = {r.id: every[r.id] for r, k in zip(self.rows, keep) if k}
        counts = Counter(rs or "kept" for rs in reason)
        changed = [i for i, (r, k) in enumerate(zip(self.rows, keep)) if (r.verdict == "keep") != k]
        return Replay(self.rows, keep, reason, detail, list(result.scores), instance_keep, self.instances,
                      dict(counts), changed)


def replay(store: Store, run: RunInfo, settings: FilterConfig) -> Replay:
    """Keep/drop of every machine candidate under ``settings`` (one-off; the dashboard keeps a ``WhatIf``)."""
    return WhatIf(store, run, settings.tokenizer).replay(settings)


def save_view(store: Store, run: RunInfo, name: str, settings: FilterConfig) -> None:
    if not name.strip():
        raise ValueError("a view needs a name")
    store.save_view(run.id, name.strip(), asdict(settings))


def view_settings(store: Store, run: RunInfo, name: str) -> FilterConfig:
    return from_mapping(FilterConfig, store.view(run.id, name), f"view {name}")


@dataclass(frozen=True)
class Selected:
    """One instruction a run (or a view of it) keeps, with its kept instances in position order."""

    row: InstructionRow
    instances: tuple[InstanceRow, ...]

    def task(self) -> Task:
        """As a ``Task``, identified as it was imported (its external id) or else by its row id."""
        r = self.row
        return Task(id=r.external_id or str(r.id), instruction=r.text,
                    instances=tuple(Instance(i.input, i.output) for i in self.instances),
                    is_classification=r.is_classification, name=r.name, origin=r.origin)


def select(store: Store, run: RunInfo, view: str | None = None, *, include_seeds: bool = False) -> list[Selected]:
    """What a run keeps, in data set order: the one selection analysis, export, answering and
    translating share, so they all see the same instructions under the same ids.

    A generation run gives its kept machine instructions (its kept seeds first with
    ``include_seeds``), as the run decided them or, with ``view``, as the saved view's
    settings replay them; an imported or translated data set gives every kept record
    (views apply to generation runs only).
    """
    if run.kind != "generate":
        if view is not None:
            raise ValueError(f"run {run.name!r} is an {run.kind} data set; filtered views apply to generation runs")
        rows = store.instructions(run.id, verdict="keep")
    elif view is None:
        rows = store.instructions(run.id, origin=("seed", "machine") if include_seeds else "machine", verdict="keep")
    else:  # the view decides the machine instructions below
        rows = store.instructions(run.id, origin="seed", verdict="keep") if include_seeds else []
    kept: dict[int, list[InstanceRow]] = {}
    if rows:
        for inst in store.instances(run_id=run.id):
            if inst.verdict == "keep":
                kept.setdefault(inst.instruction_id, []).append(inst)
    out = [Selected(r, tuple(kept.get(r.id, ()))) for r in rows]
    if view is not None:
        rp = replay(store, run, view_settings(store, run, view))
        out += [Selected(r, tuple(i for i, ok in zip(rp.instances.get(r.id, []), rp.instance_keep[r.id]) if ok))
                for r, k in zip(rp.rows, rp.keep) if k]
    return out


def view_tasks(store: Store, run: RunInfo, view: str | None = None, *, include_seeds: bool = False) -> list[Task]:
    """What ``select`` keeps, as tasks with their kept instances."""
    return [s.task() for s in select(store, run, view, include_seeds=include_seeds)]
