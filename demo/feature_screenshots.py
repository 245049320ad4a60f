"""Take the documentation screenshots that need made-up data, in the browser.

Three made-up workspaces, no real model:

- **evaluate**: an evaluation run of 40 questions, four answer sets whose answers differ in
  length, and a stand-in judge (``FakeLM``) that scores each answer from its length and its set,
  through the real judge code path: the Evaluate page's ranked groups and length-vs-score tabs.
- **experiments**: a generation run of 400 kept instructions made by the real pipeline with the
  fake model (``demo_responder``), re-answered by a stand-in "stronger model" through the real
  answer job: the Evaluate page's output-quality tab, the Analysis page's data-size chart (the
  diversity of nested subsets) and the Export page's nested-subsets form.
- **generate**: a run on the OpenAI backend against a local stub endpoint (``tests/openai_stub.py``)
  that answers like the fake model and streams each instruction answer slowly, as
  ``tests/test_browser_generate.py`` does: the Generate page with prompts of several iterations
  streaming at once (the README's image).

Usage:

    .venv/bin/python demo/feature_screenshots.py [--out docs/screenshots] [--only evaluate experiments generate]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selfinstruct.config import RunConfig  # noqa: E402
from selfinstruct.evaluate.judge import judge_single  # noqa: E402
from selfinstruct.lm.base import LMRequest  # noqa: E402
from selfinstruct.lm.fake import FakeLM, demo_answer_to  # noqa: E402
from selfinstruct.pipeline import Pipeline, start_run  # noqa: E402
from selfinstruct.prompts import INSTRUCTION_HEADER  # noqa: E402
from selfinstruct.records import Instance, Task  # noqa: E402
from selfinstruct.responses import answer_set  # noqa: E402
from selfinstruct.seeds import load_tasks  # noqa: E402
from selfinstruct.store import Store  # noqa: E402
from selfinstruct.store.responses import create_response_set, save_responses  # noqa: E402
from tests import openai_stub  # noqa: E402
from tests.browser_util import browser_page, goto, streamlit_server, wait_idle  # noqa: E402

SEEDS = ROOT / "seeds" / "seed_tasks.jsonl"
WIDTH = 1400
GPT4O = "openai:gpt-4o@https://api.openai.com/v1"  # the stand-ins' name: what a real run would record
SUBSET_SIZES = "25,50,100,200,400"
PACE_S = 0.3  # between two streamed pieces of an instruction answer, as in tests/test_browser_generate.py

# set -> (typical answer length in words, how much better than its length alone)
SETS = {"gpt-4o": (120, 1.0), "llama-gpt4": (95, 0.2), "alpaca": (45, 0.0), "llama": (70, -1.5)}
WORDS = "the answer explains each step with an example and a short reason so the reader can follow".split()


def make_workspace(path: Path) -> None:
    """The evaluation workspace: four judged answer sets."""
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

        judge_single(store, run, FakeLM(responder=judge, name=GPT4O), list(SETS))


def stronger_answer(req: LMRequest) -> str:
    """The stand-in "stronger model": a longer answer about the request's last word."""
    request = req.prompt.split("Request:\n", 1)[-1].split("\n", 1)[0]
    topic = request.split()[-1].strip(".:?!") if request.split() else "it"
    rng = random.Random(req.prompt)
    steps = rng.sample(["names the key idea", "gives a worked example", "notes a common mistake",
                        "compares two options", "ends with a one-line summary"], rng.choice((2, 3, 4)))
    return f"A clear answer about {topic}: it " + ", then ".join(steps) + "."


def make_experiments_workspace(path: Path) -> None:
    """A generation run of 400 kept instructions from the fake model, and a stronger model's outputs."""
    with Store(path) as store:
        run = start_run(store, "self-instruct", load_tasks(SEEDS), RunConfig(target=400))
        for _ in Pipeline(store, run, FakeLM(concurrency=4), owner="feature_screenshots").events():
            pass
        run = store.run(run.id)
        strong = FakeLM(responder=stronger_answer, name=GPT4O, concurrency=8)
        result = answer_set(store, run, strong, RunConfig().lm, name="strong-outputs")
        assert result.error is None, result.error


def pick(page, label: str, options: list[str]) -> None:
    """Add options to the multiselect labelled ``label``."""
    box = page.locator(f'input[aria-label="{label}"]:visible').first  # the open tab's, of that exact label
    for option in options:
        box.click()
        page.get_by_role("option", name=option, exact=True).click()
        wait_idle(page)
    page.keyboard.press("Escape")


