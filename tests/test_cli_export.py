"""``export`` and ``import`` from the command line: what a run or view keeps, response sets,
provenance, refusals and exit codes."""

from __future__ import annotations

import errno
import json
import os

import pytest

from selfinstruct import filter_views
from selfinstruct.cli import main
from selfinstruct.config import FilterConfig, RunConfig
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from selfinstruct.store.responses import create_response_set, save_responses

from conftest import OUR_SEEDS


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A small generation run on the fake LM: seeds, kept and dropped machine instructions."""
    path = tmp_path_factory.mktemp("gen") / "ws.sqlite"
    store = Store(path)
    cfg = RunConfig(target=25)
    cfg.lm.backend = "fake"
    run = start_run(store, "gen", load_tasks(OUR_SEEDS), cfg)
    list(Pipeline(store, run, FakeLM()).events())
    store.close()
    return path


def _pairs(tasks):
    return sorted((t.instruction, i.input, i.output) for t in tasks for i in t.instances)


def test_export_without_view_is_the_kept_machine_data(generated, tmp_path, capsys):
    out = tmp_path / "gen.json"
    assert main(["export", "-w", str(generated), "--format", "alpaca", "--out", str(out)]) == 0
    store = Store(generated)
    run = store.run("gen")
    kept = filter_views.view_tasks(store, run)
    assert kept and all(t.origin == "machine" for t in kept)
    rows = json.loads(out.read_text())
    assert sorted((r["instruction"], r["input"], r["output"]) for r in rows) == _pairs(kept)
    seeds = {t.instruction for t in store.tasks(run.id, origin="seed")}
    assert not seeds & {r["instruction"] for r in rows}
    m = json.loads((tmp_path / "gen.json.manifest.json").read_text())
    assert m["run"] == "gen" and m["view"] is None and m["filters"] == run.config["filters"]
    assert m["counts"]["instructions_exported"] + m["counts"]["instructions_without_instances"] == len(kept)
    assert f"wrote {len(rows)} alpaca record(s) from run 'gen'" in capsys.readouterr().out


def test_export_of_a_view_is_what_the_view_keeps(generated, tmp_path):
    store = Store(generated)
    run = store.run("gen")
    strict = FilterConfig(rouge_threshold=0.4, min_words=6)
    filter_views.save_view(store, run, "strict", strict)
    out = tmp_path / "strict.jsonl"
    assert main(["export", "-w", str(generated), "--run", "gen", "--view", "strict", "-f", "alpaca-jsonl",
                 "-o", str(out), "--json"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    expected = filter_views.view_tasks(store, run, "strict")
    assert sorted((r["instruction"], r["input"], r["output"]) for r in rows) == _pairs(expected)
    assert len({r["instruction"] for r in rows}) < len(filter_views.view_tasks(store, run))
    m = json.loads((tmp_path / "strict.jsonl.manifest.json").read_text())
    assert m["view"] == "strict" and m["filters"]["min_words"] == 6 and m["filters"]["rouge_threshold"] == 0.4


def test_an_export_of_no_record_is_refused_with_the_counts_and_keeps_the_old_file(generated, tmp_path, capsys):
    store = Store(generated)
    run = store.run("gen")
    filter_views.save_view(store, run, "no-instances", FilterConfig(max_instances=0))
    n = len(filter_views.view_tasks(store, run, "no-instances"))
    out = tmp_path / "none.jsonl"
    out.write_text("an earlier export\n")
    assert main(["export", "-w", str(generated), "--view", "no-instances", "-f", "chat", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "would hold no record, so nothing was written" in err
    assert f"instructions selected {n}, instructions without instances {n}, instructions exported 0" in err
    assert out.read_text() == "an earlier export\n" and sorted(p.name for p in tmp_path.iterdir()) == ["none.jsonl"]


def test_export_with_responses_uses_the_sets_outputs(generated, tmp_path):
    store = Store(generated)
    run = store.run("gen")
    kept_ids = {r.id for r in store.instructions(run.id, origin="machine", verdict="keep")}
    insts = [i for i in store.instances(run_id=run.id) if i.instruction_id in kept_ids and i.verdict == "keep"]
    rset = create_response_set(store, run.id, "stronger", model="big-model")
    answered = insts[: len(insts) - 2]
    save_responses(store, rset.id, [(i.id, f"better answer {i.id}", None, "stop") for i in answered])
    out = tmp_path / "better.csv"
    assert main(["export", "-w", str(generated), "-f", "csv", "-o", str(out), "--responses", "stronger"]) == 0
    import pandas as pd

    frame = pd.read_csv(out, keep_default_na=False, dtype=str)
    assert sorted(frame["output"]) == sorted(f"better answer {i.id}" for i in answered)
    m = json.loads((tmp_path / "better.csv.manifest.json").read_text())
    assert m["counts"]["instances_without_response"] == 2
    assert m["responses"] == {"name": "stronger", "model": "big-model", "kind": "answer"}


def test_hf_export_card_names_the_model_and_filters(generated, tmp_path):
    out = tmp_path / "ds"
    assert main(["export", "-w", str(generated), "-f", "hf", "-o", str(out)]) == 0
    card = (out / "README.md").read_text()
    assert "backend `fake`" in card and '"rouge_threshold": 0.7' in card and '"target": 25' in card
    assert "# of instructions" in card


def test_unknown_view_or_format_fails_cleanly(generated, tmp_path, capsys):
    assert main(["export", "-w", str(generated), "--view", "nope", "-f", "chat", "-o", str(tmp_path / "x")]) == 2
    assert main(["export", "-w", str(generated), "-f", "xml", "-o", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "no view 'nope'" in err and "unknown format 'xml'" in err
    assert list(tmp_path.iterdir()) == []


def test_import_then_reexport_through_the_cli(tmp_path, capsys):
    src = tmp_path / "mine.json"
    src.write_text(json.dumps([{"instruction": "Double the number.", "input": str(i), "output": str(2 * i)}
                               for i in range(1, 4)] + [{"instruction": "Say hi.", "input": "", "output": "Hi!"}]))
    ws = tmp_path / "ws.sqlite"
    assert main(["import", "-w", str(ws), "--file", str(src)]) == 0
    assert "imported 4 alpaca record(s)" in capsys.readouterr().out
    store = Store(ws)
    run = store.run("mine")
    assert run.kind == "import" and [len(t.instances) for t in store.tasks(run.id)] == [3, 1]
    out = tmp_path / "again.jsonl"
    assert main(["export", "-w", str(ws), "--run", "mine", "-f", "alpaca-jsonl", "-o", str(out)]) == 0
    assert [json.loads(x) for x in out.read_text().splitlines()] == json.loads(src.read_text())
    assert main(["import", "-w", str(ws), "--file", str(src)]) == 0
    assert [r.name for r in store.runs()] == ["mine", "mine-2"]


def test_import_refusal_names_lines_and_imports_nothing(tmp_path, capsys):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"instruction": "Fine one.", "output": "ok"}\n{"instruction": "No output."}\n')
    ws = tmp_path / "ws.sqlite"
    assert main(["import", "-w", str(ws), "--file", str(src)]) == 2
    err = capsys.readouterr().err
    assert f"{src}:2: missing field 'output'" in err and "--skip-bad" in err
    assert Store(ws).runs() == []
    assert main(["import", "-w", str(ws), "--file", str(src), "--skip-bad", "--name", "ok"]) == 0
    captured = capsys.readouterr()
    assert "imported 1" in captured.out and f"{src}:2: missing field 'output'" in captured.err


def test_user_oriented_data_through_the_cli(tmp_path):
    from conftest import USER_ORIENTED, shared_file

    path = shared_file(USER_ORIENTED)
    ws = tmp_path / "ws.sqlite"
    assert main(["import", "-w", str(ws), "--file", str(path), "--format", "user-oriented", "--name", "uo"]) == 0
    out = tmp_path / "uo.jsonl"
    assert main(["export", "-w", str(ws), "-f", "chat", "-o", str(out), "--system", "Answer well."]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 252 and all(x["messages"][0] == {"role": "system", "content": "Answer well."} for x in lines)
    expected = sorted(f"{t.instruction}\n\n{i.input}" if i.input.strip() else t.instruction
                      for t in load_tasks(path) for i in t.instances)
    assert sorted(x["messages"][1]["content"] for x in lines) == expected


def test_export_page_writes_what_the_cli_writes(generated, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(generated))
    at = AppTest.from_file("../dashboard/screens/export.py", default_timeout=60).run()
    assert not at.exception
    page_out = tmp_path / "page.json"
    at.radio(key="ex_fmt").set_value("alpaca").run()
    at.text_input[0].set_value(str(page_out)).run()
    at.button[0].click().run()
    assert not at.exception and at.success and not at.error
    cli_out = tmp_path / "cli.json"
    assert main(["export", "-w", str(generated), "-f", "alpaca", "-o", str(cli_out)]) == 0
    assert page_out.read_bytes() == cli_out.read_bytes()


def _small_workspace(tmp_path):
    src = tmp_path / "src.jsonl"
    src.write_text(json.dumps({"instruction": "Say hi.", "input": "", "output": "Hi!"}) + "\n")
    ws = tmp_path / "self.sqlite"
    assert main(["import", "-w", str(ws), "--file", str(src)]) == 0
    return ws


def test_export_refuses_to_write_over_the_workspace(tmp_path, monkeypatch, capsys):
    ws = _small_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link.json").symlink_to(ws)
    for fmt, out in (("alpaca", str(ws)), ("alpaca", "self.sqlite"), ("alpaca", "./x/../self.sqlite"),
                     ("alpaca-jsonl", "link.json"), ("chat", "self.sqlite-wal"), ("csv", "self.sqlite-journal"),
                     ("hf", "."), ("hf", str(tmp_path))):
        capsys.readouterr()
        assert main(["export", "-w", "self.sqlite", "-f", fmt, "-o", out]) == 2, out
        assert "choose another output path" in capsys.readouterr().err
    assert Store(ws).run("src").kind == "import" and (tmp_path / "link.json").is_symlink()
    assert not (tmp_path / "self.sqlite-journal").exists()


def test_max_instances_below_one_is_an_argument_error(generated, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", "-w", str(generated), "-f", "gpt3", "-o", str(tmp_path / "g.jsonl"), "--max-instances", "0"])
    assert e.value.code == 2 and "--max-instances: must be at least 1, got 0" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_options_of_other_formats_are_warned_about(generated, tmp_path, capsys):
    assert main(["export", "-w", str(generated), "-f", "chat", "-o", str(tmp_path / "c.jsonl"), "--seed", "1",
                 "--max-instances", "3", "--system", "Be kind."]) == 0
    err = capsys.readouterr().err
    assert "warning: --seed only applies to --format gpt3; ignored for chat" in err
    assert "warning: --max-instances only applies to --format gpt3" in err and "--system" not in err
    assert main(["export", "-w", str(generated), "-f", "gpt3", "-o", str(tmp_path / "g.jsonl"), "--seed", "1",
                 "--system", "x"]) == 0
    err = capsys.readouterr().err
    assert "--seed" not in err and "warning: --system only applies to --format chat and sharegpt" in err


def test_a_blank_system_message_is_left_out(generated, tmp_path):
    from selfinstruct.finetune import check_chat_file

    out = tmp_path / "c.jsonl"
    assert main(["export", "-w", str(generated), "-f", "chat", "-o", str(out), "--system", "  "]) == 0
    assert check_chat_file(out) > 0
    assert all(json.loads(x)["messages"][0]["role"] == "user" for x in out.read_text().splitlines())


def test_a_full_disk_names_the_output_path(generated, tmp_path, monkeypatch, capsys):
    from selfinstruct.formats import files

    def full(path, records):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "write_jsonl", full)
    out = tmp_path / "out.jsonl"
    assert main(["export", "-w", str(generated), "-f", "chat", "-o", str(out)]) == 2
    assert f"error: {out}: cannot write: No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_stats_on_a_bad_file_suggests_what_stats_users_can_do(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "Fine one.", "output": "ok"}\n{"instruction": "No output."}\n')
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"question": "x", "answer": "y"}\n')
    for path, says in ((bad, "nothing was analysed (fix them, or import the file with --skip-bad, then analyse"),
                       (odd, "cannot tell the format from this record (answer, question); import it with --format")):
        assert main(["stats", "--file", str(path)]) == 2
        err = capsys.readouterr().err
        assert says in err and "pass --" not in err and "nothing was imported" not in err, err


def test_stats_and_import_refuse_a_folder_of_several_data_sets(generated, tmp_path, capsys):
    for name in ("one", "two"):
        assert main(["export", "-w", str(generated), "-f", "hf", "-o", str(tmp_path / "all" / name)]) == 0
    capsys.readouterr()
    ws = tmp_path / "ws.sqlite"
    assert main(["stats", "--file", str(tmp_path / "all")]) == 2
    assert main(["import", "-w", str(ws), "--file", str(tmp_path / "all")]) == 2
    err = capsys.readouterr().err
    assert err.count("these folders hold data sets of their own: one, two") == 2
    assert Store(ws).runs() == []
