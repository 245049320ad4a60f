"""Bring a data set file into a workspace as a run of kind "import".

A file is read whole before anything is written: every bad record is found
and named (``file:line`` or ``file record N``), and the import is refused
unless the caller asks to skip them. Records with the same id (or, without
an id, the same instruction) become one task with several instances, so
imported data can be analysed, filtered and exported like a generated run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..inputs import input_chunks
from ..records import Instance, Task
from ..seeds import SeedFileError, parse_tasks
from ..store import RunInfo, Store
from .catalog import FORMATS, resolve
from .codecs import (
    COLUMNS, RecordError, Row, alpaca_row, chat_row, gpt3_row, sharegpt_row, spreadsheet_unescaped, table_row,
)
from .exporting import csv_was_escaped
from .files import FileFormatError, csv_records, json_records, parquet_files, parquet_records, read_text

REQUIRED_COLUMNS = ("instruction", "output")
SHOW_BAD = 20
# What the user can do about a file whose format cannot be told, or one with bad records (the import
# command's wording; other callers pass their own).
FORMAT_HINT = f"pass --format (one of {', '.join(FORMATS)})"
IMPORT_HINT = "nothing was imported (fix them, or pass --skip-bad to import the rest)"


@dataclass(frozen=True)
class BadRecord:
    """A record that cannot come in; ``repeat_of`` names the earlier record it repeats exactly
    (dedup drops such a record instead of refusing the file)."""

    where: str
    message: str
    repeat_of: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Parsed:
    """What a file holds: its tasks, how many records made them, and the records that were bad."""

    path: Path
    format: str
    tasks: list[Task]
    records: int
    bad: list[BadRecord] = field(default_factory=list)

    @property
    def instances(self) -> int:
        return sum(len(t.instances) for t in self.tasks)


class ImportRefused(ValueError):
    """The file has bad records (or none good); nothing was imported. ``bad`` lists them."""

    def __init__(self, message: str, bad: list[BadRecord]):
        super().__init__(message)
        self.bad = bad


@dataclass
class ImportResult:
    run: RunInfo
    parsed: Parsed


def detect_format(path: str | Path, *, hint: str = FORMAT_HINT) -> str:
    """The format of a file or folder, from its suffix or its first readable record; ``hint`` ends
    the message when it cannot be told."""
    p = Path(path)
    if p.is_dir() or p.suffix.lower() == ".parquet":
        return "hf"
    if p.suffix.lower() in {".csv", ".tsv"}:
        return "csv"
    text = read_text(p)
    return _detect_json(p, text, hint)


def _detect_json(p: Path, text: str, hint: str) -> str:
    array = text.lstrip().startswith("[")
    first_error = None
    for where, obj in json_records(p, text):
        if isinstance(obj, RecordError):
            first_error = first_error or f"{where}: {obj}"
            continue
        keys = set(obj) if isinstance(obj, dict) else set()
        if "conversations" in keys:
            return "sharegpt"
        if "messages" in keys:
            return "chat"
        if {"prompt", "completion"} & keys:
            return "gpt3"
        if "instances" in keys:
            return "seeds"
        if "instruction" in keys:
            return "alpaca" if array else "alpaca-jsonl"
        shown = ", ".join(sorted(keys)) if keys else type(obj).__name__
        raise FileFormatError(f"{where}: cannot tell the format from this record ({shown}); {hint}")
    raise FileFormatError(f"{first_error or p}: no readable JSON record to tell the format from; {hint}")


def read_file(path: str | Path, fmt: str | None = None) -> Parsed:
    """Parse a whole file into tasks and a list of bad records; raises FileFormatError when the
    file as a whole cannot be read (missing, empty, BOM, bad bytes, broken JSON array, wrong columns)."""
    p = Path(path)
    name = resolve(fmt).name if fmt else detect_format(p)
    stored = stored_records(p, name)
    if name == "seeds":
        tasks, bad = seed_tasks(stored.items)
        return Parsed(p, name, tasks, len(tasks), bad)
    rows, bad = parse_rows(p, name, stored.items)
    return Parsed(p, name, group(rows), len(rows), bad)


@dataclass
class Stored:
    """A file's records as they are stored, before parsing: (where, value) in file order, and
    whether a JSON file is one array (else JSON Lines) so a writer can keep its layout."""

    items: Iterator[tuple[str, Any]]
    array: bool = False


def stored_records(p: Path, name: str) -> Stored:
    """The records of ``p`` read as format ``name`` stores them (CSV cells as written, escapes kept)."""
    if name == "hf":
        columns, items = parquet_records(p)
        _check_columns(p, columns, ":")
        return Stored(items)
    text = read_text(p)
    if name == "csv":
        header, cells = csv_records(p, text)
        _check_columns(p, header, ":1:")
        return Stored(cells)
    return Stored(json_records(p, text), text.lstrip().startswith("["))


ROW_PARSERS: dict[str, Callable[[Any], Row]] = {
    "gpt3": gpt3_row, "alpaca": alpaca_row, "alpaca-jsonl": alpaca_row, "chat": chat_row,
    "sharegpt": sharegpt_row, "csv": table_row, "hf": table_row,
}


def parse_rows(p: Path, name: str, items: Iterable[tuple[str, Any]]) -> tuple[list[tuple[str, Row]], list[BadRecord]]:
    """The rows of a file in any format but ``seeds`` (one task per record: ``seed_tasks``)."""
    if name == "csv" and csv_was_escaped(p):  # our export put a ' before formula cells; the manifest beside says so
        items = ((where, c if isinstance(c, RecordError) else spreadsheet_unescaped(c)) for where, c in items)
    return _rows(items, ROW_PARSERS[name])


def _check_columns(p: Path, columns: list[str], sep: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise FileFormatError(f"{p}{sep} missing column(s) {', '.join(missing)} (columns: {', '.join(columns)})")
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise FileFormatError(f"{p}{sep} unknown column(s) {', '.join(unknown)} (known: {', '.join(COLUMNS)})")
    if len(set(columns)) != len(columns):
        raise FileFormatError(f"{p}{sep} a column name appears twice")


def _rows(items: Iterable[tuple[str, Any]], parser: Callable[[Any], Row]) -> tuple[list[tuple[str, Row]], list[BadRecord]]:
    rows: list[tuple[str, Row]] = []
    bad: list[BadRecord] = []
    first: dict[tuple[str, str, str], str] = {}
    tasks: dict[str, dict[str, tuple[Any, str]]] = {}  # id -> field -> (first value given, where)
    for where, obj in items:
        try:
            if isinstance(obj, RecordError):
                raise obj
            row = parser(obj)
        except RecordError as e:
            bad.append(BadRecord(where, str(e)))
            continue
        key = (row.instruction, row.input.strip(), row.output.strip())
        if key in first:
            bad.append(BadRecord(where, f"same instruction, input and output as {first[key]}", first[key]))
            continue
        if row.id is not None:
            clash = _id_clash(tasks.setdefault(row.id, {}), row, where)
            if clash:
                bad.append(BadRecord(where, clash))
                continue
        first[key] = where
        rows.append((where, row))
    return rows, bad


def _id_clash(seen: dict[str, tuple[Any, str]], row: Row, where: str) -> str | None:
    """Why a record contradicts an earlier one of its id, or None (and then what it gives is
    noted). Grouping keeps one task per id, so a second instruction, name or classification
    would be lost unseen; a blank name or flag gives nothing, so it never contradicts."""
    given = {"instruction": row.instruction, "name": row.name or None, "is_classification": row.is_classification}
    for key, value in given.items():
        if value is not None and key in seen and seen[key][0] != value:
            first, at = seen[key]
            if key == "instruction":
                return f"id {row.id!r} has a different instruction at {at}"
            return (f"id {row.id!r} has a different {key} at {at} "
                    f"({json.dumps(first, ensure_ascii=False)} there, {json.dumps(value, ensure_ascii=False)} here)")
    for key, value in given.items():
        if value is not None:
            seen.setdefault(key, (value, where))
    return None


def seed_tasks(items: Iterable[tuple[str, Any]]) -> tuple[list[Task], list[BadRecord]]:
    """Seed-format records through the seed loader's own checks, one record at a time."""
    tasks: list[Task] = []
    bad: list[BadRecord] = []
    ids: dict[str, str] = {}
    for where, obj in items:
        if isinstance(obj, RecordError):
            bad.append(BadRecord(where, str(obj)))
            continue
        try:
            (task,) = parse_tasks(json.dumps(obj, ensure_ascii=False).encode("utf-8"), "\0")
        except SeedFileError as e:
            bad.append(BadRecord(where, str(e).removeprefix("\0:1: ").removeprefix("\0:1:")))
            continue
        if not (isinstance(obj, dict) and "id" in obj):
            task = replace(task, id=f"task_{len(tasks)}")
        if task.id in ids:
            bad.append(BadRecord(where, f"duplicate id {task.id!r} (first at {ids[task.id]})"))
            continue
        ids[task.id] = where
        tasks.append(replace(task, origin="import"))
    return tasks, bad


