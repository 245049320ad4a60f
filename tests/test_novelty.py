"""The novelty engine must agree with rouge-score exactly, whatever the input."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer, tokenize as rs_tokenize
from nltk.stem import porter

from selfinstruct.novelty import (NoveltyIndex, WhatIfGraph, core, fast_greedy_filter,
                                  greedy_filter, max_against, max_within, pairwise_histogram,
                                  rouge_l, tokenize)
from selfinstruct.novelty.join import similar_pairs
from selfinstruct.novelty.tokens import Encoder

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


@pytest.fixture(params=["exact", "bounded"])
def path(request, monkeypatch):
    """Run a test on both scoring paths: small pools are scored exactly; big ones
    through folded upper bounds (forced here with a tiny sample and probe)."""
    if request.param == "bounded":
        monkeypatch.setattr(core, "SAMPLE_COLS", 4)
        monkeypatch.setattr(core, "PROBE", 2)
    return request.param


def test_index_equals_brute_force(path):
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


def test_long_texts_and_rare_tokens(path):
    """Texts over 255 tokens (wider LCS matrix) and many rare tokens (folded
    together into few buckets) still give exact scores and top-k lists."""
    rng = random.Random(4)
    vocab = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choice(vocab[: rng.choice((20, 3000))])
                      for _ in range(rng.choice((3, 40, 300)))) for _ in range(60)]
    index = NoveltyIndex(texts[:30])
    for t in texts[30:]:
        best, top = index.query(t, k=5)
        ss = [ref(t, p) for p in index.texts]
        order = sorted(range(len(ss)), key=lambda j: (-ss[j], j))
        assert best == max(ss)
        assert top == [(j, ss[j]) for j in order[:5] if ss[j] > 0]
        index.add(t)


def test_empty_index():
    assert NoveltyIndex().query("anything") == (0.0, [])


@pytest.mark.parametrize("threshold,n", [(0.5, 500), pytest.param(0.7, 2000, marks=pytest.mark.slow)])
def test_greedy_equals_rouge_score_loop(threshold, n, path):
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


def test_whatif_at_07_equals_greedy_filter():
    rng = random.Random(11)
    seeds = [sentence(rng, 1) for _ in range(20)]
    cands = [sentence(rng) for _ in range(800)]
    graph = WhatIfGraph.build(seeds, cands)
    for t in (0.3, 0.5, 0.7, 0.8, 1.0):
        got, want = graph.run(t), greedy_filter(cands, seeds, t, k=1)
        assert got.kept == want.kept
        for g, w in zip(got.scores, want.scores):
            assert g == w if w > 0.3 else g <= w <= 0.3
        for g, w, near in zip(got.blocker, want.scores, want.nearest):
            if w > 0.3:  # the blocker is the exactly most similar pool member
                text = seeds[-1 - g] if g < 0 else cands[g]
                assert (text, w) == near[0]


def test_whatif_raising_threshold_can_drop_a_later_candidate():
    seed = "tell me a joke about cats"
    a = "write a short poem about the sea"
    b = "write a short poem about the sea and sky"  # 0.875 vs a
    c = "a short poem about the sea and sky please"  # 0.75 vs a, 0.889 vs b
    graph = WhatIfGraph.build([seed], [a, b, c])
    assert graph.run(0.85).kept == [True, False, True]  # b blocked by a; c only 0.75
    high = graph.run(0.88)  # b now passes, joins the pool, and blocks c
    assert high.kept == [True, True, False]
    assert high.blocker[2] == 1 and high.scores[2] == rouge_l(b, c)


def test_whatif_eligible_and_bytes_round_trip():
    rng = random.Random(5)
    seeds = [sentence(rng, 1) for _ in range(10)]
    cands = [sentence(rng) for _ in range(300)]
    eligible = [rng.random() < 0.8 for _ in cands]
    graph = WhatIfGraph.from_bytes(WhatIfGraph.build(seeds, cands).to_bytes())
    got = graph.run(0.6, eligible)
    pool, kept = list(seeds), []
    for c, e in zip(cands, eligible):
        m = max(ref(c, p) for p in pool)
        kept.append(e and m <= 0.6)
        if kept[-1]:
            pool.append(c)
    assert got.kept == kept
    with pytest.raises(ValueError):
        graph.run(0.2)


def test_distributions_equal_brute_force():
    rng = random.Random(8)
    texts = [sentence(rng) for _ in range(150)]
    ref_set = [sentence(rng, 1) for _ in range(40)]
    assert max_against(texts, ref_set) == [max(ref(t, r) for r in ref_set) for t in texts]
    assert max_within(texts) == [max(ref(t, u) for j, u in enumerate(texts) if j != i)
                                 for i, t in enumerate(texts)]
    pairs = [ref(texts[i], texts[j]) for i in range(150) for j in range(i + 1, 150)]
    for bins in (10, [0.0, 0.3, 0.5, 0.7, 1.0]):
        counts, edges = pairwise_histogram(texts, bins)
        want, want_edges = np.histogram(pairs, np.linspace(0, 1, 11) if bins == 10 else bins)
        assert counts.tolist() == want.tolist() and np.array_equal(edges, want_edges)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 0.9])
def test_fast_greedy_equals_greedy_filter(threshold):
    rng = random.Random(int(threshold * 10))
    seeds = [sentence(rng, 1) for _ in range(40)]
    cands = [sentence(rng) for _ in range(3000)]
    cands += [c + " " + rng.choice(WORDS) for c in cands[:300]]  # near-duplicates
    got = fast_greedy_filter(cands, seeds, threshold)
    want = greedy_filter(cands, seeds, threshold, k=1)
    assert got.kept == want.kept
    assert 0 < sum(got.kept) < len(cands)
    for keep, score, b, w, near in zip(got.kept, got.scores, got.blocker, want.scores,
                                       want.nearest):
        if keep:
            assert score is None and b is None
        else:  # exact score, and the blocker is greedy_filter's top-1 (ties: earlier)
            assert score == w
            assert ((seeds[-1 - b] if b < 0 else cands[b]), score) == near[0]


@settings(max_examples=200, deadline=None)
@given(st.lists(text_st, max_size=25), st.sampled_from([0.05, 0.3, 0.5, 0.7, 0.95]))
def test_similar_pairs_equal_brute_force(texts, threshold):
    codes = Encoder().encode_many(texts)
    x, y, f = similar_pairs(codes, threshold)
    want = [(i, j, ref(texts[i], texts[j])) for i in range(len(texts)) for j in range(i)
            if ref(texts[i], texts[j]) > threshold]
    assert list(zip(x.tolist(), y.tolist(), f.tolist())) == want


def test_fast_greedy_threshold_edges():
    assert fast_greedy_filter(["a b", "a b"], ["a b"], 1.0).kept == [True, True]
    with pytest.raises(ValueError):
        fast_greedy_filter(["a"], ["b"], 0.0)
