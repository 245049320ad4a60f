"""The Export page: a file lands beside the workspace by default, never from an empty path."""

from __future__ import annotations

from pathlib import Path

from tests.apptest_util import button, page


ROOT = Path(__file__).resolve().parents[1]


def test_export_writes_beside_the_workspace_by_default(ws):
    at = page("export")
    out = next(t for t in at.text_input if t.label == "Write to")
    expected = ws.resolve().parent / "exports" / "ws" / "fake-run-gpt3.jsonl"
    assert Path(out.value) == expected and not Path(out.value).is_relative_to(ROOT)
    button(at, "Export").click().run()
    assert not at.error, [e.value for e in at.error]
    assert expected.is_file()


def test_export_refuses_an_empty_write_to_box_naming_it(ws, tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # where an empty path would have written
    at = page("export")
    at.radio(key="ex_fmt").set_value("hf").run()
    next(t for t in at.text_input if t.label == "Write to").set_value("   ").run()
    button(at, "Export").click().run()
    assert any("**Write to** is empty" in e.value for e in at.error)
    assert not list(cwd.iterdir()) and not at.success
