"""Exports against hostile output paths and data: device nodes, FIFOs, sockets and links to them
are never replaced; empty or impossible ``--out`` values are named; CSV formula cells are
neutralised for spreadsheets (and come back on import); the data card stays intact Markdown
and shows no local path.

Runs as root in CI, so every node here is made in ``tmp_path``: never a real device."""

from __future__ import annotations

import csv
import json
import os
import socket
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from selfinstruct.charts import write_charts
from selfinstruct.evaluate.pairs import write_jsonl as write_pairs
from selfinstruct.formats import ExportRefused, FileFormatError, export_run, import_file, read_file
from selfinstruct.formats import card, codecs, exporting, files
from selfinstruct.records import Instance, Task
from selfinstruct.store import Store

from conftest import cli_main

TASKS = [
    Task("t0", "Add the two numbers.", (Instance("2, 3", "5"), Instance("10, 4", "14")), True, "add"),
    Task("t1", "Say hello.", (Instance("", "Hello."),), False, "hi"),
]
NULL_DEV = os.makedev(1, 3)  # the numbers of /dev/null, on a node of our own


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with one imported run, "data", of TASKS."""
    path = tmp_path / "ws.sqlite"
    with Store(path) as store:
        store.create_run("data", kind="import", config={"format": "alpaca"}, tasks=TASKS, origin="import",
                         state="done")
    return path


# ---------------------------------------------------------------- special nodes


def char_device(path: Path) -> Path:
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, NULL_DEV)
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot make a device node here: {e}")
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def unix_socket(path: Path) -> Path:
    s = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(path.parent)  # a relative name: tmp_path may be longer than a socket address allows
    try:
        s.bind(path.name)
    finally:
        os.chdir(cwd)
        s.close()
    return path


def link_to(make):
    def make_link(path: Path) -> Path:
        node = make(path.with_name("node-" + path.name))
        path.symlink_to(node)
        return path
    return make_link


NODES = {
    "char-device": (char_device, "a character device"),
    "fifo": (fifo, "a FIFO (named pipe)"),
    "socket": (unix_socket, "a socket"),
    "link-to-char-device": (link_to(char_device), "a link to a character device"),
    "link-to-fifo": (link_to(fifo), "a link to a FIFO (named pipe)"),
}


def fingerprint(path: Path) -> tuple:
    """What must not change: the node's kind and device numbers, and where a link points."""
    st = os.stat(path)
    return (stat.S_IFMT(os.lstat(path).st_mode), stat.S_IFMT(st.st_mode), st.st_rdev, st.st_ino,
            os.readlink(path) if path.is_symlink() else None)


