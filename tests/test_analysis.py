"""Checks of selfinstruct.analysis against direct computations and rouge-score."""

from __future__ import annotations

import json
import multiprocessing
import statistics
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from selfinstruct import analysis
from selfinstruct.records import Instance, Task

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "self-instruct"
SEEDS = DATA / "seed_tasks.jsonl"
USER = DATA / "user_oriented_instructions.jsonl"

def load_jsonl(path: Path, origin: str) -> list[Task]:
    """The official JSONL format; is_classification is None when the file lacks it."""
    if not path.exists():
        pytest.skip(f"{path} not available")
    tasks = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        tasks.append(Task(
            id=row["id"], instruction=row["instruction"], name=row.get("name", ""),
            instances=tuple(Instance(i["input"], i["output"]) for i in row["instances"]),
            is_classification=row.get("is_classification"), origin=origin))
    return tasks


@pytest.fixture(scope="module")
def seeds() -> list[Task]:
    return load_jsonl(SEEDS, "seed")


@pytest.fixture(scope="module")
def user() -> list[Task]:
    return load_jsonl(USER, "import")


def direct_table1(tasks: list[Task]) -> dict[str, float]:
    instances = [i for t in tasks for i in t.instances]
    nonempty = [i.input for i in instances if i.input.strip() != ""]
    return {
        "n_instructions": len(tasks),
        "n_classification": len([t for t in tasks if t.is_classification is True]),
        "n_non_classification": len([t for t in tasks if t.is_classification is False]),
        "n_unknown_classification": len([t for t in tasks if t.is_classification is None]),
        "n_instances": len(instances),
        "n_empty_input": len(instances) - len(nonempty),
        "avg_instruction_words": float(np.mean([len(t.instruction.split()) for t in tasks])),
        "avg_nonempty_input_words": float(np.mean([len(s.split()) for s in nonempty])),
        "avg_output_words": float(np.mean([len(i.output.split()) for i in instances])),
    }


@pytest.mark.parametrize("which", ["seeds", "user"])
def test_table1_equals_direct_computation(which: str, request: pytest.FixtureRequest) -> None:
    tasks = request.getfixturevalue(which)
    got = analysis.table1(tasks)
    for key, value in direct_table1(tasks).items():
        assert got[key] == pytest.approx(value), key
    assert got["distinct_verbs"] is None
    assert got["empty_input_share"] == pytest.approx(got["n_empty_input"] / got["n_instances"])


def test_table1_official_seed_counts(seeds: list[Task]) -> None:
    got = analysis.table1(seeds)
    assert got["n_instructions"] == 175
    assert got["n_classification"] + got["n_non_classification"] == 175
    assert got["classification_share"] == pytest.approx(got["n_classification"] / 175)


def test_user_oriented_classification_is_unknown(user: list[Task]) -> None:
    got = analysis.table1(user)
    assert got["n_instructions"] == 252
    assert got["n_unknown_classification"] == 252
    assert got["classification_share"] is None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=30), st.sampled_from([True, False, None]),
                          st.lists(st.tuples(st.text(max_size=20), st.text(max_size=20)),
                                   max_size=3)), max_size=8))
def test_table1_counts_add_up(rows: list) -> None:
    tasks = [Task(str(i), text, tuple(Instance(a, b) for a, b in inst), cls)
             for i, (text, cls, inst) in enumerate(rows)]
    got = analysis.table1(tasks)
    assert (got["n_classification"] + got["n_non_classification"]
            + got["n_unknown_classification"]) == len(tasks)
    assert 0 <= got["n_empty_input"] <= got["n_instances"]
    assert 0.0 <= got["distinct_1"] <= 1.0 and 0.0 <= got["distinct_2"] <= 1.0
    json.dumps(got)


def test_distinct_n() -> None:
    assert analysis.distinct_n(["a b a b"], 1) == pytest.approx(2 / 4)
    assert analysis.distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert analysis.distinct_n([""], 2) == 0.0


@pytest.mark.parametrize("text, expected", [
    ("Write a poem about the sea.", ("write", "poem")),
    ("Generate a list of 5 ideas for a birthday party.", ("generate", "list")),
    ("Classify the sentiment of the sentence.", ("classify", "sentiment")),
    ("Tell me a joke about cats.", ("tell", "joke")),
    ("Suggest some names for a cat.", ("suggest", "name")),
    ("Given a list of numbers, sort them.", ("sort", None)),
    ("What is the capital of France?", (None, None)),
    ("", (None, None)),
])
def test_verb_noun_pairs(text: str, expected: tuple) -> None:
    assert analysis.verb_noun([text]) == [expected]


