"""Speed and memory of the novelty engine against the original and Alpaca methods.

    .venv/bin/python bench/bench_novelty.py           # full: 82K greedy, 50K what-if / pairwise
    .venv/bin/python bench/bench_novelty.py --quick   # small smoke run

Baselines are measured in the same run on a sample of candidates and
extrapolated to the whole workload (they would take hours otherwise).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selfinstruct.novelty import greedy_filter  # noqa: E402

SEEDS = ROOT.parent / "shared" / "data" / "self-instruct" / "seed_tasks.jsonl"
VERBS = ["write", "give", "list", "explain", "describe", "find", "generate", "create",
         "classify", "summarize", "translate", "suggest", "tell", "make", "identify"]


def workload(n: int, seed: int = 0, vocab: int = 20000, dup: float = 0.15) -> list[str]:
    """Synthetic instructions: 5-30 words from a Zipf vocabulary, a task verb up
    front, and ~``dup`` of them near-duplicates (1-3 word edits) of earlier ones."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)]
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < dup:
            toks = rng.choice(out).split()
            for _ in range(rng.randint(1, 3)):
                op, pos = rng.random(), rng.randrange(len(toks))
                w = words[min(int(nrng.zipf(1.2)), vocab) - 1]
                if op < 0.4:
                    toks[pos] = w
                elif op < 0.7 and len(toks) > 5:
                    del toks[pos]
                else:
                    toks.insert(pos, w)
        else:
            n_words = rng.randint(5, 30)
            ranks = np.minimum(nrng.zipf(1.2, n_words - 1), vocab) - 1
            toks = [rng.choice(VERBS)] + [words[r] for r in ranks]
        out.append(" ".join(toks))
    return out


def seeds() -> list[str]:
    if SEEDS.exists():
        return [json.loads(line)["instruction"] for line in SEEDS.open()]
    return workload(175, seed=99, dup=0.0)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