@pytest.mark.parametrize("fmt,name", [("alpaca-jsonl", "out.jsonl"), ("csv", "out.csv"), ("hf", "out-hf")])
@pytest.mark.parametrize("node", sorted(NODES))
def test_export_never_replaces_a_special_node(ws, tmp_path, capsys, node, fmt, name):
    make, what = NODES[node]
    out = make(tmp_path / name)
    before = fingerprint(out)
    code, stdout, err = cli_main(capsys, "export", "-w", str(ws), "-f", fmt, "-o", str(out))
    assert code == 2 and not stdout
    assert f"error: {out}: is {what}" in err and "left as it is" in err and "Traceback" not in err
    assert fingerprint(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


@pytest.mark.parametrize("node", ["char-device", "fifo"])
def test_a_special_node_at_the_manifest_path_is_refused_and_the_export_not_written(ws, tmp_path, capsys, node):
    make, what = NODES[node]
    out = tmp_path / "out.jsonl"
    manifest = make(tmp_path / "out.jsonl.manifest.json")
    before = fingerprint(manifest)
    code, _, err = cli_main(capsys, "export", "-w", str(ws), "-f", "alpaca-jsonl", "-o", str(out))
    assert code == 2 and f"error: {manifest}: is {what}" in err
    assert fingerprint(manifest) == before and not out.exists()


def test_a_node_put_at_the_target_during_the_write_is_refused_at_the_rename(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("an earlier export\n")
    with pytest.raises(FileFormatError, match=f"{out}: is a FIFO"):
        with files.atomic_file(out) as tmp:
            tmp.write_text("new\n")
            out.unlink()
            os.mkfifo(out)
    assert stat.S_ISFIFO(os.lstat(out).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # the temporary file went


def test_a_regular_file_and_a_link_to_one_are_still_replaced(ws, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    assert cli_main(capsys, "export", "-w", str(ws), "-f", "alpaca-jsonl", "-o", str(out))[0] == 0
    assert len(out.read_text().splitlines()) == 3
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    assert cli_main(capsys, "export", "-w", str(ws), "-f", "alpaca-jsonl", "-o", str(link))[0] == 0
    assert not link.is_symlink() and real.read_text() == "old\n"  # the link is replaced, not written through


def test_every_writer_on_the_atomic_writer_refuses_a_device(ws, tmp_path):
    dev = char_device(tmp_path / "dev")
    with pytest.raises(FileFormatError, match=f"{dev}: is a character device"):
        write_pairs(dev, [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    with pytest.raises(FileFormatError, match=f"{dev}: is a character device"):
        exporting.save_tasks(dev, TASKS)
    charts_dir = tmp_path / "charts"
    charts_dir.mkdir()
    bundle = fifo(charts_dir / "plotly.min.js")
    with pytest.raises(FileFormatError, match=f"{bundle}: is a FIFO"):
        write_charts({}, charts_dir)
    assert os.stat(dev).st_rdev == NULL_DEV and stat.S_ISFIFO(os.lstat(bundle).st_mode)


# ---------------------------------------------------------------- impossible --out values


def test_an_empty_out_is_named_as_the_option(ws, capsys):
    code, stdout, err = cli_main(capsys, "export", "-w", str(ws), "-f", "csv", "--out", "")
    assert code == 2 and not stdout
    assert "error: export: --out is empty" in err and "PosixPath" not in err
    with Store(ws) as store, pytest.raises(ExportRefused, match="the output path is empty"):
        export_run(store, "data", fmt="csv", out="")


def test_an_out_with_no_file_name_is_refused(ws, tmp_path, capsys, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # not the workspace's folder, which has its own refusal
    for fmt in ("hf", "csv"):
        code, _, err = cli_main(capsys, "export", "-w", str(ws), "-f", fmt, "--out", ".")
        assert code == 2 and "error: .: names no file to write" in err and "PosixPath" not in err


@pytest.mark.parametrize("fmt", ["alpaca-jsonl", "hf"])
@pytest.mark.parametrize("below", ["out.jsonl", "sub/deeper/out.jsonl"])
def test_a_parent_that_is_a_file_is_named_not_the_manifest(ws, tmp_path, capsys, fmt, below):
    parent = tmp_path / "notes.txt"
    parent.write_text("keep me")
    code, _, err = cli_main(capsys, "export", "-w", str(ws), "-f", fmt, "-o", str(parent / below))
    assert code == 2
    assert f"error: {parent}: is a file, not a folder, so nothing can be written under it" in err
    assert "manifest" not in err and "Traceback" not in err
    assert parent.read_text() == "keep me"


def test_a_parent_that_is_a_fifo_is_named(ws, tmp_path, capsys):
    parent = fifo(tmp_path / "pipe")
    code, _, err = cli_main(capsys, "export", "-w", str(ws), "-f", "csv", "-o", str(parent / "out.csv"))
    assert code == 2 and f"error: {parent}: is a FIFO (named pipe), not a folder" in err
    assert stat.S_ISFIFO(os.lstat(parent).st_mode)


# ---------------------------------------------------------------- CSV formula cells

FORMULAS = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://example.com/x","click")',
    "+1",
    "-1",
    "@SUM(A1:A2)",
    "\tTab first",
    "\rCR first",
]
HOSTILE = [
    Task("=1+1", FORMULAS[0], (Instance(FORMULAS[1], FORMULAS[2]), Instance(FORMULAS[3], FORMULAS[4])), None,
         "-name"),
    Task("t1", "Plain instruction.", (Instance(FORMULAS[5], FORMULAS[6]), Instance("'=already quoted", "'Tis fine"))),
]
ESCAPED = 2 * 3 + 4 + 3  # id, name and instruction on both rows of task 0; its 4 cells; tab, CR, "'=already"


def _hostile_csv(tmp_path: Path, capsys) -> Path:
    path = tmp_path / "ws.sqlite"
    with Store(path) as store:
        store.create_run("hostile", kind="import", tasks=HOSTILE, origin="import", state="done")
    out = tmp_path / "out.csv"
    code, stdout, _ = cli_main(capsys, "export", "-w", str(path), "-f", "csv", "-o", str(out))
    assert code == 0 and f"csv formula cells escaped: {ESCAPED}" in stdout
    return out


def test_csv_cells_a_spreadsheet_would_run_get_a_leading_quote(tmp_path, capsys):
    out = _hostile_csv(tmp_path, capsys)
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    cells = [c for row in rows[1:] for c in row]
    assert not [c for c in cells if c.startswith(codecs.FORMULA_STARTS)]
    for formula in FORMULAS:
        assert "'" + formula in cells
    assert "''=already quoted" in cells and "'Tis fine" in cells  # "'Tis" starts no formula: left as it is
    assert rows[1][:2] == ["'=1+1", "'-name"]
    manifest = json.loads((tmp_path / "out.csv.manifest.json").read_text())
    assert manifest["counts"][exporting.CSV_ESCAPED] == ESCAPED and "OWASP" in manifest["csv_escape"]


def test_an_escaped_csv_imports_back_exactly_while_its_manifest_is_beside_it(tmp_path, capsys):
    out = _hostile_csv(tmp_path, capsys)
    back = read_file(out)
    assert not back.bad
    assert [(t.id, t.name, t.instruction, t.instances) for t in back.tasks] == \
           [(t.id, t.name, t.instruction, t.instances) for t in HOSTILE]
    with Store(tmp_path / "back.sqlite") as store:
        run = import_file(store, out).run
        assert sorted(t.instruction for t in store.tasks(run.id)) == sorted(t.instruction for t in HOSTILE)
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "out.csv").write_bytes(out.read_bytes())  # without its manifest: not known to be ours
    assert read_file(alone / "out.csv").tasks[0].instruction == "'" + FORMULAS[0]


def test_a_manifest_that_is_not_a_regular_file_means_not_escaped(tmp_path, capsys):
    out = _hostile_csv(tmp_path, capsys)
    manifest = tmp_path / "out.csv.manifest.json"
    manifest.unlink()
    fifo(manifest)  # would hang a reader that opened it blindly
    assert not exporting.csv_was_escaped(out)
    assert read_file(out).tasks[0].instruction == "'" + FORMULAS[0]


def test_escaping_is_reversible_for_any_cell():
    for cell in [*FORMULAS, "'=x", "''=x", "'''+", "'Tis", "", "plain", "a=b", " =1", "'"]:
        safe, n = codecs.spreadsheet_safe({"c": cell, "flag": None})
        assert codecs.spreadsheet_unescaped(safe) == {"c": cell, "flag": None}, cell
        assert n == (safe["c"] != cell) and not safe["c"].startswith(codecs.FORMULA_STARTS)


# ---------------------------------------------------------------- the data card

EVIL_NAME = "evil\n# heading\r\n- item `code` <b>bold</b> [link](http://x)"


def test_the_card_escapes_the_run_name_and_shows_no_local_path(ws, tmp_path):
    source = tmp_path / "private" / "secret-data.csv"
    with Store(ws) as store:
        run = replace(store.run("data"), name=EVIL_NAME,
                      config={"source": {"file": str(source), "format": "csv",
                                         "skipped": [f"{source}:3: 'instruction' is empty"]}})
        res = export_run(store, run, fmt="hf", out=tmp_path / "out-hf", view=None)
    text = (res.path / "README.md").read_text(encoding="utf-8")
    assert str(tmp_path) not in text and "/private/" not in text
    assert "`ws.sqlite`" in text and "secret-data.csv" in text
    header, body = text.split("\n---\n", 1)
    assert json.loads(header.split("pretty_name: ", 1)[1].split("\n", 1)[0]) == EVIL_NAME
    fenced = False  # Table 1 sits in a code fence, where "# of instructions" is no heading
    headings = []
    for line in body.splitlines():
        fenced ^= line.startswith("```")
        if line.startswith("#") and not fenced:
            headings.append(line)
    assert headings[0] == r"# evil \# heading \- item \`code\` \<b\>bold\<\/b\> \[link\]\(http\:\/\/x\)"
    assert headings[1:] == ["## Fields", "## Statistics (as in Table 1 of the Self-Instruct paper)",
                            "## Language model", "## Filter settings", "## Generation config"]
    assert not [line for line in body.splitlines() if line.startswith("- item")]


def test_card_code_spans_hold_backticks_and_line_breaks():
    assert card._code("a``b") == "```a``b```"
    assert card._code("`x") == "`` `x ``"
    assert card._code("two\nlines") == "`two lines`"
