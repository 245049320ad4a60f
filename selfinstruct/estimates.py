"""What the rest of a generation run should take before it starts: calls, tokens, dollars, time.

``measured`` reads what a run's own calls so far took (kept instructions per prompt, tokens
and latency per call of each step); ``estimate_generation`` extends that to the instructions
still to keep. A run with nothing measured yet is estimated from priors: prompts built from
its seeds, completions bounded by their ``max_tokens``, and the keep rate of a recorded run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean
from typing import Sequence

from . import prompts
from .config import RunConfig
from .costs import cost_of, money
from .lm.batches import estimate_tokens
from .pipeline import GENERATION_STEPS
from .progress_line import duration
from .store import Store

# Priors, used until a run has measured its own. The paper counts only what survived its
# filters (52,445 instructions, 82,439 instances, Table 1), not the candidates behind them,
# so the keep rate comes from the shipped recording demo/demo.sqlite (Gemma 3 270M, default
# filters): 12 prompts gave 40 candidates, 32 of them kept.
PRIOR_CANDIDATES_PER_PROMPT = 40 / 12
PRIOR_KEPT_PER_PROMPT = 32 / 12
# Share of kept instructions that are classification tasks (paper, Table 1: 11,584 of 52,445):
# they get the output-first instance prompt.
PRIOR_CLASSIFICATION_SHARE = 11_584 / 52_445


@dataclass(frozen=True)
class StepHistory:
    """One generation step's answered calls so far, in sums (failed calls cost nothing and
    say nothing of lengths or speed)."""

    calls: int
    tokens_in: int
    tokens_out: int
    seconds: float


@dataclass(frozen=True)
class History:
    """What a run measured so far: prompts of its completed iterations, the machine
    instructions they kept, and each step's answered calls."""

    prompts: int
    kept: int
    steps: dict[str, StepHistory]


def measured(store: Store, run_id: int) -> History | None:
    """A run's own measures, or None before any of its calls was answered."""
    by_step = store.usage_by_step(run_id)
    steps = {step: StepHistory(u["calls"] - u["errors"], u["tokens_in"], u["tokens_out"], u["lm_seconds"])
             for step, u in by_step.items() if step in GENERATION_STEPS and u["calls"] > u["errors"]}
    if not steps:
        return None
    return History(prompts=store.prompt_count(run_id), kept=store.counts(run_id)["kept"], steps=steps)


@dataclass(frozen=True)
class GenerationEstimate:
    """The rest of a run (``remaining`` instructions to keep), per step, and what it costs.
    ``seconds`` is None while no call's latency was measured."""

    remaining: int
    calls: dict[str, int]
    tokens_in: dict[str, int]
    tokens_out: dict[str, int]
    cost: float
    price_in_per_1m: float
    price_out_per_1m: float
    seconds: float | None
    latency_s: float | None  # mean seconds of a call, over the calls estimated
    in_flight: int
    from_history: bool  # measured on the run, or priors

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def describe(self) -> str:
        """A few lines for a person: calls, tokens, dollars, time."""
        if not self.remaining:
            return "estimate: the target is reached, nothing is left to generate"
        c = self.calls
        basis = "this run's calls so far" if self.from_history else "priors, until a call is measured"
        lines = [
            f"estimate for {self.remaining:,} more instruction{'s' if self.remaining != 1 else ''} (from {basis}): "
            f"~{self.total_calls:,} calls ({c['instructions']:,} prompts, {c['classify']:,} classify, "
            f"{c['instances']:,} instances)",
            f"~{sum(self.tokens_in.values()):,} tokens in / {sum(self.tokens_out.values()):,} out, " + (
                f"{money(self.cost)} at ${self.price_in_per_1m:g}/${self.price_out_per_1m:g} per 1M"
                if self.price_in_per_1m or self.price_out_per_1m else "no prices set (--price-in/--price-out)"),
            "time unknown until a call is measured" if self.seconds is None else
            f"~{duration(self.seconds)} at {self.latency_s:.1f} s a call with {self.in_flight:,} in flight",
        ]
        return "\n".join(lines)


