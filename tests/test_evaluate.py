"""Evaluation: ROUGE-L against rouge-score, eval-set import, judge (alone and pairwise, both
orders), review sampling and tables, agreement and kappa, ratings, reward pairs, the CLI."""

from __future__ import annotations

import io
import json
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.cli import main
from selfinstruct.config import LMConfig
from selfinstruct.evaluate import figures
from selfinstruct.evaluate import judge as J
from selfinstruct.evaluate.evalsets import EvalSetError, import_eval_set, parse_eval_set
from selfinstruct.evaluate.pairs import reward_pairs, write_jsonl
from selfinstruct.evaluate.ratings import grade_counts, next_unrated, rating_queue
from selfinstruct.evaluate.review import (
    QUESTIONS,
    agreement,
    cohen_kappa,
    judge_review,
    next_unanswered,
    parse_review,
    review_sample,
    review_summary,
    yes_rates,
)
from selfinstruct.evaluate.rouge import (
    PredictionFileError,
    import_prediction_sets,
    import_predictions,
    load_predictions,
    model_name,
    parse_predictions,
    score_file,
    score_sets,
)
from selfinstruct.lm.base import LMRequest, LMUnavailable
from selfinstruct.lm.fake import FakeLM
from selfinstruct.records import Instance, Task
from selfinstruct.responses import answer_set
from selfinstruct.store import Store
from selfinstruct.novelty import rouge_l
from selfinstruct.store import StoreError
from selfinstruct.store.check import check
from selfinstruct.store.evals import ReviewAnswer, judgments, ratings, save_rating
from selfinstruct.store.responses import create_response_set, response_set, response_sets, responses, save_responses

from conftest import SHARED, cli_main, shared_file

PREDICTIONS = SHARED / "self-instruct" / "predictions"
VICUNA = SHARED / "gpt4-llm" / "vicuna_question_80.jsonl"


# ------------------------------------------------------------------ helpers


def eval_run(store: Store, n: int = 4, name: str = "ev"):
    """An imported evaluation run of ``n`` one-instance tasks with references."""
    run = store.create_run(name, kind="import")
    store.add_tasks(run.id, [Task(str(i), f"Task number {i}.", (Instance(f"in {i}" if i % 2 else "", f"ref {i}"),))
                             for i in range(n)], origin="import")
    return run


def fill(store: Store, run, name: str, texts: dict[int, str]) -> int:
    """A response set answering instance k (in run order) with texts[k]."""
    insts = store.instances(run_id=run.id)
    rs = create_response_set(store, run.id, name, model=name)
    save_responses(store, rs.id, [(insts[k].id, t, None, None) for k, t in texts.items()])
    return rs.id


# ------------------------------------------------------------------ ROUGE-L


@pytest.mark.slow
def test_rouge_cli_on_shared_predictions_equals_rouge_score(capsys):
    from rouge_score import rouge_scorer

    files = sorted(shared_file(PREDICTIONS).glob("*_predictions.jsonl"))
    assert len(files) == 5
    code, out, _ = cli_main(capsys, "evaluate", "rouge", "--json", "--predictions", *map(str, files))
    assert code == 0
    got = [json.loads(line) for line in out.splitlines()]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    for f, row in zip(files, got):
        recs = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        want = sum(scorer.score(r["target"], r["response"])["rougeL"].fmeasure for r in recs) / len(recs)
        assert row == {"model": model_name(f), "rougeL": want, "count": 252, "stem": True, "tokenizer": "rouge"}
    # --no-stem switches the stemmer off, on one file to keep the test short
    code, out, _ = cli_main(capsys, "evaluate", "rouge", "--no-stem", "--json", "--predictions", str(files[0]))
    recs = [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]
    plain = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    want = sum(plain.score(r["target"], r["response"])["rougeL"].fmeasure for r in recs) / len(recs)
    assert json.loads(out)["rougeL"] == want


def test_rouge_table_prints_one_row_per_model(tmp_path, capsys):
    f = tmp_path / "m1_predictions.jsonl"
    f.write_text(json.dumps({"instruction": "Say hi.", "input": "", "response": "hi there", "target": "hi"}) + "\n")
    code, out, _ = cli_main(capsys, "evaluate", "rouge", "--predictions", str(f))
    assert code == 0
    assert out.splitlines() == ["model  ROUGE-L  records", "m1        66.7        1"]
    assert score_file(f).mean == pytest.approx(2 / 3)


