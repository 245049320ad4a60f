"""The Vendi score with the ROUGE-L kernel: equal to numpy's eigvalsh of a kernel filled pair by
pair, monotone in the obvious cases, estimated from samples above the exact limit."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest
from rapidfuzz.distance import LCSseq
from rouge_score import rouge_scorer

from selfinstruct import analysis, diversity
from selfinstruct.novelty.core import fmeasure
from selfinstruct.novelty.matrix import rouge_matrix
from selfinstruct.novelty.tokens import tokenize
from tests.test_analysis import SEEDS, USER, load_jsonl

VERBS = ["write", "give", "list", "explain", "describe", "find", "classify", "summarize", "translate"]


def synthetic(n: int, seed: int = 0, dup: float = 0.2) -> list[str]:
    """Instructions of 4-20 words from a Zipf vocabulary, some of them edited copies of earlier ones."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(3000)]
    cum = list(itertools.accumulate(1 / (i + 1) ** 1.1 for i in range(len(words))))
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < dup:
            toks = rng.choice(out).split()
            toks[rng.randrange(len(toks))] = rng.choices(words, cum_weights=cum)[0]
        else:
            toks = [rng.choice(VERBS)] + rng.choices(words, cum_weights=cum, k=rng.randint(4, 20))
        out.append(" ".join(toks))
    return out


def real_and_synthetic(n: int) -> list[str]:
    texts = [t.instruction for t in load_jsonl(SEEDS, "seed") + load_jsonl(USER, "import")]
    return (texts + synthetic(n))[:n]


def direct_kernel(texts: list[str]) -> np.ndarray:
    """ROUGE-L F of every pair, one LCS call each, ones on the diagonal."""
    toks = [tokenize(t) for t in texts]
    n = len(texts)
    k = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            k[i, j] = k[j, i] = fmeasure(int(LCSseq.similarity(toks[i], toks[j])), len(toks[i]), len(toks[j]))
    return k


def direct_vendi(kernel: np.ndarray) -> float:
    """exp of the entropy of K/n's positive eigenvalues, normalised to sum to 1."""
    w = np.linalg.eigvalsh(kernel / len(kernel))
    p = w[w > 0] / w[w > 0].sum()
    return math.exp(-sum(x * math.log(x) for x in p))


def test_the_matrix_equals_rouge_score_pair_by_pair() -> None:
    texts = [t.instruction for t in load_jsonl(SEEDS, "seed")[:60]] + ["", "!!!", "Write a poem."]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    got = rouge_matrix(texts, diagonal=None)
    want = np.array([[scorer.score(a, b)["rougeL"].fmeasure for b in texts] for a in texts])
    assert np.array_equal(got, want)  # bit for bit, the empty texts' zeros on the diagonal included
    kernel = rouge_matrix(texts)
    assert np.array_equal(np.diag(kernel), np.ones(len(texts))) and np.array_equal(kernel, kernel.T)


@pytest.mark.parametrize("n", [60, 500, pytest.param(2000, marks=pytest.mark.slow)])
def test_vendi_equals_eigvalsh_of_the_full_kernel(n: int) -> None:
    texts = real_and_synthetic(n)
    kernel = direct_kernel(texts)
    got = diversity.vendi_score(texts)
    assert got["exact"] and got["n"] == n
    assert got["score"] == pytest.approx(direct_vendi(kernel), rel=1e-9)
    w = np.linalg.eigvalsh(kernel / n)
    assert got["negative_mass"] == pytest.approx(-w[w < 0].sum(), rel=1e-6, abs=1e-12)


def test_vendi_bounds_duplicates_and_distinct_additions() -> None:
    assert diversity.vendi_score(["Write a poem."] * 7)["score"] == pytest.approx(1.0)
    disjoint = [f"token{i}a token{i}b" for i in range(9)]
    assert diversity.vendi_score(disjoint)["score"] == pytest.approx(9.0)
    texts = real_and_synthetic(300)
    once = diversity.vendi_score(texts)["score"]
    assert diversity.vendi_score(texts + texts)["score"] == pytest.approx(once, rel=1e-9)
    assert diversity.vendi_score(texts[::-1])["score"] == pytest.approx(once, rel=1e-9)
    scores = [once] + [diversity.vendi_score(texts + [f"zz{j}x zz{j}y zz{j}z" for j in range(k)])["score"]
                       for k in (1, 5, 20)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores
    assert diversity.vendi_score([]) is None and diversity.vendi_score(["one"])["score"] == pytest.approx(1.0)


def test_above_the_limit_the_score_is_estimated_from_samples_with_its_spread() -> None:
    texts = synthetic(900, seed=3)
    exact = diversity.vendi_score(texts)["score"]
    got = diversity.vendi_score(texts, exact_limit=600, sample_size=400, n_samples=3)
    assert not got["exact"] and got["n"] == 900
    assert (got["sample_size"], got["n_samples"], got["seed"]) == (400, 3, 0)
    assert len(got["sample_scores"]) == 3 and all(0 < s <= 400 for s in got["sample_scores"])
    assert 0 <= got["std"] < 0.1 * got["score"]
    assert got["score"] == pytest.approx(exact, rel=0.1)
    shuffled = random.Random(1).sample(texts, len(texts))  # the same set in another order: the same estimate
    assert diversity.vendi_score(shuffled, exact_limit=600, sample_size=400, n_samples=3) == got
    other = diversity.vendi_score(texts, exact_limit=600, sample_size=400, n_samples=3, seed=1)
    assert other["seed"] == 1 and other["sample_scores"] != got["sample_scores"]
    json.dumps(got)


def test_the_score_is_kept_in_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = analysis.DictCache()
    texts = real_and_synthetic(80)
    first = diversity.vendi_score(texts, cache=cache)
    monkeypatch.setattr(diversity, "rouge_matrix", lambda *a, **k: pytest.fail("computed again"))
    assert diversity.vendi_score(list(reversed(texts)), cache=cache) == first
    assert len(cache.data[diversity.VENDI_NAMESPACE]) == 1


def test_the_report_shows_vendi_beside_distinct_n() -> None:
    tasks = load_jsonl(USER, "import")
    report = analysis.full_report(tasks, cache=analysis.DictCache())
    assert report["vendi_score"] == report["vendi"]["score"] == pytest.approx(
        direct_vendi(direct_kernel([t.instruction for t in tasks])), rel=1e-9)
    assert report["distinct_3"] == analysis.distinct_n([t.instruction for t in tasks], 3)
    table = analysis.format_table1(report)
    assert "distinct-1 / -2 / -3 of instructions" in table and f"{report['vendi_score']:.1f}" in table


def test_stats_json_carries_vendi_and_distinct_n(capsys: pytest.CaptureFixture) -> None:
    from selfinstruct.cli import main

    assert main(["stats", "--seeds", str(SEEDS), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["vendi"]["exact"] and report["vendi"]["n"] == 175
    assert report["vendi_score"] == pytest.approx(diversity.vendi_score(
        [t.instruction for t in load_jsonl(SEEDS, "seed")])["score"])
    assert 0 < report["distinct_3"] <= 1
