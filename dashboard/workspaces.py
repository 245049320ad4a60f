"""Which workspace file the dashboard opens: a private copy of the shipped demo
recording (never written) or the file asked for."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def prepare_copy(src: str | Path, dst: str | Path) -> Path:
    """A private copy of a recorded workspace to replay, so the shipped file is never written.

    Copied atomically, and again whenever the source is newer than the copy.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise FileNotFoundError(f"no recorded demo workspace at {src}")
    if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        for extra in ("-wal", "-shm"):
            Path(str(dst) + extra).unlink(missing_ok=True)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dst


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one existing file (links and relative parts followed)."""
    try:
        return Path(a).expanduser().exists() and Path(b).exists() and os.path.samefile(Path(a).expanduser(), b)
    except OSError:
        return False


def private_workspace(path: str | Path, shipped: str | Path, copy: str | Path) -> Path:
    """The file to open for workspace ``path``: a private copy (``prepare_copy``) when
    ``path`` is the ``shipped`` recording, which must never be written; else ``path``."""
    if same_file(path, shipped):
        return prepare_copy(shipped, copy)
    return Path(path).expanduser()
