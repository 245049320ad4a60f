"""Export formats against their published rules, round trips, the GPT-3 encoding, and a corpus
of broken import files that must be named by file and line and import nothing."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import stat
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selfinstruct import seeds
from selfinstruct.finetune import check_chat_file
from selfinstruct.formats import (
    FORMATS, ExportOptions, FileFormatError, ImportRefused, detect_format, export_run, import_file, read_file,
    resolve,
)
from selfinstruct.formats import codecs, exporting, files, gpt3
from selfinstruct.records import Instance, Task
from selfinstruct.store import Store

TRICKY = [
    Task("t0", "Add the two numbers.", (Instance("2, 3", "5"), Instance("10, -4", "6")), True, "add"),
    Task("t1", 'Rewrite the sentence "politely", keeping commas, and quotes.',
         (Instance('Give me "that", now!\nPlease.', 'Could you pass me "that", please?\r\nThanks.'),), False, "polite"),
    Task("t2", "Write a haiku about autumn.", (Instance("", "Leaves drift, cold and bright\nthe year exhales"),)),
    Task("t3", "Translate into French: keep the meaning.\n\nUse formal register.",
         (Instance("Good morning, sir.", "Bonjour, monsieur."), Instance("Thank you.", "Merci."),
          Instance("", "Bonjour — ça va ? ünïcödé ✓")), None, ""),
]
N_RECORDS = sum(len(t.instances) for t in TRICKY)


def _store_with(tmp_path: Path, tasks=TRICKY, name="data") -> tuple[Store, object]:
    store = Store(tmp_path / "ws.sqlite")
    run = store.create_run(name, kind="import")
    store.add_tasks(run.id, tasks, origin="import")
    return store, run


def _export(tmp_path, fmt, tasks=TRICKY, **kw):
    store, run = _store_with(tmp_path, tasks)
    out = tmp_path / f"out-{fmt}{FORMATS[fmt].suffix}"
    return export_run(store, run, fmt=fmt, out=out, **kw)


def _triples(tasks):
    return sorted((t.instruction, i.input, i.output) for t in tasks for i in t.instances)


# ---------------------------------------------------------------- the GPT-3 encoding


def test_every_template_decodes_back_exactly():
    cases = [("Sort the list.", "3, 1, 2", "1, 2, 3"),
             ("Summarise the text.", "First paragraph.\n\nSecond paragraph.", "Two paragraphs."),
             ("Tell a joke.", "", "Why did the chicken...")]
    for instruction, input, output in cases:
        templates = gpt3.WITH_INPUT if input else gpt3.WITHOUT_INPUT
        for prompt, completion in templates:
            p = prompt.format(instruction=instruction, input=input)
            c = completion.format(output=output) + gpt3.END
            assert gpt3.decode(p, c) == (instruction, input, output), (prompt, p)


def test_templates_are_varied_and_some_have_no_field_labels():
    for templates in (gpt3.WITH_INPUT, gpt3.WITHOUT_INPUT):
        assert len(templates) >= 5 and len(set(templates)) == len(templates)
        bare = [p for p, _ in templates if ":" not in p.replace("{instruction}", "").replace("{input}", "")
                and "#" not in p]
        assert len(bare) >= 2


def test_encoding_caps_instances_drops_bad_ones_and_deduplicates():
    many = Task("m", "Name a fruit that is red.", tuple(Instance(f"hint {i}", f"fruit {i}") for i in range(9)))
    bad = Task("b", "Give the capital city.", (
        Instance("France", "Paris"), Instance("France", "Lyon"),  # conflicting: both dropped
        Instance("Spain", ""), Instance("Italy", "Italy"), Instance("Peru", "Lima"), Instance("Peru", "Lima")))
    twin = Task("w", "Give the capital city.", (Instance("Peru", "Lima"),))
    enc = gpt3.encode([many, bad, twin], seed=7)
    assert all(set(p) == {"prompt", "completion"} for p in enc.pairs)
    decoded = [gpt3.decode(p["prompt"], p["completion"]) for p in enc.pairs]
    assert sum(d[0] == many.instruction for d in decoded) == 5
    capitals = sorted(d[1:] for d in decoded if d[0] == bad.instruction)
    assert capitals == [("Peru", "Lima")]
    assert enc.dropped == {"over_limit": 4, "conflicting_outputs": 2, "empty_output": 1, "output_equals_input": 1,
                           "duplicate_instance": 1, "duplicate_across_tasks": 1}
    assert enc.tasks_without_instances == 1
    assert len({(p["prompt"], p["completion"]) for p in enc.pairs}) == len(enc.pairs)
    assert all(p["completion"].endswith(gpt3.END) for p in enc.pairs)


def test_encoding_is_deterministic_for_a_seed_and_shuffled():
    tasks = [Task(f"t{i}", f"Do thing number {i} well.", (Instance(f"in {i}", f"out {i}"), Instance("", f"o{i}")))
             for i in range(40)]
    a, b, c = (gpt3.encode(tasks, seed=s).pairs for s in (1, 1, 2))
    assert a == b and a != c
    assert sorted(map(json.dumps, a)) != list(map(json.dumps, a))  # not in task order
    order = [gpt3.decode(p["prompt"], p["completion"])[0] for p in a]
    assert order != sorted(order, key=lambda s: int(s.split()[3]))


def test_gpt3_export_file_follows_the_rules(tmp_path):
    res = _export(tmp_path, "gpt3", options=ExportOptions(seed=3))
    lines = [json.loads(x) for x in res.path.read_text().splitlines()]
    assert lines and all(set(x) == {"prompt", "completion"} and x["prompt"] and x["completion"] for x in lines)
    per_task: dict[str, set] = {}
    for x in lines:
        ins, inp, out = gpt3.decode(x["prompt"], x["completion"])
        per_task.setdefault(ins, set()).add((inp, out))
    assert all(len(v) <= 5 for v in per_task.values())
    for pairs in per_task.values():  # no input with two outputs
        inputs = [i for i, _ in pairs]
        assert len(inputs) == len(set(inputs))
    again = _export(tmp_path / "again", "gpt3", options=ExportOptions(seed=3))
    assert again.path.read_bytes() == res.path.read_bytes()


# ---------------------------------------------------------------- each format's published rules


def test_chat_jsonl_lines_have_ordered_roles_and_text(tmp_path):
    res = _export(tmp_path, "chat", options=ExportOptions(system="You are helpful."))
    lines = res.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == N_RECORDS == res.manifest["counts"]["records"]
    for line in lines:
        rec = json.loads(line)
        assert set(rec) == {"messages"}
        roles = [m["role"] for m in rec["messages"]]
        assert roles in (["user", "assistant"], ["system", "user", "assistant"])
        assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) and m["content"].strip()
                   for m in rec["messages"])
    assert check_chat_file(res.path) == N_RECORDS
    first = json.loads(lines[0])["messages"]
    assert first == [{"role": "system", "content": "You are helpful."},
                     {"role": "user", "content": "Add the two numbers.\n\n2, 3"},
                     {"role": "assistant", "content": "5"}]


def test_chat_leaves_out_instances_with_empty_output(tmp_path):
    tasks = [Task("a", "Say nothing at all.", (Instance("", ""), Instance("x", "ok")))]
    res = _export(tmp_path, "chat", tasks=tasks)
    assert res.manifest["counts"]["instances_skipped_empty"] == 1 and res.manifest["counts"]["records"] == 1


def test_alpaca_json_is_an_array_of_the_three_fields(tmp_path):
    res = _export(tmp_path, "alpaca")
    data = json.loads(res.path.read_text(encoding="utf-8"))
    assert isinstance(data, list) and len(data) == N_RECORDS
    assert all(set(r) == {"instruction", "input", "output"} and all(isinstance(v, str) for v in r.values())
               for r in data)
    assert data[2] == {"instruction": TRICKY[1].instruction, "input": TRICKY[1].instances[0].input,
                       "output": TRICKY[1].instances[0].output}


def test_alpaca_jsonl_has_one_record_per_line(tmp_path):
    res = _export(tmp_path, "alpaca-jsonl")
    rows = [json.loads(x) for x in res.path.read_text(encoding="utf-8").splitlines()]
    assert [(r["instruction"], r["input"], r["output"]) for r in rows] == \
           [(t.instruction, i.input, i.output) for t in TRICKY for i in t.instances]


def test_sharegpt_conversations_go_human_then_gpt(tmp_path):
    res = _export(tmp_path, "sharegpt")
    data = json.loads(res.path.read_text(encoding="utf-8"))
    assert len(data) == N_RECORDS and len({d["id"] for d in data}) == N_RECORDS
    for d in data:
        assert set(d) == {"id", "conversations"}
        assert [t["from"] for t in d["conversations"]] == ["human", "gpt"]
        assert all(isinstance(t["value"], str) and t["value"].strip() for t in d["conversations"])


def test_hf_folder_holds_parquet_readable_by_pandas_and_pyarrow_and_a_card(tmp_path):
    res = _export(tmp_path, "hf")
    parquet = res.path / "data" / "train-00000-of-00001.parquet"
    table = pq.read_table(parquet)
    assert table.schema.names == list(codecs.COLUMNS)
    assert table.schema.field("is_classification").type == pa.bool_()
    assert all(table.schema.field(c).type == pa.string() for c in codecs.COLUMNS[:-1])
    frame = pd.read_parquet(parquet)
    assert len(frame) == N_RECORDS
    assert list(frame["is_classification"][:4]) == [True, True, False, None]
    card = (res.path / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "path: data/train-*.parquet" in card
    assert "# of instructions" in card and "# of instances" in card and "## Filter settings" in card
    assert "## Language model" in card and "## Generation config" in card
    assert json.loads((res.path / "manifest.json").read_text())["counts"]["records"] == N_RECORDS
    assert res.manifest_path == res.path / "manifest.json"


def test_csv_reads_back_in_pandas_with_newlines_and_quotes(tmp_path):
    res = _export(tmp_path, "csv")
    frame = pd.read_csv(res.path, keep_default_na=False, dtype=str)
    assert list(frame.columns) == list(codecs.COLUMNS)
    assert list(zip(frame["instruction"], frame["input"], frame["output"])) == \
           [(t.instruction, i.input, i.output) for t in TRICKY for i in t.instances]
    assert list(frame["is_classification"][:4]) == ["true", "true", "false", ""]


def test_seed_format_loads_with_the_seed_loader(tmp_path):
    res = _export(tmp_path, "seeds")
    back = seeds.load_tasks(res.path)
    assert [(t.id, t.instruction, t.instances) for t in back] == [(t.id, t.instruction, t.instances) for t in TRICKY]


def test_manifest_records_counts_and_provenance(tmp_path):
    res = _export(tmp_path, "alpaca")
    m = json.loads(res.manifest_path.read_text())
    assert res.manifest_path.name == "out-alpaca.json.manifest.json"
    assert m["format"] == "alpaca" and m["run"] == "data" and m["run_kind"] == "import" and m["view"] is None
    assert m["config_hash"].startswith("sha256:") and m["workspace"].endswith("ws.sqlite") and m["created_at"]
    assert m["counts"] == {"instructions_selected": 4, "instructions_without_instances": 0,
                           "instructions_exported": 4, "instances_exported": N_RECORDS, "records": N_RECORDS}


def test_instructions_without_instances_are_left_out_and_counted(tmp_path):
    tasks = [*TRICKY, Task("empty", "An instruction nobody answered.", ())]
    for fmt in FORMATS:
        res = _export(tmp_path / fmt, fmt, tasks=tasks)
        c = res.manifest["counts"]
        assert c["instructions_selected"] == 5 and c["instructions_without_instances"] == 1, fmt
        assert c["instructions_exported"] == 4, fmt


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_round_trip_keeps_every_record(tmp_path, fmt):
    res = _export(tmp_path, fmt)
    assert detect_format(res.path) == fmt
    store = Store(tmp_path / "back.sqlite")
    back = import_file(store, res.path)
    assert back.run.kind == "import" and back.parsed.format == fmt and not back.parsed.bad
    stored = store.tasks(back.run.id)
    n_back = len(stored) if fmt == "seeds" else sum(len(t.instances) for t in stored)
    assert n_back == back.parsed.records == res.manifest["counts"]["records"]
    if fmt in {"alpaca", "alpaca-jsonl", "csv", "hf", "seeds"}:
        assert _triples(stored) == _triples(TRICKY)
        assert [t.instruction for t in stored] == [t.instruction for t in TRICKY]
    elif fmt in {"chat", "sharegpt"}:
        assert _triples(stored) == sorted((codecs.user_text(t.instruction, i.input), "", i.output)
                                          for t in TRICKY for i in t.instances)
    else:
        assert _triples(stored) == sorted(
            (t, i.strip(), o.strip()) for t, i, o in _triples(TRICKY))
    if fmt in {"csv", "hf"}:
        assert [(t.id, t.name, t.is_classification) for t in stored] == \
               [(t.id, t.name, t.is_classification) for t in TRICKY]


def test_import_groups_records_of_one_instruction_into_one_task(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in [
        {"instruction": "Double it.", "input": "2", "output": "4"},
        {"instruction": "Halve it.", "input": "8", "output": "4"},
        {"instruction": "Double it.", "input": "5", "output": "10"},
    ]))
    tasks = read_file(p).tasks
    assert [(t.instruction, [i.input for i in t.instances]) for t in tasks] == \
           [("Double it.", ["2", "5"]), ("Halve it.", ["8"])]
    assert all(t.origin == "import" for t in tasks)


def test_format_names_and_aliases():
    assert resolve("OpenAI").name == "chat" and resolve("user-oriented").name == "seeds"
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        resolve("xml")


# ---------------------------------------------------------------- shared data


def test_user_oriented_and_official_seeds_import_and_export_in_every_format(tmp_path):
    from conftest import OFFICIAL_SEEDS, USER_ORIENTED, shared_file

    store = Store(tmp_path / "ws.sqlite")
    for path, n in ((shared_file(USER_ORIENTED), 252), (shared_file(OFFICIAL_SEEDS), 175)):
        res = import_file(store, path)
        assert res.parsed.format == "seeds" and res.parsed.records == n and len(store.tasks(res.run.id)) == n
        expected = seeds.load_tasks(path)
        n_inst = sum(len(t.instances) for t in expected)
        assert _triples(store.tasks(res.run.id)) == _triples(expected)
        for fmt in FORMATS:
            out = tmp_path / res.run.name / f"x{FORMATS[fmt].suffix}"
            m = export_run(store, res.run, fmt=fmt, out=out).manifest["counts"]
            assert m["instructions_exported"] == n and m["instances_exported"] == n_inst, fmt
            back = read_file(out)
            assert back.records == m["records"] and not back.bad, fmt
            if fmt == "gpt3":
                assert m["records"] + sum(m["instances_dropped_by_encoding"].values()) == n_inst
            else:
                assert m["records"] == (n if fmt == "seeds" else n_inst), fmt
            if fmt == "alpaca":
                rows = json.loads(out.read_text())
                assert {r["instruction"] for r in rows} == {t.instruction for t in expected}


# ---------------------------------------------------------------- atomic writes


def _no_leftovers(folder: Path, keep: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == keep


def test_failed_export_leaves_nothing_under_the_target_name(tmp_path, monkeypatch):
    store, run = _store_with(tmp_path)
    calls = {"n": 0}
    real = codecs.alpaca_record

    def flaky(task, n):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (simulated)")
        return real(task, n)

    monkeypatch.setattr(codecs, "alpaca_record", flaky)
    out = tmp_path / "exports" / "data.json"
    with pytest.raises(OSError, match="simulated"):
        export_run(store, run, fmt="alpaca", out=out)
    _no_leftovers(out.parent, set())


def test_failed_export_keeps_the_previous_file_whole(tmp_path, monkeypatch):
    store, run = _store_with(tmp_path)
    out = tmp_path / "data.jsonl"
    first = export_run(store, run, fmt="alpaca-jsonl", out=out)
    before, manifest_before = out.read_bytes(), first.manifest_path.read_bytes()
    monkeypatch.setattr(files, "write_jsonl", lambda *a: (_ for _ in ()).throw(OSError("simulated")))
    with pytest.raises(OSError):
        export_run(store, run, fmt="alpaca-jsonl", out=out)
    assert out.read_bytes() == before and first.manifest_path.read_bytes() == manifest_before
    _no_leftovers(tmp_path, {"ws.sqlite", "ws.sqlite-wal", "ws.sqlite-shm", "data.jsonl", "data.jsonl.manifest.json"})


def test_failed_folder_export_leaves_no_folder(tmp_path, monkeypatch):
    store, run = _store_with(tmp_path)
    monkeypatch.setattr(files, "write_parquet", lambda *a: (_ for _ in ()).throw(OSError("simulated")))
    out = tmp_path / "exports" / "ds"
    with pytest.raises(OSError):
        export_run(store, run, fmt="hf", out=out)
    _no_leftovers(out.parent, set())


def test_folder_export_replaces_an_older_one_whole(tmp_path):
    store, run = _store_with(tmp_path)
    out = tmp_path / "ds"
    export_run(store, run, fmt="hf", out=out)
    (out / "stale.txt").write_text("old")
    export_run(store, run, fmt="hf", out=out)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data", "manifest.json"]
    _no_leftovers(tmp_path, {"ws.sqlite", "ws.sqlite-wal", "ws.sqlite-shm", "ds"})


def test_failed_import_stores_nothing_not_even_the_run(tmp_path, monkeypatch):
    from selfinstruct.store import core

    store = Store(tmp_path / "ws.sqlite")
    p = tmp_path / "a.jsonl"
    p.write_text("".join(json.dumps({"instruction": f"Say {i} twice.", "output": f"{i} {i}"}) + "\n" for i in range(50)))
    calls = {"n": 0}
    real = core._Tx.insert_instance

    def failing(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 30:
            raise OSError("disk full (simulated)")
        return real(self, *a, **k)

    monkeypatch.setattr(core._Tx, "insert_instance", failing)
    with pytest.raises(OSError):
        import_file(store, p)
    assert store.runs() == []
    assert store.scalar("SELECT COUNT(*) FROM instructions") == 0


# ---------------------------------------------------------------- broken files

GOOD = {"instruction": "Add the numbers.", "input": "2 3", "output": "5"}
GOOD2 = {"instruction": "Name the colour of the sky.", "input": "", "output": "Blue."}
SEED = {"id": "s1", "name": "add", "instruction": "Add the numbers.", "instances": [{"input": "2 3", "output": "5"}],
        "is_classification": False}
SEED2 = dict(SEED, id="s2", instruction="Subtract the numbers.")
CHAT = {"messages": [{"role": "user", "content": "Hi there."}, {"role": "assistant", "content": "Hello."}]}
SHARE = {"conversations": [{"from": "human", "value": "Hi there."}, {"from": "gpt", "value": "Hello."}]}
PC = {"prompt": "Add the numbers.\n\n2 3\n=>", "completion": " 5<|endoftext|>"}


def jl(*objs) -> bytes:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs).encode()


def arr(*objs) -> bytes:
    return ("[\n" + ",\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs) + "\n]\n").encode()


def table(rows: list[dict], header: list[str] | None = None) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header or ["instruction", "input", "output"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def parquet(columns: dict) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


BOM = b"\xef\xbb\xbf"
LATIN1 = '{"instruction": "Say caf\xe9.", "output": "ok"}'.encode("latin-1")

# (case, format, file bytes, location after the file name (None: whole file), what the message says)
CORPUS = [
    ("alpaca-invalid-json", "alpaca-jsonl", jl(GOOD, '{"instruction": "x",'), ":2", "invalid JSON"),
    ("alpaca-wrong-type", "alpaca-jsonl", jl(GOOD, dict(GOOD2, instruction=5)), ":2", "'instruction' must be a string"),
    ("alpaca-input-list", "alpaca-jsonl", jl(dict(GOOD, input=["a"]), GOOD2), ":1", "'input' must be a string"),
    ("alpaca-missing-output", "alpaca-jsonl", jl({"instruction": "Do it now."}), ":1", "missing field 'output'"),
    ("alpaca-empty-instruction", "alpaca-jsonl", jl(GOOD, dict(GOOD2, instruction="  ")), ":2", "'instruction' is empty"),
    ("alpaca-unknown-field", "alpaca-jsonl", jl(GOOD, dict(GOOD2, answer="x")), ":2", "unknown field(s) 'answer'"),
    ("alpaca-duplicate", "alpaca-jsonl", jl(GOOD, GOOD2, GOOD), ":3", "same instruction, input and output as"),
    ("alpaca-not-object", "alpaca-jsonl", jl(GOOD, "[1, 2]"), ":2", "expected a JSON object, got a list"),
    ("alpaca-bad-flag", "alpaca-jsonl", jl(dict(GOOD, is_classification="yes")), ":1", "'is_classification' must be"),
    ("alpaca-empty-file", "alpaca-jsonl", b"", None, "is empty"),
    ("alpaca-blank-file", "alpaca-jsonl", b"\n  \n", None, "is empty"),
    ("alpaca-bom", "alpaca-jsonl", BOM + jl(GOOD), ":1", "byte-order mark"),
    ("alpaca-latin1", "alpaca-jsonl", jl(GOOD) + LATIN1 + b"\n", ":2", "not valid UTF-8"),
    ("array-unclosed", "alpaca", arr(GOOD, GOOD2)[:-3], ":3", "not closed"),
    ("array-bad-record", "alpaca", arr(GOOD, dict(GOOD2, output=3)), ":3 (record 2)", "'output' must be a string"),
    ("array-trailing-comma", "alpaca", arr(GOOD, GOOD2).replace(b"\n]", b",\n]"), ":4", "invalid JSON"),
    ("array-broken-record", "alpaca", arr(GOOD, '{"instruction": }'), ":3", "invalid JSON"),
    ("array-text-after", "alpaca", arr(GOOD) + b"{}\n", ":4", "after the JSON array"),
    ("alpaca-key-twice", "alpaca-jsonl", jl(GOOD, '{"instruction": "a", "instruction": "b", "output": "c"}'),
     ":2", "key 'instruction' appears twice"),
    ("alpaca-lone-surrogate", "alpaca-jsonl", jl(GOOD, '{"instruction": "Say \\ud800.", "output": "c"}'),
     ":2", "lone UTF-16 surrogate"),
    ("array-key-twice", "alpaca", arr(GOOD, '{"instruction": "a", "output": "b", "output": "c"}'),
     ":3 (record 2)", "key 'output' appears twice"),
    ("array-lone-surrogate", "alpaca", arr(GOOD, '{"instruction": "a", "output": "\\udc00"}'),
     ":3 (record 2)", "lone UTF-16 surrogate"),
    ("alpaca-nested-too-deep", "alpaca-jsonl", jl(GOOD, "[" * 100_000 + "]" * 100_000), ":2", "nested too deeply"),
    ("array-nested-too-deep", "alpaca", arr(GOOD, "[" * 100_000 + "]" * 100_000), ":3", "nested too deeply"),
    ("chat-wrong-order", "chat", jl(CHAT, {"messages": CHAT["messages"][::-1]}), ":2", "expected roles"),
    ("chat-empty-content", "chat", jl({"messages": [CHAT["messages"][0], {"role": "assistant", "content": ""}]}),
     ":1", "needs non-empty string 'content'"),
    ("chat-multi-turn", "chat", jl(CHAT, {"messages": CHAT["messages"] * 2}), ":2", "multi-turn"),
    ("chat-missing-messages", "chat", jl({"prompt": "x"}), ":1", "unknown field(s) 'prompt'"),
    ("chat-no-messages", "chat", jl({}), ":1", "missing field 'messages'"),
    ("chat-tool-role", "chat", jl({"messages": [{"role": "tool", "content": "x"}]}), ":1", "role 'tool'"),
    ("chat-messages-string", "chat", jl({"messages": "hello"}), ":1", "'messages' must be a list"),
    ("chat-content-list", "chat", jl({"messages": [{"role": "user", "content": ["x"]}]}), ":1", "content"),
    ("sharegpt-bad-from", "sharegpt", arr(SHARE, {"conversations": [{"from": "bot", "value": "x"}]}),
     ":3 (record 2)", "from 'bot'"),
    ("sharegpt-missing", "sharegpt", arr({"id": "1"}), ":2 (record 1)", "missing field 'conversations'"),
    ("sharegpt-empty-value", "sharegpt", arr({"conversations": [{"from": "human", "value": "x"},
                                                                {"from": "gpt", "value": " "}]}),
     ":2 (record 1)", "non-empty string 'value'"),
    ("sharegpt-unknown-field", "sharegpt", arr(dict(SHARE, model="x")), ":2 (record 1)", "unknown field(s) 'model'"),
    ("sharegpt-gpt-first", "sharegpt", arr({"conversations": SHARE["conversations"][::-1]}), ":2 (record 1)",
     "expected froms"),
    ("gpt3-missing-completion", "gpt3", jl(PC, {"prompt": "x"}), ":2", "missing field 'completion'"),
    ("gpt3-empty-prompt", "gpt3", jl(dict(PC, prompt="")), ":1", "'prompt' is empty"),
    ("gpt3-wrong-type", "gpt3", jl(dict(PC, completion=["x"])), ":1", "'completion' must be a string, got a list"),
    ("gpt3-duplicate", "gpt3", jl(PC, PC), ":2", "same instruction, input and output"),
    ("csv-missing-column", "csv", table([{"instruction": "x", "input": ""}], ["instruction", "input"]), ":1",
     "missing column(s) output"),
    ("csv-unknown-column", "csv", table([], ["instruction", "output", "answer"]), ":1", "unknown column(s) answer"),
    ("csv-ragged-row", "csv", table([GOOD]) + b"only one cell\n", ":3", "1 cells where the header has 3 columns"),
    ("csv-bad-flag", "csv", table([dict(GOOD, is_classification="maybe")], ["instruction", "input", "output",
                                                                             "is_classification"]),
     ":2", "'is_classification' must be true, false or empty"),
    ("csv-empty-instruction", "csv", table([GOOD, dict(GOOD2, instruction="")]), ":3", "'instruction' is empty"),
    ("csv-after-multiline", "csv", table([dict(GOOD, input="a\nb\nc"), GOOD2, dict(GOOD2, instruction=" ")]),
     ":6", "'instruction' is empty"),
    ("csv-duplicate", "csv", table([GOOD, GOOD]), ":3", "same instruction, input and output as"),
    ("csv-bom", "csv", BOM + table([GOOD]), ":1", "byte-order mark"),
    ("csv-latin1", "csv", table([GOOD]) + "Say café.,,ok\n".encode("latin-1"), ":3", "not valid UTF-8"),
    ("csv-empty", "csv", b"", None, "is empty"),
    ("parquet-garbage", "hf", b"PAR1 this is not a parquet file", None, "not a readable Parquet file"),
    ("parquet-missing-column", "hf", parquet({"instruction": ["x"]}), None, "missing column(s) output"),
    ("parquet-null-output", "hf", parquet({"instruction": ["a b c", "d e f"], "output": ["x", None]}), " record 2",
     "'output' must be a string, got null"),
    ("parquet-int-instruction", "hf", parquet({"instruction": [7], "output": ["x"]}), " record 1",
     "'instruction' must be a string, got int"),
    ("parquet-unknown-column", "hf", parquet({"instruction": ["x"], "output": ["y"], "score": [1]}), None,
     "unknown column(s) score"),
    ("seeds-invalid-json", "seeds", jl(SEED, '{"id": "s2", "instruction": '), ":2", "invalid JSON"),
    ("seeds-missing-instances", "seeds", jl(SEED, {"id": "s2", "instruction": "Do it."}), ":2",
     "missing field 'instances'"),
    ("seeds-empty-instances", "seeds", jl(dict(SEED2, instances=[])), ":1", "'instances' must be a non-empty list"),
    ("seeds-instance-not-object", "seeds", jl(SEED, dict(SEED2, instances=["x"])), ":2", "instance 1 must be an object"),
    ("seeds-instance-unknown", "seeds", jl(dict(SEED2, instances=[{"input": "", "output": "x", "label": 1}])), ":1",
     "instance 1 has unknown field(s) 'label'"),
    ("seeds-bad-flag", "seeds", jl(SEED, dict(SEED2, is_classification="yes")), ":2", "'is_classification' must be"),
    ("seeds-duplicate-id", "seeds", jl(SEED, dict(SEED2, id="s1")), ":2", "duplicate id 's1'"),
    ("seeds-unknown-field", "seeds", jl(dict(SEED, colour="red")), ":1", "unknown field(s) 'colour'"),
    ("seeds-wrong-type", "seeds", jl(SEED, dict(SEED2, instruction=["x"])), ":2",
     "'instruction' must be a non-empty string"),
    ("seeds-bom", "seeds", BOM + jl(SEED), ":1", "byte-order mark"),
    ("seeds-latin1", "seeds", jl(SEED) + b'{"id": "s2", "instruction": "caf\xe9", "instances": []}\n', ":2",
     "not valid UTF-8"),
    ("seeds-empty", "seeds", b"", None, ""),
    ("seeds-not-object", "seeds", jl(SEED, "42"), ":2", "expected a JSON object"),
]


def test_the_corpus_is_big_and_covers_every_import_format():
    assert len(CORPUS) >= 30 and len({c[0] for c in CORPUS}) == len(CORPUS)
    assert {c[1] for c in CORPUS} == set(FORMATS)


@pytest.mark.parametrize("case, fmt, content, loc, message", CORPUS, ids=[c[0] for c in CORPUS])
def test_broken_file_is_named_and_nothing_is_imported(tmp_path, case, fmt, content, loc, message):
    path = tmp_path / f"{case}{FORMATS[fmt].suffix or '.parquet'}"
    path.write_bytes(content)
    store = Store(tmp_path / "ws.sqlite")
    with pytest.raises((FileFormatError, ImportRefused)) as e:
        import_file(store, path, fmt=fmt)
    text = str(e.value)
    assert f"{path}{loc or ''}" in text and message in text, text
    assert store.runs() == []
    if fmt == "seeds":
        with pytest.raises(seeds.SeedFileError) as se:
            seeds.load_tasks(path)
        where = f"{path}{loc or ''}"
        assert str(se.value).startswith(where), (str(se.value), where)


def test_skip_bad_imports_the_good_records_and_lists_the_bad(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(jl(GOOD, '{"broken', dict(GOOD2, output=1), GOOD2, GOOD))
    store = Store(tmp_path / "ws.sqlite")
    with pytest.raises(ImportRefused) as e:
        import_file(store, path)
    assert [b.where for b in e.value.bad] == [f"{path}:2", f"{path}:3", f"{path}:5"]
    res = import_file(store, path, skip_bad=True, name="mixed")
    assert res.parsed.records == 2 and len(res.parsed.bad) == 3
    assert _triples(store.tasks(res.run.id)) == sorted([tuple(GOOD.values()), tuple(GOOD2.values())])
    assert res.run.config["source"]["skipped"][0].startswith(f"{path}:2: invalid JSON")


def test_skip_bad_still_refuses_a_file_with_no_good_record(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jl({"instruction": 1, "output": "x"}))
    store = Store(tmp_path / "ws.sqlite")
    with pytest.raises(ImportRefused, match="no good record"):
        import_file(store, path, skip_bad=True)
    assert store.runs() == []


def test_undetectable_file_asks_for_a_format(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_bytes(jl({"question": "x", "answer": "y"}))
    with pytest.raises(FileFormatError, match=r"odd\.jsonl:1: cannot tell the format.*--format"):
        detect_format(path)


# ---------------------------------------------------------------- audit fixes


def test_export_refuses_the_workspace_and_its_journals(tmp_path, monkeypatch):
    store, run = _store_with(tmp_path)
    ws = tmp_path / "ws.sqlite"
    (tmp_path / "link.json").symlink_to(ws)
    monkeypatch.chdir(tmp_path)
    before = ws.read_bytes()
    for out in (ws, Path("ws.sqlite"), Path("sub/../ws.sqlite"), Path("link.json"), Path("ws.sqlite-wal"),
                Path("ws.sqlite-shm"), Path("ws.sqlite-journal")):
        with pytest.raises(exporting.ExportRefused, match="refusing to write over it"):
            export_run(store, run, fmt="alpaca", out=out)
    for out in (tmp_path, Path("."), Path("sub/..")):  # a folder export would replace the workspace's folder
        with pytest.raises(exporting.ExportRefused, match="holds the workspace"):
            export_run(store, run, fmt="hf", out=out)
    assert ws.read_bytes() == before and ws.is_file() and (tmp_path / "link.json").is_symlink()
    assert not (tmp_path / "ws.sqlite-journal").exists() and store.tasks(run.id)


def test_exports_and_atomic_writes_get_the_umask_mode_and_keep_a_replaced_files_mode(tmp_path):
    from selfinstruct.evaluate.pairs import write_jsonl as write_pairs

    store, run = _store_with(tmp_path)
    old = os.umask(0o022)
    try:
        res = export_run(store, run, fmt="alpaca", out=tmp_path / "a.json")
        folder = export_run(store, run, fmt="hf", out=tmp_path / "ds")
        write_pairs(tmp_path / "pairs.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
        exporting.save_tasks(tmp_path / "seeds.jsonl", TRICKY)
        os.chmod(res.path, 0o640)
        os.chmod(folder.path, 0o750)
        again = export_run(store, run, fmt="alpaca", out=res.path)
        folder_again = export_run(store, run, fmt="hf", out=folder.path)
        os.umask(0o077)
        private = export_run(store, run, fmt="csv", out=tmp_path / "private.csv")
    finally:
        os.umask(old)

    def mode(p):
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(res.manifest_path) == 0o644
    assert mode(tmp_path / "pairs.jsonl") == mode(tmp_path / "seeds.jsonl") == 0o644
    assert mode(again.path) == 0o640  # replacing keeps the mode
    assert mode(folder_again.path) == 0o750
    assert mode(folder.path / "data") == 0o755 and mode(folder.path / "README.md") == 0o644
    assert mode(private.path) == 0o600


def _csv_file(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def test_rows_are_grouped_by_id_when_there_is_one(tmp_path):
    rows = [
        {"id": "q1", "instruction": "Answer the question.", "input": "2+2?", "output": "4"},
        {"id": "q2", "instruction": "Answer the question.", "input": "Capital of France?", "output": "Paris"},
        {"id": "q1", "instruction": "Answer the question.", "input": "3+3?", "output": "6"},
        {"id": "", "instruction": "Say hi.", "input": "", "output": "Hi"},
        {"id": "", "instruction": "Say hi.", "input": "loud", "output": "HI"},
    ]
    tasks = read_file(_csv_file(tmp_path / "a.csv", rows)).tasks
    assert [(t.id, [i.input for i in t.instances]) for t in tasks] == \
           [("q1", ["2+2?", "3+3?"]), ("q2", ["Capital of France?"]), ("import_2", ["", "loud"])]
    clash = read_file(_csv_file(tmp_path / "b.csv", [*rows[:2], dict(rows[2], instruction="Other.")]))
    assert [str(b) for b in clash.bad] == [f"{tmp_path / 'b.csv'}:4: id 'q1' has a different instruction at "
                                           f"{tmp_path / 'b.csv'}:2"]


def test_rows_of_one_id_that_disagree_on_name_or_classification_are_bad_records(tmp_path):
    row = {"id": "q1", "name": "", "instruction": "Answer the question.", "input": "", "output": "4",
           "is_classification": ""}
    rows = [
        dict(row, input="2+2?"),  # blank name and flag: says nothing yet
        dict(row, input="3+3?", name="arith", is_classification="false"),
        dict(row, input="4+4?", name="math"),
        dict(row, input="5+5?", is_classification="true"),
        dict(row, input="6+6?", name="arith", is_classification="false"),
        dict(row, input="7+7?"),
        dict(row, id="q2", input="x", name="other", is_classification="true"),
    ]
    f = _csv_file(tmp_path / "a.csv", rows)
    parsed = read_file(f)
    assert [str(b) for b in parsed.bad] == [
        f'{f}:4: id \'q1\' has a different name at {f}:3 ("arith" there, "math" here)',
        f"{f}:5: id 'q1' has a different is_classification at {f}:3 (false there, true here)",
    ]
    assert [(t.id, t.name, t.is_classification, [i.input for i in t.instances]) for t in parsed.tasks] == [
        ("q1", "arith", False, ["2+2?", "3+3?", "6+6?", "7+7?"]), ("q2", "other", True, ["x"])]


@pytest.mark.parametrize("fmt", ["csv", "hf"])
def test_user_oriented_round_trip_keeps_every_task_and_id(tmp_path, fmt):
    from conftest import USER_ORIENTED, shared_file

    expected = seeds.load_tasks(shared_file(USER_ORIENTED))
    assert len({t.instruction for t in expected}) < len(expected) == 252  # two tasks share an instruction
    store, run = _store_with(tmp_path, expected)
    out = tmp_path / f"uo{FORMATS[fmt].suffix}"
    export_run(store, run, fmt=fmt, out=out)
    back = read_file(out)
    assert not back.bad and len(back.tasks) == 252
    assert [(t.id, t.name, t.instruction, t.instances) for t in back.tasks] == \
           [(t.id, t.name, t.instruction, t.instances) for t in expected]


def test_seed_format_keeps_an_unknown_classification_as_null(tmp_path):
    res = _export(tmp_path, "seeds")
    lines = [json.loads(x) for x in res.path.read_text().splitlines()]
    assert [x["is_classification"] for x in lines] == [True, False, None, None]
    assert [t.is_classification for t in seeds.load_tasks(res.path)] == [True, False, None, None]
    assert [t.is_classification for t in read_file(res.path).tasks] == [True, False, None, None]


@pytest.mark.parametrize("system", ["", "  ", "\n\t"])
def test_a_blank_system_text_means_no_system_message(tmp_path, system):
    res = _export(tmp_path, "chat", options=ExportOptions(system=system))
    assert check_chat_file(res.path) == N_RECORDS
    assert all(json.loads(x)["messages"][0]["role"] == "user" for x in res.path.read_text().splitlines())
    share = _export(tmp_path / "s", "sharegpt", options=ExportOptions(system=system))
    assert all(d["conversations"][0]["from"] == "human" for d in json.loads(share.path.read_text()))


def test_tsv_files_are_read_tab_separated(tmp_path):
    rows = [{"instruction": "Add, then double.", "input": "1, 2", "output": "6"},
            {"instruction": "Say hi.", "input": "", "output": "Hi, you"}]
    path = _csv_file(tmp_path / "a.tsv", rows, delimiter="\t")
    assert detect_format(path) == "csv"
    back = read_file(path)
    assert not back.bad and _triples(back.tasks) == sorted(tuple(r.values()) for r in rows)
    assert "\t" not in _export(tmp_path, "csv").path.read_text()  # the CSV export still uses commas


def test_a_folder_is_one_data_set_and_several_are_refused(tmp_path):
    store, run = _store_with(tmp_path)
    root = tmp_path / "exports"
    for name in ("a", "b"):
        export_run(store, run, fmt="hf", out=root / name)
    assert read_file(root / "a").records == N_RECORDS
    for path in (root, root / "a" / ".."):
        with pytest.raises(FileFormatError, match="is not a data set folder.*: a, b; name one"):
            read_file(path)
    with pytest.raises(FileFormatError, match="is not a data set folder"):
        import_file(store, root)
    assert [r.name for r in store.runs()] == ["data"]
    (root / "a" / "old" / "data").mkdir(parents=True)
    pq.write_table(pa.table({"instruction": ["x y z"], "output": ["w"]}), root / "a" / "old" / "data" / "t.parquet")
    with pytest.raises(FileFormatError, match="holds more than one data set.*: old;"):
        read_file(root / "a")
    (root / "a" / "old").rename(root / "a" / ".ds.tmp")  # an interrupted export's leftovers are hidden
    assert read_file(root / "a").records == N_RECORDS


def test_an_export_of_no_record_is_refused_and_keeps_the_earlier_file(tmp_path):
    out = tmp_path / "out-chat.jsonl"
    out.write_text("earlier\n")
    tasks = [Task("a", "Say nothing at all.", (Instance("", ""), Instance("x", " ")))]
    with pytest.raises(exporting.ExportRefused, match="instances skipped empty 2"):
        _export(tmp_path, "chat", tasks=tasks)
    assert out.read_text() == "earlier\n" and not (tmp_path / "out-chat.jsonl.manifest.json").exists()
    with pytest.raises(exporting.ExportRefused, match="instructions exported 0"):
        _export(tmp_path / "h", "hf", tasks=[Task("e", "Nobody answered.", ())])
    assert not (tmp_path / "h" / "out-hf").exists()
    with pytest.raises(ValueError, match="max_instances must be at least 1"):
        ExportOptions(max_instances=0)


def test_a_failed_write_names_the_output_path(tmp_path, monkeypatch):
    store, run = _store_with(tmp_path)
    out = tmp_path / "full" / "data.jsonl"
    monkeypatch.setattr(files, "write_jsonl",
                        lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OSError) as e:
        export_run(store, run, fmt="alpaca-jsonl", out=out)
    assert str(e.value) == f"{out}: cannot write: No space left on device" and e.value.errno == errno.ENOSPC
    _no_leftovers(out.parent, set())
