"""Reading JSON Lines files one way everywhere: every problem named by ``file:line``.

Seed files, evaluation sets and prediction files share this reader; each
passes its own error class so callers catch what they expect.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .inputs import read_input_bytes

BOM = b"\xef\xbb\xbf"
# A \\uD800-\\uDFFF escape: only then can the parsed text hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def read_bytes(path: str | Path, error: type[Exception]) -> bytes:
    """The file's bytes, or ``error`` saying why they cannot be read (``inputs`` refuses devices,
    FIFOs, folders and files over the size limit)."""
    return read_input_bytes(path, error)


def objects(
    raw: bytes,
    where: str,
    error: type[Exception],
    *,
    max_line_bytes: int | None = None,
    allow_array: bool = False,
) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; the first bad line raises ``error``.

    With ``allow_array`` a file holding one JSON array of objects is read too
    (every record then reports line 1). An empty file gives an empty list: the
    caller says what it expected.
    """
    if raw.startswith(BOM):
        raise error(f"{where}:1: the file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM")
    if allow_array and raw.lstrip().startswith(b"["):
        return [(1, _object(v, f"{where}:1", error)) for v in _array(raw, where, error)]
    out = []
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if max_line_bytes is not None and len(line) > max_line_bytes:
            raise error(f"{where}:{lineno}: line is {len(line):,} bytes, over the {max_line_bytes:,}-byte limit for one record")
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(f"{where}:{lineno}: not valid UTF-8 (byte {e.start + 1} of the line)") from None
        value = loads(text, f"{where}:{lineno}", error)
        out.append((lineno, _object(value, f"{where}:{lineno}", error)))
    return out


class JSONProblem(ValueError):
    """Why a JSON text cannot be used, without a location; ``lineno``/``colno``
    place a syntax error within the text."""

    def __init__(self, message: str, lineno: int = 1, colno: int = 0):
        super().__init__(message)
        self.lineno, self.colno = lineno, colno


def parse(text: str) -> Any:
    """json.loads, refusing every way a record can be unusable: bad syntax, nesting
    too deep to parse, a key given twice (which value would win is a guess), and
    text that is not Unicode (a lone surrogate escape such as \\ud800, which no
    file or database can store; looked for only where such an escape appears)."""
    try:
        value = json.loads(text, object_pairs_hook=no_duplicate_keys)
    except json.JSONDecodeError as e:
        raise JSONProblem(f"invalid JSON: {e.msg}", e.lineno, e.colno) from None
    except RecursionError:
        raise JSONProblem("JSON nested too deeply to read") from None
    if may_hold_surrogates(text):
        check_unicode(value)
    return value


def may_hold_surrogates(text: str) -> bool:
    """Whether ``check_unicode`` is needed: only a \\uD800-\\uDFFF escape makes one."""
    return _SURROGATE_ESCAPE.search(text) is not None


def check_unicode(value: Any) -> None:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise JSONProblem("text holds a lone UTF-16 surrogate (an escape like \\ud800 without "
                          "its pair), which is not valid Unicode") from None


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An ``object_pairs_hook`` that refuses a key given twice in one object."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JSONProblem(f"key {key!r} appears twice in one object")
            seen.add(key)
    return out


def loads(text: str, at: str, error: type[Exception], *, whole_file: bool = False) -> Any:
    """``parse``, raising ``error`` located at ``at`` (``at:line`` with ``whole_file``)."""
    try:
        return parse(text)
    except JSONProblem as e:
        if e.colno:
            where = f"{at}:{e.lineno}" if whole_file else at
            raise error(f"{where}: {e} at column {e.colno}") from None
        raise error(f"{at}: {e}") from None


def _array(raw: bytes, where: str, error: type[Exception]) -> list[Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{where}: not valid UTF-8 (byte {e.start + 1})") from None
    data = loads(text, where, error, whole_file=True)
    if not isinstance(data, list):
        raise error(f"{where}: expected a JSON array of objects")
    return data


def _object(value: Any, at: str, error: type[Exception]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise error(f"{at}: expected a JSON object, got {type(value).__name__}")
    return value
