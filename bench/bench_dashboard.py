"""Server time of every dashboard page, and of a filter-slider move, on a big workspace.

    .venv/bin/python bench/bench_dashboard.py            # 50,000 generated instructions
    .venv/bin/python bench/bench_dashboard.py --quick    # 5,000, for a smoke run

The workspace is synthetic, written straight through the store API (no LM):
instructions from a Zipf vocabulary, a few near-duplicates, two instances
each, every 10 candidates one stored iteration with two prompts. Pages run
under Streamlit's AppTest, which executes the real scripts (the first render
of Filters builds the run's similarity graph, of Analysis parses every
instruction with spaCy; both are cached afterwards); the baseline is
the same page on a 1,000-instruction workspace measured in the same run, so
the ratio says how the page scales. Workspaces are cached under /tmp.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# AppTest's bare-mode warnings (one per st call outside a script run) would bury the table.
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selfinstruct.config import RunConfig  # noqa: E402
from selfinstruct.lm.base import LMRequest, LMResponse  # noqa: E402
from selfinstruct.pipeline import start_run  # noqa: E402
from selfinstruct.prompts import build_instruction_prompt, render_instruction_completion  # noqa: E402
from selfinstruct.records import Instance, Verdict  # noqa: E402
from selfinstruct.seeds import load_tasks  # noqa: E402
from selfinstruct.store import Store  # noqa: E402

CACHE = Path("/tmp/selfinstruct-bench-dashboard")
PER_ITERATION = 10
VERBS = ["Write", "Give", "List", "Explain", "Describe", "Find", "Generate", "Create", "Classify", "Summarize",
         "Translate", "Suggest", "Tell", "Make", "Identify", "Compare", "Rewrite", "Plan"]


def texts(n: int, seed: int = 0, vocab: int = 20000) -> list[str]:
    """Instructions of 5-30 words, Zipf-distributed vocabulary, ~15% near-duplicates of earlier ones."""
    rng = random.Random(seed)
    weights = 1.0 / np.arange(1, vocab + 1) ** 1.1
    words = np.random.default_rng(seed).choice(vocab, size=n * 30, p=weights / weights.sum())
    out: list[str] = []
    for i in range(n):
        if out and rng.random() < 0.15:
            base = rng.choice(out).split()
            base[rng.randrange(1, len(base))] = f"w{rng.randrange(vocab)}"
            out.append(" ".join(base))
        else:
            k = rng.randint(5, 30)
            out.append(" ".join([rng.choice(VERBS)] + [f"w{w}" for w in words[i * 30: i * 30 + k - 1]]) + ".")
    return out


def build(path: Path, n: int) -> float:
    """Write an n-instruction run straight through the store; returns seconds."""
    start = time.perf_counter()
    store = Store(path)
    cfg = RunConfig(target=n)
    cfg.lm.backend = "fake"
    run = start_run(store, "big", load_tasks(ROOT / "seeds" / "seed_tasks.jsonl"), cfg)
    seeds = [t.instruction for t in load_tasks(ROOT / "seeds" / "seed_tasks.jsonl")]
    rng = random.Random(1)
    pool = texts(n)
    for it, first in enumerate(range(0, n, PER_ITERATION), start=1):
        batch = pool[first: first + PER_ITERATION]
        halves = [batch[: len(batch) // 2], batch[len(batch) // 2:]]
        prompts = []
        for slot, part in enumerate(halves):
            chosen = rng.sample(seeds, 8)
            req = LMRequest(prompt=build_instruction_prompt(chosen), step="instructions", seed=it * 10 + slot)
            call_id = store.record_call(run.id, "synthetic", req, response=LMResponse(
                text=render_instruction_completion(part, start=9), tokens_in=400, tokens_out=20 * len(part)))
            prompts.append(([{"text": t, "origin": "seed"} for t in chosen], call_id))
        candidates = []
        for slot, part in enumerate(halves):
            for text in part:
                keep = rng.random() < 0.6
                insts = [(Instance(f"input {k} for {text[:20]}", f"output {k}"), Verdict.kept()) for k in range(2)]
                candidates.append({
                    "text": text, "slot": slot, "keep": keep, "reason": None if keep else "rouge_similar",
                    "detail": "" if keep else "synthetic", "max_rouge": rng.random(),
                    "similar": [(rng.choice(seeds), 0.5)], "is_classification": rng.random() < 0.2,
                    "instances": insts if keep else [],
                })
        store.save_iteration(run.id, it, prompts, candidates)
    store.close()
    return time.perf_counter() - start


def workspace(n: int, rebuild: bool) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"ws{n}.sqlite"
    if rebuild or not path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        print(f"building a {n:,}-instruction workspace… {build(path, n):.1f} s", flush=True)
    return path


def _compute(at):
    """Analysis waits for a click above 5,000 instructions: give it, so the first render computes."""
    found = [b for b in at.button if b.label == "Compute the analysis"]
    return found[0].click().run() if found else at


# How each page is brought to show the big run (the first render is timed whole): the Demo page
# defaults to the shipped recording, Analysis may wait for a click.
SETUP = {
    "demo": lambda at: at.run().radio(key="demo_source").set_value("workspace").run(),
    "analysis": lambda at: _compute(at.run()),
}


def page_times(path: Path, pages: list[str], repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds of each page's first render with its data (fills caches) and median of ``repeats`` reruns."""
    from streamlit.testing.v1 import AppTest

    os.environ["SELFINSTRUCT_WORKSPACE"] = str(path)
    first, out = {}, {}
    for name in pages:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
        at.run()
        at.switch_page(f"dashboard/screens/{name}.py")
        t = time.perf_counter()
        SETUP.get(name, AppTest.run)(at)
        first[name] = time.perf_counter() - t
        assert not at.exception, (name, [e.value for e in at.exception])
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t)
        out[name] = statistics.median(times)
    return first, out