def estimate_generation(config: RunConfig, history: History | None, *, seeds: Sequence[str],
                        kept_so_far: int = 0) -> GenerationEstimate:
    """Calls, tokens, dollars and time to keep ``config.target - kept_so_far`` more instructions.

    Kept per prompt, tokens per call and latency per call come from ``history`` where it
    measured them, else from priors (``seeds`` build the prompts whose lengths stand in).
    Whole iterations run, so prompts round up to ``request_batch_size``; each kept
    instruction costs one classify and one instances call. Time is the three steps of one
    instruction in a row plus every call's latency shared among the calls in flight
    (``lm.concurrency`` for an endpoint, one for the embedded and fake models).
    """
    steps = history.steps if history else {}
    remaining = max(0, config.target - kept_so_far)
    # a run that has kept nothing yet has no rate of its own: the prior stands in
    measured_rate = history is not None and history.prompts > 0 and history.kept > 0
    per_prompt = history.kept / history.prompts if measured_rate else PRIOR_KEPT_PER_PROMPT
    batch = config.generate.request_batch_size
    n_prompts = math.ceil(remaining / per_prompt / batch) * batch if remaining else 0
    calls = {"instructions": n_prompts, "classify": remaining, "instances": remaining}
    priors = _priors(config, seeds)
    per_call = {}
    for step in GENERATION_STEPS:
        h = steps.get(step)
        reported = h is not None and h.tokens_in > 0  # a backend that reports no usage measures nothing
        per_call[step] = (h.tokens_in / h.calls, h.tokens_out / h.calls) if reported else priors[step]
    tokens_in = {s: round(calls[s] * per_call[s][0]) for s in GENERATION_STEPS}
    tokens_out = {s: round(calls[s] * per_call[s][1]) for s in GENERATION_STEPS}
    lm = config.lm
    in_flight = lm.concurrency if lm.backend == "openai" else 1
    latency = {s: h.seconds / h.calls for s, h in steps.items() if h.seconds > 0}
    seconds = mean = None
    if latency:
        fallback = sum(steps[s].seconds for s in latency) / sum(steps[s].calls for s in latency)
        lat = {s: latency.get(s, fallback) for s in GENERATION_STEPS}  # a step not measured yet: the mean
        busy = sum(calls[s] * lat[s] for s in GENERATION_STEPS)
        seconds = (sum(lat.values()) + busy / in_flight) if remaining else 0.0
        mean = busy / sum(calls.values()) if remaining else fallback
    return GenerationEstimate(
        remaining=remaining, calls=calls, tokens_in=tokens_in, tokens_out=tokens_out,
        cost=cost_of(sum(tokens_in.values()), sum(tokens_out.values()), lm.price_in_per_1m, lm.price_out_per_1m),
        price_in_per_1m=lm.price_in_per_1m, price_out_per_1m=lm.price_out_per_1m,
        seconds=seconds, latency_s=mean, in_flight=in_flight, from_history=history is not None,
    )


def run_estimate(store: Store, run_id: int, config: RunConfig) -> GenerationEstimate:
    """``estimate_generation`` of a stored run under ``config`` (its stored settings, or new
    ones about to replace them): measured on its calls so far, with its seeds for the priors."""
    history = measured(store, run_id)
    seeds = [r.text for r in store.instructions(run_id, origin="seed")]
    return estimate_generation(config, history, seeds=seeds, kept_so_far=history.kept if history else 0)


def _priors(config: RunConfig, seeds: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Tokens in and out of one call of each step before any is measured: prompts built from
    the seeds (standing in for machine instructions too), completions capped at ``max_tokens``
    (instructions: the prior's candidates at a seed's length; classify: the whole limit, a few
    tokens; instances: half the limit, as ``responses.estimate`` counts a text it cannot see)."""
    texts = list(seeds) or [""]
    n = config.generate.n_prompt_instructions
    instruction_in = fmean(estimate_tokens(prompts.build_instruction_prompt(texts[i:i + n]))
                           for i in range(0, len(texts), n))
    line = fmean(estimate_tokens(f"{n + 1}. {t}") for t in texts)
    share = PRIOR_CLASSIFICATION_SHARE
    instance_in = fmean(share * estimate_tokens(prompts.build_instance_prompt(t, True))
                        + (1 - share) * estimate_tokens(prompts.build_instance_prompt(t, False)) for t in texts)
    return {
        "instructions": (instruction_in, min(config.generate.max_tokens, PRIOR_CANDIDATES_PER_PROMPT * line)),
        "classify": (fmean(estimate_tokens(prompts.build_classification_prompt(t)) for t in texts),
                     config.classify.max_tokens),
        "instances": (instance_in, config.instances.max_tokens // 2),
    }
