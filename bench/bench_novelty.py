"""Speed and memory of the novelty engine against the original and Alpaca methods.

    .venv/bin/python bench/bench_novelty.py             # full: 82K greedy, 50K what-if / pairwise
    .venv/bin/python bench/bench_novelty.py --quick     # small smoke run
    .venv/bin/python bench/bench_novelty.py --stretch   # only: 1M fast filter, 100K exactness proof

Baselines are measured in the same run on a sample of candidates and
extrapolated to the whole workload (they would take hours otherwise).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selfinstruct.novelty import fast_greedy_filter, greedy_filter  # noqa: E402

SEEDS = ROOT.parent / "shared" / "data" / "self-instruct" / "seed_tasks.jsonl"
VERBS = ["write", "give", "list", "explain", "describe", "find", "generate", "create",
         "classify", "summarize", "translate", "suggest", "tell", "make", "identify"]


def workload(n: int, seed: int = 0, vocab: int = 20000, dup: float = 0.15,
             zipf: float = 1.1) -> list[str]:
    """Synthetic instructions: 5-30 words from a Zipf vocabulary (s=1.1: pairs
    above 0.3 are ~2% as among the real seed tasks), a task verb up front,
    and ~``dup`` of them near-duplicates (1-3 word edits) of earlier ones."""
    rng = random.Random(seed)
    cdf = np.cumsum(1.0 / np.arange(1, vocab + 1) ** zipf)
    ranks = iter(np.searchsorted(cdf, np.random.default_rng(seed).random(32 * n) * cdf[-1]))
    words = [f"w{i}" for i in range(vocab)]
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < dup:
            toks = rng.choice(out).split()
            for _ in range(rng.randint(1, 3)):
                op, pos = rng.random(), rng.randrange(len(toks))
                if op < 0.4:
                    toks[pos] = words[next(ranks)]
                elif op < 0.7 and len(toks) > 5:
                    del toks[pos]
                else:
                    toks.insert(pos, words[next(ranks)])
        else:
            toks = [rng.choice(VERBS)] + [words[next(ranks)] for _ in range(rng.randint(4, 29))]
        out.append(" ".join(toks))
    return out


def seeds() -> list[str]:
    if SEEDS.exists():
        return [json.loads(line)["instruction"] for line in SEEDS.open()]
    return workload(175, seed=99, dup=0.0)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss would carry over the parent's
    peak into a spawned child on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(fn, *args):
    """Run ``fn(*args)`` in a fresh process; returns (result, its peak RSS in MB)."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as p:
        return p.apply(_measured, (fn, *args))


def _measured(fn, *args):
    out = fn(*args)
    return out, peak_rss_mb()


def run_ours(cands: list[str], pool: list[str]) -> tuple[float, list[float], list[bool], str]:
    """Time the greedy filter; returns scores, decisions and a digest of the top-10 lists."""
    t = time.perf_counter()
    r = greedy_filter(cands, pool, 0.7, k=10)
    secs = time.perf_counter() - t
    return secs, r.scores, r.kept, hashlib.sha256(repr(r.nearest).encode()).hexdigest()


def run_scan(cands: list[str], pool: list[str], k: int = 10):
    """The previous engine: every pair scored exactly (no folded bound), row top-k
    by partition: forced by a sample size no pool reaches. Brute force, in C++."""
    from selfinstruct.novelty import core

    core.SAMPLE_COLS = 1 << 62
    if k == 10:
        return run_ours(cands, pool)
    t = time.perf_counter()
    r = greedy_filter(cands, pool, 0.7, k=k)
    return time.perf_counter() - t, r.scores, r.kept, [n[0] if n else None for n in r.nearest]


def run_fast(cands: list[str], pool: list[str]):
    t = time.perf_counter()
    r = fast_greedy_filter(cands, pool, 0.7)
    return time.perf_counter() - t, r


def load() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg())


def pool_at(pool: list[str], cands: list[str], kept: list[bool], i: int) -> list[str]:
    """The pool the greedy filter compared candidate i with."""
    return pool + [c for c, k in zip(cands[:i], kept[:i]) if k]


