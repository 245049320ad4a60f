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
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from ..inputs import check_input, open_input, read_input_bytes, special_kind
from ..jsonlines import JSONProblem, check_unicode, may_hold_surrogates, no_duplicate_keys, parse
from .codecs import COLUMNS, RecordError

if TYPE_CHECKING:
    import pyarrow as pa

BOM = b"\xef\xbb\xbf"


class FileFormatError(ValueError):
    """A whole file cannot be read (not one record): the message names the file and where."""


# ---------------------------------------------------------------- atomic writes


class WriteError(OSError):
    """A write failed; the message names the file the caller asked for, not the temporary one.

    Built as ``WriteError(errno, reason, target)``, like any OSError.
    """

    def __str__(self) -> str:
        return f"{self.filename}: cannot write: {self.strerror}"


def _temp_beside(target: Path, suffix: str, make: Callable[[Path], None]) -> Path:
    """A new temporary name beside ``target``, created by ``make`` (which must refuse an existing name).

    Created with mode 0666/0777 so the umask decides, as for any new file;
    ``mkstemp``/``mkdtemp`` would force 0600/0700 on every export.
    """
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{suffix}")
        try:
            make(tmp)
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{target.parent}: cannot find a free temporary name")


def _keep_mode(tmp: Path, target: Path) -> None:
    """A replacement keeps the mode of what it replaces (set before any data goes in)."""
    if target.exists():
        os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))


def _new_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


@contextlib.contextmanager
def naming(target: Path) -> Iterator[None]:
    """Restate an OSError of the block as a ``WriteError`` naming ``target``."""
    try:
        yield
    except WriteError:
        raise
    except OSError as e:
        raise WriteError(e.errno, e.strerror or str(e), str(target)) from e


def refuse_special(target: Path) -> None:
    """Refuse a target that is, or links to, a device, FIFO or socket, leaving it as it is.

    A rename over it would replace the node: as root, ``--out /dev/null`` would
    break the machine. A dangling link is no node: the rename replaces the link.
    """
    try:
        here = os.lstat(target)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(here.st_mode):
        try:
            what = special_kind(os.stat(target).st_mode)
        except OSError:
            return
        what = what and f"a link to {what} ({os.path.realpath(target)})"
    else:
        what = special_kind(here.st_mode)
    if what:
        raise FileFormatError(f"{target}: is {what}; only a regular file is written or replaced, "
                              "so it was left as it is")


def check_target(target: Path) -> None:
    """Refuse, before anything is made, a path with no name, under a file, or at a special node.

    The folder above is checked here so the message names it; otherwise the
    error would name whichever file was opened first (an export's manifest).
    """
    if target.name in {"", ".", ".."}:
        raise FileFormatError(f"{target}: names no file to write; give a file name")
    for parent in target.parents:
        try:
            mode = os.stat(parent).st_mode
        except OSError:
            continue  # missing (made below), or under a non-folder found on a later step
        if not stat.S_ISDIR(mode):
            raise FileFormatError(f"{parent}: is {special_kind(mode) or 'a file'}, not a folder, "
                                  "so nothing can be written under it")
        break
    refuse_special(target)


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, moved onto it when the block ends without error.

    Only a regular file is ever replaced: the target is checked before the
    write and again right before the rename, so a node put there meanwhile
    is refused too.
    """
    target = Path(target)
    check_target(target)
    if target.is_dir():
        raise FileFormatError(f"{target}: is a folder; this format writes one file")
    with naming(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_beside(target, ".tmp", _new_file)
        try:
            _keep_mode(tmp, target)
            yield tmp
            refuse_special(target)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, swapped in for it when the block ends without error.

    An existing folder is moved aside first and removed after the swap, so the
    target name always holds either the old complete folder or the new one.
    A device, FIFO or socket (or a link to one) is refused, as in ``atomic_file``.
    """
    target = Path(target)
    check_target(target)
    if target.exists() and not target.is_dir():
        raise FileFormatError(f"{target}: is a file; this format writes a folder")
    with naming(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_beside(target, ".tmp", lambda p: os.mkdir(p, 0o777))
        try:
            _keep_mode(tmp, target)
            yield tmp
            refuse_special(target)
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


def write_csv(path: Path, records: Iterable[dict[str, Any]], *, columns: Sequence[str] = COLUMNS,
              delimiter: str = ",") -> int:
    """CSV (``delimiter`` "\t" for TSV) with a header of ``columns``; a flag reads true/false, None empty."""
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), delimiter=delimiter, lineterminator="\r\n")
        w.writeheader()
        for rec in records:
            w.writerow({k: "" if v is None else str(v).lower() if isinstance(v, bool) else v for k, v in rec.items()})
            n += 1
    return n


