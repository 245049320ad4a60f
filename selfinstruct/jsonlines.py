"""Reading JSON Lines files one way everywhere: every problem named by ``file:line``.

Seed files, evaluation sets and prediction files share this reader; each
passes its own error class so callers catch what they expect.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BOM = b"\xef\xbb\xbf"


def read_bytes(path: str | Path, error: type[Exception]) -> bytes:
    """The file's bytes, or ``error`` saying why they cannot be read."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise error(f"{p}: no such file") from None
    except IsADirectoryError:
        raise error(f"{p}: is a folder, not a file") from None
    except OSError as e:
        raise error(f"{p}: cannot read: {e.strerror or e}") from None


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
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise error(f"{where}:{lineno}: invalid JSON: {e.msg} at column {e.colno}") from None
        out.append((lineno, _object(value, f"{where}:{lineno}", error)))
    return out


def _array(raw: bytes, where: str, error: type[Exception]) -> list[Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise error(f"{where}: not valid UTF-8 (byte {e.start + 1})") from None
    except json.JSONDecodeError as e:
        raise error(f"{where}:{e.lineno}: invalid JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(data, list):
        raise error(f"{where}: expected a JSON array of objects")
    return data


def _object(value: Any, at: str, error: type[Exception]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise error(f"{at}: expected a JSON object, got {type(value).__name__}")
    return value