def group(rows: Iterable[tuple[str, Row]]) -> list[Task]:
    """One task per id, in order of first appearance, its records as instances.

    Records without an id are grouped by instruction: two tasks may share an
    instruction (the user-oriented set has two "Answer the following question."),
    and only an id tells them apart.
    """
    by: dict[tuple[bool, str], list[Row]] = {}
    for _, row in rows:
        by.setdefault(task_key(row), []).append(row)
    used = {key for has_id, key in by if has_id}
    tasks = []
    for k, ((has_id, key), rs) in enumerate(by.items()):
        tid = key if has_id else f"import_{k}"
        while not has_id and tid in used:
            tid += "~"
        used.add(tid)
        tasks.append(Task(
            id=tid, instruction=rs[0].instruction, instances=tuple(Instance(r.input, r.output) for r in rs),
            is_classification=next((r.is_classification for r in rs if r.is_classification is not None), None),
            name=next((r.name for r in rs if r.name), ""), origin="import",
        ))
    return tasks


def task_key(row: Row) -> tuple[bool, str]:
    """Which task a record belongs to: (True, its id), or (False, its instruction) without one."""
    return (True, row.id) if row.id is not None else (False, row.instruction)


def refusal(parsed: Parsed, hint: str = IMPORT_HINT) -> str:
    """A message naming the bad records (the first few, then how many more); ``hint`` says what
    happened and what to do, in the words of the command that shows it."""
    lines = [f"{parsed.path}: {len(parsed.bad)} bad record(s); {hint}:"]
    lines += [f"  {b}" for b in parsed.bad[:SHOW_BAD]]
    if len(parsed.bad) > SHOW_BAD:
        lines.append(f"  ... and {len(parsed.bad) - SHOW_BAD} more")
    return "\n".join(lines)


