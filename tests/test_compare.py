"""Response-set comparisons: numbers checked by hand and against rouge-score, figures against the numbers."""

from __future__ import annotations

import json
import statistics

import pytest
from rouge_score import rouge_scorer

from selfinstruct import compare
from selfinstruct.records import Instance, Task
from selfinstruct.store import Store
from selfinstruct.store.responses import create_response_set, save_responses

REFERENCES = [
    "Paris is the capital of France.",
    "Water boils at 100 degrees Celsius at sea level.",
    "Write the numbers in order: 1, 2, 3.",
    "A haiku has three lines.",
]
ANSWERS = [
    "The capital of France is Paris, a city on the Seine.",
    "",
    "As an AI language model, I cannot order numbers.",
    "A haiku is a poem with three lines of five, seven and five syllables.",
]


def workspace(tmp_path, language: str = "en", refs=REFERENCES, sets=(("gpt4", ANSWERS),)):
    store = Store(tmp_path / "w.sqlite")
    run = store.create_run("d", kind="import", language=language)
    store.add_tasks(run.id, [Task(id=str(i), instruction=f"Question {i}?", instances=(Instance("", r),), origin="import")
                             for i, r in enumerate(refs)], origin="import")
    ids = [i.id for i in store.instances(run_id=run.id)]
    for name, texts in sets:
        s = create_response_set(store, run.id, name, model=f"m-{name}")
        save_responses(store, s.id, [(i, t, None, "stop") for i, t in zip(ids, texts) if t is not None])
    return store, store.run(run.id)


@pytest.mark.parametrize("text, kind", [
    ("", "empty"), ("  \n\t", "empty"),
    ("As an AI language model, I cannot browse the web.", "refused"),
    ("I'm sorry, but I can't help with that.", "refused"),
    ("I cannot provide medical advice.", "refused"),
    ("作为一个人工智能语言模型，我无法回答。", "refused"),
    ("抱歉，我不能提供这个信息。", "refused"),
    ("Sorry for the delay: here is the list.", None),
    ("The model cannot be trained on a laptop.", None),
    ("x" * 250 + " As an AI language model I cannot", None),  # beyond the window: an answer discussing AI
    ("巴黎是法国的首都。", None),
    ("I’m sorry, but I can’t help with that.", "refused"),  # typographic apostrophes
    ("I apologize, but I am unable to browse the web.", "refused"),
    ("I'm sorry, but I don't have access to real-time data.", "refused"),
    ("I'm afraid I can't answer that.", "refused"),
    ("I'm sorry, but you came in second.", None),  # an apology that declines nothing is an answer
    ("I'm sorry to hear that. I can't imagine how hard it is; here are some tips.", None),
    ("对不起，我来晚了。", None),
])
def test_refusal_kind(text, kind):
    assert compare.refusal_kind(text) == kind


def test_set_summary_numbers_by_hand_and_rouge_against_rouge_score():
    s = compare.set_summary(ANSWERS, REFERENCES, unit="words", tokenizer="rouge")
    lengths = [len(a.split()) for a in ANSWERS]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)  # the paper's evaluation stems
    rouge = [scorer.score(r, a)["rougeL"].fmeasure for a, r in zip(ANSWERS, REFERENCES)]
    assert s["n"] == 4 and s["empty"] == 1 and s["refused"] == 1 and s["empty_or_refused"] == 2
    assert s["mean_length"] == pytest.approx(statistics.mean(lengths))
    assert s["median_length"] == statistics.median(lengths)
    assert s["reference_mean_length"] == pytest.approx(statistics.mean(len(r.split()) for r in REFERENCES))
    assert s["rouge_vs_original_mean"] == pytest.approx(statistics.mean(rouge), abs=1e-9)
    assert s["rouge_vs_original_median"] == pytest.approx(statistics.median(rouge), abs=1e-9)


def test_response_set_stats_per_set(tmp_path):
    store, run = workspace(tmp_path, sets=(("gpt4", ANSWERS), ("copy", REFERENCES)))
    stats = compare.response_set_stats(store, run)
    assert list(stats) == ["gpt4", "copy"]
    assert stats["copy"]["rouge_vs_original_mean"] == pytest.approx(1.0)
    assert stats["copy"]["empty_or_refused"] == 0 and stats["gpt4"]["empty_or_refused"] == 2
    assert stats["gpt4"]["model"] == "m-gpt4" and stats["gpt4"]["n"] == 4
    assert {"n", "mean_length", "median_length", "empty_or_refused", "rouge_vs_original_mean"} <= set(stats["gpt4"])


