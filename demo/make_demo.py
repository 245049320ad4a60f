"""Record the small demo workspace the dashboard's Demo page replays.

Runs a few short iterations of the real pipeline on the embedded model
(Gemma 3 270M via llama.cpp), then compacts the file so it can ship in the
repository. Usage: ``.venv/bin/python demo/make_demo.py [OUT] [--iterations N]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

from selfinstruct.config import RunConfig
from selfinstruct.lm import make_lm
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

ROOT = Path(__file__).resolve().parent.parent


def demo_config(iterations: int) -> RunConfig:
    """Short completions and small batches: a talk-sized run that finishes in minutes on 2 cores."""
    cfg = RunConfig(target=40, max_iterations=iterations)
    cfg.generate.request_batch_size = 2
    cfg.generate.max_tokens = 160
    cfg.instances.max_tokens = 120
    cfg.lm.n_ctx = 2048
    return cfg


def compact(path: Path) -> None:
    """Fold the WAL into the file and drop free pages, so the file is small and self-contained."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(ROOT / "demo" / "demo.sqlite"))
    ap.add_argument("--iterations", type=int, default=6)
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; remove it first to record a new demo")
    cfg = demo_config(args.iterations)
    started = time.monotonic()
    store = Store(out)
    run = start_run(store, "demo", load_tasks(ROOT / "seeds" / "seed_tasks.jsonl"), cfg)
    for ev in Pipeline(store, run, make_lm(cfg.lm), owner="make_demo").events():
        if ev.kind == "saved":
            c = ev.data["counts"]
            print(f"iteration {ev.iteration}: kept {c['kept']} of {c['generated']} "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
        elif ev.kind == "stopped":
            print(f"stopped: {ev.data['status']}")
    store.close()
    compact(out)
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
