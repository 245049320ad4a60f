"""Nested random subsets of a run's kept data, for the Self-Instruct data-size experiment
(fine-tune on growing subsets, evaluate each, plot the metric against the size).

One seeded permutation of the exported instructions; each subset is a prefix of it, so every
subset holds all the smaller ones and the same seed always gives the same files. Sizes count
instructions (each with all its kept instances), as the paper does. Each subset is an ordinary
export (``export_run``) with a ``subset`` section in its manifest, and ``subsets.json`` in the
folder lists them all.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..records import Task
from ..store import RunInfo, Store
from . import files
from .catalog import resolve
from .exporting import ExportOptions, ExportRefused, ExportResult, export_run

DOUBLING = "doubling"
INDEX = "subsets.json"


def subset_sizes(spec: str, total: int, start: int) -> list[int]:
    """The sizes ``spec`` asks for, ascending: "doubling" (``start``, 2x, 4x, ... below
    ``total``, then ``total``) or a comma-separated list of sizes from 1 to ``total``."""
    if total < 1:
        raise ExportRefused("no instruction with a kept instance to draw subsets from")
    if spec.strip().lower() == DOUBLING:
        if start < 1:
            raise ExportRefused("--subsets doubling starts from the run's seed count, and this run has no seed "
                                "task: give the sizes instead (e.g. --subsets 100,200,400)")
        sizes, size = [], start
        while size < total:
            sizes.append(size)
            size *= 2
        return sizes + [total]
    try:
        sizes = sorted({int(part) for part in spec.split(",") if part.strip()})
    except ValueError:
        raise ExportRefused(f"--subsets {spec!r}: give sizes as whole numbers separated by commas, "
                            "or 'doubling'") from None
    if not sizes or sizes[0] < 1 or sizes[-1] > total:
        raise ExportRefused(f"--subsets {spec!r}: sizes must be between 1 and {total:,}, the instructions "
                            "with a kept instance")
    return sizes


def nested_order(tasks: Sequence[Task], seed: int) -> list[Task]:
    """``tasks`` in one seeded random order whose prefixes are the subsets; the order depends
    on the tasks themselves (sorted by id and content first), not on how they were read."""
    ordered = sorted(tasks, key=lambda t: (t.id, t.instruction, t.instances))
    random.Random(seed).shuffle(ordered)
    return ordered


def fingerprint(tasks: Sequence[Task]) -> str:
    """A hash of the subset's content (ids, instructions, instances, in order), to tell two
    subsets apart when ids repeat across imported files."""
    h = hashlib.sha256()
    for t in tasks:
        h.update(repr((t.id, t.instruction, [(i.input, i.output) for i in t.instances])).encode("utf-8"))
    return "sha256:" + h.hexdigest()


@dataclass
class SubsetsResult:
    folder: Path
    index_path: Path
    sizes: list[int]
    results: list[ExportResult]


def subset_name(size: int, suffix: str) -> str:
    return f"subset-{size:06d}{suffix}"


def export_subsets(
    store: Store,
    run: RunInfo | str | None,
    *,
    fmt: str,
    out: str | Path,
    sizes: str,
    seed: int = 0,
    view: str | None = None,
    responses: str | None = None,
    options: ExportOptions | None = None,
) -> SubsetsResult:
    """Write nested subsets of what ``export_run`` would export into the folder ``out``:
    ``subset-000100.jsonl`` (a folder for hf) with its manifest for each size, and ``subsets.json``."""
    from ..filter_views import view_tasks

    f = resolve(fmt)
    info = run if isinstance(run, RunInfo) else store.run(run) if run else store.default_run()
    if not str(out).strip():
        raise ExportRefused("the output folder is empty; name the folder the subsets go to")
    usable = [t for t in view_tasks(store, info, view) if t.instances]
    n_seeds = len(store.tasks(info.id, origin="seed"))
    wanted = subset_sizes(sizes, len(usable), n_seeds)
    order = nested_order(usable, seed)
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ExportRefused(f"{folder}: is a file (or under one); --subsets writes a folder of files") from None
    results = []
    for size in wanted:
        subset = order[:size]
        results.append(export_run(
            store, info, fmt=f.name, out=folder / subset_name(size, f.suffix), view=view, responses=responses,
            options=options, tasks=subset, subset={
                "size": size, "seed": seed, "of": len(usable), "sizes": wanted, "source_run": info.name,
                "ids": [t.id for t in subset], "fingerprint": fingerprint(subset),
                "nested": "each subset is a prefix of one seeded permutation, so it holds every smaller one"}))
    index = {"run": info.name, "run_id": info.id, "view": view, "responses": responses, "format": f.name,
             "seed": seed, "of": len(usable), "sizes": wanted,
             "subsets": [{"size": s, "path": r.path.name, "manifest": r.manifest_path.relative_to(folder).as_posix(),
                          "records": r.manifest["counts"]["records"]} for s, r in zip(wanted, results)]}
    index_path = folder / INDEX
    with files.atomic_file(index_path) as tmp:
        files.write_json(tmp, index)
    return SubsetsResult(folder, index_path, wanted, results)


def subset_summary(result: SubsetsResult) -> list[dict[str, Any]]:
    """One row per subset for people: size, records written and where."""
    return [{"size": s, "records": r.manifest["counts"]["records"], "path": str(r.path)}
            for s, r in zip(result.sizes, result.results)]