def test_stats_rouge_is_evaluate_rouge(tmp_path, capsys):
    """One definition: stemmed, instances without a reference left out, None when none has one."""
    from selfinstruct.cli import main

    refs = ["The runners were running quickly.", "", "Cats chase mice."]
    answers = ["A runner runs quick.", "Anything at all.", "The cat chased a mouse."]
    store, run = workspace(tmp_path, refs=refs, sets=(("m", answers),))
    stats = compare.response_set_stats(store, run)["m"]
    assert main(["evaluate", "rouge", "-w", str(store.path), "--run", "d", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    want = [scorer.score(r, a)["rougeL"].fmeasure for r, a in zip(refs, answers) if r]
    assert stats["rouge_vs_original_mean"] == cli["rougeL"] == pytest.approx(statistics.mean(want), abs=1e-12)
    assert cli["count"] == 2
    store2, run2 = workspace(tmp_path / "v", refs=["", ""], sets=(("m", ["a", "b"]),))  # Vicuna: no references
    none = compare.response_set_stats(store2, run2)["m"]
    assert none["rouge_vs_original_mean"] is None and none["rouge_vs_original_median"] is None


def test_compare_aligns_on_instances_every_set_answered(tmp_path):
    partial = [None, "Boiling point: 100 C.", None, "Three lines."]
    store, run = workspace(tmp_path, sets=(("gpt4", ANSWERS), ("half", partial)))
    cmp = compare.compare_sets(store, run, ["original", "gpt4", "half"], with_verb_noun=False)
    assert cmp["n"] == 2 and cmp["base"] == "original"
    assert cmp["lengths"]["original"] == [len(REFERENCES[1].split()), len(REFERENCES[3].split())]
    assert cmp["lengths"]["half"] == [4, 2]
    assert set(cmp["rouge_vs_base"]) == {"gpt4", "half"}
    with pytest.raises(ValueError, match="besides 'original'"):
        compare.compare_sets(store, run, ["original"])


def test_figures_carry_exactly_the_numbers(tmp_path):
    store, run = workspace(tmp_path, sets=(("gpt4", ANSWERS), ("copy", REFERENCES)))
    cmp = compare.compare_sets(store, run, ["original", "gpt4", "copy"])
    figs = compare.comparison_figures(cmp)
    assert set(figs) == {"output_lengths", "empty_or_refused", "rouge_vs_original", "verb_noun_pairs"}

    lengths = figs["output_lengths"]
    assert [t.name for t in lengths.data] == ["original", "gpt4", "copy"]
    assert all(sum(t.y) == 4 for t in lengths.data)
    assert len({tuple(t.x) for t in lengths.data}) == 1  # shared bins
    assert lengths.data[1].y[0] == 1  # the empty answer sits in the first bin

    rouge = figs["rouge_vs_original"]
    assert [t.name for t in rouge.data] == ["gpt4", "copy"] and all(sum(t.y) == 4 for t in rouge.data)
    assert rouge.data[1].y[-1] == 4  # copies of the original score 1.0: the last, closed bin

    refused = figs["empty_or_refused"]
    stacks = [sum(t.y[i] for t in refused.data) for i in range(3)]
    assert stacks == [4, 4, 4] and list(refused.data[0].x) == ["original", "gpt4", "copy"]
    assert list(refused.data[1].y) == [0, 1, 0] and list(refused.data[2].y) == [0, 1, 0]

    pairs = figs["verb_noun_pairs"]
    assert "English" in pairs.layout.title.text
    for t in pairs.data:
        assert list(t.x) == [cmp["verb_noun"][t.name]["counts"].get(p, 0) for p in t.y]
    assert "write number" in pairs.data[0].y  # "Write the numbers in order" in the originals


def test_top_pairs_ranks_by_count_then_name():
    pairs = [("write", "poem"), ("write", "poem"), ("give", "tip"), ("add", "salt"), ("run", None), (None, None)]
    top = compare.top_pairs(pairs, top=2)
    assert top["top"] == [{"pair": "write poem", "count": 2}, {"pair": "add salt", "count": 1}]
    assert top["n_total"] == 6 and top["n_pairs"] == 4


def test_non_english_sets_use_characters_and_the_unicode_tokenizer(tmp_path):
    refs = ["巴黎是法国的首都。", "水在海平面一百摄氏度沸腾。"]
    answers = ["法国的首都是巴黎。", "抱歉，我无法回答这个问题。"]
    store, run = workspace(tmp_path, language="zh", refs=refs, sets=(("gpt4-zh", answers),))
    cmp = compare.compare_sets(store, run, ["original", "gpt4-zh"])
    assert cmp["unit"] == "characters" and cmp["tokenizer"] == "unicode"
    assert cmp["lengths"]["gpt4-zh"] == [9, 13]
    assert cmp["verb_noun"] is None and "skipped" in cmp["verb_noun_note"]
    assert "verb_noun_pairs" not in compare.comparison_figures(cmp)
    assert cmp["rouge_vs_base"]["gpt4-zh"][0] > 0.5  # same characters, other order
    stats = compare.response_set_stats(store, run)["gpt4-zh"]
    assert stats["unit"] == "characters" and stats["refused"] == 1
