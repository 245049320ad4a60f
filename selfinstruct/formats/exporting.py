"""Write what a run (or one of its filtered views) keeps in a fine-tuning format, with a manifest.

An export holds exactly the tasks ``filter_views.view_tasks`` returns: without a view,
the stored verdicts (a generation run's kept machine instructions with their
kept instances; every kept record of an imported run). Instructions with no
kept instance cannot become a training example: they are left out and counted.
The manifest (``<out>.manifest.json``, or ``manifest.json`` inside a data set
folder) records the counts and where the data came from. An export is refused,
leaving any earlier file whole, when it would write over the workspace or
would hold no record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

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

    def __post_init__(self) -> None:
        if self.max_instances < 1:
            raise ValueError(f"max_instances must be at least 1, got {self.max_instances}")


class ExportRefused(ValueError):
    """The export was not written (it would overwrite the workspace, or hold no record)."""


@dataclass
class ExportResult:
    path: Path
    manifest_path: Path
    manifest: dict[str, Any]


# The manifest count of CSV cells given a leading ' so a spreadsheet shows them instead of running
# them; its presence also tells an import that the file was escaped (older exports were not).
CSV_ESCAPED = "csv_formula_cells_escaped"
CSV_ESCAPE_NOTE = ("cells starting with = + - @ tab or CR got a leading ' (OWASP), so a spreadsheet shows "
                   "them instead of running them; import strips it back while this manifest is beside the file")


def csv_was_escaped(path: Path) -> bool:
    """Whether ``path`` is a CSV file we wrote with escaped formula cells, as its manifest says.

    Only a small regular file is read, so a hostile manifest name (a FIFO, a device) cannot
    hang or flood the import; anything unreadable means "not ours", and cells stay as they are.
    """
    mpath = path.with_name(path.name + ".manifest.json")
    try:
        if not stat.S_ISREG(os.stat(mpath).st_mode):
            return False  # checked before opening: opening some devices does something
        with open(os.open(mpath, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY), "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > 1 << 20:
                return False
            manifest = json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return False
    return (isinstance(manifest, dict) and manifest.get("format") == "csv"
            and isinstance(manifest.get("counts"), dict) and CSV_ESCAPED in manifest["counts"])


def manifest_path(fmt: Format, out: Path) -> Path:
    return out / "manifest.json" if fmt.folder else out.with_name(out.name + ".manifest.json")


def check_not_workspace(workspace: Path, target: Path, manifest: Path, folder: bool) -> None:
    """Refuse output paths that resolve (through links and relative parts) to the workspace file or
    its SQLite journals, or a folder export that would replace a folder holding the workspace."""
    if str(workspace) == ":memory:":
        return
    ws = workspace.resolve()
    guarded = [ws, *(ws.with_name(ws.name + s) for s in ("-wal", "-shm", "-journal"))]
    for path in (target, manifest):
        p = path.resolve()
        for g in guarded:
            if p == g or (p.exists() and g.exists() and os.path.samefile(p, g)):
                what = "the workspace" if g == ws else "the workspace's SQLite journal"
                raise ExportRefused(f"{path}: is {what} {g}; refusing to write over it, choose another output path")
    if folder and ws.is_relative_to(target.resolve()):
        raise ExportRefused(f"{target}: holds the workspace {ws}; writing the folder would replace it, "
                            "choose another output path")


def why_empty(counts: dict[str, Any]) -> str:
    """The counts that explain an export of no record, e.g. "instructions exported 0"."""
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in counts.items()
             if k not in {"records", CSV_ESCAPED} and not isinstance(v, dict)]
    parts += [f"dropped by the encoding as {k} {v}" for k, v in counts.get("instances_dropped_by_encoding", {}).items()]
    return ", ".join(parts)


def config_hash(config: dict[str, Any]) -> str:
    """A short fingerprint of a run's config, to tell exports of differently made data apart."""
    return "sha256:" + hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def save_tasks(path: str | Path, tasks: Iterable[Task]) -> None:
    """Write a seed file (the official format) atomically: a failure never leaves half a file under the name."""
    from ..seeds import task_to_json

    with files.atomic_file(Path(path)) as tmp:
        files.write_jsonl(tmp, (task_to_json(t) for t in tasks))


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
        safe = [codecs.spreadsheet_safe(codecs.table_record(t, n)) for t, n in codecs.flat(tasks)]
        counts["records"] = files.write_csv(target, (rec for rec, _ in safe))
        counts[CSV_ESCAPED] = sum(k for _, k in safe)
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
    subset: dict[str, Any] | None = None,
) -> ExportResult:
    """Export a run (default: the newest) to ``out``; atomic, with a manifest beside it.

    ``tasks`` overrides the selection (the caller already holds what the view
    keeps, e.g. the dashboard); otherwise ``filter_views.view_tasks`` decides. ``subset`` goes
    into the manifest as is (``subsets.export_subsets`` says which nested subset this is).
    """
    from ..filter_views import view_settings, view_tasks

    f = resolve(fmt)
    options = options or ExportOptions()
    info = run if isinstance(run, RunInfo) else store.run(run) if run else store.default_run()
    if not str(out).strip():
        raise ExportRefused("the output path is empty; name the file to write (a folder for hf)")
    target = Path(out)
    if not f.folder:  # first: the manifest's name is made from the target's (a folder is checked on entry)
        files.check_target(target)
    mpath = manifest_path(f, target)
    check_not_workspace(Path(store.path), target, mpath, f.folder)
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
    if f.name == "csv":
        manifest["csv_escape"] = CSV_ESCAPE_NOTE
    if subset is not None:
        manifest["subset"] = subset
    if f.folder:
        with files.atomic_dir(target) as tmp:
            counts.update(write_tasks(usable, f, tmp, options))
            _refuse_empty(info, f, counts)
            (tmp / "README.md").write_text(data_card(usable, manifest, info.config, filters), encoding="utf-8")
            files.write_json(tmp / "manifest.json", manifest)
    else:
        with files.atomic_file(mpath) as mtmp, files.atomic_file(target) as tmp:
            counts.update(write_tasks(usable, f, tmp, options))
            _refuse_empty(info, f, counts)
            with files.naming(mpath):
                files.write_json(mtmp, manifest)
    return ExportResult(target, mpath, manifest)


def _refuse_empty(info: RunInfo, fmt: Format, counts: dict[str, Any]) -> None:
    """Raised inside the atomic block, so the temporary file goes and an earlier export stays."""
    if not counts["records"]:
        raise ExportRefused(f"run {info.name!r}: the {fmt.name} export would hold no record, so nothing was written "
                            f"({why_empty(counts)})")
