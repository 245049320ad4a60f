"""The dashboard in a real browser: the main flow, untrusted text, and a typed API key.

Runs ``streamlit run app.py`` headless and drives Debian's Chromium with
Playwright. Screenshots go to a temporary folder, to look at when a test fails (the README's
come from ``demo/take_screenshots.py``, on the embedded model).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from selfinstruct.lm.base import LMRequest
from selfinstruct.lm.fake import demo_responder
from selfinstruct.prompts import CLASSIFICATION_HEADER, INSTRUCTION_HEADER
from selfinstruct.records import Instance, Task
from selfinstruct.store import Store
from tests.browser_util import Beacon, browser_page, goto, needs_chromium, streamlit_server, wait_idle
from tests.openai_stub import OpenAIStub

from conftest import fake_run

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.timeout(240)]


@pytest.fixture
def shots(tmp_path) -> Path:
    out = tmp_path / "shots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def shot(page, shots: Path, name: str) -> None:
    wait_idle(page)
    page.screenshot(path=str(shots / f"{name}.png"))


def metric_value(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def nav(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.wait_for_timeout(300)
    wait_idle(page)


def test_create_step_filter_and_analyse(tmp_path, shots):
    ws = tmp_path / "ws.sqlite"
    fake_run(ws, 3, name="recorded", target=200)
    with streamlit_server(ws, tmp_path / "server.log", {"SELFINSTRUCT_ALLOW_FAKE": "1"}) as base, \
            browser_page() as page:
        goto(page, base)
        page.get_by_text("Fake scripted LM (tests only)").click()
        name = page.get_by_label("Run name")
        name.fill("browser-run")
        name.press("Enter")
        wait_idle(page)
        shot(page, shots, "runs")
        page.get_by_role("button", name="Create run").click()
        page.get_by_role("heading", name="Generate").wait_for()
        wait_idle(page)
        page.get_by_role("button", name="Step one iteration").click()
        page.get_by_role("heading", name="Iteration 1").wait_for(timeout=60_000)
        page.get_by_text("Candidates ·").first.wait_for()
        page.get_by_text("Verdict:").first.wait_for()
        page.get_by_text("Come up with a series of tasks:").first.wait_for()  # the exact prompt
        with Store(ws) as s:
            assert s.completed_iterations(s.run("browser-run").id) == 1
        shot(page, shots, "generate")

        nav(page, "Filters")
        before = int(metric_value(page, "Kept").replace(",", ""))
        slider = page.locator('[data-testid="stSidebar"]').get_by_role("slider").first
        slider.focus()
        slider.press("Home")  # the lowest ROUGE-L threshold
        deadline = time.time() + 20
        after = before
        while after == before and time.time() < deadline:
            page.wait_for_timeout(300)
            after = int(metric_value(page, "Kept").replace(",", ""))
        assert after < before
        shot(page, shots, "filters")

        nav(page, "Analysis")
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        assert page.locator("g.sunburstlayer path").count() > 1
        shot(page, shots, "analysis")

        nav(page, "Seeds")
        shot(page, shots, "seeds")
        nav(page, "Data")
        shot(page, shots, "data")
        nav(page, "Demo")
        page.get_by_role("button", name="Show whole").click()
        page.get_by_text("Candidates ·").first.wait_for()
        shot(page, shots, "demo")
        for title in ("Responses", "Evaluate", "Export"):
            link = page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True)
            if link.count():
                nav(page, title)
                shot(page, shots, title.lower())


def hostile_responder(port: int):
    """Instructions and instances full of markup that must stay text."""
    texts = [
        "Explain why <script>window.__xss=1</script> matters for a small business owner.",
        'Describe how <img src=x onerror="window.__xss=2"> renders in old browsers, please.',
        f"Summarize ![x](http://127.0.0.1:{port}/beacon.png) for a busy parent in two lines.",
        f'Review <iframe src="http://127.0.0.1:{port}/frame"></iframe> and [link](javascript:window.__xss=3) now.',
    ]

    def answer(req: LMRequest) -> str:
        if req.step == "instructions":
            return " " + "\n".join(t if i == 0 else f"{10 + i}. {t}" for i, t in enumerate(texts))
        if req.step == "instances":
            return (f'Example 1\nInput: <img src=x onerror="window.__xss=4">\n'
                    f"Output: ![y](http://127.0.0.1:{port}/beacon2.png) <script>window.__xss=5</script>")
        return demo_responder(req)

    return answer


def test_generated_markup_is_shown_as_text_and_never_runs_or_loads(tmp_path, shots):
    ws = tmp_path / "ws.sqlite"
    with Beacon() as beacon:
        seed = Task(id="evil", instruction=f"Caption ![s](http://127.0.0.1:{beacon.port}/seed.png) <b>now</b>.",
                    instances=(Instance("<script>window.__xss=6</script>", "ok"),))
        fake_run(ws, 1, name="recorded", target=200, responder=hostile_responder(beacon.port),
                 extra_seeds=[seed])
        with streamlit_server(ws, tmp_path / "server.log") as base, browser_page() as page:
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            goto(page, f"{base}/generate")
            page.get_by_role("heading", name="Iteration 1").wait_for()
            page.get_by_text("window.__xss=1").first.wait_for()
            for i in range(3):  # open every prompt's expander
                page.get_by_text(f"Prompt {i + 1} ·").first.click()
            page.wait_for_timeout(500)
            assert '&lt;img src=x onerror="window.__xss=2"&gt;' in page.content()  # there, as text
            nav(page, "Data")
            nav(page, "Demo")  # it replays the sidebar's run by default
            page.get_by_role("button", name="Show whole").click()
            page.get_by_text("Candidates ·").first.wait_for()
            nav(page, "Analysis")
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1000)
            assert page.evaluate("window.__xss") is None
            assert page.locator("img[src='x'], iframe[src*='/frame']").count() == 0
            assert dialogs == []
        assert beacon.hits == []


def test_a_typed_api_key_never_reaches_the_workspace_logs_or_page(tmp_path):
    key = "sk-STUDIO-TEST-7f3a9c1e5b2d4f60"
    ws = tmp_path / "ws.sqlite"

    def respond(body: dict) -> str:
        prompt = body.get("prompt", "")
        step = ("instructions" if prompt.startswith(INSTRUCTION_HEADER)
                else "classify" if prompt.startswith(CLASSIFICATION_HEADER) else "instances")
        return demo_responder(LMRequest(prompt=prompt, step=step, max_tokens=body.get("max_tokens", 256),
                                        seed=body.get("seed")))

    log = tmp_path / "server.log"
    with OpenAIStub(respond, api_key=key) as stub, streamlit_server(ws, log) as base, browser_page() as page:
        goto(page, base)
        page.get_by_text("OpenAI-compatible endpoint").click()
        wait_idle(page)
        for label, value in (("Model", "stub-model"), ("Base URL", stub.base_url), ("Run name", "remote")):
            box = page.get_by_role("textbox", name=label, exact=True)
            box.fill(value)
            box.press("Enter")
            wait_idle(page)
        typed = page.get_by_role("textbox", name="API key", exact=True)
        typed.fill(key)
        typed.press("Enter")
        page.get_by_text("An API key is held in memory").wait_for()
        assert key not in page.content()
        page.get_by_role("button", name="Create run").click()
        page.get_by_role("heading", name="Generate").wait_for()
        wait_idle(page)
        page.get_by_role("button", name="Step one iteration").click()
        page.get_by_role("heading", name="Iteration 1").wait_for(timeout=60_000)
        assert key not in page.content()
        nav(page, "Runs")
        assert key not in page.content()
    assert any(r.headers.get("authorization") == f"Bearer {key}" for r in stub.requests)  # it was used
    with Store(ws) as s:
        assert s.completed_iterations(s.run("remote").id) == 1
    for path in [ws, Path(f"{ws}-wal"), log]:
        if path.exists():
            assert key.encode() not in path.read_bytes(), path


METRICS_CUT = """() => Array.from(document.querySelectorAll('[data-testid="stMetric"]')).flatMap(m => {
  const parts = ['stMetricLabel', 'stMetricValue'].map(id => m.querySelector(`[data-testid="${id}"]`)).filter(Boolean);
  const cut = parts.some(p => [p, ...p.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1));
  return cut ? [m.innerText.replace(/\\s+/g, ' ')] : []; })"""


def test_no_metric_is_cut_off_at_1100_px(tmp_path):
    ws = tmp_path / "ws.sqlite"
    fake_run(ws, 3, name="recorded", target=200)
    with streamlit_server(ws, tmp_path / "server.log") as base, browser_page(width=1100) as page:
        for path, title in (("generate", "Generate"), ("filters", "Filters"), ("analysis", "Analysis"),
                            ("demo", "Demo"), ("seeds", "Seeds")):
            goto(page, f"{base}/{path}")
            page.get_by_role("heading", name=title).first.wait_for()
            if path == "demo":  # it replays the sidebar's run by default
                page.get_by_role("button", name="Show whole").click()
            page.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
            page.wait_for_timeout(500)
            wait_idle(page)
            assert page.evaluate(METRICS_CUT) == [], path


def pick(page, label: str, option: str) -> None:
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(300)
    wait_idle(page)


def test_the_with_box_shows_the_data_set_compared(tmp_path):
    from selfinstruct.config import FilterConfig
    from selfinstruct.filter_views import save_view

    ws = tmp_path / "ws.sqlite"
    fake_run(ws, 2, name="recorded", target=200)
    with Store(ws) as s:
        save_view(s, s.run("recorded"), "v1", FilterConfig(rouge_threshold=0.5))
    with streamlit_server(ws, tmp_path / "server.log") as base, browser_page() as page:
        goto(page, f"{base}/analysis")
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        page.get_by_text("Compare", exact=True).click()
        wait_idle(page)
        pick(page, "with", "recorded · view v1")
        pick(page, "Data set", "recorded · view v1")
        page.get_by_role("tab", name="📋 Table 1").click()
        wait_idle(page)
        shown = page.get_by_role("combobox", name="with").input_value()
        columns = page.locator('[data-testid="stDataFrame"] [role="columnheader"]')
        columns.nth(2).wait_for(state="attached")  # the grid's accessible copy of its header
        header = columns.all_inner_texts()
        assert shown != "recorded · view v1"
        assert header[1:3] == ["recorded · view v1", shown]  # the box names what is compared
