"""``dedup``: kept records equal a plain greedy ROUGE-L filter's in every import format, the report is
exact, --against blocks without being dropped, bad input writes nothing, and --ray gives the same bytes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from selfinstruct.cli import main
from selfinstruct.dedup import DedupRefused, dedup_file
from selfinstruct.formats import FORMATS, ExportOptions, read_file, resolve
from selfinstruct.formats.exporting import export_run, write_tasks
from selfinstruct.novelty import greedy_filter
from selfinstruct.records import Instance, Task
from selfinstruct.store import Store

from conftest import OUR_SEEDS

WORDS = "write a short poem story about the sea sky city list three five ways to improve reduce your sleep diet " \
        "explain why how people cats dogs summarize this article email in one sentence".split()


def _tasks(n: int, seed: int = 0) -> list[Task]:
    """Tasks from a small vocabulary, a third of them an earlier instruction with one word changed."""
    rng = random.Random(seed)
    texts: list[str] = []
    while len(texts) < n:
        if texts and rng.random() < 0.35:
            w = rng.choice(texts).split()
            w[rng.randrange(len(w))] = rng.choice(WORDS)
            text = " ".join(w)
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10)))
        if text not in texts:
            texts.append(text)
    return [Task(f"t{i}", t.capitalize() + ".",
                 tuple(Instance(f"in {i}.{k}", f"out {i}.{k}") for k in range(1 + i % 2)), i % 3 == 0, f"n{i}")
            for i, t in enumerate(texts)]


def _write(path: Path, fmt: str, tasks: list[Task]) -> Path:
    if resolve(fmt).folder:
        path.mkdir()
    write_tasks(tasks, resolve(fmt), path, ExportOptions())
    return path


def _instances(tasks) -> list[tuple[str, str, str]]:
    return [(t.instruction, i.input, i.output) for t in tasks for i in t.instances]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_keeps_what_greedy_filter_keeps(tmp_path: Path, fmt: str) -> None:
    src = _write(tmp_path / f"data{resolve(fmt).suffix}", fmt, _tasks(120))
    given = read_file(src).tasks
    ref = greedy_filter([t.instruction for t in given], [], 0.7)
    assert 10 < ref.kept.count(False) < len(given) - 10  # the workload has something to drop and to keep
    res = dedup_file(src)
    assert res.out == tmp_path / (f"data.dedup{resolve(fmt).suffix}" if resolve(fmt).suffix else "data.dedup")
    back = read_file(res.out)
    assert back.format == read_file(src).format
    kept = [t for t, k in zip(given, ref.kept) if k]
    assert _instances(back.tasks) == _instances(kept)
    assert res.kept == (len(kept) if fmt == "seeds" else sum(len(t.instances) for t in kept))  # records
    report = [json.loads(line) for line in res.report.read_text().splitlines()]
    assert len(report) == len(res.dropped) == res.records - res.kept
    by_text = {t.instruction: s for t, s in zip(given, ref.scores)}
    for row in report:
        assert row["score"] == by_text[row["text"]] > 0.7


REPORT_INPUT = [
    {"instruction": "Write a poem about the sea.", "input": "", "output": "waves"},
    {"instruction": "List three ways to sleep better.", "input": "", "output": "dark"},
    {"instruction": "Write a poem about the sea!", "input": "x", "output": "more waves"},
    {"instruction": "List three ways to sleep better.", "input": "", "output": "dark"},
    {"instruction": "Write a short poem about the sea.", "input": "", "output": "w"},
    {"instruction": "Give me a recipe for bread.", "input": "", "output": "flour"},
]


def test_report_names_each_dropped_record_and_its_blocker(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in REPORT_INPUT))
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"id": "s1", "name": "bread", "instruction": "Give a recipe for bread.",
                                 "instances": [{"input": "", "output": "x"}], "is_classification": False}) + "\n")
    res = dedup_file(src, tmp_path / "out.jsonl", report=tmp_path / "report.jsonl", against=seeds)
    poem, bread = greedy_filter(["Write a short poem about the sea.", "Give me a recipe for bread."],
                                ["Write a poem about the sea.", "Give a recipe for bread."]).scores
    assert [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()] == REPORT_INPUT[:2]
    s = str(src)
    assert [json.loads(x) for x in (tmp_path / "report.jsonl").read_text().splitlines()] == [
        {"record": 3, "where": f"{s}:3", "id": None, "text": "Write a poem about the sea!", "score": 1.0,
         "blocked_by_record": 1, "blocked_by_where": f"{s}:1", "blocked_by_id": None,
         "blocked_by_text": "Write a poem about the sea."},
        {"record": 4, "where": f"{s}:4", "id": None, "text": "List three ways to sleep better.", "score": 1.0,
         "blocked_by_record": 2, "blocked_by_where": f"{s}:2", "blocked_by_id": None,
         "blocked_by_text": "List three ways to sleep better."},
        {"record": 5, "where": f"{s}:5", "id": None, "text": "Write a short poem about the sea.",
         "score": poem, "blocked_by_record": 1, "blocked_by_where": f"{s}:1",
         "blocked_by_id": None, "blocked_by_text": "Write a poem about the sea."},
        {"record": 6, "where": f"{s}:6", "id": None, "text": "Give me a recipe for bread.",
         "score": bread, "blocked_by_record": None, "blocked_by_where": f"{seeds}:1",
         "blocked_by_id": "s1", "blocked_by_text": "Give a recipe for bread."},
    ]
    assert (res.records, res.tasks, res.kept, len(res.dropped)) == (6, 5, 2, 4)
    csv_report = dedup_file(src, tmp_path / "out2.jsonl", report=tmp_path / "report.csv", against=seeds).report
    assert csv_report.read_text().splitlines()[0] == ",".join(
        ["record", "where", "id", "text", "score", "blocked_by_record", "blocked_by_where", "blocked_by_id",
         "blocked_by_text"])


def test_against_the_seed_tasks(tmp_path: Path) -> None:
    seeds = read_file(OUR_SEEDS).tasks
    near = [Task(f"c{i}", t.instruction.rstrip(".") + " now.", (Instance("", "o"),)) for i, t in enumerate(seeds[:30])]
    tasks = near + _tasks(40, seed=3)
    src = _write(tmp_path / "c.json", "alpaca", tasks)
    given = read_file(src).tasks
    ref = greedy_filter([t.instruction for t in given], [t.instruction for t in seeds], 0.7)
    res = dedup_file(src, against=OUR_SEEDS)
    assert _instances(read_file(res.out).tasks) == _instances([t for t, k in zip(given, ref.kept) if k])
    from_seeds = [d for d in res.dropped if d.blocked_by_record is None]
    assert len(from_seeds) >= 20 and all(d.blocked_by_where.startswith(f"{OUR_SEEDS}:") for d in from_seeds)
    assert OUR_SEEDS.read_bytes() == OUR_SEEDS.read_bytes()  # the --against file is only read


def test_tsv_and_escaped_csv_keep_their_layout(tmp_path: Path) -> None:
    tsv = tmp_path / "d.tsv"
    tsv.write_text("instruction\tinput\toutput\r\nSay hi.\t\thi\r\nSay hi!\t\thello\r\n=Sum the cells.\t\t=1+1\r\n")
    res = dedup_file(tsv)
    assert res.out.read_bytes() == b"instruction\tinput\toutput\r\nSay hi.\t\thi\r\n=Sum the cells.\t\t=1+1\r\n"
    assert read_file(res.out).tasks[1].instruction == "=Sum the cells."
    store = Store(tmp_path / "ws.sqlite")
    run = store.create_run("r", kind="import")
    store.add_tasks(run.id, [Task("a", "=Sum the cells.", (Instance("-4", "=1+1"),)),
                             Task("b", "=Sum the cells!", (Instance("", "2"),))], origin="import")
    ours = export_run(store, run, fmt="csv", out=tmp_path / "ours.csv").path  # formula cells escaped
    res = dedup_file(ours)
    assert "'=Sum the cells." in res.out.read_text()  # written as stored, with the manifest that says so
    assert _instances(read_file(res.out).tasks) == [("=Sum the cells.", "-4", "=1+1")]


def test_bad_input_names_the_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(REPORT_INPUT[0]) + "\n" + '{"instruction": 3, "output": "x"}\n')
    with pytest.raises(DedupRefused, match=rf"{src}:2: 'instruction' must be a string"):
        dedup_file(src)
    assert main(["dedup", str(src)]) == 2
    assert "bad.jsonl:2:" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_cli_summary_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in REPORT_INPUT))
    assert main(["dedup", str(src), "-o", str(src)]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert main(["dedup", str(src), "--threshold", "0.9", "--report", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert "read 6 record(s) (5 task(s)), kept 3, dropped 3" in out
    assert (tmp_path / "in.dedup.jsonl").exists() and (tmp_path / "r.csv").exists()


@pytest.mark.ray
def test_ray_output_is_byte_identical(tmp_path: Path, ray_cluster) -> None:
    pytest.importorskip("ray")
    src = _write(tmp_path / "big.jsonl", "alpaca-jsonl", _tasks(3000, seed=7))
    here = dedup_file(src, tmp_path / "here.jsonl", report=tmp_path / "here.report.jsonl")
    there = dedup_file(src, tmp_path / "ray.jsonl", report=tmp_path / "ray.report.jsonl", ray="auto")
    assert len(here.dropped) > 500
    assert (tmp_path / "here.jsonl").read_bytes() == (tmp_path / "ray.jsonl").read_bytes()
    assert (tmp_path / "here.report.jsonl").read_bytes() == (tmp_path / "ray.report.jsonl").read_bytes()
