"""`evaluate output-quality`: Self-Instruct's data-quality experiment in one resumable command."""

from __future__ import annotations

import json

from selfinstruct import compare
from selfinstruct.responses import run_items
from selfinstruct.store import Store
from selfinstruct.store.responses import response_set, response_sets, responses

from conftest import cli_main, fake_run


def test_output_quality_answers_compares_and_resumes(tmp_path, capsys):
    w = tmp_path / "w.sqlite"
    fake_run(w, 2)
    out, charts = tmp_path / "side.jsonl", tmp_path / "charts"
    args = ["evaluate", "output-quality", "-w", str(w), "--run", "fake-run", "--name", "strong", "--lm", "fake",
            "--no-progress", "--out", str(out), "--charts", str(charts)]
    code, stdout, err = cli_main(capsys, *args)
    assert code == 0, err
    with Store(w) as store:
        run = store.run("fake-run")
        kept = run_items(store, run)
        answers = {r.instance_id: r.text for r in responses(store, response_set(store, run.id, "strong").id)}
        summary = compare.compare_sets(store, run, ["original", "strong"], with_verb_noun=False)["summary"]
    assert kept and set(answers) == {it.instance_id for it in kept}
    assert f"re-answering {len(kept)} kept instances into response set 'strong' (0 already answered)" in err
    lines = stdout.splitlines()
    assert lines[0].startswith(f"output quality of run 'fake-run': {len(kept)} instances")
    table = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(table) == {"original", "strong"}
    assert table["strong"][1:3] == [str(len(kept)), f"{summary['strong']['mean_length']:.1f}"]
    assert table["strong"][-1] == f"{summary['strong']['rouge_vs_original_mean']:.3f}"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["instance_id"] for r in rows] == [it.instance_id for it in kept]
    assert [(r["instruction"], r["input"], r["original"], r["strong"]) for r in rows] == [
        (it.instruction, it.input, it.reference, answers[it.instance_id]) for it in kept]
    assert all(0 <= r["rouge_l"] <= 1 for r in rows)
    assert (charts / "output_lengths.html").is_file() and (charts / "rouge_vs_original.html").is_file()

    code, again, err = cli_main(capsys, *args)  # resumable: nothing left to answer, the same comparison
    assert code == 0 and f"({len(kept)} already answered)" in err and again == stdout
    assert "LM calls" not in err


def test_output_quality_estimate_only_makes_no_set(tmp_path, capsys):
    w = tmp_path / "w.sqlite"
    fake_run(w, 1)
    code, out, err = cli_main(capsys, "evaluate", "output-quality", "-w", str(w), "--name", "strong", "--lm", "fake",
                              "--estimate-only")
    assert code == 0 and "estimate:" in err and out == ""
    with Store(w) as store:
        assert response_sets(store, store.run("fake-run").id) == []
