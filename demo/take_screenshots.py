"""Retake the README's screenshots from a real run on the embedded model, made in the browser.

Starts the dashboard on a fresh workspace, creates a run with the Runs form untouched (the
library's defaults, Gemma 3 270M through llama.cpp), presses Start, and times how long the
first verdicts take to appear. Once ``--kept`` instructions are kept (or ``--minutes`` pass) it
pauses the run and photographs every page but Generate (``demo/feature_screenshots.py`` takes that
one, with several iterations' prompts streaming at once from a slow local endpoint). Usage:

    .venv/bin/python demo/take_screenshots.py [--out docs/screenshots] [--kept 12] [--minutes 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selfinstruct.store import Store  # noqa: E402
from tests.browser_util import browser_page, goto, streamlit_server, wait_idle  # noqa: E402

PAGES = ("Runs", "Seeds", "Filters", "Analysis", "Data", "Responses", "Evaluate", "Export", "Demo")


def kept_metric(page) -> int:
    box = page.locator('[data-testid="stMetric"]').filter(has_text="Kept").first
    return int(box.locator('[data-testid="stMetricValue"]').inner_text().strip().replace(",", "") or 0)


def nav(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.wait_for_timeout(500)
    wait_idle(page, 120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--kept", type=int, default=12, help="pause once this many instructions are kept")
    ap.add_argument("--minutes", type=float, default=8.0, help="pause after this long at the latest")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "studio.sqlite"
        Store(ws).close()
        with streamlit_server(ws, Path(tmp) / "server.log") as base, browser_page(1400, 1000) as page:
            goto(page, base)
            page.get_by_role("button", name="Create run").click()
            page.get_by_role("heading", name="Generate").wait_for(timeout=60_000)
            wait_idle(page)
            page.get_by_role("button", name="Start / resume").click()
            start = time.time()
            page.get_by_text("Candidates ·").first.wait_for(timeout=600_000)
            first = time.time() - start
            print(f"first verdicts {first:.1f} s after Start", flush=True)
            deadline = start + args.minutes * 60
            while kept_metric(page) < args.kept and time.time() < deadline:
                page.wait_for_timeout(2000)
            kept, elapsed = kept_metric(page), time.time() - start
            print(f"{kept} kept in {elapsed:.0f} s", flush=True)
            page.get_by_role("button", name="Pause").click()
            with Store(ws) as store:
                while store.run(1).state == "running":
                    time.sleep(1)
            for title in PAGES:
                nav(page, title)
                if title == "Analysis":
                    page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
                    wait_idle(page, 120)
                page.screenshot(path=str(args.out / f"{title.lower()}.png"))
                print(f"{title}: {args.out / (title.lower() + '.png')}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