def run_original(samples, procs: int = 4) -> tuple[float, list[float]]:
    """Self-Instruct's loop: rouge-score on raw text, one pair per task, in a process
    pool (kept open across candidates, which favours the baseline)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    best = []
    with mp.get_context("fork").Pool(procs) as p:
        t = time.perf_counter()
        for inst, pool in samples:
            rs = p.map(partial(scorer.score, inst), pool)
            rs = [s["rougeL"].fmeasure for s in rs]
            {pool[i]: rs[i] for i in np.argsort(rs)[-10:][::-1]}
            best.append(max(rs))
        return time.perf_counter() - t, best


def run_alpaca(samples, procs: int = 2) -> tuple[float, list[float]]:
    """Alpaca's loop: pool pre-tokenized once, rouge-score's ``_score_lcs`` per pair
    in a process pool of one process per core (again kept open)."""
    from rouge_score import rouge_scorer

    tok = rouge_scorer.tokenizers.DefaultTokenizer(False).tokenize
    best = []
    pool_tokens = [tok(t) for t in samples[-1][1]]  # every sampled pool is a prefix of the last
    with mp.get_context("fork").Pool(procs) as p:
        t = time.perf_counter()
        for inst, pool in samples:
            rs = p.map(partial(rouge_scorer._score_lcs, tok(inst)), pool_tokens[: len(pool)])
            rs = [s.fmeasure for s in rs]
            {pool[i]: rs[i] for i in np.argsort(rs)[-10:][::-1]}
            best.append(max(rs))
        return time.perf_counter() - t, best


def bench_greedy(n: int, n_samples: int) -> dict:
    cands, pool = workload(n), seeds()
    (secs, scores, kept, digest), rss = in_child(run_ours, cands, pool)
    sizes = np.cumsum([len(pool)] + kept[:-1])  # pool size each candidate saw
    pairs = int(sizes.sum())
    idx = np.linspace(0, n - 1, n_samples).astype(int).tolist()
    pools = [pool_at(pool, cands, kept, i) for i in idx]
    samples = [(cands[i], p) for i, p in zip(idx, pools)]
    s_pairs = sum(len(p) for p in pools)
    rows = [("ours (whole workload)", secs, [scores[i] for i in idx])]
    (scan_secs, scan_scores, _, scan_digest), scan_rss = in_child(run_scan, cands, pool)
    rows.append(("previous engine: exact scan (whole)", scan_secs, [scan_scores[i] for i in idx]))
    for name, fn in (("original (rouge-score, 4 procs)", run_original),
                     ("alpaca (pre-tokenized LCS, 2 procs)", run_alpaca)):
        t, best = fn(samples)
        rows.append((name, t / s_pairs * pairs, best))
    print(f"\n## Greedy ROUGE-L filter: {n} candidates, {len(pool)} seeds, threshold 0.7 ({load()})")
    print(f"pairs scored: {pairs:,}; kept {sum(kept):,}; peak RSS ours {rss:.0f} MB, previous "
          f"{scan_rss:.0f} MB; baselines sampled on {n_samples} candidates ({s_pairs:,} pairs), "
          "extrapolated by pairs")
    print(f"all scores and top-10 lists equal to the previous engine's: "
          f"{scan_scores == scores and scan_digest == digest}")
    print(f"{'method':38} {'seconds':>10} {'cand/s':>10} {'ours x':>8}  same scores on sample")
    for name, t, best in rows:
        print(f"{name:38} {t:10.1f} {n / t:10.1f} {t / secs:8.1f}  {best == rows[0][2]}")
    (fsecs, fast), frss = in_child(run_fast, cands, pool)
    same = fast.kept == kept and all(f == s for f, s, k in zip(fast.scores, scores, kept) if not k)
    print(f"fast_greedy_filter (keep/drop + dropped scores only): {fsecs:.1f} s, peak RSS "
          f"{frss:.0f} MB, {secs / fsecs:.1f}x faster; same decisions and dropped scores: {same}")
    return {"cands": cands, "pool": pool, "kept": kept, "scores": scores}


def bench_index(run: dict, n_queries: int = 200) -> None:
    """The pipeline's path: one candidate at a time against the whole kept pool."""
    from selfinstruct.novelty import NoveltyIndex

    kept = [c for c, k in zip(run["cands"], run["kept"]) if k]
    index = NoveltyIndex(run["pool"] + kept[:-n_queries])
    t = time.perf_counter()
    for text in kept[-n_queries:]:
        index.query(text, k=10)
        index.add(text)
    ms = (time.perf_counter() - t) / n_queries * 1000
    print(f"\n## NoveltyIndex query + add against a {len(index):,}-text pool: {ms:.1f} ms "
          f"per candidate ({load()})")


