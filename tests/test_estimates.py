"""The estimate of the rest of a generation run (calls, tokens, dollars, time), measured or from
priors, and where it shows: ``generate`` before it starts, ``generate --estimate``, the Generate page."""

from __future__ import annotations

import math
from statistics import fmean

import pytest

from selfinstruct import prompts
from selfinstruct.config import RunConfig
from selfinstruct.estimates import (
    PRIOR_CANDIDATES_PER_PROMPT, PRIOR_KEPT_PER_PROMPT, History, StepHistory, estimate_generation, measured,
)
from selfinstruct.lm.batches import estimate_tokens
from selfinstruct.pipeline import start_run
from selfinstruct.records import Task
from selfinstruct.store import Store
from tests.apptest_util import page, unescape

from conftest import cli_main, fake_run

SEEDS = ["Write a haiku about autumn leaves.", "Name three rivers in Africa.",
         "Sort the numbers from smallest to largest.", "Explain what a leap year is."]


def config(**lm) -> RunConfig:
    cfg = RunConfig(target=100)
    cfg.generate.request_batch_size = 5
    for key, value in lm.items():
        setattr(cfg.lm, key, value)
    return cfg


HISTORY = History(prompts=10, kept=20, steps={
    "instructions": StepHistory(calls=10, tokens_in=3000, tokens_out=1000, seconds=20.0),
    "classify": StepHistory(calls=20, tokens_in=14000, tokens_out=20, seconds=10.0),
    "instances": StepHistory(calls=20, tokens_in=6000, tokens_out=2000, seconds=40.0),
})


def test_a_measured_run_is_extended_step_by_step():
    cfg = config(backend="openai", concurrency=4, price_in_per_1m=2.0, price_out_per_1m=8.0)
    est = estimate_generation(cfg, HISTORY, seeds=SEEDS, kept_so_far=20)
    # 80 more at 2 kept a prompt: 40 prompts (8 whole iterations of 5); one classify and one instances each
    assert est.remaining == 80
    assert est.calls == {"instructions": 40, "classify": 80, "instances": 80} and est.total_calls == 200
    assert est.tokens_in == {"instructions": 12_000, "classify": 56_000, "instances": 24_000}
    assert est.tokens_out == {"instructions": 4_000, "classify": 80, "instances": 8_000}
    assert est.cost == pytest.approx((92_000 * 2 + 12_080 * 8) / 1e6)
    # one instruction's three steps in a row (2 + 0.5 + 2 s), then 280 s of calls shared by 4 in flight
    assert est.seconds == pytest.approx(4.5 + 280 / 4)
    assert est.latency_s == pytest.approx(1.4) and est.in_flight == 4
    assert est.describe() == (
        "estimate for 80 more instructions (from this run's calls so far): ~200 calls (40 prompts, "
        "80 classify, 80 instances)\n"
        "~92,000 tokens in / 12,080 out, $0.2806 at $2/$8 per 1M\n"
        "~1 min 15 s at 1.4 s a call with 4 in flight")


def test_prompts_round_up_to_whole_iterations_and_a_local_model_runs_one_call_at_a_time():
    est = estimate_generation(config(backend="llamacpp", concurrency=4), HISTORY, seeds=SEEDS, kept_so_far=21)
    assert est.calls == {"instructions": 40, "classify": 79, "instances": 79}  # 39.5 prompts: 8 iterations
    assert est.in_flight == 1
    assert est.seconds == pytest.approx(4.5 + 40 * 2 + 79 * 0.5 + 79 * 2)
    assert "no prices set (--price-in/--price-out)" in est.describe()


def test_a_reached_target_leaves_nothing_to_estimate():
    est = estimate_generation(config(), HISTORY, seeds=SEEDS, kept_so_far=150)
    assert est.remaining == 0 and est.total_calls == 0 and est.cost == 0 and est.seconds == 0
    assert est.describe() == "estimate: the target is reached, nothing is left to generate"


