"""The CLI end to end on the fake LM, including resume after SIGKILLs with 64 requests in flight."""

import json
import os
import signal
import subprocess
import sys

import pytest

from selfinstruct.cli import main
from selfinstruct.store import Store
from selfinstruct.store.check import check

from conftest import ROOT, USER_ORIENTED, cli, shared_file, wait_until


def test_generate_status_stats_check(workspace, capsys):
    assert main(["generate", "-w", str(workspace), "--lm", "fake", "--target", "25", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "kept/gen=" in err and "done" in err
    assert main(["status", "-w", str(workspace), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)[0]
    assert status["state"] == "done" and status["counts"]["kept"] == 25
    assert main(["stats", "-w", str(workspace), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    for key in ("n_instructions", "n_classification", "n_non_classification", "n_instances", "n_empty_input",
                "avg_instruction_words", "avg_nonempty_input_words", "avg_output_words"):
        assert key in stats
    assert stats["n_instructions"] == 25
    assert stats["n_classification"] + stats["n_non_classification"] == 25
    assert main(["check", "-w", str(workspace)]) == 0


def test_stats_on_a_seed_file_equals_a_direct_count(capsys):
    path = shared_file(USER_ORIENTED)
    assert main(["stats", "--seeds", str(path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert stats["n_instructions"] == len(rows) == 252
    assert stats["n_instances"] == sum(len(r["instances"]) for r in rows)
    words = [len(r["instruction"].split()) for r in rows]
    assert abs(stats["avg_instruction_words"] - sum(words) / len(words)) < 1e-9


def test_errors_are_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x"}\n')
    assert main(["generate", "-w", str(tmp_path / "w.sqlite"), "--seeds", str(bad), "--lm", "fake"]) == 2
    assert f"error: {bad}:1: missing field 'instances'" in capsys.readouterr().err
    assert not (tmp_path / "w.sqlite").exists()  # nothing made for a command that failed its checks
    Store(tmp_path / "w.sqlite")
    assert main(["status", "-w", str(tmp_path / "w.sqlite"), "--run", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


KILLED_AFTER = (3, 41, 17, 150, 64, 9, 230, 90, 33, 120)  # answers recorded by a child before its SIGKILL
FAST_FAKE = {"SELFINSTRUCT_FAKE_CONCURRENCY": "64", "SELFINSTRUCT_FAKE_DELAY": "0.03"}


def ok_calls(ws) -> int:
    with Store(ws) as store:
        return store.scalar("SELECT COUNT(*) FROM lm_calls WHERE error IS NULL") or 0


@pytest.mark.slow
def test_killed_ten_times_with_64_in_flight_and_resumed_equals_an_uninterrupted_run(tmp_path):
    """SIGKILL lands wherever the scheduler is: answers arriving out of order, iterations judged but
    not saved, later ones under way. Each resume gives back the same data set and pays no call twice."""
    def generate(ws):
        return ["generate", "-w", str(ws), "--lm", "fake", "--target", "600", "--no-progress"]

    env = {**os.environ, **FAST_FAKE}
    ref = tmp_path / "ref.sqlite"
    assert cli(*generate(ref), env=FAST_FAKE).returncode == 0

    ws = tmp_path / "killed.sqlite"
    for kill, after in enumerate(KILLED_AFTER):
        before = ok_calls(ws) if ws.exists() else 0
        p = subprocess.Popen([sys.executable, "-m", "selfinstruct", *generate(ws)], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: p.poll() is not None or (ws.exists() and ok_calls(ws) >= before + after),
                       timeout=120, interval=0.005, message=f"kill {kill}: {after} answers recorded")
        finally:
            p.send_signal(signal.SIGKILL)
            _, err = p.communicate()
        assert p.returncode == -signal.SIGKILL, f"kill {kill}: the run ended first (exit {p.returncode}): {err[-2000:]}"
    with Store(ws) as store:
        assert store.default_run().state != "done"
    done = cli(*generate(ws), env=FAST_FAKE)
    assert done.returncode == 0, done.stderr

    a, b = Store(ref), Store(ws)
    ra, rb = a.default_run(), b.default_run()
    assert rb.state == "done"
    assert [(r.iteration, r.text, r.verdict, r.reason) for r in a.instructions(ra.id)] == \
           [(r.iteration, r.text, r.verdict, r.reason) for r in b.instructions(rb.id)]
    assert [(i.input, i.output, i.verdict) for i in a.instances(run_id=ra.id)] == \
           [(i.input, i.output, i.verdict) for i in b.instances(run_id=rb.id)]
    # none paid twice: no answer recorded twice under one key
    assert b.scalar("SELECT COUNT(*) - COUNT(DISTINCT cache_key) FROM lm_calls WHERE error IS NULL") == 0
    assert not any(check(b).values())
    assert cli("check", "-w", str(ws)).returncode == 0


def test_the_fake_backend_has_64_requests_in_flight(tmp_path, monkeypatch):
    """What the kill test relies on: the scheduler fills the backend's concurrency."""
    from selfinstruct.cli.common import make_lm
    from selfinstruct.config import LMConfig, RunConfig
    from selfinstruct.pipeline import Pipeline, start_run
    from selfinstruct.seeds import load_tasks
    from conftest import OUR_SEEDS

    for key, value in FAST_FAKE.items():
        monkeypatch.setenv(key, value)
    lm = make_lm(LMConfig(backend="fake"))
    store = Store(tmp_path / "w.sqlite")
    run = start_run(store, "r", load_tasks(OUR_SEEDS), RunConfig(target=300))
    list(Pipeline(store, run, lm).events())
    assert lm.peak == 64


def test_second_writer_on_a_running_run_is_refused(tmp_path):
    ws = tmp_path / "w.sqlite"
    env = {"SELFINSTRUCT_FAKE_DELAY": "0.05"}
    p = subprocess.Popen([sys.executable, "-m", "selfinstruct", "generate", "-w", str(ws), "--lm", "fake",
                          "--target", "500", "--no-progress"], cwd=ROOT, env={**os.environ, **env},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: ws.exists() and Store(ws).runs() and Store(ws).default_run().state == "running",
                   timeout=30, interval=0.2, message="the first writer running")
        before = Store(ws).default_run().config
        second = cli("generate", "-w", str(ws), "--lm", "fake", "--target", "7", "--rouge-threshold", "0.05",
                     env=env)
        assert second.returncode == 2 and "being written by cli" in second.stderr
        assert Store(ws).default_run().config == before  # the refused writer changed nothing
        status = cli("status", "-w", str(ws))  # readers are never blocked
        assert status.returncode == 0 and "running" in status.stdout and f"pid {p.pid}" in status.stdout
    finally:
        p.kill()
        p.wait()
    status = cli("status", "-w", str(ws))  # killed: the stale lock is not shown as a live writer
    assert "interrupted: the process writing it stopped" in status.stdout and "writer:" not in status.stdout


def test_bad_settings_are_refused_before_anything_is_stored(tmp_path, capsys):
    ws = tmp_path / "w.sqlite"
    bad = tmp_path / "bad.toml"
    bad.write_text("[filters]\ntokenizer = 'foo'\n")
    assert main(["generate", "-w", str(ws), "--lm", "fake", "--config", str(bad)]) == 2
    assert f"error: {bad}: filters.tokenizer: must be one of rouge, unicode" in capsys.readouterr().err
    for flags in (["--target", "-5"], ["--rouge-threshold", "-1"], ["--request-batch-size", "0"],
                  ["--max-tokens", "0"], ["--lm", "openai", "--model", "m", "--base-url", "http://[::1/v1"]):
        assert main(["generate", "-w", str(ws), "--lm", "fake", *flags]) == 2, flags
        assert "error: " in capsys.readouterr().err
    assert Store(ws).runs() == []
    assert main(["generate", "-w", str(ws), "--lm", "fake", "--run", " "]) == 2


def test_a_config_given_again_on_resume_is_applied(tmp_path, capsys):
    ws, cfg = tmp_path / "w.sqlite", tmp_path / "run.toml"
    cfg.write_text("target = 10\n")
    args = ["generate", "-w", str(ws), "--lm", "fake", "--config", str(cfg), "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0  # the same command: nothing changes
    assert "changed setting" not in capsys.readouterr().err
    cfg.write_text("target = 20\n")
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "changed setting target: 10 -> 20" in err and "done" in err
    assert Store(ws).counts(Store(ws).default_run().id)["kept"] == 20


def test_read_commands_neither_create_nor_convert_workspaces(tmp_path, capsys):
    import sqlite3

    typo = tmp_path / "typo" / "ws.sqlite"
    for cmd in ("status", "check", "stats", "export"):
        extra = ["--format", "alpaca", "--out", str(tmp_path / "o.json")] if cmd == "export" else []
        assert main([cmd, "-w", str(typo), *extra]) == 2
        assert f"workspace {typo}: no such file" in capsys.readouterr().err
    assert not typo.parent.exists()
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE notes(x)")
    before = foreign.read_bytes()
    for cmd in ("status", "generate"):
        assert main([cmd, "-w", str(foreign), "--lm", "fake"] if cmd == "generate" else [cmd, "-w", str(foreign)]) == 2
        assert "not a Self-Instruct Studio workspace (an SQLite database with tables notes)" in capsys.readouterr().err
    assert foreign.read_bytes() == before and not (tmp_path / "other.sqlite-wal").exists()
    assert main(["status", "-w", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly(workspace):
    assert main(["generate", "-w", str(workspace), "--lm", "fake", "--target", "5", "--no-progress"]) == 0
    p = subprocess.run(f"{sys.executable} -m selfinstruct stats -w {workspace} --json | head -c 10",
                       shell=True, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert len(p.stdout) == 10 and "Broken pipe" not in p.stderr and "Traceback" not in p.stderr


def test_stats_and_charts_on_an_alpaca_file(tmp_path, capsys):
    data = [{"instruction": "Give two synonyms for happy.", "input": "", "output": "Glad, cheerful."},
            {"instruction": "Classify the sentiment of the review.", "input": "I loved it.", "output": "Positive"}]
    f = tmp_path / "alpaca.json"
    f.write_text(json.dumps(data))
    assert main(["stats", "--file", str(f), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["n_instructions"] == 2 and stats["n_empty_input"] == 1
    assert main(["charts", "--file", str(f), "--out", str(tmp_path / "charts")]) == 0
    written = capsys.readouterr().out.split()
    assert any(p.endswith("verb_noun_sunburst.html") for p in written)
    assert (tmp_path / "charts" / "plotly.min.js").exists()


def test_read_commands_leave_an_archived_workspace_as_it_is(tmp_path, capsys):
    import hashlib
    import shutil

    ws = tmp_path / "demo.sqlite"
    shutil.copy(ROOT / "demo" / "demo.sqlite", ws)  # shipped in rollback-journal mode
    digest = hashlib.sha256(ws.read_bytes()).hexdigest()
    for args in (["status"], ["check"], ["stats", "--json"], ["evaluate", "rouge"],
                 ["export", "--format", "alpaca", "--out", str(tmp_path / "out" / "d.json")]):
        cmd = args[:2] if args[0] == "evaluate" else args[:1]
        assert main([*cmd, "-w", str(ws), *args[len(cmd):]]) == 0, args
    assert hashlib.sha256(ws.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.sqlite", "out"]
    # a command that adds to it opens it for writing (and brings it up to date)
    assert main(["answer", "-w", str(ws), "--name", "fake", "--lm", "fake", "--limit", "2", "--no-progress"]) == 0
    assert "response set 'fake': 2/2 done" in capsys.readouterr().err


def test_a_foreign_file_with_a_runs_table_is_refused_untouched(tmp_path, capsys):
    import sqlite3

    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE runs(x)")
    before = foreign.read_bytes()
    assert main(["generate", "-w", str(foreign), "--lm", "fake"]) == 2
    assert "not a Self-Instruct Studio workspace" in capsys.readouterr().err
    assert foreign.read_bytes() == before


def test_a_new_workspace_is_not_made_for_a_command_that_fails_its_checks(tmp_path, capsys):
    ws = tmp_path / "new" / "w.sqlite"
    assert main(["generate", "-w", str(ws), "--lm", "fake", "--target", "-1"]) == 2
    assert main(["generate", "-w", str(ws), "--lm", "fake", "--seeds", str(tmp_path / "missing.jsonl")]) == 2
    assert not ws.exists()