def bench_stretch(n: int, n_proof: int) -> None:
    """1M candidates through fast_greedy_filter, and its exactness on ``n_proof`` of
    them against brute force: the exact scan that scores every pair (``run_scan``)."""
    print(f"\n## Stretch: fast_greedy_filter on {n:,} candidates ({load()})")
    t = time.perf_counter()
    cands, pool = workload(n), seeds()
    print(f"workload generated in {time.perf_counter() - t:.0f} s (not timed below)")
    (secs, fast), rss = in_child(run_fast, cands, pool)
    print(f"{n:,} candidates: {secs:.1f} s end to end (tokenizing included), {n / secs:,.0f} "
          f"candidates/s, peak RSS {rss:.0f} MB, kept {sum(fast.kept):,} ({load()})")
    sub = cands[:n_proof]
    (fsecs, fast), _ = in_child(run_fast, sub, pool)
    (esecs, scores, kept, top1), _ = in_child(run_scan, sub, pool, 1)
    pairs = int(np.cumsum([len(pool)] + kept[:-1]).sum())
    dropped = [i for i, k in enumerate(kept) if not k]
    same_kept = fast.kept == kept
    same_scores = all(fast.scores[i] == scores[i] for i in dropped)
    same_blocker = all(((pool[-1 - b] if b < 0 else sub[b]), fast.scores[i]) == top1[i]
                       for i in dropped for b in [fast.blocker[i]])
    print(f"exactness on {n_proof:,} against brute force ({pairs:,} pairs, every one scored): "
          f"fast {fsecs:.1f} s vs exact scan {esecs:.1f} s; {len(dropped):,} dropped; same "
          f"decisions {same_kept}, same dropped scores {same_scores}, same blockers "
          f"{same_blocker} ({load()})")


def bench_whatif(run: dict, n: int) -> None:
    from selfinstruct.novelty import WhatIfGraph

    cands, pool = run["cands"][:n], run["pool"]
    t = time.perf_counter()
    graph = WhatIfGraph.build(pool, cands)
    build = time.perf_counter() - t
    blob = graph.to_bytes()
    t = time.perf_counter()
    graph = WhatIfGraph.from_bytes(blob)
    load = time.perf_counter() - t
    print(f"\n## What-if on a stored {n}-candidate run (min_threshold 0.3)")
    print(f"graph build {build:.1f} s, {graph.n_edges:,} pairs > 0.3, "
          f"{len(blob) / 2**20:.0f} MB serialised, load {load:.2f} s")
    eligible = [i % 10 != 0 for i in range(n)]  # another filter dropped every 10th
    for thr, elig in ((0.7, None), (0.3, None), (0.5, None), (0.8, None), (1.0, None),
                      (0.7, eligible)):
        t = time.perf_counter()
        res = graph.run(thr, elig)
        secs = time.perf_counter() - t
        note = ""
        if thr == 0.7 and elig is None:
            note = f"  same decisions as greedy_filter: {res.kept == run['kept'][:n]}"
        tag = " (10% ineligible)" if elig else ""
        print(f"threshold {thr:.1f}{tag:18} kept {sum(res.kept):6,}  {secs:6.3f} s{note}")


def bench_pairwise(n: int) -> None:
    from selfinstruct.novelty import max_against, max_within, pairwise_histogram

    texts = workload(n, seed=7)
    (counts, secs), rss = in_child(_timed_hist, texts)
    print(f"\n## Pairwise ROUGE-L histogram: {n:,} texts, {n * (n - 1) // 2:,} pairs")
    print(f"{secs:.1f} s, peak RSS {rss:.0f} MB, counts per 0.1 bin: {counts.tolist()}")
    t = time.perf_counter()
    max_within(texts[:5000])
    max_against(texts, seeds())
    print(f"max_within(5,000) + max_against({n:,} vs seeds): {time.perf_counter() - t:.1f} s")