def test_without_history_the_priors_stand_in_and_time_is_unknown():
    cfg = config(price_in_per_1m=1.0, price_out_per_1m=1.0)
    cfg.generate.n_prompt_instructions = 2
    est = estimate_generation(cfg, None, seeds=SEEDS)
    prompts_needed = math.ceil(100 / PRIOR_KEPT_PER_PROMPT / 5) * 5
    assert est.calls == {"instructions": prompts_needed, "classify": 100, "instances": 100}
    # prompts built from the seeds, two in context each
    built = fmean(estimate_tokens(prompts.build_instruction_prompt(SEEDS[i:i + 2])) for i in (0, 2))
    assert est.tokens_in["instructions"] == round(prompts_needed * built)
    line = fmean(estimate_tokens(f"3. {t}") for t in SEEDS)
    assert est.tokens_out["instructions"] == round(prompts_needed * PRIOR_CANDIDATES_PER_PROMPT * line)
    assert est.tokens_out["classify"] == 100 * cfg.classify.max_tokens
    assert est.tokens_out["instances"] == 100 * (cfg.instances.max_tokens // 2)
    assert est.seconds is None and est.latency_s is None
    text = est.describe()
    assert "from priors, until a call is measured" in text and text.endswith("time unknown until a call is measured")


def test_a_step_the_backend_reported_no_tokens_for_and_a_run_that_kept_nothing_use_the_priors():
    bare = History(prompts=5, kept=0, steps={"instructions": StepHistory(calls=5, tokens_in=0, tokens_out=0,
                                                                         seconds=10.0)})
    est, prior = (estimate_generation(config(), h, seeds=SEEDS) for h in (bare, None))
    assert est.calls == prior.calls and est.tokens_in == prior.tokens_in and est.tokens_out == prior.tokens_out
    assert est.latency_s == pytest.approx(2.0)  # every step at the one measured latency


def test_measured_reads_a_runs_calls_prompts_and_kept(workspace):
    fake_run(workspace, 2, batch_size=3)
    with Store(workspace) as store:
        history = measured(store, 1)
        by_step = store.usage_by_step(1)
        assert history.prompts == 6 and history.kept == store.counts(1)["kept"] > 0
        assert set(history.steps) == {"instructions", "classify", "instances"}
        for step, h in history.steps.items():
            u = by_step[step]
            assert (h.calls, h.tokens_in, h.tokens_out) == (u["calls"] - u["errors"], u["tokens_in"], u["tokens_out"])
        assert history.steps["classify"].calls == history.kept  # one classify call per kept instruction
        fresh = start_run(store, "fresh", [Task("s", "Name a colour.")], RunConfig())
        assert measured(store, fresh.id) is None


def test_generate_estimate_prints_and_calls_no_model(workspace, tmp_path, capsys, monkeypatch):
    import selfinstruct.cli.generate as generate

    fake_run(workspace, 1, name="default")
    with Store(workspace) as store:
        calls, stored = store.usage(1)["calls"], store.run(1).config
    monkeypatch.setattr(generate, "make_lm", lambda cfg: pytest.fail("--estimate built an LM"))
    code, _, err = cli_main(capsys, "generate", "-w", str(workspace), "--estimate", "--target", "90")
    assert code == 0 and "estimate for " in err and "from this run's calls so far" in err
    with Store(workspace) as store:
        assert store.usage(1)["calls"] == calls and store.run(1).config == stored  # nothing called, nothing stored
    fresh = tmp_path / "new.sqlite"
    code, _, err = cli_main(capsys, "generate", "-w", str(fresh), "--lm", "fake", "--estimate")
    assert code == 0 and "from priors" in err and not fresh.exists()


def test_generate_prints_the_estimate_then_stops_at_max_cost(workspace, capsys):
    args = ["generate", "-w", str(workspace), "--lm", "fake", "--target", "200", "--no-progress"]
    code, _, err = cli_main(capsys, *args, "--max-cost", "0.01")
    assert code == 2 and "--max-cost needs prices" in err
    code, _, err = cli_main(capsys, *args, "--price-in", "1000", "--price-out", "1000", "--max-cost", "0.01")
    assert code == 0 and err.index("estimate for 200 more instructions") < err.index("run 'default': paused")
    with Store(workspace) as store:
        assert store.run(1).status.startswith("reached --max-cost $0.0100")


def test_the_generate_page_shows_the_estimate(ws):
    at = page("generate")
    shown = [unescape(c.value) for c in at.caption if "estimate for" in unescape(c.value)]
    assert len(shown) == 1 and "from this run's calls so far" in shown[0] and " in flight" in shown[0]
