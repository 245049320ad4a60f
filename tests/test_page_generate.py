"""The Generate page while a run is under way: every prompt in flight with its state, live counts,
and endpoint errors as plain text."""

from __future__ import annotations

import threading
import time

from selfinstruct.lm.base import LMRequest
from selfinstruct.lm.fake import FakeLM, demo_responder
from selfinstruct.store import Store
from dashboard.text import compact
from tests.apptest_util import button, candidates_table, metric, page
from tests.test_live_progress import HeldStream, streaming

from conftest import wait_until


def test_a_finished_prompt_shows_its_verdicts_while_the_next_one_runs(ws):
    from dashboard.state import registry

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
        # the second prompt is sent: the first is answered, and its candidates are judged one by one
        wait_until(lambda: len(calls) >= 2, timeout=30, interval=0.02, message="the second prompt sent")

        def judged():
            """The snapshot once the first prompt's candidates are all in: a later look finds no more."""
            before = job.snapshot().newest
            time.sleep(0.2)
            return before if before and before.candidates and \
                len(job.snapshot().newest.candidates) == len(before.candidates) else None

        newest = wait_until(judged, timeout=30, interval=0.02, message="the first prompt judged")
        assert set(newest.completions) == {0}
        at = page("generate")
        labels = [e.label for e in at.expander]
        assert labels[0].startswith("Prompt 1 · ✅ finished · ") and f"{len(newest.candidates)} candidate" in labels[0]
        assert labels[1].startswith("Prompt 2 · 🕒 waiting") and labels[2].startswith("Prompt 3 · 🕒 waiting")
        kept_now = sum(c["keep"] for c in newest.candidates)
        assert metric(at, "Kept") == f"{kept_before + kept_now:,}"
        assert metric(at, "Generated") == f"{generated_before + len(newest.candidates):,}"
        assert metric(at, "State") == "running"
        assert any(m.label == "Kept / min" for m in at.metric)
    finally:
        gate.set()
        assert job.wait(60)


def test_the_live_panel_shows_the_prompts_of_every_iteration_under_way(ws):
    """8 requests at once, 3 prompts an iteration: iterations 4 to 6 stream side by side on the page."""
    from dashboard.state import registry

    with Store(ws) as s:
        config = s.run(1).config
        s.set_run_config(1, config | {"target": 200})  # room for more than the next iteration
    gate = threading.Event()
    job = registry().launch(str(ws), 1, HeldStream(gate), None)
    try:
        wait_until(lambda: len(streaming(job.snapshot())) == 8, timeout=30, interval=0.02,
                   message="8 prompts streaming")
        at = page("generate")
        headers = [m.value.split(" · ")[0] for m in at.markdown if m.value.startswith("**Iteration ")]
        assert headers[:3] == ["**Iteration 4**", "**Iteration 5**", "**Iteration 6**"]
        cells = [c.value for c in at.caption if c.value.startswith("Prompt ")]
        assert sum("⏳ streaming" in c for c in cells) == 8 and sum("🕒 waiting" in c for c in cells) >= 1
        assert any(c.value.startswith("In flight **") and "queued" in c.value for c in at.caption)
        assert sum(c.value.endswith("▌") and len(c.value) > 1 for c in at.code) >= 8  # their text so far
        assert any(e.label.startswith("Prompt 1 · ⏳ streaming") for e in at.expander)  # iteration 4 in detail
    finally:
        job.cancel()
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


# --------------------------------------------------------------------------- stepping, drop reasons, tokens and cost


def test_generate_page_steps_one_iteration_in_the_background(ws):
    at = page("generate")
    assert metric(at, "Iterations") == "3"
    button(at, "Step one iteration").click().run()

    def stepped():
        with Store(ws) as s:
            return s.completed_iterations(1) == 4 and s.run(1).state != "running"

    wait_until(stepped, timeout=60, interval=0.1, message="the step (iteration 4 saved, the job stopped)")
    at.run()
    assert not at.exception
    assert metric(at, "Iterations") == "4"
    assert any(s.value == "Iteration 4" for s in at.subheader)
    cands = candidates_table(at)
    assert len(cands) > 0 and set(cands["verdict"]) <= {"✅ kept"} | {v for v in cands["verdict"] if v.startswith("❌")}
    with Store(ws) as s:
        assert list(cands["instruction"]) == [r.text for r in s.instructions(1, origin="machine", iteration=4)]
    assert any(c.value.startswith("Come up with a series of tasks:") for c in at.code)


def test_generate_page_shows_drop_reasons_over_time(ws):
    at = page("generate")
    chart = next(c for c in at.get("plotly_chart") if "Drop reasons" in c.proto.spec)
    assert '"iteration"' in chart.proto.spec


def test_generate_shows_the_generations_own_tokens_and_cost(ws):
    from selfinstruct.lm.base import LMRequest
    from selfinstruct.lm.cache import RecordedLM
    from selfinstruct.pipeline import generation_usage

    with Store(ws) as s:
        config = s.run(1).config
        config["lm"] |= {"price_in_per_1m": 10.0, "price_out_per_1m": 10.0}
        s.set_run_config(1, config)
        own = generation_usage(s, 1)
        rlm = RecordedLM(FakeLM(), s, 1)
        for i in range(20):  # a judge's calls: their prices are not the generation's
            rlm.call(LMRequest(prompt=f"Judge answer {i}: " + "word " * 200, step="judge", max_tokens=8))
        every = s.usage(1)
    assert every["tokens_in"] > own["tokens_in"] + 3000
    at = page("generate")
    tokens = own["tokens_in"] + own["tokens_out"]
    assert metric(at, "Tokens") == compact(tokens)
    assert metric(at, "Cost") == f"${tokens * 10 / 1e6:.4f}"
    at = page("runs")
    row = at.dataframe[0].value.set_index("name").loc["fake-run"]
    assert row["tokens"] == every["tokens_in"] + every["tokens_out"]
    assert row["cost"] == f"${tokens * 10 / 1e6:.4f} + unknown"
