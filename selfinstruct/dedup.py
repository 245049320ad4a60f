"""Deduplicate any data set file with the paper's ROUGE-L filter, without a workspace.

The file is read with the import's readers and checks, its records are grouped
into tasks as an import groups them (same id, or same instruction without one),
and each task's instruction is compared, in file order, with the pool as it
stood then (the ``--against`` tasks, then every task kept before it): a task
scoring above the threshold is dropped with all its records, as the paper drops
an instruction. Only the instruction is compared, as in Self-Instruct; chat and
ShareGPT records come in with the whole user turn as their instruction. A record
that repeats an earlier one exactly (instruction, input and output), which an
import refuses, is dropped too. The kept records are written back as they were
stored, in the input's format and layout, atomically; a report lists each dropped
record with its score and the record that blocked it. With a Ray address the
same filter runs sharded on the cluster (``novelty.sharded``), with the same result.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from .formats import files
from .formats.codecs import Row, spreadsheet_safe
from .formats.exporting import CSV_ESCAPE_NOTE, CSV_ESCAPED, csv_was_escaped
from .formats.catalog import resolve
from .formats.importing import (
    BadRecord, Parsed, detect_format, parse_rows, refusal, seed_tasks, stored_records, task_key,
)

REPORT_COLUMNS = ("record", "where", "id", "text", "score", "blocked_by_record", "blocked_by_where",
                  "blocked_by_id", "blocked_by_text")
REFUSED_HINT = "nothing was written (fix them and run dedup again)"


class DedupRefused(ValueError):
    """The input (or --against) file has bad records, or the output would overwrite the input."""


@dataclass(frozen=True)
class Record:
    """One stored record: where it is, its place in the file (1-based), its task and that task's text."""

    number: int
    where: str
    value: Any
    id: str | None
    text: str


@dataclass(frozen=True)
class Dropped:
    """A dropped record: ``score`` is its task's ROUGE-L with the blocking record (1.0 for an exact
    repeat); ``blocked_by_record`` is None when the blocker came from the --against file."""

    record: int
    where: str
    id: str | None
    text: str
    score: float
    blocked_by_record: int | None
    blocked_by_where: str
    blocked_by_id: str | None
    blocked_by_text: str


@dataclass
class DedupResult:
    path: Path
    format: str
    out: Path
    report: Path
    records: int
    tasks: int
    kept: int
    dropped: list[Dropped]
    seconds: float

    def summary(self) -> str:
        return (f"{self.path}: read {self.records:,} record(s) ({self.tasks:,} task(s)), kept {self.kept:,}, "
                f"dropped {len(self.dropped):,} ({self.seconds:.1f} s); wrote {self.out} and {self.report}")


def default_out(path: Path) -> Path:
    """``data.jsonl`` -> ``data.dedup.jsonl`` (a folder: ``data.dedup``), beside the input."""
    return path.with_name(f"{path.stem}.dedup{path.suffix}") if path.suffix else path.with_name(path.name + ".dedup")


def default_report(out: Path) -> Path:
    return out.with_name(out.name + ".report.jsonl")


def read_records(path: Path, fmt: str | None = None) -> tuple[str, bool, list[Record], list[tuple[Record, str]]]:
    """(format, JSON array?, records grouped into tasks, exact repeats with the ``where`` they repeat).

    Refuses (DedupRefused, naming file:line) a file with any other bad record.
    """
    name = resolve(fmt).name if fmt else detect_format(path)
    stored = stored_records(path, name)
    items = list(stored.items)
    if name == "seeds":
        tasks, bad = seed_tasks(items)
        _refuse(path, name, len(items), bad)
        return name, stored.array, [Record(n, w, v, t.id, t.instruction)
                                    for n, ((w, v), t) in enumerate(zip(items, tasks), start=1)], []
    rows, bad = parse_rows(path, name, items)
    repeats = [b for b in bad if b.repeat_of is not None]
    _refuse(path, name, len(items), [b for b in bad if b.repeat_of is None])
    row_at: dict[str, Row] = dict(rows)
    first_text: dict[tuple[bool, str], str] = {}  # a task's text is its first record's instruction
    for _, row in rows:
        first_text.setdefault(task_key(row), row.instruction)
    repeat_at = {b.where: b.repeat_of for b in repeats}
    records, pending = [], []
    for n, (where, value) in enumerate(items, start=1):
        if where in repeat_at:
            pending.append((n, where, value))
            continue
        row = row_at[where]
        records.append(Record(n, where, value, row.id, first_text[task_key(row)]))
    by_where = {r.where: r for r in records}
    repeated = [(Record(n, w, v, by_where[repeat_at[w]].id, by_where[repeat_at[w]].text), repeat_at[w])
                for n, w, v in pending]
    return name, stored.array, records, repeated


def _refuse(path: Path, name: str, n: int, bad: list[BadRecord]) -> None:
    if bad:
        raise DedupRefused(refusal(Parsed(path, name, [], n, bad), REFUSED_HINT))
    if not n:
        raise DedupRefused(f"{path}: holds no record")


def _tasks(records: Sequence[Record], seeds: bool) -> list[list[Record]]:
    """Records grouped into tasks in order of first appearance (a seed record is a task of its own)."""
    if seeds:
        return [[r] for r in records]
    by: dict[tuple[bool, str], list[Record]] = {}
    for r in records:
        by.setdefault((True, r.id) if r.id is not None else (False, r.text), []).append(r)
    return list(by.values())


