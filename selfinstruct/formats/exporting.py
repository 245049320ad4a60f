"""Write what a run (or one of its filtered views) keeps in a fine-tuning format, with a manifest.

An export holds exactly the tasks ``views.view_tasks`` returns: without a view,
the stored verdicts (a generation run's kept machine instructions with their
kept instances; every kept record of an imported run). Instructions with no
kept instance cannot become a training example: they are left out and counted.
The manifest (``<out>.manifest.json``, or ``manifest.json`` inside a data set
folder) records the counts and where the data came from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from .. import __version__
from ..records import Instance, Task
from ..store import RunInfo, Store
from . import codecs, files, gpt3
from .card import data_card
from .catalog import Format, resolve


@dataclass
class ExportOptions:
    """Choices that shape the records: the GPT-3 encoding's seed and instance cap, a chat system prompt."""

    seed: int = 42
    max_instances: int = 5
    system: str = ""


@dataclass
class ExportResult:
    path: Path
    manifest_path: Path
    manifest: dict[str, Any]


def manifest_path(fmt: Format, out: Path) -> Path:
    return out / "manifest.json" if fmt.folder else out.with_name(out.name + ".manifest.json")


def config_hash(config: dict[str, Any]) -> str:
    """A short fingerprint of a run's config, to tell exports of differently made data apart."""
    return "sha256:" + hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def with_responses(store: Store, run: RunInfo, tasks: Sequence[Task], set_name: str) -> tuple[list[Task], int, dict[str, Any]]:
    """``tasks`` with each instance's output replaced by the response set's answer.

    Instances the set has not answered are left out; returns the tasks, how many
    instances were left out, and a description of the set.
    """
    from ..store.responses import response_set, responses

    rset = response_set(store, run.id, set_name)
    answers = {(r.instruction, r.input, r.reference): r.text for r in responses(store, rset.id)}
    out, missing = [], 0
    for t in tasks:
        kept = []
        for inst in t.instances:
            text = answers.get((t.instruction, inst.input, inst.output))
            if text is None:
                missing += 1
            else:
                kept.append(Instance(inst.input, text))
        out.append(replace(t, instances=tuple(kept)))
    return out, missing, {"name": rset.name, "model": rset.model, "kind": rset.kind}


def write_tasks(tasks: Sequence[Task], fmt: Format, target: Path, options: ExportOptions) -> dict[str, Any]:
    """Write ``tasks`` (all of which have instances) to ``target`` (a temporary path); returns counts."""
    counts: dict[str, Any] = {}
    if fmt.name == "gpt3":
        enc = gpt3.encode(tasks, seed=options.seed, max_instances=options.max_instances)
        counts["records"] = files.write_jsonl(target, enc.pairs)
        counts["instances_dropped_by_encoding"] = dict(sorted(enc.dropped.items()))
        counts["instructions_without_valid_instances"] = enc.tasks_without_instances
    elif fmt.name in {"chat", "sharegpt"}:
        pairs = list(codecs.flat(tasks))
        ok = [(t, n) for t, n in pairs if codecs.chatable(t, n)]
        counts["instances_skipped_empty"] = len(pairs) - len(ok)
        if fmt.name == "chat":
            counts["records"] = files.write_jsonl(target, (codecs.chat_record(t, n, options.system) for t, n in ok))
        else:
            counts["records"] = files.write_json_array(
                target, (codecs.sharegpt_record(t, n, options.system) for t, n in ok))
    elif fmt.name == "alpaca":
        counts["records"] = files.write_json_array(target, (codecs.alpaca_record(t, n) for t, n in codecs.flat(tasks)))
    elif fmt.name == "alpaca-jsonl":
        counts["records"] = files.write_jsonl(target, (codecs.alpaca_record(t, n) for t, n in codecs.flat(tasks)))
    elif fmt.name == "csv":
        counts["records"] = files.write_csv(target, (codecs.table_record(t, n) for t, n in codecs.flat(tasks)))
    elif fmt.name == "seeds":
        from ..seeds import task_to_json

        counts["records"] = files.write_jsonl(target, (task_to_json(t) for t in tasks))
    elif fmt.name == "hf":
        (target / "data").mkdir()
        counts["records"] = files.write_parquet(
            target / "data" / "train-00000-of-00001.parquet", [codecs.table_record(t, n) for t, n in codecs.flat(tasks)])
    else:
        raise ValueError(f"format {fmt.name!r} has no writer")
    return counts


def export_run(
    store: Store,
    run: RunInfo | str | None,
    *,
    fmt: str,
    out: str | Path,
    view: str | None = None,
    responses: str | None = None,
    options: ExportOptions | None = None,
    tasks: Sequence[Task] | None = None,
) -> ExportResult:
    """Export a run (default: the newest) to ``out``; atomic, with a manifest beside it.

    ``tasks`` overrides the selection (the caller already holds what the view
    keeps, e.g. the dashboard); otherwise ``views.view_tasks`` decides.
    """
    from ..views import view_settings, view_tasks

    f = resolve(fmt)
    options = options or ExportOptions()
    info = run if isinstance(run, RunInfo) else store.run(run) if run else store.default_run()
    target = Path(out)
    selected = list(tasks) if tasks is not None else view_tasks(store, info, view)
    counts: dict[str, Any] = {"instructions_selected": len(selected)}
    rset = None
    if responses:
        selected, counts["instances_without_response"], rset = with_responses(store, info, selected, responses)
    usable = [t for t in selected if t.instances]
    counts["instructions_without_instances"] = len(selected) - len(usable)
    counts["instructions_exported"] = len(usable)
    counts["instances_exported"] = sum(len(t.instances) for t in usable)
    filters = asdict(view_settings(store, info, view)) if view else info.config.get("filters")
    manifest: dict[str, Any] = {
        "format": f.name,
        "workspace": str(Path(store.path).resolve()),
        "run": info.name,
        "run_id": info.id,
        "run_kind": info.kind,
        "view": view,
        "responses": rset,
        "language": info.language,
        "config_hash": config_hash(info.config),
        "filters": filters,
        "options": asdict(options),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tool": f"selfinstruct {__version__}",
        "counts": counts,
    }
    mpath = manifest_path(f, target)
    if f.folder:
        with files.atomic_dir(target) as tmp:
            counts.update(write_tasks(usable, f, tmp, options))
            (tmp / "README.md").write_text(data_card(usable, manifest, info.config, filters), encoding="utf-8")
            files.write_json(tmp / "manifest.json", manifest)
    else:
        with files.atomic_file(mpath) as mtmp, files.atomic_file(target) as tmp:
            counts.update(write_tasks(usable, f, tmp, options))
            files.write_json(mtmp, manifest)
    return ExportResult(target, mpath, manifest)

