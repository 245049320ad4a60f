"""Moving records to and from disk: atomic writes, and reads that know where each record is.

Writers build the whole file (or folder) under a temporary name beside the
target and move it into place only when complete, so a failure never leaves
a half-written file under the target name. Readers hand back each record
with its location (``file:line``, or ``file record N`` for Parquet) so a bad
record can be named precisely.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from .codecs import COLUMNS, RecordError

BOM = b"\xef\xbb\xbf"


class FileFormatError(ValueError):
    """A whole file cannot be read (not one record): the message names the file and where."""


# ---------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, moved onto it when the block ends without error."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        raise FileFormatError(f"{target}: is a folder; this format writes one file")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, swapped in for it when the block ends without error.

    An existing folder is moved aside first and removed after the swap, so the
    target name always holds either the old complete folder or the new one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_dir():
        raise FileFormatError(f"{target}: is a file; this format writes a folder")
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
            os.replace(target, old / "x")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_json_array(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """A JSON array with one record per line block, written as it goes (no second copy in memory)."""
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("[")
        for rec in records:
            f.write(("," if n else "") + "\n  " + json.dumps(rec, ensure_ascii=False))
            n += 1
        f.write("\n]\n")
    return n


def write_csv(path: Path, records: Iterable[dict[str, Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS), lineterminator="\r\n")
        w.writeheader()
        for rec in records:
            flag = rec["is_classification"]
            w.writerow(rec | {"is_classification": "" if flag is None else str(flag).lower()})
            n += 1
    return n


def write_parquet(path: Path, records: list[dict[str, Any]]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("id", pa.string()), ("name", pa.string()), ("instruction", pa.string()), ("input", pa.string()),
        ("output", pa.string()), ("is_classification", pa.bool_()),
    ])
    pq.write_table(pa.Table.from_pylist(records, schema=schema), path)
    return len(records)


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- reading


def read_text(path: Path) -> str:
    """The file as UTF-8 text, refusing a byte-order mark, bad bytes and emptiness by line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such file") from None
    except OSError as e:
        raise FileFormatError(f"{path}: cannot read: {e.strerror or e}") from None
    if raw.startswith(BOM):
        raise FileFormatError(f"{path}:1: the file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise FileFormatError(f"{path}:{line}: not valid UTF-8 (byte {col} of the line); save the file as UTF-8") from None
    if not text.strip():
        raise FileFormatError(f"{path}: is empty (no records)")
    return text


def json_records(path: Path, text: str) -> Iterator[tuple[str, Any]]:
    """(location, parsed value) for each record of a JSON array or a JSON Lines file.

    A line that is not JSON is yielded as a ``RecordError`` in place of the
    value, so the caller can report it beside other bad records; a broken JSON
    array cannot be read past its first error and raises.
    """
    start = len(text) - len(text.lstrip())
    if text[start] == "[":
        yield from _array_records(path, text, start)
        return
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield f"{path}:{lineno}", json.loads(line)
        except json.JSONDecodeError as e:
            yield f"{path}:{lineno}", RecordError(f"invalid JSON: {e.msg} (column {e.colno})")


def _array_records(path: Path, text: str, start: int) -> Iterator[tuple[str, Any]]:
    decoder = json.JSONDecoder()
    pos, n = start + 1, 0

    mark = [0, 1]  # a position and its line number: counting moves forward only

    def where(p: int) -> str:
        if p < mark[0]:
            mark[:] = [0, 1]
        mark[1] += text.count("\n", mark[0], p)
        mark[0] = p
        return f"{path}:{mark[1]}"

    def skip(p: int) -> int:
        while p < len(text) and text[p] in " \t\r\n":
            p += 1
        return p

    pos = skip(pos)
    if pos < len(text) and text[pos] == "]":
        pos = skip(pos + 1)
        if pos < len(text):
            raise FileFormatError(f"{where(pos)}: unexpected text after the JSON array")
        return
    while True:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise FileFormatError(f"{where(e.pos)}: invalid JSON: {e.msg} (record {n + 1} of the array)") from None
        n += 1
        yield f"{where(pos)} (record {n})", obj
        pos = skip(end)
        if pos >= len(text):
            raise FileFormatError(f"{where(pos)}: the JSON array is not closed with ']'")
        if text[pos] == "]":
            pos = skip(pos + 1)
            if pos < len(text):
                raise FileFormatError(f"{where(pos)}: unexpected text after the JSON array")
            return
        if text[pos] != ",":
            raise FileFormatError(f"{where(pos)}: expected ',' or ']' after record {n}, got {text[pos]!r}")
        pos = skip(pos + 1)


def csv_records(path: Path, text: str) -> tuple[list[str], Iterator[tuple[str, dict[str, str] | RecordError]]]:
    """The header and (``file:line``, row) pairs; a record spanning lines is named by its first."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as e:
        raise FileFormatError(f"{path}:1: unreadable CSV header: {e}") from None

    def rows() -> Iterator[tuple[str, dict[str, str] | RecordError]]:
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise FileFormatError(f"{path}:{line}: unreadable CSV: {e}") from None
            where = f"{path}:{line}"
            line = reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield where, RecordError(f"{len(cells)} cells where the header has {len(header)} columns")
                continue
            yield where, dict(zip(header, cells))

    return header, rows()


def parquet_files(path: Path) -> list[Path]:
    """A Parquet file, or every Parquet file in a data set folder (``data/`` first), in name order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileFormatError(f"{path}: no such file or folder")
    files = sorted(path.glob("data/**/*.parquet")) or sorted(path.glob("**/*.parquet"))
    if not files:
        raise FileFormatError(f"{path}: the folder holds no .parquet file")
    return files


def parquet_records(path: Path) -> tuple[list[str], Iterator[tuple[str, dict[str, Any]]]]:
    """Column names (of the first file) and (``file record N``, row) pairs over all files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = parquet_files(path)
    schemas = []
    for f in files:
        try:
            schemas.append(pq.read_schema(f))
        except (pa.ArrowException, OSError) as e:
            raise FileFormatError(f"{f}: not a readable Parquet file ({e})") from None
    names = list(schemas[0].names)
    for f, s in zip(files[1:], schemas[1:]):
        if list(s.names) != names:
            raise FileFormatError(f"{f}: columns {s.names} differ from {files[0].name}'s {names}")

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        for f in files:
            try:
                pf = pq.ParquetFile(f)
            except (pa.ArrowException, OSError) as e:
                raise FileFormatError(f"{f}: not a readable Parquet file ({e})") from None
            n = 0
            for batch in pf.iter_batches(batch_size=4096):
                for row in batch.to_pylist():
                    n += 1
                    yield f"{f} record {n}", row

    return names, rows()