def test_pipeline_keeps_lemmas_without_ner() -> None:
    nlp = analysis.load_nlp()
    assert "ner" not in nlp.pipe_names
    assert {"attribute_ruler", "lemmatizer", "parser"} <= set(nlp.pipe_names)
    assert analysis.load_nlp() is nlp


class CountingNLP:
    """Wraps the real pipeline and counts the texts it is asked to parse."""

    def __init__(self) -> None:
        self.real = analysis.load_nlp()
        self.texts = 0

    def pipe(self, texts, **kwargs):
        texts = list(texts)
        self.texts += len(texts)
        return self.real.pipe(texts, **kwargs)


def test_cache_second_call_skips_spacy(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = CountingNLP()
    monkeypatch.setattr(analysis, "load_nlp", lambda: counter)
    texts = ["Write a poem about the sea.", "Tell me a joke.", "Write a poem about the sea."]
    cache = analysis.DictCache()
    first = analysis.verb_noun(texts, cache)
    assert counter.texts == 2  # the duplicate is parsed once
    stored = cache.get_many("verbnoun:v1", [analysis.text_key(texts[0])])
    assert json.loads(stored[analysis.text_key(texts[0])]) == ["write", "poem"]
    assert analysis.verb_noun(texts, cache) == first
    assert counter.texts == 2
    analysis.verb_noun(texts + ["Find the odd one out."], cache)
    assert counter.texts == 3


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_parallel_parse_matches_in_process(method: str) -> None:
    texts = [f"Write a short story number {i} about the sea." for i in range(40)]
    texts += ["What is love?", "Given a text, summarize it."]
    context = multiprocessing.get_context(method)
    assert analysis._parse(texts, 8, 2, context) == analysis._parse(texts, 8, 1)


def test_workers_are_spawned_when_other_threads_run() -> None:
    seen = []
    thread = threading.Thread(target=lambda: seen.append(analysis._pool_context()))
    thread.start()
    thread.join()
    assert seen[0].get_start_method() == "spawn"


def test_verb_noun_summary_counts() -> None:
    pairs = ([("write", "poem")] * 5 + [("write", "story")] * 3 + [("give", "list")] * 4
             + [("write", None)] * 2 + [(None, None)] * 2)
    texts = [f"t{i}" for i in range(len(pairs))]
    s = analysis.verb_noun_summary(pairs, top_verbs=1, top_nouns=1, texts=texts)
    assert s["n_total"] == 16 and s["verb_noun_parsed"] == 12
    assert s["n_verb_only"] == 2 and s["n_unparsed"] == 2 and s["distinct_verbs"] == 2
    assert s["top_verbs"] == [{"verb": "write", "count": 8, "count_all": 10,
                               "nouns": [{"noun": "poem", "count": 5}]}]
    assert s["coverage"] == pytest.approx(5 / 16)
    assert s["unparsed"] == [{"index": 14, "text": "t14"}, {"index": 15, "text": "t15"}]


def test_verb_noun_on_seeds(seeds: list[Task]) -> None:
    texts = [t.instruction for t in seeds]
    pairs = analysis.verb_noun(texts)
    s = analysis.verb_noun_summary(pairs, texts=texts)
    assert s["n_total"] == 175 and 0 < s["verb_noun_parsed"] < 175
    assert s["covered"] == sum(n["count"] for v in s["top_verbs"] for n in v["nouns"])
    assert all(texts[u["index"]] == u["text"] for u in s["unparsed"])


def test_length_unit_and_text_length() -> None:
    assert analysis.length_unit(["Write a poem about the sea."]) == "words"
    assert analysis.length_unit(["写一首关于大海的诗。", "Hello"]) == "characters"
    assert analysis.length_unit(["เขียนกลอนเกี่ยวกับทะเล"]) == "characters"
    assert analysis.length_unit(["바다에 대한 시를 써라"]) == "words"
    assert analysis.text_length("写一首 诗。", "characters") == 5
    assert analysis.text_length(" a  b\tc\n", "words") == 3


def test_lengths_groups(seeds: list[Task]) -> None:
    machine = [Task("m1", "Write a poem.", (Instance("", "Roses."),), False, origin="machine")]
    got = analysis.lengths(seeds + machine)
    groups = got["groups"]
    assert got["unit"] == "words"
    assert len(groups["all"]["instruction"]) == 176
    assert groups["machine"]["instruction"] == [3] and groups["machine"]["input"] == []
    assert len(groups["seed"]["instruction"]) == 175
    n_cls = sum(t.is_classification is True for t in seeds)
    assert len(groups["classification"]["instruction"]) == n_cls
    assert sorted(groups["all"]["output"]) == sorted(
        len(i.output.split()) for t in seeds + machine for i in t.instances)


def test_overlap_summary_and_histogram() -> None:
    s = analysis.overlap_summary([0.0, 0.25, 0.5, 0.8, 1.0], bins=4)
    assert s["counts"] == [1, 1, 1, 2] and s["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert s["mean"] == pytest.approx(0.51) and s["median"] == pytest.approx(0.5)


def reference_rouge(a: str, b: str, scorer=rouge_scorer.RougeScorer(["rougeL"])) -> float:
    return scorer.score(a, b)["rougeL"].fmeasure


def test_rouge_vs_seeds_equals_rouge_score(seeds: list[Task], user: list[Task]) -> None:
    seed_texts = [t.instruction for t in seeds]
    texts = [t.instruction for t in user[:40]]
    got = analysis.rouge_vs_seeds(texts, seed_texts)
    want = [max(reference_rouge(s, t) for s in seed_texts) for t in texts]
    assert got == pytest.approx(want, abs=1e-12)
    summary = analysis.overlap_summary(got)
    assert summary["mean"] == pytest.approx(statistics.mean(want))
    assert summary["median"] == pytest.approx(statistics.median(want))
    assert summary["counts"] == np.histogram(want, bins=20, range=(0, 1))[0].tolist()


def test_rouge_within_and_pairwise_equal_rouge_score(seeds: list[Task]) -> None:
    texts = [t.instruction for t in seeds[:50]]
    want = [max(reference_rouge(a, b) for j, b in enumerate(texts) if j != i)
            for i, a in enumerate(texts)]
    assert analysis.rouge_within(texts) == pytest.approx(want, abs=1e-12)
    pairs = [reference_rouge(texts[i], texts[j])
             for i in range(len(texts)) for j in range(i + 1, len(texts))]
    got = analysis.pairwise_summary(texts, bins=10)
    assert got["n_pairs"] == len(pairs) == sum(got["counts"])
    assert got["counts"] == np.histogram(pairs, bins=10, range=(0, 1))[0].tolist()


def test_full_report_and_compare(seeds: list[Task], user: list[Task]) -> None:
    cache = analysis.DictCache()
    seed_texts = [t.instruction for t in seeds]
    report = analysis.full_report(user, seeds=seed_texts, cache=cache)
    json.dumps(report)
    for key, value in analysis.table1(user).items():
        if key != "distinct_verbs":
            assert report[key] == value
    assert report["distinct_verbs"] > 0 and report["top_verbs"]
    assert sum(report["rouge_vs_seeds_hist"]["counts"]) == 252
    assert report["rouge_vs_seeds_mean"] == pytest.approx(
        statistics.mean(analysis.rouge_vs_seeds([t.instruction for t in user], seed_texts)))
    result = analysis.compare(seeds, user, names=("seeds", "user"), seeds=seed_texts, cache=cache)
    row = result["metrics"]["n_instructions"]
    assert row == {"seeds": 175, "user": 252, "diff": 77}
    assert result["metrics"]["classification_share"]["diff"] is None
    table = analysis.format_table1(*result["reports"].values(), names=result["names"])
    assert "# of instructions" in table and "175" in table and "252" in table


def test_format_table1_layout(seeds: list[Task]) -> None:
    report = analysis.table1(seeds)
    text = analysis.format_table1(report)
    lines = text.splitlines()
    assert lines[0].split() == ["statistic", "value"]
    assert lines[2].startswith("# of instructions") and lines[2].endswith("175")
    assert any(line.startswith("ave. output length (in words)") for line in lines)
    assert f"{report['avg_instruction_words']:.1f}" in text
    assert "verb-noun" not in text  # rows beyond Table 1 appear only when computed


def test_every_figure_of_a_report_has_a_label_for_people(seeds: list[Task], user: list[Task]) -> None:
    report = analysis.full_report(user, seeds=[t.instruction for t in seeds], cache=analysis.DictCache())
    assert set(analysis.scalar_metrics(report)) == set(analysis.METRICS)
    other = analysis.full_report(seeds, cache=analysis.DictCache())
    table = analysis.metric_table(report, other, names=["user", "seeds"])
    assert list(table) == ["user", "seeds", "diff"]
    assert table["user"]["# of instructions"] == "252" and table["diff"]["# of instructions"] == "-77"
    assert table["seeds"]["mean ROUGE-L vs most similar seed"] == "—"  # seeds are not compared with themselves
    assert table["diff"]["mean ROUGE-L vs most similar seed"] == "—"
    share = report["empty_input_share"], other["empty_input_share"]
    assert table["user"]["share of instances with empty input"] == f"{share[0]:.1%}"
    assert table["diff"]["share of instances with empty input"] == f"{(share[1] - share[0]) * 100:+.1f} pp"
    assert list(analysis.metric_table(report, names=["user"])) == ["user"]