def slider_times(path: Path, values: list[float]) -> list[float]:
    """Seconds for the Filters page to answer each ROUGE-L slider move (whole script rerun)."""
    from streamlit.testing.v1 import AppTest

    from dashboard.state import run_key

    os.environ["SELFINSTRUCT_WORKSPACE"] = str(path)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.run()
    at.switch_page("dashboard/screens/filters.py")
    at.run()
    out = []
    for v in values:
        t = time.perf_counter()
        at.slider(key=f"{run_key('flt', 1, str(path))}.rouge").set_value(v).run()
        out.append(time.perf_counter() - t)
        assert not at.exception
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="Dashboard server time on a big workspace.")
    ap.add_argument("--quick", action="store_true", help="5,000 instructions instead of 50,000")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached workspaces")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = 5000 if args.quick else 50000
    small, big = workspace(1000, args.rebuild), workspace(n, args.rebuild)
    pages = ["runs", "seeds", "generate", "filters", "analysis", "data", "demo"]

    base_first, base = page_times(small, pages, args.repeats)
    got_first, got = page_times(big, pages, args.repeats)
    print(f"\npage render, server seconds: first render (cold caches) and median of {args.repeats} after it")
    print(f"{'page':<10} {'1k first':>9} {'1k warm':>8} {f'{n // 1000}k first':>9} {f'{n // 1000}k warm':>8} {'ratio':>6}")
    for name in pages:
        print(f"{name:<10} {base_first[name]:9.3f} {base[name]:8.3f} {got_first[name]:9.3f} {got[name]:8.3f} "
              f"{got[name] / base[name]:6.1f}")
    moves = [0.3, 0.5, 0.65, 0.8, 1.0, 0.7]
    small_moves, big_moves = slider_times(small, moves), slider_times(big, moves)
    print(f"\nROUGE-L slider move on Filters (whole page rerun), seconds: "
          f"1,000: median {statistics.median(small_moves):.3f}; {n:,}: median {statistics.median(big_moves):.3f}, "
          f"max {max(big_moves):.3f} (ratio {statistics.median(big_moves) / statistics.median(small_moves):.1f})")
    print(f"goal: under 1 s at {n:,}: {'met' if max(big_moves) < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