def write_parquet(path: Path, records: list[dict[str, Any]], schema: "pa.Schema | None" = None) -> int:
    """Our columns (``COLUMNS``) by default; ``schema`` keeps another file's columns and types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = schema or pa.schema([
        ("id", pa.string()), ("name", pa.string()), ("instruction", pa.string()), ("input", pa.string()),
        ("output", pa.string()), ("is_classification", pa.bool_()),
    ])
    pq.write_table(pa.Table.from_pylist(records, schema=schema), path)
    return len(records)


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- reading


def read_text(path: Path) -> str:
    """The file as UTF-8 text, refusing a byte-order mark, bad bytes and emptiness by line (and,
    through ``read_input_bytes``, what is not a regular file or is over the size limit)."""
    raw = read_input_bytes(path, FileFormatError)
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
            yield f"{path}:{lineno}", parse(line)
        except JSONProblem as e:
            yield f"{path}:{lineno}", RecordError(f"{e} (column {e.colno})" if e.colno else str(e))


def _array_records(path: Path, text: str, start: int) -> Iterator[tuple[str, Any]]:
    twice: list[str] = []  # keys given twice in the record being read

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        try:
            return no_duplicate_keys(items)
        except JSONProblem as e:
            twice.append(str(e))
            return dict(items)

    decoder = json.JSONDecoder(object_pairs_hook=pairs)
    surrogates = may_hold_surrogates(text)
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
        twice.clear()
        try:
            obj, end = decoder.raw_decode(text, pos)
            if twice:
                raise JSONProblem(twice[0])
            if surrogates:
                check_unicode(obj)
        except json.JSONDecodeError as e:
            raise FileFormatError(f"{where(e.pos)}: invalid JSON: {e.msg} (record {n + 1} of the array)") from None
        except RecursionError:
            raise FileFormatError(f"{where(pos)}: JSON nested too deeply to read (record {n + 1} of the array)") from None
        except JSONProblem as e:
            obj = RecordError(str(e))  # the record parsed, so the array around it still reads
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
    """The header and (``file:line``, row) pairs; a record spanning lines is named by its first.

    A ``.tsv`` file is tab-separated, any other comma-separated.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
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


# Folder names that hold a split's files in a Hugging Face data set (the Hub's default layout).
SPLIT_FOLDERS = {"data", "train", "training", "test", "testing", "eval", "evaluation", "validation", "valid",
                 "val", "dev"}


def parquet_files(path: Path) -> list[Path]:
    """A Parquet file, or the data files of one Hugging Face data set folder, in name order.

    A folder's own files are the Parquet files at its top and under its split
    folders (``data/``, ``train/``, ...), as the Hub lays a data set out. Parquet
    files anywhere else belong to other data sets; a folder holding any is
    refused with their list, so unrelated data is never merged.
    """
    if not path.is_dir():
        check_input(path, FileFormatError)
        return [path]
    own, others = [], set()
    for f in sorted(path.rglob("*.parquet")):
        rel = f.relative_to(path)
        if any(part.startswith((".", "__")) for part in rel.parts):
            continue  # hidden, as on the Hub: e.g. an interrupted export's temporary folder
        folders = rel.parts[:-1]
        if not folders or folders[0] in SPLIT_FOLDERS:
            own.append(f)
        else:
            split = next((i for i, part in enumerate(folders) if part in SPLIT_FOLDERS), len(folders))
            others.add(Path(*folders[:split]).as_posix())
    if others:
        listed = ", ".join(sorted(others))
        head = f"{path}: holds more than one data set" if own else f"{path}: is not a data set folder"
        raise FileFormatError(f"{head}; these folders hold data sets of their own: {listed}; name one of them instead")
    if not own:
        raise FileFormatError(f"{path}: the folder holds no .parquet file")
    return own


def parquet_schema(f: Path) -> "pa.Schema":
    """The schema of one Parquet file (read from its footer only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open_input(f, FileFormatError) as fh:
        try:
            return pq.read_schema(fh)
        except (pa.ArrowException, OSError) as e:
            raise FileFormatError(f"{f}: not a readable Parquet file ({e})") from None


def parquet_records(path: Path) -> tuple[list[str], Iterator[tuple[str, dict[str, Any]]]]:
    """Column names (of the first file) and (``file record N``, row) pairs over all files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = parquet_files(path)
    schemas = [parquet_schema(f) for f in files]
    names = list(schemas[0].names)
    for f, s in zip(files[1:], schemas[1:]):
        if list(s.names) != names:
            raise FileFormatError(f"{f}: columns {s.names} differ from {files[0].name}'s {names}")

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        for f in files:
            with open_input(f, FileFormatError) as fh:
                try:
                    pf = pq.ParquetFile(fh)
                except (pa.ArrowException, OSError) as e:
                    raise FileFormatError(f"{f}: not a readable Parquet file ({e})") from None
                n = 0
                for batch in pf.iter_batches(batch_size=4096):
                    for row in batch.to_pylist():
                        n += 1
                        yield f"{f} record {n}", row

    return names, rows()