def _timed_hist(texts: list[str]):
    from selfinstruct.novelty import pairwise_histogram

    t = time.perf_counter()
    counts, _ = pairwise_histogram(texts, 10)
    return counts, time.perf_counter() - t


def _shard(conn) -> None:
    """One shard worker: holds a slice of the pool, answers exact row maxima."""
    os.environ["NOVELTY_WORKERS"] = "1"
    from selfinstruct.novelty.core import exact_top, sim_block

    codes: list[str] = []
    while (msg := conn.recv()) is not None:
        op, payload = msg
        if op == "add":
            codes.extend(payload)
            lens = np.fromiter(map(len, codes), dtype=np.int64, count=len(codes))
        else:
            qlen = np.fromiter(map(len, payload), dtype=np.int64, count=len(payload))
            s = sim_block(payload, codes, qlen, lens)
            conn.send(exact_top(s, qlen, lens, 0)[0])


def sharded_greedy(cands: list[str], pool: list[str], threshold: float, n_shards: int,
                   block: int = 1024) -> list[float]:
    """The greedy filter with the pool split over ``n_shards`` processes: each block
    of candidates is scored by every shard against its slice, the coordinator takes
    the max per candidate, resolves the block in order and deals kept texts out
    round-robin. (Ray/Dask actors would replace the pipes.)"""

    from selfinstruct.novelty.core import exact_matrix, sim_block
    from selfinstruct.novelty.tokens import Encoder

    os.environ["NOVELTY_WORKERS"] = "1"
    codes = Encoder().encode_many(pool + cands)
    ctx = mp.get_context("fork")
    pipes = [ctx.Pipe() for _ in range(n_shards)]
    procs = [ctx.Process(target=_shard, args=(child,)) for _, child in pipes]
    for p in procs:
        p.start()
    conns = [c for c, _ in pipes]
    for i, c in enumerate(conns):
        c.send(("add", codes[i:len(pool):n_shards]))
    turn, scores = len(pool), []
    for a in range(len(pool), len(codes), block):
        q = codes[a:a + block]
        for c in conns:
            c.send(("max", q))
        best = np.max([c.recv() for c in conns], axis=0)
        qlen = np.fromiter(map(len, q), dtype=np.int64, count=len(q))
        intra = exact_matrix(sim_block(q, q, qlen, qlen), qlen, qlen)
        kept = np.zeros(len(q), dtype=bool)
        for r in range(len(q)):
            sc = max(float(best[r]), float(intra[r, :r][kept[:r]].max(initial=0.0)))
            kept[r] = sc <= threshold
            scores.append(sc)
        new = [q[r] for r in np.flatnonzero(kept)]
        for i, c in enumerate(conns):
            c.send(("add", new[(i - turn) % n_shards::n_shards]))
        turn += len(new)
    for c in conns:
        c.send(None)
    for p in procs:
        p.join()
    os.environ.pop("NOVELTY_WORKERS")
    return scores


def bench_shards(run: dict, n: int) -> None:
    cands, pool = run["cands"][:n], run["pool"]
    print(f"\n## Sharded pool simulation: {n:,} candidates, pool split over shard processes")
    print(f"{'shards':>6} {'seconds':>8}  same scores as greedy_filter")
    for shards in (1, 2, 4):
        t = time.perf_counter()
        scores = sharded_greedy(cands, pool, 0.7, shards)
        print(f"{shards:6} {time.perf_counter() - t:8.1f}  {scores == run['scores'][:n]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--stretch", action="store_true",
                    help="only the 1M fast filter and the 100K exactness proof (~10 min)")
    args = ap.parse_args()
    print(f"{load()} at start; {mp.cpu_count()} cores")
    if args.stretch:
        bench_stretch(*((100_000, 20_000) if args.quick else (1_000_000, 100_000)))
        return
    n, samples, n_whatif, n_pairs = (4000, 3, 2000, 2000) if args.quick else (82000, 12, 50000, 5000)
    print(f"novelty bench ({'quick' if args.quick else 'full'})")
    run = bench_greedy(n, samples)
    bench_index(run, 50 if args.quick else 200)
    bench_whatif(run, n_whatif)
    bench_pairwise(n_pairs)
    if not args.quick:
        bench_pairwise(50000)
    bench_shards(run, n if args.quick else 40000)
    print(f"\n{load()} at end")


if __name__ == "__main__":
    main()