def _check_paths(path: Path, out: Path, report: Path) -> None:
    """Refuse an output that is the input, or is inside it or holds it (a data set folder)."""
    src = path.resolve()
    for target in (out, report):
        t = target.resolve()
        if t == src or (target.exists() and os.path.samefile(target, path)):
            raise DedupRefused(f"{target}: is the input file; refusing to overwrite it, choose another output path")
        if t.is_relative_to(src) or src.is_relative_to(t):
            raise DedupRefused(f"{target}: is inside the input {path} or holds it; choose another output path")
    if out.resolve() == report.resolve():
        raise DedupRefused(f"{out}: given as both the output and the report")


def dedup_file(
    path: str | Path, out: str | Path | None = None, *, fmt: str | None = None, report: str | Path | None = None,
    threshold: float = 0.7, against: str | Path | None = None, tokenizer: str = "rouge", ray: str | None = None,
) -> DedupResult:
    """Drop every task of ``path`` whose instruction's ROUGE-L with an earlier kept task (or an
    ``against`` task) is > ``threshold``; write the kept records to ``out`` and the dropped ones
    to ``report`` (JSONL, or CSV by its suffix). Nothing is written when anything is refused."""
    start = time.perf_counter()
    path = Path(path)
    name, array, records, repeats = read_records(path, fmt)
    out = Path(out) if out is not None else default_out(path)
    report = Path(report) if report is not None else default_report(out)
    _check_paths(path, out, report)
    pool: list[Record] = []
    if against is not None:
        a_path = Path(against)
        a_name, _, a_records, _ = read_records(a_path)
        pool = [t[0] for t in _tasks(a_records, a_name == "seeds")]
    tasks = _tasks(records, name == "seeds")
    res = _filter([t[0].text for t in tasks], [p.text for p in pool], threshold, tokenizer, ray)
    dropped: list[Dropped] = []
    gone: set[int] = set()
    for t, keep, score, blocker in zip(tasks, res.kept, res.scores, res.blocker):
        if keep:
            continue
        by = pool[-1 - blocker] if blocker < 0 else tasks[blocker][0]
        for r in t:
            gone.add(r.number)
            dropped.append(_dropped(r, score, by, from_input=blocker >= 0))
    by_where = {r.where: r for r in records}
    why = {d.record: d for d in dropped}
    for r, first in repeats:
        original = by_where[first]
        if original.number in gone:  # its task was dropped: the repeat goes with it, for the same reason
            d = why[original.number]
            dropped.append(Dropped(r.number, r.where, r.id, r.text, d.score, d.blocked_by_record,
                                   d.blocked_by_where, d.blocked_by_id, d.blocked_by_text))
        else:
            dropped.append(_dropped(r, 1.0, original, from_input=True))
    dropped.sort(key=lambda d: d.record)
    kept = [r for r in records if r.number not in gone]
    _write(path, name, array, kept, list(records[0].value), out, dropped, report)
    n = len(records) + len(repeats)
    return DedupResult(path, name, out, report, n, len(tasks), len(kept), dropped, time.perf_counter() - start)


def _dropped(r: Record, score: float, by: Record, *, from_input: bool) -> Dropped:
    return Dropped(r.number, r.where, r.id, r.text, score, by.number if from_input else None, by.where, by.id,
                   by.text)


def _filter(texts: list[str], pool: list[str], threshold: float, tokenizer: str, ray: str | None):
    """``fast_greedy_filter`` here, or its sharded twin on the Ray cluster at ``ray``."""
    if ray is None:
        from .novelty import fast_greedy_filter
    else:
        from .cluster import connect
        from .novelty.sharded import fast_greedy_filter

        connect(ray)
    return fast_greedy_filter(texts, pool, threshold, tokenizer=tokenizer)


def _write(path: Path, name: str, array: bool, kept: list[Record], header: list[str], out: Path,
           dropped: list[Dropped], report: Path) -> None:
    """The kept records as they were stored, and the report, each atomically: both or neither.
    ``header``: the columns of a CSV input."""
    values = [r.value for r in kept]
    escaped = name == "csv" and csv_was_escaped(path)
    manifest = out.with_name(out.name + ".manifest.json")
    with files.atomic_file(report) as rtmp:
        rows = (asdict(d) for d in dropped)
        if report.suffix.lower() == ".csv":
            files.write_csv(rtmp, (spreadsheet_safe(r)[0] for r in rows), columns=REPORT_COLUMNS)
        else:
            files.write_jsonl(rtmp, rows)
        if name == "hf":
            schema = files.parquet_schema(files.parquet_files(path)[0])
            if path.is_dir():
                with files.atomic_dir(out) as tmp:
                    (tmp / "data").mkdir()
                    files.write_parquet(tmp / "data" / "train-00000-of-00001.parquet", values, schema)
            else:
                with files.atomic_file(out) as tmp:
                    files.write_parquet(tmp, values, schema)
            return
        with files.atomic_file(out) as tmp:
            if name == "csv":
                files.write_csv(tmp, values, columns=header, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
                if escaped:  # the cells keep their ' escapes: say so beside them, as the export did
                    with files.atomic_file(manifest) as mtmp:
                        n = sum(spreadsheet_safe(v)[1] for v in values)
                        files.write_json(mtmp, {"format": "csv", "source": str(path), "csv_escape": CSV_ESCAPE_NOTE,
                                                "counts": {"records": len(values), CSV_ESCAPED: n}})
            elif array:
                files.write_json_array(tmp, values)
            else:
                files.write_jsonl(tmp, values)
