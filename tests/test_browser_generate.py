"""The Generate page's live view in a real browser (Chromium via Playwright): against a slow
OpenAI-compatible endpoint, every prompt in flight streams on the page at the same time."""

from __future__ import annotations

import time
from typing import Any

import pytest

from selfinstruct.config import RunConfig
from selfinstruct.lm.base import LMRequest
from selfinstruct.lm.fake import demo_responder
from selfinstruct.pipeline import start_run
from selfinstruct.prompts import CLASSIFICATION_HEADER, INSTRUCTION_HEADER
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from tests import openai_stub
from tests.apptest_util import SEEDS
from tests.browser_util import browser_page, goto, needs_chromium, streamlit_server
from tests.openai_stub import Behaviour, OpenAIStub, drip, paced

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.timeout(240)]

PACE_S = 0.3  # between two streamed pieces of an instruction answer: ~25 s per answer


def respond(body: dict[str, Any]) -> str | Behaviour:
    """The fake model's answer for each step; instruction answers drip."""
    prompt = body.get("prompt", "")
    step = ("instructions" if prompt.startswith(INSTRUCTION_HEADER)
            else "classify" if prompt.startswith(CLASSIFICATION_HEADER) else "instances")
    text = demo_responder(LMRequest(prompt=prompt, step=step, max_tokens=body.get("max_tokens", 256),
                                    seed=body.get("seed")))
    return drip(text) if step == "instructions" else text


def test_the_generate_page_streams_every_prompt_in_flight_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(openai_stub._Handler, "_slowly", paced(PACE_S))
    ws = tmp_path / "ws.sqlite"
    with OpenAIStub(respond) as stub:
        cfg = RunConfig(target=100)
        cfg.lm.backend, cfg.lm.base_url, cfg.lm.model, cfg.lm.concurrency = "openai", stub.base_url, "stub-model", 8
        cfg.generate.request_batch_size = 3  # 8 at once: iterations 1 and 2 whole, two prompts of the 3rd
        with Store(ws) as s:
            start_run(s, "remote", load_tasks(SEEDS)[:20], cfg)
        with streamlit_server(ws, tmp_path / "server.log", {"OPENAI_API_KEY": "sk-stub"}) as base, \
                browser_page() as page:
            goto(page, f"{base}/generate")
            page.get_by_role("button", name="Start / resume").click()
            cells = page.locator('.st-key-live-prompts [data-testid="stCaptionContainer"]')
            streaming, deadline = 0, time.monotonic() + 30
            while streaming < 5 and time.monotonic() < deadline:
                streaming = cells.filter(has_text="⏳ streaming").count()  # one look at the page: the same moment
                page.wait_for_timeout(200)
            headers = page.locator(".st-key-live-prompts").get_by_text("Iteration ").all_inner_texts()
            speed = page.get_by_text("In flight").first.inner_text()
    assert streaming >= 5, f"at most {streaming} prompts were streaming at once"
    assert any(h.startswith("Iteration 2") for h in headers)  # from more than one iteration
    assert "queued" in speed and "tokens/s" in speed
    assert stub.max_in_flight >= 5