def import_file(
    store: Store, path: str | Path, *, fmt: str | None = None, name: str | None = None, skip_bad: bool = False,
    language: str = "en",
) -> ImportResult:
    """Read ``path`` and store it as a new import run; refuses (importing nothing) on bad records
    unless ``skip_bad``, and always when no record is good."""
    return store_import(store, read_file(path, fmt), name=name, skip_bad=skip_bad, language=language)


def store_import(
    store: Store, parsed: Parsed, *, name: str | None = None, skip_bad: bool = False, language: str = "en",
) -> ImportResult:
    """``import_file`` for a file already read, so a caller can check it before making a workspace."""
    if parsed.bad and not skip_bad:
        raise ImportRefused(refusal(parsed), parsed.bad)
    if not parsed.tasks:
        raise ImportRefused(f"{parsed.path}: no good record to import", parsed.bad)
    p = parsed.path
    run_name = name or _free_name(store, p.stem)
    config = {"source": {
        "file": str(p.resolve()), "format": parsed.format, "sha256": _digest(p),
        "records": parsed.records, "skipped": [str(b) for b in parsed.bad],
    }}
    status = (f"imported {parsed.records} record(s) as {len(parsed.tasks)} task(s) from {p.name}"
              + (f"; skipped {len(parsed.bad)} bad" if parsed.bad else ""))
    run = store.create_run(run_name, kind="import", config=config, language=language, tasks=parsed.tasks,
                           origin="import", state="done", status=status)
    return ImportResult(run, parsed)


def _free_name(store: Store, base: str) -> str:
    taken = {r.name for r in store.runs()}
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _digest(p: Path) -> str:
    h = hashlib.sha256()
    for f in parquet_files(p) if p.is_dir() else [p]:
        for chunk in input_chunks(f, FileFormatError):
            h.update(chunk)
    return h.hexdigest()
