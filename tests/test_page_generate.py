"""The Generate page while a run is under way: each prompt's state, live counts, and endpoint
errors as plain text."""

from __future__ import annotations

import threading
import time

from selfinstruct.lm.base import LMRequest
from selfinstruct.lm.fake import FakeLM, demo_responder
from selfinstruct.store import Store
from tests.apptest_util import metric, page


def test_a_finished_prompt_shows_its_verdicts_while_the_next_one_runs(ws):
    from dashboard.common import registry

    gate, calls = threading.Event(), []

    def responder(req: LMRequest):
        if req.step == "instructions":
            calls.append(req)
            if len(calls) == 2:  # the second prompt of the iteration hangs until the test has looked
                gate.wait(60)
        return demo_responder(req)

    with Store(ws) as s:
        kept_before, generated_before = s.counts(1)["kept"], s.counts(1)["generated"]
    job = registry().launch(str(ws), 1, FakeLM(responder=responder), 1)
    try:
        deadline = time.time() + 30
        while len(calls) < 2 and time.time() < deadline:  # the second prompt is sent: the first is judged
            time.sleep(0.02)
        snap = job.snapshot()
        assert snap.candidates and set(snap.completions) == {0}
        at = page("generate")
        labels = [e.label for e in at.expander]
        assert labels[0].startswith("Prompt 1 · ✅ finished · ") and f"{len(snap.candidates)} candidate" in labels[0]
        assert labels[1].startswith("Prompt 2 · 🕒 waiting") and labels[2].startswith("Prompt 3 · 🕒 waiting")
        kept_now = sum(c["keep"] for c in snap.candidates)
        assert metric(at, "Kept") == f"{kept_before + kept_now:,}"
        assert metric(at, "Generated") == f"{generated_before + len(snap.candidates):,}"
        assert metric(at, "State") == "running"
        assert any(m.label == "Kept / min" for m in at.metric)
    finally:
        gate.set()
        assert job.wait(60)


def test_an_endpoint_error_is_plain_text_with_the_dashboards_wording(ws):
    status = ("the LM is unavailable, resume later: http://127.0.0.1:9/v1 failed 3 time(s) in a row for "
              "model 'm'; last: connection refused")
    with Store(ws) as s:
        s.set_run_state(1, "failed", status)
    at = page("generate")
    assert any(t.value == status + " Fix the setting, then press Start / resume." for t in at.text)
    assert not any("\\." in m.value or "127" in m.value for m in at.markdown)  # no escapes, no link



def test_drop_reasons_keep_the_colours_the_filters_page_uses(ws):
    import json

    from selfinstruct.charts import REASON_COLORS

    at = page("generate")
    spec = json.loads(next(c for c in at.get("plotly_chart") if "Drop reasons" in c.proto.spec).proto.spec)
    colours = {trace["name"]: trace["marker"]["color"] for trace in spec["data"]}
    assert colours and all(colours[r] == REASON_COLORS[r] for r in colours if r in REASON_COLORS)
