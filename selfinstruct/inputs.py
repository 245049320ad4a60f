"""The one way user-given files are opened: only regular files, and never more than a set size.

Imports, seed files, evaluation sets, predictions and ``--config`` all come
through here, because a path can name anything: ``/dev/zero`` (endless, it
would fill memory), a FIFO (opening it waits forever for a writer), a socket
or a folder. Those are refused by ``os.stat`` before any open, with the path
and what it is; a file over the limit is refused by its size, and one that
yields more than it said (a growing file, a ``/proc`` file) is stopped by
counting while reading.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO, Iterator

LIMIT_ENV = "SELFINSTRUCT_MAX_FILE_MB"
DEFAULT_LIMIT_MB = 2048
CHUNK = 1 << 20

_SPECIAL = [
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
]


def special_kind(mode: int) -> str | None:
    """What a node is, for messages, or None for a regular file or a folder: what neither a
    reader nor a writer may take for a file (readers here, the exports' atomic writer too)."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((name for test, name in _SPECIAL if test(mode)), "not a regular file")


class InputFileError(ValueError):
    """A user-given file cannot be read as one: missing, not a regular file, over the size limit."""


def limit_bytes() -> int:
    """The size limit for any input file: ``$SELFINSTRUCT_MAX_FILE_MB`` megabytes, 2,048 by default."""
    raw = os.environ.get(LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_LIMIT_MB << 20
    try:
        mb = int(raw)
    except ValueError:
        mb = 0
    if mb < 1:
        raise InputFileError(f"{LIMIT_ENV} must be a whole number of megabytes, at least 1; got {raw!r}")
    return mb << 20


def _too_large(path: Path, limit: int) -> str:
    shown = f"{limit >> 20:,} MB" if limit >= 1 << 20 else f"{limit:,}-byte"
    return (f"{path}: is larger than the {shown} limit for input files "
            f"(set {LIMIT_ENV} to raise it)")


def _refusal(path: Path, st: os.stat_result, limit: int) -> str | None:
    """Why the file ``st`` describes cannot be read as an input file, or None."""
    if stat.S_ISREG(st.st_mode):
        return _too_large(path, limit) if st.st_size > limit else None
    kind = "a folder" if stat.S_ISDIR(st.st_mode) else special_kind(st.st_mode)
    target = os.path.realpath(path)
    via = f" (the link leads to {target})" if os.path.islink(path) or target != os.path.abspath(path) else ""
    return f"{path}: is {kind}{via}, not a regular file; give the path of a data file"


def check_input(path: str | Path, error: type[Exception] = InputFileError, *, limit: int | None = None) -> None:
    """Refuse ``path`` unless it is (or links to) a regular file within the limit; never opens it."""
    p = Path(path)
    limit = limit_bytes() if limit is None else limit
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise error(f"{p}: no such file") from None
    except OSError as e:
        raise error(f"{p}: cannot read: {e.strerror or e}") from None
    why = _refusal(p, st, limit)
    if why:
        raise error(why)


@contextlib.contextmanager
def open_input(path: str | Path, error: type[Exception] = InputFileError, *,
               limit: int | None = None) -> Iterator[BinaryIO]:
    """``path`` open for binary reading once ``check_input`` passes.

    Opened non-blocking and checked again on the open descriptor, so a FIFO
    swapped in after the check still cannot hang the open.
    """
    p = Path(path)
    limit = limit_bytes() if limit is None else limit
    check_input(p, error, limit=limit)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise error(f"{p}: cannot read: {e.strerror or e}") from None
    why = _refusal(p, os.fstat(fd), limit)
    if why:
        os.close(fd)
        raise error(why)
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as f:
        yield f


def read_input_bytes(path: str | Path, error: type[Exception] = InputFileError, *, limit: int | None = None) -> bytes:
    """The whole file, read in chunks and stopped at the limit even if it grows past its stated size."""
    return b"".join(input_chunks(path, error, limit=limit))


def input_chunks(path: str | Path, error: type[Exception] = InputFileError, *,
                 limit: int | None = None) -> Iterator[bytes]:
    """The file's bytes in chunks, under ``open_input``'s checks, stopped once they pass the limit."""
    p = Path(path)
    limit = limit_bytes() if limit is None else limit
    total = 0
    with open_input(p, error, limit=limit) as f:
        while True:
            try:
                chunk = f.read(min(CHUNK, limit + 1 - total))
            except OSError as e:
                raise error(f"{p}: cannot read: {e.strerror or e}") from None
            if not chunk:
                return
            total += len(chunk)
            if total > limit:
                raise error(_too_large(p, limit))
            yield chunk
