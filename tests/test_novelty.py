"""The novelty engine must agree with rouge-score exactly, whatever the input."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer, tokenize as rs_tokenize
from nltk.stem import porter

from selfinstruct.novelty import NoveltyIndex, greedy_filter, rouge_l, tokenize

SCORER = rouge_scorer.RougeScorer(["rougeL"])
STEM_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)

# Small vocabularies make overlaps (and ties at exact thresholds) common.
WORDS = ["the", "a", "write", "list", "of", "give", "me", "story", "poem", "about",
         "cat", "dog", "sort", "numbers", "find", "word", "make", "tell", "why", "how",
         "running", "runs", "Ünïcode", "Кот", "猫", "x1", "!", "--", ""]


def ref(a: str, b: str, stem: bool = False) -> float:
    return (STEM_SCORER if stem else SCORER).score(a, b)["rougeL"].fmeasure


def sentence(rng: random.Random, lo: int = 0, hi: int = 10) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def brute_greedy(cands, pool, threshold, k):
    """The original method: rouge-score against the whole pool, one candidate at a
    time (texts tokenized once by rouge-score's own tokenizer, as Alpaca does)."""
    tok = rouge_scorer.tokenizers.DefaultTokenizer().tokenize
    pool, toks = list(pool), [tok(p) for p in pool]
    scores, kept, nearest = [], [], []
    for c in cands:
        tc = tok(c)
        ss = [rouge_scorer._score_lcs(tc, tp).fmeasure for tp in toks]
        order = sorted(range(len(pool)), key=lambda j: (-ss[j], j))
        scores.append(max(ss, default=0.0))
        nearest.append([(pool[j], ss[j]) for j in order[:k] if ss[j] > 0])
        kept.append(scores[-1] <= threshold)
        if kept[-1]:
            pool.append(c)
            toks.append(tc)
    return scores, kept, nearest


text_st = st.text(max_size=80) | st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(text_st, text_st)
def test_rouge_l_equals_rouge_score(a, b):
    assert rouge_l(a, b) == ref(a, b)
    assert rouge_l(b, a) == ref(a, b)


@settings(max_examples=150, deadline=None)
@given(text_st, text_st)
def test_rouge_l_stemmed_equals_rouge_score(a, b):
    assert rouge_l(a, b, stem=True) == ref(a, b, stem=True)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_rouge_tokenizer_equals_rouge_score(text):
    assert tokenize(text) == rs_tokenize.tokenize(text, None)
    assert tokenize(text, stem=True) == rs_tokenize.tokenize(text, porter.PorterStemmer())


def test_unicode_tokenizer_scores_other_scripts():
    assert tokenize("写一首诗") == []
    assert tokenize("写一首诗", tokenizer="unicode") == ["写", "一", "首", "诗"]
    assert tokenize("Напиши стихотворение", tokenizer="unicode") == ["напиши", "стихотворение"]
    assert tokenize("नमस्ते दुनिया", tokenizer="unicode") == ["नमस्ते", "दुनिया"]
    assert tokenize("写一首诗 about cats", tokenizer="unicode") == ["写", "一", "首", "诗", "about", "cats"]
    assert rouge_l("写一首诗", "写一首歌") == 0.0  # paper-compatible default sees nothing
    assert rouge_l("写一首诗", "写一首歌", tokenizer="unicode") == 0.75
    assert rouge_l("Напиши стихотворение", "Напиши рассказ", tokenizer="unicode") == 0.5


def test_unknown_tokenizer_rejected():
    with pytest.raises(ValueError):
        tokenize("x", tokenizer="nope")


def test_index_equals_brute_force():
    rng = random.Random(3)
    texts = [sentence(rng) for _ in range(300)]
    index = NoveltyIndex(texts[:50])
    for t in texts[50:]:
        best, top = index.query(t, k=7)
        ss = [ref(t, p) for p in index.texts]
        order = sorted(range(len(ss)), key=lambda j: (-ss[j], j))
        assert best == max(ss)
        assert top == [(j, ss[j]) for j in order[:7] if ss[j] > 0]
        assert index.add(t) == len(index) - 1


def test_empty_index():
    assert NoveltyIndex().query("anything") == (0.0, [])


@pytest.mark.parametrize("threshold,n", [(0.5, 500), (0.7, 2000)])
def test_greedy_equals_rouge_score_loop(threshold, n):
    rng = random.Random(threshold)
    pool = [sentence(rng, 1) for _ in range(30)]
    cands = [sentence(rng) for _ in range(n)]
    # a small block size exercises the within-block bookkeeping many times
    got = greedy_filter(cands, pool, threshold, k=4, block=97)
    scores, kept, nearest = brute_greedy(cands, pool, threshold, 4)
    assert got.scores == scores
    assert got.kept == kept
    assert got.nearest == nearest
    assert 0 < sum(kept) < len(kept)