def nav(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    wait_idle(page, 60)


def type_into(page, label: str, text: str) -> None:
    """Replace the text of the visible input labelled ``label`` and submit it."""
    box = page.locator(f'input[aria-label="{label}"]:visible').first
    box.fill(text)
    box.press("Enter")
    wait_idle(page, 60)


def to_top(locator) -> None:
    """Scroll the page so that ``locator`` is at the top of the view."""
    locator.evaluate("e => e.scrollIntoView({block: 'start'})")


def shoot(page, out: Path, name: str) -> None:
    page.mouse.move(5, 5)  # no hover toolbar on a chart
    page.wait_for_timeout(1000)
    page.screenshot(path=str(out / name))
    print(f"wrote {out / name}", flush=True)


def evaluate_shots(tmp: Path, out: Path) -> None:
    ws = tmp / "eval.sqlite"
    make_workspace(ws)
    with streamlit_server(ws, tmp / "eval.log") as base, browser_page(WIDTH, 1300) as page:
        goto(page, base)
        nav(page, "Evaluate")
        page.get_by_role("tab", name="Judge").click()
        pick(page, "Response sets", ["alpaca", "llama"])
        page.get_by_text("Ranked groups").first.scroll_into_view_if_needed()
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        shoot(page, out, "evaluate-ranked-groups.png")
        page.get_by_role("tab", name="Length vs score").click()
        wait_idle(page, 60)
        page.get_by_role("tab", name="Length vs score").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        shoot(page, out, "evaluate-length-score.png")


def experiment_shots(tmp: Path, out: Path) -> None:
    ws = tmp / "studio.sqlite"
    make_experiments_workspace(ws)
    with streamlit_server(ws, tmp / "studio.log") as base, browser_page(WIDTH, 1100) as page:
        goto(page, base)
        nav(page, "Evaluate")
        page.get_by_role("tab", name="Output quality").click()
        wait_idle(page, 60)
        page.set_viewport_size({"width": WIDTH, "height": 760})
        shoot(page, out, "evaluate-output-quality.png")
        page.set_viewport_size({"width": WIDTH, "height": 1100})

        nav(page, "Analysis")
        page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
        page.get_by_role("tab", name="📈 Data size").click()
        wait_idle(page, 60)
        type_into(page, "Sizes", SUBSET_SIZES)
        page.get_by_role("button", name="Compute the subsets' diversity").click()
        wait_idle(page, 300)
        chart = page.locator('[data-testid="stTabPanel"]:visible .js-plotly-plot').first
        chart.wait_for(timeout=300_000)
        page.set_viewport_size({"width": WIDTH, "height": 1450})  # the inputs and every panel of the chart
        to_top(page.get_by_role("tab", name="📈 Data size"))
        shoot(page, out, "analysis-data-size.png")
        page.set_viewport_size({"width": WIDTH, "height": 1100})

        nav(page, "Export")
        page.get_by_text("Nested subsets for a data-size experiment").click()
        wait_idle(page)
        type_into(page, "Sizes", SUBSET_SIZES)
        page.get_by_role("button", name="Write subsets").click()
        wait_idle(page, 120)
        page.get_by_text("nested subsets to").wait_for(timeout=120_000)
        to_top(page.get_by_text("Nested subsets for a data-size experiment"))
        shoot(page, out, "export-subsets.png")


def stub_answer(body: dict) -> str | openai_stub.Behaviour:
    """The endpoint answers like the fake model; instruction answers stream slowly."""
    text = demo_answer_to(body)
    return openai_stub.drip(text) if str(body.get("prompt", "")).startswith(INSTRUCTION_HEADER) else text


def generate_shot(tmp: Path, out: Path, streaming: int = 5) -> None:
    """Start a run against the slow stub endpoint and shoot once ``streaming`` prompts stream at once."""
    openai_stub._Handler._slowly = openai_stub.paced(PACE_S)
    ws = tmp / "generate.sqlite"
    with openai_stub.OpenAIStub(stub_answer) as stub:
        cfg = RunConfig(target=100)
        cfg.lm.backend, cfg.lm.base_url, cfg.lm.model, cfg.lm.concurrency = "openai", stub.base_url, "stub-model", 8
        cfg.generate.request_batch_size = 3  # 8 at once: iterations 1 and 2 whole, two prompts of the 3rd
        with Store(ws) as s:
            start_run(s, "self-instruct", load_tasks(SEEDS)[:20], cfg)
        with streamlit_server(ws, tmp / "generate.log", {"OPENAI_API_KEY": "sk-stub"}) as base, \
                browser_page(WIDTH, 1100) as page:
            goto(page, f"{base}/generate")
            page.get_by_role("button", name="Start / resume").click()
            cells = page.locator('.st-key-live-prompts [data-testid="stCaptionContainer"]')
            seen, deadline = 0, time.monotonic() + 60
            while seen < streaming and time.monotonic() < deadline:
                seen = cells.filter(has_text="⏳ streaming").count()
                page.wait_for_timeout(200)
            if seen < streaming:
                raise SystemExit(f"only {seen} prompts streamed at once; see {tmp / 'generate.log'}")
            page.wait_for_timeout(4000)  # a few more words in each
            page.set_viewport_size({"width": WIDTH, "height": 1500})  # the metrics and more than one iteration
            to_top(page.get_by_role("tab", name="Live"))
            shoot(page, out, "generate.png")
            page.get_by_role("button", name="Pause").click()
            wait_idle(page)


SHOTS = {"evaluate": evaluate_shots, "experiments": experiment_shots, "generate": generate_shot}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--only", nargs="+", choices=list(SHOTS), default=list(SHOTS), help="which groups to take")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            SHOTS[name](Path(tmp), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
