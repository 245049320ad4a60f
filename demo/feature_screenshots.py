"""Take the screenshots of the Evaluate page's ranked groups and length-vs-score tabs, in the browser.

The workspace is made up for the pictures, with no model: an evaluation run of 40 questions, four
answer sets whose answers differ in length, and a stand-in judge (``FakeLM``) that scores each
answer from its length and its set, through the real judge code path. Usage:

    .venv/bin/python demo/evaluate_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selfinstruct.evaluate.judge import judge_single  # noqa: E402
from selfinstruct.lm.base import LMRequest  # noqa: E402
from selfinstruct.lm.fake import FakeLM  # noqa: E402
from selfinstruct.records import Instance, Task  # noqa: E402
from selfinstruct.store import Store  # noqa: E402
from selfinstruct.store.responses import create_response_set, save_responses  # noqa: E402
from tests.browser_util import browser_page, goto, streamlit_server, wait_idle  # noqa: E402

# set -> (typical answer length in words, how much better than its length alone)
SETS = {"gpt-4o": (120, 1.0), "llama-gpt4": (95, 0.2), "alpaca": (45, 0.0), "llama": (70, -1.5)}
WORDS = "the answer explains each step with an example and a short reason so the reader can follow".split()


def make_workspace(path: Path) -> None:
    rng = random.Random(0)
    with Store(path) as store:
        run = store.create_run("vicuna", kind="import")
        store.add_tasks(run.id, [Task(str(i), f"Question {i}: explain something useful.", (Instance("", ""),))
                                 for i in range(40)], origin="import")
        insts = store.instances(run_id=run.id)
        bonus = {}
        for name, (mean, extra) in SETS.items():
            rs = create_response_set(store, run.id, name, model=name)
            texts = [" ".join(rng.choice(WORDS) for _ in range(max(5, int(rng.gauss(mean, mean / 3))))) + f" ({name})"
                     for _ in insts]
            save_responses(store, rs.id, [(i.id, t, None, "stop") for i, t in zip(insts, texts)])
            bonus[name] = extra

        def judge(req: LMRequest) -> str:
            answer = req.prompt.split("[Assistant's response]\n", 1)[1].split("\n[End of response]")[0]
            name = answer.rsplit("(", 1)[1].rstrip(")")
            score = 3 + len(answer.split()) / 30 + bonus[name] + random.Random(answer).gauss(0, 1)
            return f"Score: {min(10, max(1, round(score)))}"

        judge_single(store, run, FakeLM(responder=judge, name="openai:gpt-4o@https://api.openai.com/v1"), list(SETS))


def pick(page, label: str, options: list[str]) -> None:
    """Add options to the multiselect labelled ``label``."""
    box = page.locator(f'input[aria-label="{label}"]:visible').first  # the open tab's, of that exact label
    for option in options:
        box.click()
        page.get_by_role("option", name=option, exact=True).click()
        wait_idle(page)
    page.keyboard.press("Escape")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "eval.sqlite"
        make_workspace(ws)
        with streamlit_server(ws, Path(tmp) / "server.log") as base, browser_page(1400, 1300) as page:
            goto(page, base)
            page.locator('[data-testid="stSidebarNav"]').get_by_text("Evaluate", exact=True).click()
            wait_idle(page, 60)
            page.get_by_role("tab", name="Judge").click()
            pick(page, "Response sets", ["alpaca", "llama"])
            chart = page.get_by_text("Ranked groups").first
            chart.scroll_into_view_if_needed()
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(args.out / "evaluate-ranked-groups.png"))
            page.get_by_role("tab", name="Length vs score").click()
            wait_idle(page, 60)
            page.get_by_role("tab", name="Length vs score").scroll_into_view_if_needed()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(args.out / "evaluate-length-score.png"))
    print(f"wrote {args.out / 'evaluate-ranked-groups.png'} and {args.out / 'evaluate-length-score.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