def test_prediction_file_errors_name_file_and_line(tmp_path, capsys):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"instruction": "a", "input": "", "response": "b", "target": "c"}\n{"instruction": "a"}\n')
    with pytest.raises(PredictionFileError, match=r"bad\.jsonl:2: needs string field\(s\) 'response', 'target'"):
        load_predictions(f)
    with pytest.raises(PredictionFileError, match=r"x:1: invalid JSON"):
        parse_predictions(b"{nope\n", "x")
    code, _, err = cli_main(capsys, "evaluate", "rouge", "--predictions", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "missing.jsonl: no such file" in err


def test_import_predictions_matches_instruction_and_input(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = eval_run(store, 3)
    f = tmp_path / "tuned_predictions.jsonl"
    rows = [
        {"instruction": "Task number 1.\n", "input": " in 1", "response": "answer 1", "target": "ref 1"},
        {"instruction": "Task number 0.", "input": "", "response": "answer 0", "target": "ref 0"},
        {"instruction": "Unknown task.", "input": "", "response": "x", "target": "y"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rep = import_predictions(store, run, f)
    assert (rep.set.name, rep.set.kind, rep.matched, rep.unmatched) == ("tuned", "prediction", 2, 1)
    from selfinstruct.store.responses import responses

    assert [(r.instruction, r.text, r.reference) for r in responses(store, rep.set.id)] == [
        ("Task number 0.", "answer 0", "ref 0"), ("Task number 1.", "answer 1", "ref 1")]
    other = tmp_path / "none.jsonl"
    other.write_text(json.dumps(rows[2]) + "\n")
    with pytest.raises(PredictionFileError, match="none of its 1 records matches"):
        import_predictions(store, run, other)


def by_text(req: LMRequest) -> str:
    """Scores 9 for a response saying 'new', 5 for one saying 'ref', 2 for anything else."""
    resp = req.prompt.split("[Assistant's response]\n", 1)[1].split("\n[End of response]")[0]
    return f"Score: {9 if 'new' in resp else 5 if 'ref' in resp else 2}"


def test_import_predictions_never_overwrites_a_set_silently(tmp_path, capsys):
    w = tmp_path / "w.sqlite"
    store = Store(w)
    run = eval_run(store, 2)
    insts = store.instances(run_id=run.id)
    ref = create_response_set(store, run.id, "reference", model="reference", kind="reference")
    save_responses(store, ref.id, [(i.id, i.output, None, None) for i in insts])
    f = tmp_path / "reference.jsonl"  # named like the reserved set
    old = [{"instruction": "Task number 0.", "input": "", "response": "\n\nold answer  ", "target": "ref 0"},
           {"instruction": "Task number 1.", "input": "in 1", "response": "old other", "target": "ref 1"}]
    f.write_text("".join(json.dumps(r) + "\n" for r in old))
    for replace in (False, True):
        with pytest.raises(PredictionFileError, match=r"reference\.jsonl: the name 'reference' is kept"):
            import_predictions(store, run, f, replace=replace)
    assert [r.text for r in responses(store, ref.id)] == ["ref 0", "ref 1"]
    code, _, err = cli_main(capsys, "evaluate", "import-predictions", "-w", str(w), "--run", "ev", "--predictions", str(f))
    assert code == 2 and "the name 'reference' is kept" in err

    rep = import_predictions(store, run, f, "tuned")
    assert [r.text for r in responses(store, rep.set.id)] == ["old answer", "old other"]  # stripped, as `answer` does
    assert score_file(f).mean == score_sets(store, run, ["tuned"])[0].mean  # whitespace never changed ROUGE-L
    judge = FakeLM(responder=by_text, name="judge")
    J.judge_single(store, run, judge, ["reference", "tuned"])
    save_rating(store, rep.set.id, insts[0].id, "D")
    with pytest.raises(PredictionFileError, match=r"run 'ev' already has a response set 'tuned'; import under another "
                                                  r"name \(--name NEW\), or replace it \(--replace"):
        import_predictions(store, run, f, "tuned")

    edited = tmp_path / "edited.jsonl"
    edited.write_text(json.dumps({**old[0], "response": "new answer"}) + "\n")
    code, out, _ = cli_main(capsys, "evaluate", "import-predictions", "-w", str(w), "--run", "ev", "--predictions",
                       str(edited), "--name", "tuned", "--replace")
    assert code == 0 and "replaced: response set 'tuned' with 1 responses" in out
    assert [r.text for r in responses(store, rep.set.id)] == ["new answer"]  # nothing of the old file is left
    assert judgments(store, [rep.set.id]) == [] and ratings(store, [rep.set.id]) == []
    again = J.judge_single(store, run, judge, ["reference", "tuned"])
    assert (again.judged, again.skipped) == (1, 2)  # the new text is judged; the reference's scores stand
    assert reward_pairs(store, run, ["reference", "tuned"]) == [
        {"prompt": "Task number 0.", "chosen": "new answer", "rejected": "ref 0"}]

    fill(store, run, "answered", {0: "x"})  # made by `answer`: an import never replaces it
    with pytest.raises(PredictionFileError, match="holds answer responses, not imported predictions"):
        import_predictions(store, run, f, "answered", replace=True)
    code, _, err = cli_main(capsys, "evaluate", "import-predictions", "-w", str(w), "--run", "ev", "--predictions",
                       str(f), str(edited), "--name", "x")
    assert code == 2 and "one file at a time" in err


def test_import_predictions_of_several_files_is_all_or_nothing(tmp_path, capsys):
    w = tmp_path / "w.sqlite"
    store = Store(w)
    run = eval_run(store, 2)
    rows = [{"instruction": f"Task number {i}.", "input": f"in {i}" if i % 2 else "", "response": f"r{i}",
             "target": f"ref {i}"} for i in range(2)]
    files = []
    for stem in ("a", "b", "c"):
        files.append(tmp_path / f"{stem}.jsonl")
        files[-1].write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_predictions(store, run, files[1])  # b is there already
    argv = ["evaluate", "import-predictions", "-w", str(w), "--run", "ev", "--predictions", *map(str, files)]
    for _ in range(2):  # refused before anything is imported, so a rerun says the same
        code, _, err = cli_main(capsys, *argv)
        assert code == 2 and f"already has response set(s) 'b' ({files[1]}); nothing was imported" in err
        assert "--replace" in err and "--name NEW" in err
        assert [s.name for s in response_sets(store, run.id)] == ["b"]
    code, out, _ = cli_main(capsys, *argv, "--replace")
    assert code == 0 and [s.name for s in response_sets(store, run.id)] == ["b", "a", "c"]
    assert f"{files[1]}: replaced: response set 'b' with 2 responses" in out
    code, _, err = cli_main(capsys, *argv)
    assert code == 2 and "response set(s) 'a' (" in err and "'b' (" in err and "'c' (" in err

    twin = tmp_path / "other" / "a.jsonl"
    twin.parent.mkdir()
    twin.write_text(files[0].read_text())
    with pytest.raises(PredictionFileError, match=r"would all become response set 'a'; nothing was imported"):
        import_prediction_sets(store, run, [(load_predictions(f), "a", str(f)) for f in (files[0], twin)],
                               replace=True)
    fresh, nothing = tmp_path / "fresh.jsonl", tmp_path / "d.jsonl"
    fresh.write_text(files[0].read_text())
    nothing.write_text(json.dumps({**rows[0], "instruction": "Unknown."}) + "\n")
    code, _, err = cli_main(capsys, "evaluate", "import-predictions", "-w", str(w), "--run", "ev", "--predictions",
                       str(fresh), str(nothing))
    assert code == 2 and "d.jsonl: none of its 1 records matches" in err
    assert [s.name for s in response_sets(store, run.id)] == ["b", "a", "c"]  # fresh was not imported either


def test_rouge_of_response_sets_in_a_workspace(tmp_path, capsys):
    store = Store(tmp_path / "w.sqlite")
    run = eval_run(store, 2)
    fill(store, run, "m", {0: "ref 0", 1: "something else"})
    code, out, _ = cli_main(capsys, "evaluate", "rouge", "-w", str(tmp_path / "w.sqlite"), "--run", "ev", "--json")
    assert json.loads(out) == {"model": "m", "rougeL": 0.5, "count": 2, "stem": True, "tokenizer": "rouge"}


def test_rouge_tokenizer_option_and_warning_when_the_tokenizer_reads_nothing(tmp_path, capsys):
    f = tmp_path / "zh_predictions.jsonl"
    f.write_text("".join(json.dumps({"instruction": f"问题{i}", "input": "", "response": "巴黎是法国的首都。",
                                     "target": "法国的首都是巴黎。"}, ensure_ascii=False) + "\n" for i in range(3)))
    code, out, err = cli_main(capsys, "evaluate", "rouge", "--json", "--predictions", str(f))
    assert code == 0 and json.loads(out)["rougeL"] == 0.0 and json.loads(out)["tokenizer"] == "rouge"
    assert "warning: zh: 3 of 3 records hold a text in which the rouge tokenizer finds no word" in err
    want = rouge_l("法国的首都是巴黎。", "巴黎是法国的首都。", stem=True, tokenizer="unicode")
    code, out, err = cli_main(capsys, "evaluate", "rouge", "--json", "--tokenizer", "unicode", "--predictions", str(f))
    assert json.loads(out)["rougeL"] == pytest.approx(want) and want > 0.5 and "warning" not in err
    # a workspace run in another language is scored with the unicode tokenizer, and the output says so
    w = str(tmp_path / "w.sqlite")
    store = Store(w)
    run = store.create_run("zh", kind="import", language="zh")
    store.add_tasks(run.id, [Task("0", "问题", (Instance("", "法国的首都是巴黎。"),))], origin="import")
    fill(store, run, "m", {0: "巴黎是法国的首都。"})
    code, out, err = cli_main(capsys, "evaluate", "rouge", "-w", w, "--run", "zh", "--json")
    assert json.loads(out)["tokenizer"] == "unicode" and json.loads(out)["rougeL"] == pytest.approx(want)
    assert "scored with the unicode tokenizer" in err
    code, out, err = cli_main(capsys, "evaluate", "rouge", "-w", w, "--run", "zh", "--json", "--tokenizer", "rouge")
    assert json.loads(out)["rougeL"] == 0.0 and "warning: m: 1 of 1 records" in err


def test_rouge_without_references_is_none_not_zero(tmp_path, capsys):
    store = Store(tmp_path / "w.sqlite")
    run = store.create_run("vic", kind="import")
    store.add_tasks(run.id, [Task(str(i), f"Question {i}?", (Instance("", ""),)) for i in range(2)], origin="import")
    fill(store, run, "m", {0: "an answer", 1: "another"})
    [score] = score_sets(store, run, ["m"])
    assert (score.mean, score.count) == (None, 0)
    code, out, _ = cli_main(capsys, "evaluate", "rouge", "-w", str(tmp_path / "w.sqlite"), "--run", "vic")
    assert code == 0 and out.splitlines()[1].split() == ["m", "n/a", "0"]


# ------------------------------------------------------------------ evaluation sets


def test_eval_set_formats(tmp_path):
    tasks_fmt = b'{"id": "t1", "motivation_app": "Mail", "instruction": "Fix it.", "instances": [{"input": "a", "output": "b"}]}\n'
    fmt, tasks = parse_eval_set(tasks_fmt, "u.jsonl")
    assert fmt == "tasks" and tasks[0].name == "Mail" and tasks[0].instances == (Instance("a", "b"),)
    vic = b'{"question_id": 7, "text": "How do I sleep?", "category": "generic"}\n'
    fmt, tasks = parse_eval_set(vic, "v.jsonl")
    assert fmt == "vicuna" and tasks == [Task("7", "How do I sleep?", (Instance("", ""),), name="generic", origin="import")]
    flat = b'[{"instruction": "Add.", "input": "1 2", "output": "3"}]'
    fmt, tasks = parse_eval_set(flat, "f.json")
    assert fmt == "flat" and tasks[0].instances == (Instance("1 2", "3"),)
    with pytest.raises(EvalSetError, match=r"x\.jsonl:1: cannot tell the format from fields a"):
        parse_eval_set(b'{"a": 1}\n', "x.jsonl")
    with pytest.raises(EvalSetError, match=r"x\.jsonl:2: 'text' must be a non-empty string"):
        parse_eval_set(b'{"question_id": 1, "text": "q"}\n{"question_id": 2, "text": ""}\n', "x.jsonl")


def test_eval_sets_and_predictions_as_json_arrays(tmp_path, capsys):
    w = str(tmp_path / "w.sqlite")
    tasks = [{"id": f"t{i}", "instruction": f"Fix {i}.", "instances": [{"input": f"a{i}", "output": f"b{i}"}]}
             for i in range(2)]
    f = tmp_path / "uo.json"
    f.write_text(json.dumps(tasks, indent=2))
    code, out, _ = cli_main(capsys, "evaluate", "import-set", "-w", w, str(f), "--name", "uo")
    assert code == 0 and "as run 'uo' (tasks format, 2 instances)" in out
    run = Store(w).run("uo")
    assert (run.state, run.status) == ("done", f"evaluation set: 2 records from {f} (tasks format)")
    p = tmp_path / "m.json"
    p.write_text(json.dumps([{"instruction": "Fix 0.", "input": "a0", "response": "b0", "target": "b0"},
                             {"instruction": "Fix 1.", "input": "a1", "response": "b1", "target": "x"}], indent=1))
    code, out, _ = cli_main(capsys, "evaluate", "import-predictions", "-w", w, "--run", "uo", "--predictions", str(p))
    assert code == 0 and "response set 'm' with 2 responses" in out
    code, out, _ = cli_main(capsys, "evaluate", "rouge", "--json", "--predictions", str(p))
    assert json.loads(out)["rougeL"] == 0.5
    bad = tmp_path / "bad.json"
    bad.write_text('[\n  {"instruction": "x",\n   "instances": [}\n]')
    with pytest.raises(EvalSetError, match=r"bad\.json:3: invalid JSON"):
        parse_eval_set(bad.read_bytes(), str(bad))
    with pytest.raises(PredictionFileError, match=r"bad\.json:3: invalid JSON"):
        load_predictions(bad)


def test_import_vicuna_has_no_reference_set_and_user_oriented_has_one(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    vic = import_eval_set(store, shared_file(VICUNA), "vicuna")
    assert vic.kind == "import" and len(store.instances(run_id=vic.id)) == 80
    from selfinstruct.store.responses import response_sets

    assert response_sets(store, vic.id) == []
    uo = import_eval_set(store, shared_file(SHARED / "self-instruct" / "user_oriented_instructions.jsonl"), "uo")
    [ref] = response_sets(store, uo.id)
    assert (ref.name, ref.kind) == ("reference", "reference")


def test_generate_responses_for_an_eval_set_then_judge(tmp_path):
    """The answer workflow fills a response set for an imported eval run; the judge scores it."""
    store = Store(tmp_path / "w.sqlite")
    f = tmp_path / "qs.jsonl"
    f.write_text("".join(json.dumps({"question_id": i, "text": f"Question {i}?", "category": "c"}) + "\n"
                         for i in range(3)))
    run = import_eval_set(store, f, "qs")
    model = FakeLM(responder=lambda r: "An answer.")
    result = answer_set(store, run, model, LMConfig(backend="fake"), name="fake-model")
    assert result.error is None and result.progress.done == 3
    judge = FakeLM(responder=lambda r: "Score: 7\nFine.", name="judge")
    rep = J.judge_single(store, run, judge, ["fake-model"])
    assert (rep.judged, rep.unreadable, rep.skipped) == (3, 0, 0)
    assert all("[Assistant's response]\nAn answer.\n" in r.prompt for r in judge.requests)


# ------------------------------------------------------------------ judge prompts and parsing


def test_judge_prompts_exact():
    t = "Q: {instruction} | I: {input} | A: {response} | {other}"
    assert J.single_prompt(t, " Do it. ", "", " done \n") == "Q: Do it. | I: (none) | A: done | {other}"
    p = J.pair_prompt("{instruction}/{input}/{response_1}/{response_2}", "i", "x", "one", "two")
    assert p == "i/x/one/two"
    full = J.single_prompt(J.SINGLE_TEMPLATE, "Name a color.", "", "Blue.")
    assert "[Request]\nName a color.\n\n[Additional input]\n(none)\n\n[Assistant's response]\nBlue.\n[End of response]" in full
    with pytest.raises(J.TemplateError, match=r"needs the placeholder\(s\) \{response_2\}"):
        J.check_template("{instruction} {input} {response_1}", J.PAIR_FIELDS, "pairwise")


@pytest.mark.parametrize("text, want", [
    ("Score: 8\nGood answer.", 8.0),
    ("**Score:** 7", 7.0),
    ("9", 9.0),
    ("I would rate it 6/10 overall.", 6.0),
    ("Rating: 7.5", 7.5),
    ("I give it 9.", 9.0),
    ("suitable for grade 3 students. Score: 9", 9.0),  # the asked-for "Score: N" wins over a grade in the reasons
    ("It reads at grade 3 level.\n**Score**: 4", 4.0),
    ("8\nIt lists 3 steps.", 8.0),
    ("My score is 7 because it covers 3 points.", 7.0),
    ("Score: 11", None),
    ("Score: 0", None),
    ("Score: -3", None),  # out of range is unreadable: never sign-dropped to 3
    ("-3\nBad.", None),
    ("Score: 7 out of 10", 7.0),
    ("Score (out of 10): 8", 8.0),
    ("I give it 8 out of ten.", 8.0),
    ("Score: 11/10", None),
    ("Score: 4/5", None),  # another scale: 4 is no 1-10 grade
    ("I would rate it 4/5.", None),
    ("Between 3 and 4.", None),
    ("", None),
    ("No idea.", None),
])
def test_parse_score(text, want):
    assert J.parse_score(text) == want


@pytest.mark.parametrize("text, want", [
    ("Scores: 8 7\nBoth fine.", (8.0, 7.0)),
    ("8, 7", (8.0, 7.0)),
    ("**Scores:** 7 9", (7.0, 9.0)),
    ("Assistant 1: 9\nAssistant 2: 6\nbecause", (9.0, 6.0)),
    ("Assistant 1: 8/10, Assistant 2: 6/10", (8.0, 6.0)),
    ("Scores: 9 6\nAssistant 1: 3 concrete examples ... Assistant 2: 5 vague claims", (9.0, 6.0)),
    ("Here are my grades.\nScores: 4 8\nAssistant 1 gave 2 examples.", (4.0, 8.0)),
    ("Assistant 1: 7, Assistant 2: 5.\nAssistant 1: 2 steps are missing.", (7.0, 5.0)),  # the first mention wins
    ("Assistant 1: 8/10\nAssistant 2: 7/10", (8.0, 7.0)),  # the denominator is never a grade
    ("Scores: 8/10 7/10", (8.0, 7.0)),
    ("Scores: 8 7 (out of 10)", (8.0, 7.0)),
    ("Scores (out of 10): 8 7", (8.0, 7.0)),
    ("Scores: 8 out of 10, 7 out of ten", (8.0, 7.0)),
    ("Assistant 1: 8 out of 10\nAssistant 2: 7 out of 10", (8.0, 7.0)),
    ("Scores: 4/5 3/5", None),
    ("Scores: -3 7", None),
    ("Assistant 1 receives 8.", None),
    ("8 7 6", None),
    ("12 3", None),
    ("", None),
])
def test_parse_pair(text, want):
    assert J.parse_pair(text) == want


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10), st.integers(1, 10), st.sampled_from(["{}/10", "{} / 10", "{} out of 10", "{}/10.0"]),
       st.sampled_from(["Scores: {a} {b}", "Scores: {a}, {b}", "Assistant 1: {a}\nAssistant 2: {b}",
                        "Assistant 1: {a}, Assistant 2: {b}", "**Scores:** {a} {b}\nReasons."]))
def test_denominators_are_never_read_as_grades(a, b, fraction, layout):
    text = layout.format(a=fraction.format(a), b=fraction.format(b))
    assert J.parse_pair(text) == (a, b)
    assert J.parse_score("Score: " + fraction.format(a)) == a
    assert J.parse_score(f"I rate it {fraction.format(a)}.") == a


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parsers_never_raise_and_stay_in_range(text):
    s = J.parse_score(text)
    assert s is None or 1 <= s <= 10
    p = J.parse_pair(text)
    assert p is None or all(1 <= x <= 10 for x in p)
    r = parse_review(text)
    assert len(r) == 4 and all(x in (True, False, None) for x in r)


# ------------------------------------------------------------------ judging with FakeLM


def grade_by_content(req: LMRequest) -> str:
    """Scores 9 for responses containing 'good', 4 otherwise."""
    resp = req.prompt.split("[Assistant's response]\n", 1)[1].split("\n[End of response]")[0]
    return f"Score: {9 if 'good' in resp else 4}\nReason."


def test_judge_single_stores_scores_and_resumes_free(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = eval_run(store, 3)
    a = fill(store, run, "A", {0: "good", 1: "good", 2: "good"})
    b = fill(store, run, "B", {0: "good", 1: "bad", 2: "bad"})
    judge = FakeLM(responder=grade_by_content, name="judge")
    rep = J.judge_single(store, run, judge, ["A", "B"])
    assert (rep.judged, rep.unreadable, rep.skipped) == (6, 0, 0)
    assert {(j.set_a, j.score_a) for j in judgments(store, [a])} == {(a, 9.0)}
    assert sorted(j.score_a for j in judgments(store, [b])) == [4.0, 4.0, 9.0]
    assert all(r.step == "judge" and r.temperature == 0.0 for r in judge.requests)
    assert len(judge.requests) == 5  # A's and B's "good" to task 0 are one prompt: asked once, stored twice
    again = J.judge_single(store, run, judge, ["A", "B"])
    assert (again.judged, again.skipped, len(judge.requests)) == (0, 6, 5)
    [rel] = J.relative_scores(store, run, "A", ["B"], judge="judge", paired=False)
    assert (rel.n, rel.total, rel.reference_total) == (3, 17.0, 27.0)
    assert rel.ratio == pytest.approx(17 / 27)


def test_judge_unreadable_and_failed_calls(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = eval_run(store, 2)
    fill(store, run, "A", {0: "x", 1: "y"})
    judge = FakeLM(["Score: 5", LMUnavailable("down")], name="judge")
    with pytest.raises(LMUnavailable):
        J.judge_single(store, run, judge, ["A"])
    assert [j.score_a for j in judgments(store, [response_set(store, run.id, "A").id])] == [5.0]
    judge2 = FakeLM(["no score here"], name="judge")  # resume: only the failed one is asked again
    rep = J.judge_single(store, run, judge2, ["A"])
    assert (rep.judged, rep.unreadable, rep.skipped, len(judge2.requests)) == (1, 1, 1, 1)


def biased_pair_judge(req: LMRequest) -> str:
    """'good' answers get 8, others 4, and whichever is shown first gets one extra point."""
    first = req.prompt.split("[Assistant 1]\n", 1)[1].split("\n[End of Assistant 1]")[0]
    second = req.prompt.split("[Assistant 2]\n", 1)[1].split("\n[End of Assistant 2]")[0]
    s1, s2 = (8 if "good" in first else 4) + 1, 8 if "good" in second else 4
    return f"Scores: {s1} {s2}\nExplanation."


def test_judge_pairs_both_orders_cancel_position_bias(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = eval_run(store, 2)
    a = fill(store, run, "A", {0: "good one", 1: "good two"})
    b = fill(store, run, "B", {0: "bad one", 1: "good three"})
    judge = FakeLM(responder=biased_pair_judge, name="judge")
    rep = J.judge_pairs(store, run, judge, "A", "B")
    assert (rep.judged, rep.unreadable, rep.skipped) == (4, 0, 0)
    shown = [(r.prompt.split("[Assistant 1]\n")[1].split("\n")[0], r.prompt.split("[Assistant 2]\n")[1].split("\n")[0])
             for r in judge.requests]
    assert sorted(shown) == sorted([("good one", "bad one"), ("bad one", "good one"),
                                    ("good two", "good three"), ("good three", "good two")])
    rows = {(j.set_a, j.set_b, j.instance_id): (j.score_a, j.score_b) for j in judgments(store, [a, b], paired=True)}
    i0 = store.instances(run_id=run.id)[0].id
    assert rows[(a, b, i0)] == (9.0, 4.0) and rows[(b, a, i0)] == (5.0, 8.0)
    [rel] = J.relative_scores(store, run, "A", ["B"], judge="judge", paired=True)
    # A: 9 + 8 (instance 0) + 9 + 8 (instance 1) = 34; B: 4 + 5 + 8 + 9 = 26: the +1 bias lands on both.
    assert (rel.n, rel.total, rel.reference_total) == (2, 26.0, 34.0)
    assert J.judge_pairs(store, run, judge, "A", "B").skipped == 4 and len(judge.requests) == 4
    with pytest.raises(ValueError, match="two different response sets"):
        J.judge_pairs(store, run, judge, "A", "A")


def test_pairwise_judge_pays_once_when_two_sets_give_the_same_answer(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = eval_run(store, 2)
    fill(store, run, "A", {0: "same", 1: "a1"})
    fill(store, run, "B", {0: "same", 1: "b1"})
    judge = FakeLM(responder=lambda r: "Scores: 6 6", name="judge")
    rep = J.judge_pairs(store, run, judge, "A", "B")
    assert (rep.judged, len(judge.requests)) == (4, 3)  # both orders of "same" vs "same" are one prompt
    assert check(store)["LM calls"] == []
    assert len({j.call_id for j in judgments(store, [response_set(store, run.id, "A").id], paired=True)}) == 2


def test_judge_cli_and_scores(tmp_path, capsys, monkeypatch):
    store = Store(tmp_path / "w.sqlite")
    run = eval_run(store, 2)
    fill(store, run, "A", {0: "x", 1: "y"})
    fill(store, run, "B", {0: "x", 1: "y"})
    prompt = tmp_path / "p.txt"
    prompt.write_text("{instruction} {input} {response}")
    w = str(tmp_path / "w.sqlite")
    # the built-in fake answers "A short answer about ...": no score can be read from it
    code, out, err = cli_main(capsys, "evaluate", "judge", "-w", w, "--run", "ev", "--sets", "A,B", "--lm", "fake",
                         "--prompt-file", str(prompt))
    assert code == 0 and "4 responses judged, 0 already judged, 4 unreadable" in err
    assert "judge fake: totals relative to A" in out
    code, out, _ = cli_main(capsys, "evaluate", "scores", "-w", w, "--run", "ev", "--sets", "A,B", "--judge", "fake", "--json")
    assert json.loads(out) == {"set": "B", "reference": "A", "judge": "fake", "n": 0, "total": 0.0,
                               "reference_total": 0.0, "ratio": None}
    code, out, _ = cli_main(capsys, "evaluate", "scores", "-w", w, "--run", "ev", "--sets", "A,B", "--judge", "fake")
    assert code == 0 and out.splitlines()[-1].split() == ["B", "0", "0", "0", "n/a"]  # 0/0 is no score, not 0%
    bad = tmp_path / "bad.txt"
    bad.write_text("{instruction}")
    code, _, err = cli_main(capsys, "evaluate", "judge", "-w", w, "--sets", "A,B", "--lm", "fake", "--prompt-file", str(bad))
    assert code == 2 and "needs the placeholder(s) {input}, {response}" in err


def test_scores_take_the_judge_as_people_name_it(tmp_path, capsys):
    w = str(tmp_path / "w.sqlite")
    store = Store(w)
    run = eval_run(store, 2)
    fill(store, run, "A", {0: "good", 1: "good"})
    fill(store, run, "B", {0: "good", 1: "bad"})
    stored = "openai:gpt-4o@https://api.openai.com/v1"
    J.judge_single(store, run, FakeLM(responder=grade_by_content, name=stored), ["A", "B"])
    for name in ("gpt-4o", "openai:gpt-4o", stored):
        code, out, _ = cli_main(capsys, "evaluate", "scores", "-w", w, "--run", "ev", "--sets", "A,B", "--judge", name, "--json")
        assert code == 0 and json.loads(out) == {"set": "B", "reference": "A", "judge": stored, "n": 2, "total": 13.0,
                                                 "reference_total": 18.0, "ratio": 13 / 18}
    code, _, err = cli_main(capsys, "evaluate", "scores", "-w", w, "--run", "ev", "--sets", "A,B", "--judge", "gpt-4")
    assert code == 2 and f"no judge 'gpt-4' scored these response sets (judges: {stored})" in err
    J.judge_single(store, run, FakeLM(responder=grade_by_content, name="openai:gpt-4o@http://localhost:8000/v1"), ["A"])
    code, _, err = cli_main(capsys, "evaluate", "scores", "-w", w, "--run", "ev", "--sets", "A,B", "--judge", "gpt-4o")
    assert code == 2 and "several judges match 'gpt-4o'" in err


# ------------------------------------------------------------------ reward pairs


def test_reward_pairs_every_differently_scored_pair(tmp_path, capsys):
    store = Store(tmp_path / "w.sqlite")
    run = eval_run(store, 2)
    fill(store, run, "A", {0: "a0", 1: "a1"})
    fill(store, run, "B", {0: "b0", 1: "b1"})
    fill(store, run, "C", {0: "c0", 1: "c1"})
    marks = {"a0": 9, "b0": 5, "c0": 7, "a1": 6, "b1": 6, "c1": 2}

    def by_marks(req: LMRequest) -> str:
        resp = req.prompt.split("[Assistant's response]\n", 1)[1].split("\n")[0]
        return f"Score: {marks[resp]}"

    J.judge_single(store, run, FakeLM(responder=by_marks, name="j"), ["A", "B", "C"])
    rows = reward_pairs(store, run, ["A", "B", "C"])
    assert rows == [
        {"prompt": "Task number 0.", "chosen": "a0", "rejected": "b0"},
        {"prompt": "Task number 0.", "chosen": "a0", "rejected": "c0"},
        {"prompt": "Task number 0.", "chosen": "c0", "rejected": "b0"},
        {"prompt": "Task number 1.\n\nin 1", "chosen": "a1", "rejected": "c1"},
        {"prompt": "Task number 1.\n\nin 1", "chosen": "b1", "rejected": "c1"},
    ]  # C(3,2) = 3 pairs per prompt, less the tie a1 = b1
    out = tmp_path / "out" / "pairs.jsonl"
    code, text, _ = cli_main(capsys, "evaluate", "reward-pairs", "-w", str(tmp_path / "w.sqlite"), "--run", "ev",
                        "--sets", "A,B,C", "--out", str(out))
    assert code == 0 and "wrote 5" in text
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows
    assert list(out.parent.iterdir()) == [out]  # no temp file left behind
    J.judge_single(store, run, FakeLM(responder=lambda r: "Score: 5", name="other"), ["A"])
    with pytest.raises(ValueError, match="several judges"):
        reward_pairs(store, run, ["A", "B", "C"])
    assert len(reward_pairs(store, run, ["A", "B", "C"], judge="j")) == 5
    with pytest.raises(ValueError, match="at least two"):
        reward_pairs(store, run, ["A"])


def test_reward_pairs_use_single_scores_and_pairwise_only_when_asked(tmp_path, capsys):
    w = str(tmp_path / "w.sqlite")
    store = Store(w)
    run = eval_run(store, 2)
    fill(store, run, "A", {0: "good one", 1: "good two"})
    fill(store, run, "B", {0: "bad one", 1: "good three"})
    judge = FakeLM(responder=biased_pair_judge, name="openai:gpt-4o@https://api.openai.com/v1")
    J.judge_pairs(store, run, judge, "A", "B")
    with pytest.raises(ValueError, match="pairwise judge scores only; reward pairs come from single 1-10 scores"):
        reward_pairs(store, run, ["A", "B"])
    # pairwise on request: both orders summed, so the first position's extra point cancels
    assert reward_pairs(store, run, ["A", "B"], paired=True) == [
        {"prompt": "Task number 0.", "chosen": "good one", "rejected": "bad one"}]
    # both README judge commands with one model: the single scores are used, nothing is mixed
    J.judge_single(store, run, FakeLM(responder=grade_by_content, name=judge.name), ["A", "B"])
    out = tmp_path / "p.jsonl"
    code, text, _ = cli_main(capsys, "evaluate", "reward-pairs", "-w", w, "--run", "ev", "--sets", "A,B", "--out", str(out),
                        "--judge", "gpt-4o")
    assert code == 0 and "wrote 1" in text
    assert [json.loads(x) for x in out.read_text().splitlines()] == [
        {"prompt": "Task number 0.", "chosen": "good one", "rejected": "bad one"}]
    # a second wording: named by the id the message lists
    J.judge_single(store, run, FakeLM(responder=lambda r: "Score: 5", name=judge.name), ["A", "B"],
                   template="{instruction} {input} {response}")
    with pytest.raises(ValueError, match=r"several judges or prompts exist .*built-in single.*--prompt-id ID"):
        reward_pairs(store, run, ["A", "B"])
    code, text, err = cli_main(capsys, "evaluate", "reward-pairs", "-w", w, "--run", "ev", "--sets", "A,B", "--out",
                          str(out), "--prompt-id", J.template_id("{instruction} {input} {response}")[:6])
    assert code == 0 and "wrote 0" in text and "no pair: on every instance the scored responses tie" in err


def test_write_jsonl_is_atomic_on_failure(tmp_path):
    out = tmp_path / "p.jsonl"
    out.write_text("old\n")

    def rows():
        yield {"a": 1}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(out, rows())
    assert out.read_text() == "old\n" and list(tmp_path.iterdir()) == [out]


# ------------------------------------------------------------------ quality review


def generated_run(store: Store, n: int = 30):
    """A generation run: 2 seeds, n machine instructions (every 5th dropped), 2 instances each."""
    run = store.create_run("gen", kind="generate")
    store.add_tasks(run.id, [Task(f"s{i}", f"Seed {i}.", (Instance("", "o"),)) for i in range(2)], origin="seed")
    store.add_tasks(run.id, [Task(f"m{i}", f"Machine task {i}.", (Instance(f"x{i}", f"y{i}"), Instance(f"u{i}", f"v{i}")))
                             for i in range(n)], origin="machine")
    with store.tx() as c:
        c.execute("UPDATE instructions SET verdict = 'drop', reason = 'too_short' WHERE run_id = ? AND origin = 'machine'"
                  " AND seq % 5 = 0", (run.id,))
    return run


def test_review_sample_is_stable_one_instance_per_kept_machine_instruction(tmp_path):
    path = tmp_path / "w.sqlite"
    store = Store(path)
    run = generated_run(store)
    items = review_sample(store, run, n=10, seed=3)
    assert len(items) == 10
    kept = {r.id: r for r in store.instructions(run.id, origin="machine", verdict="keep")}
    inst = {i.id: i for i in store.instances(run_id=run.id)}
    assert len({inst[it.instance_id].instruction_id for it in items}) == 10
    assert all(inst[it.instance_id].instruction_id in kept for it in items)
    store.close()
    again = Store(path)  # a new session draws the same sample
    assert review_sample(again, again.run("gen"), n=10, seed=3) == items
    assert review_sample(again, again.run("gen"), n=10, seed=4) != items
    everything = review_sample(again, again.run("gen"), n=200, seed=3)
    assert len(everything) == 24 and everything[:10] == items  # a bigger sample extends the smaller one


def test_next_unanswered_and_yes_rates():
    from selfinstruct.evaluate.review import ReviewItem

    its = [ReviewItem(1, "i", "", "o"), ReviewItem(2, "i", "", "o")]
    answers = [ReviewAnswer(1, 1, "human", q, True, None) for q in (1, 2, 3, 4)] + [ReviewAnswer(1, 2, "human", 1, False, None)]
    assert next_unanswered(its, answers) == (1, 2)
    assert next_unanswered(its, answers + [ReviewAnswer(1, 2, "human", q, True, None) for q in (2, 3, 4)]) is None
    rates = yes_rates(answers)
    assert [(r.question, r.yes, r.n, r.percent) for r in rates] == [(1, 1, 2, 50.0), (2, 1, 1, 100.0),
                                                                    (3, 1, 1, 100.0), (4, 1, 1, 100.0)]


def test_cohen_kappa_by_hand():
    human = [True, True, True, True, True, True, False, False, False, False]
    judge = [True, True, True, True, False, False, True, False, False, False]
    # observed agreement 7/10; human yes 0.6, judge yes 0.5; chance 0.6*0.5 + 0.4*0.5 = 0.5
    assert cohen_kappa(list(zip(human, judge))) == pytest.approx((0.7 - 0.5) / (1 - 0.5))
    assert cohen_kappa([(True, True), (True, True)]) is None
    assert cohen_kappa([]) is None
    assert cohen_kappa([(True, False), (False, True)]) == pytest.approx(-1.0)
    h = [ReviewAnswer(1, i, "human", 1, a, None) for i, a in enumerate(human)]
    j = [ReviewAnswer(1, i, "judge:x", 1, a, None) for i, a in enumerate(judge)] + [ReviewAnswer(1, 99, "judge:x", 1, True, None)]
    ag = agreement(h, j)
    assert (ag[0].n, ag[0].agree, ag[0].percent) == (10, 7, 70.0) and ag[0].kappa == pytest.approx(0.4)
    assert ag[1].n == 0 and ag[1].kappa is None


@pytest.mark.parametrize("text, want", [
    ("1. Yes\n2. No\n3. yes\n4. NO", [True, False, True, False]),
    ("Q1: Yes\nQuestion 2 - no\n3) Yes", [True, False, True, None]),
    ("Yes\nYes\nNo\nYes", [True, True, False, True]),
    ("1. Yes, clearly.\n4. **No**", [True, None, None, False]),
    ("Maybe", [None, None, None, None]),
])
def test_parse_review(text, want):
    assert parse_review(text) == want


def test_judge_review_summary_and_cli(tmp_path, capsys, monkeypatch):
    path = tmp_path / "w.sqlite"
    store = Store(path)
    run = generated_run(store, 10)
    items = review_sample(store, run, n=4, seed=0)
    rep = judge_review(store, run, FakeLM(responder=lambda r: "1. Yes\n2. Yes\n3. No\n4. No", name="j"), items)
    assert (rep.answered, rep.unreadable) == (16, 0)
    # a person answers in the terminal: the first two instances all Yes, then stops
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n" * 4 + "maybe\n" + "y\n" * 4 + "q\n"))
    code, out, _ = cli_main(capsys, "evaluate", "review", "-w", str(path), "--run", "gen", "-n", "4")
    assert code == 0 and out.count("Instruction: ") == 3 and QUESTIONS[0] in out
    summary = review_summary(store, run)
    assert [r.n for r in summary.rates["human"]] == [2, 2, 2, 2]
    assert [r.percent for r in summary.rates["judge:j"]] == [100.0, 100.0, 0.0, 0.0]
    assert [(a.n, a.agree) for a in summary.agreement["judge:j"]] == [(2, 2), (2, 2), (2, 0), (2, 0)]
    code, out, _ = cli_main(capsys, "evaluate", "review-summary", "-w", str(path), "--run", "gen")
    assert re.search(r"Q3\. Is the output .*100% of 2\s+0% of 4", out)
    assert "human vs judge:j:" in out
    code, out, _ = cli_main(capsys, "evaluate", "review-summary", "-w", str(path), "--run", "gen", "--json")
    data = json.loads(out)
    assert data["agreement"]["judge:j"][0] == {"question": 1, "n": 2, "agree": 2, "percent": 100.0, "kappa": None}


def test_bad_numbers_stop_at_parsing(tmp_path, capsys):
    w = str(tmp_path / "w.sqlite")
    generated_run(Store(w), 4)
    for argv in (["evaluate", "review", "-w", w, "-n", "-2"], ["evaluate", "judge-review", "-w", w, "-n", "0"],
                 ["answer", "-w", w, "--name", "x", "--limit", "-3"], ["translate", "-w", w, "--to", "de", "--limit", "0"],
                 ["answer", "-w", w, "--name", "x", "--max-tokens", "0"], ["answer", "-w", w, "--name", "x", "--max-cost", "-1"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        assert "must be" in capsys.readouterr().err
    from selfinstruct.store.responses import response_sets

    assert response_sets(Store(w), Store(w).run("gen").id) == []  # nothing was created


def test_a_missing_set_is_named_with_its_run(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = eval_run(store, 1)
    with pytest.raises(StoreError, match=r"run 'ev' has no response set 'nope' \(sets: none\)"):
        response_set(store, run.id, "nope")


# ------------------------------------------------------------------ ratings


def test_rating_queue_blind_mix_and_chart_data(tmp_path, capsys):
    store = Store(tmp_path / "w.sqlite")
    run = eval_run(store, 3)
    a = fill(store, run, "A", {0: "a0", 1: "a1", 2: "a2"})
    b = fill(store, run, "B", {0: "b0", 1: "b1", 2: "b2"})
    queue = rating_queue(store, run, ["A", "B"], seed=1)
    assert len(queue) == 6 and queue == rating_queue(store, run, ["A", "B"], seed=1)
    order = [q.set_id for q in queue]
    assert order not in (sorted(order), sorted(order, reverse=True))  # the models are mixed, not in blocks
    for it, g in zip(queue[:4], "ABAD"):
        save_rating(store, it.set_id, it.instance_id, g)
    from selfinstruct.store.evals import ratings

    assert next_unrated(queue, ratings(store, [a, b])) == 4
    counts = grade_counts(store, run, ["A", "B"])
    assert sum(sum(c.values()) for c in counts.values()) == 4 and set(counts["A"]) == set("ABCD")
    frame = figures.ratings_frame({"m": {"A": 1, "B": 1, "C": 0, "D": 2}})
    assert [(r["grade"], r["count"], r["percent"]) for r in frame] == [("A", 1, 25.0), ("B", 1, 25.0),
                                                                        ("C", 0, 0.0), ("D", 2, 50.0)]
    fig = figures.ratings_figure({"m": {"A": 1, "B": 1, "C": 0, "D": 2}, "n": {"A": 2, "B": 0, "C": 0, "D": 0}})
    assert fig.layout.barmode == "stack" and [t.x for t in fig.data][0] == (25.0, 100.0)
    with pytest.raises(Exception, match="one of A, B, C, D"):
        save_rating(store, a, queue[0].instance_id, "E")
    code, out, _ = cli_main(capsys, "evaluate", "ratings-summary", "-w", str(tmp_path / "w.sqlite"), "--run", "ev",
                       "--sets", "A,B", "--json")
    assert json.loads(out) == counts


def test_relative_figure():
    fig = figures.relative_figure({"judge": [J.RelativeScore("B", 2, 19.0, 20.0)]}, "A")
    assert fig.data[0].y == ("A", "B") and fig.data[0].x == (100.0, 95.0) and "95%" in fig.data[0].text[1]
