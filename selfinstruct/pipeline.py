"""The Self-Instruct bootstrap loop, as a generator of events.

One iteration: build ``request_batch_size`` prompts of 8 in-context
instructions (6 seeds + 2 machine-made, fewer machine ones early), let the LM
continue each list, filter every candidate (the non-novelty filters, then
ROUGE-L against the pool), ask whether each kept one is a classification task,
generate its instances and filter them. The iteration's records land in one
transaction at its end; LM calls land as they finish (``lm.cache``).

Resuming is replaying: sampling is seeded by (run seed, iteration, slot) and
the pool after N complete iterations is fixed, so a restarted run rebuilds the
same prompts and finds every answer it already paid for in the call cache.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from . import filters, prompts
from .config import RunConfig
from .costs import cost_of, money
from .lm.base import LM, LMError, LMFatalError, LMRequest, LMResponse
from .lm.cache import RecordedLM
from .novelty import NoveltyIndex
from .records import Task, Verdict
from .store import RunInfo, Store, StoreError, sum_usage

STALL_ITERATIONS = 30


@dataclass
class Event:
    """Something the loop did; the CLI prints progress from these, the dashboard shows them."""

    kind: str  # iteration | completion | candidate | classification | instances | saved | stopped
    iteration: int
    data: dict[str, Any] = field(default_factory=dict)


class PipelineError(RuntimeError):
    """The run cannot go on; the run's state and status in the store say why."""


def _stable_int(*parts: object) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def sample_in_context(
    rng: random.Random, seeds: Sequence[str], machine: Sequence[str], n_total: int, n_machine: int
) -> list[tuple[str, str]]:
    """Pick the in-context instructions: up to ``n_machine`` machine ones, seeds for the rest, shuffled."""
    k_machine = min(n_machine, len(machine))
    k_seed = min(n_total - k_machine, len(seeds))
    chosen = [(t, "machine") for t in rng.sample(list(machine), k_machine)]
    chosen += [(t, "seed") for t in rng.sample(list(seeds), k_seed)]
    rng.shuffle(chosen)
    return chosen


def start_run(store: Store, name: str, seeds: Sequence[Task], config: RunConfig) -> RunInfo:
    """Create a generation run holding its seeds and config."""
    if not seeds:
        raise PipelineError("a run needs at least one seed task")
    config.validate()
    return store.create_run(name, kind="generate", config=config.to_dict(), tasks=seeds, origin="seed")


GENERATION_STEPS = ("instructions", "classify", "instances")  # the calls a generation run makes itself


def estimate_cost(usage: dict[str, Any], config: RunConfig) -> float:
    """Dollars ``usage`` costs at the configured prices (0 for local models). Give it the
    generation's own calls (``generation_usage``): others ran with other models and prices."""
    return cost_of(usage["tokens_in"], usage["tokens_out"], config.lm.price_in_per_1m, config.lm.price_out_per_1m)


def generation_usage(store: Store, run_id: int) -> dict[str, Any]:
    """``store.usage`` of a run's generation steps only (instructions, classify, instances):
    what the generation itself spent, without answer, translation or judge calls made later."""
    return store.usage(run_id, steps=GENERATION_STEPS)


@dataclass(frozen=True)
class RunCost:
    """What a run's LM calls cost, as far as their prices are known.

    ``known`` is the dollars of the calls whose prices are known: a generation run's own steps
    at its configured prices, answers of response sets at the prices each answer job ran with.
    Other calls (judge, review, translation) ran at prices the workspace does not hold: they
    are counted in ``unpriced_calls`` and ``unpriced_tokens``, never priced at another model's rates.
    """

    known: float
    priced_calls: int
    unpriced_calls: int
    unpriced_tokens: int

    @property
    def total(self) -> float | None:
        """The whole cost, or None when some calls' prices are unknown."""
        return None if self.unpriced_calls else self.known

    def describe(self) -> str:
        """``$0.0123`` (``costs.money``), ``$0.0123 + unknown``, ``unknown``, or ``—`` (no LM call answered)."""
        if not self.unpriced_calls:
            return money(self.known) if self.priced_calls else "—"
        return f"{money(self.known)} + unknown" if self.priced_calls else "unknown"


def run_costs(store: Store, run: RunInfo) -> RunCost:
    """A run's cost split into what its known prices price and the calls they do not."""
    by_step = store.usage_by_step(run.id)
    own = run.kind == "generate"  # only a generation run's own steps have prices in its config
    known, answers, priced_tokens = _response_sets_cost(store, run.id)
    priced_calls = answers
    if own:
        gen = sum_usage(by_step, GENERATION_STEPS)
        known += estimate_cost(gen, RunConfig.from_dict(run.config))
        priced_calls += gen["calls"]
        priced_tokens += gen["tokens_in"] + gen["tokens_out"]
    # the answered calls of every other step (a failed call costs nothing), less the priced answers
    others = sum(u["calls"] - u["errors"] for step, u in by_step.items() if not (own and step in GENERATION_STEPS))
    tokens = sum(u["tokens_in"] + u["tokens_out"] for u in by_step.values())
    return RunCost(known=known, priced_calls=priced_calls, unpriced_calls=max(0, others - answers),
                   unpriced_tokens=max(0, tokens - priced_tokens))


def run_cost(store: Store, run: RunInfo) -> float:
    """Dollars a run's LM calls cost where their prices are known (``run_costs``): the
    generation's own steps at the run's configured prices, answers of its response sets at the
    prices each answer job ran with. Calls of unknown price (judge, translation) add nothing."""
    return run_costs(store, run).known


def _response_sets_cost(store: Store, run_id: int) -> tuple[float, int, int]:
    """Each call once, at the prices of the job that made it (the latest started before it),
    tokens as ``answer`` counts them (reported, else estimated). Returns the dollars, and how
    many calls and reported tokens they priced (a call no job's prices cover is not priced)."""
    from .responses import estimate_tokens
    from .store.responses import response_sets, set_calls

    prices = {s.id: s.config.get("prices", []) for s in response_sets(store, run_id)}
    made: dict[int, tuple[float, dict[str, Any], dict[str, Any] | None]] = {}  # call id -> (job start, call, prices)
    for call in set_calls(store, run_id):
        job = next((p for p in reversed(prices[call["set_id"]]) if p["since"] <= call["created_at"]), None)
        start = job["since"] if job else float("-inf")
        if call["id"] not in made or start > made[call["id"]][0]:
            made[call["id"]] = (start, call, job)
    cost, calls, tokens = 0.0, 0, 0
    for _, call, job in made.values():
        if job:
            calls += 1
            tokens += call["tokens_in"] + call["tokens_out"]
            cost += cost_of(call["tokens_in"] or estimate_tokens(call["prompt"]),
                            call["tokens_out"] or estimate_tokens(call["text"]), job["in"], job["out"])
    return cost, calls, tokens


class Pipeline:
    """Drives one generation run of a workspace."""

    def __init__(self, store: Store, run: RunInfo, lm: LM, *, owner: str = "cli"):
        self.store = store
        self.run = run
        self.config = RunConfig.from_dict(run.config)
        self.lm = RecordedLM(lm, store, run.id)
        self.owner = owner
        seeds = store.instructions(run.id, origin="seed")
        if not seeds:
            raise PipelineError(f"run {run.name!r} has no seed tasks")
        self.seed_texts = [r.text for r in seeds]
        pool = store.instructions(run.id, origin=("seed", "machine"), verdict="keep")
        self.machine_texts = [r.text for r in pool if r.origin == "machine"]
        fc = self.config.filters
        self.index = NoveltyIndex([r.text for r in pool], tokenizer=fc.tokenizer)
        self.seen = {r.text.strip() for r in store.instructions(run.id)}

    @property
    def kept(self) -> int:
        return len(self.machine_texts)

    def events(
        self,
        *,
        iterations: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_token: Callable[[int, str], None] | None = None,
    ) -> Iterator[Event]:
        """Run until the target, ``iterations`` more iterations, or ``should_stop()``; yield what happens."""
        store, run = self.store, self.run
        store.acquire_run_lock(run.id, self.owner)
        done_now = 0
        stalled = 0
        try:
            store.set_run_state(run.id, "running", "")
            while True:
                if self.kept >= self.config.target:
                    store.set_run_state(run.id, "done", f"reached the target of {self.config.target}")
                    break
                if iterations is not None and done_now >= iterations:
                    store.set_run_state(run.id, "paused", f"stopped after {done_now} iteration(s) as asked")
                    break
                limit = self.config.max_iterations
                if limit and store.completed_iterations(run.id) >= limit:
                    store.set_run_state(run.id, "paused", f"reached max_iterations = {limit}")
                    break
                if should_stop is not None and should_stop():
                    store.set_run_state(run.id, "paused", "paused by the user")
                    break
                before = self.kept
                yield from self._iteration(store.completed_iterations(run.id) + 1, on_token)
                done_now += 1
                stalled = stalled + 1 if self.kept == before else 0
                if stalled >= STALL_ITERATIONS:
                    store.set_run_state(
                        run.id, "paused", f"no new instruction kept in {STALL_ITERATIONS} iterations in a row"
                    )
                    break
        except LMFatalError as e:
            store.set_run_state(run.id, "failed", f"the LM refused the request: {e}")
            raise PipelineError(f"the LM refused the request: {e}") from e
        except LMError as e:
            store.set_run_state(run.id, "paused", f"the LM is unavailable, resume later: {e}")
            raise PipelineError(f"the LM is unavailable; the run is paused, resume it later: {e}") from e
        except KeyboardInterrupt:
            store.set_run_state(run.id, "paused", "interrupted; resume it to go on")
            raise
        finally:
            try:
                store.release_run_lock(run.id)
            except StoreError:
                pass
        info = store.run(run.id)
        yield Event("stopped", store.completed_iterations(run.id), {"state": info.state, "status": info.status})

    # ------------------------------------------------------------------ one iteration
    def _iteration(self, it: int, on_token: Callable[[int, str], None] | None) -> Iterator[Event]:
        cfg = self.config
        g = cfg.generate
        slots = []
        for slot in range(g.request_batch_size):
            rng = random.Random(f"{cfg.seed}:{it}:{slot}")
            chosen = sample_in_context(rng, self.seed_texts, self.machine_texts, g.n_prompt_instructions, g.n_machine)
            prompt = prompts.build_instruction_prompt([t for t, _ in chosen])
            req = LMRequest(
                prompt=prompt, step="instructions", temperature=g.temperature, top_p=g.top_p,
                max_tokens=g.max_tokens, stop=tuple(g.stop), presence_penalty=g.presence_penalty,
                frequency_penalty=g.frequency_penalty, seed=_stable_int(cfg.seed, it, slot),
            )
            slots.append((chosen, req))
        yield Event("iteration", it, {
            "prompts": [
                {"slot": s, "prompt": req.prompt, "in_context": [{"text": t, "origin": o} for t, o in chosen]}
                for s, (chosen, req) in enumerate(slots)
            ]
        })

        answers: list[tuple[int, LMResponse]] = []
        candidates: list[dict[str, Any]] = []
        # each prompt's candidates are judged (in prompt order) as soon as its completion is in
        for slot, ((call_id, resp), (chosen, req)) in enumerate(zip(self._instruction_calls(slots, on_token), slots)):
            answers.append((call_id, resp))
            yield Event("completion", it, {
                "slot": slot, "call_id": call_id, "text": resp.text, "finish_reason": resp.finish_reason,
                "cached": resp.cached, "tokens_in": resp.tokens_in, "tokens_out": resp.tokens_out,
            })
            n_prompt = len(chosen)
            for pos, text in enumerate(prompts.parse_instructions(resp.text, start=n_prompt + 1,
                                                                  finish_reason=resp.finish_reason)):
                cand = self._judge(text)
                cand |= {"slot": slot, "position": pos}
                candidates.append(cand)
                yield Event("candidate", it, cand)

        kept = [c for c in candidates if c["keep"]]
        yield from self._classify(it, kept)
        yield from self._instances(it, kept)
        self._save(it, slots, answers, candidates)
        counts = self.store.counts(self.run.id)
        yield Event("saved", it, {"counts": counts, "usage": self.store.usage(self.run.id)})

    def _instruction_calls(
        self, slots: list[tuple[Any, LMRequest]], on_token: Callable[[int, str], None] | None
    ) -> Iterator[tuple[int, LMResponse]]:
        """The prompts' answers in slot order: streamed (and concurrent where the backend can)
        for a watcher, else one batch."""
        requests = [req for _, req in slots]
        if on_token is not None:
            return self.lm.stream_many(requests, on_token)
        return iter(self._call_batch(requests))

    def _call_batch(self, requests: list[LMRequest]) -> list[tuple[int, LMResponse]]:
        results = self.lm.call_many(requests)
        for r in results:
            if isinstance(r, LMError):
                raise r
        return results  # type: ignore[return-value]

    def _judge(self, text: str) -> dict[str, Any]:
        """Verdict for one candidate; a kept one joins the pool at once (greedy order)."""
        fc = self.config.filters
        score, nearest = self.index.query(text, k=fc.similar_k)
        similar = [(self.index.texts[i], s) for i, s in nearest]
        verdict = filters.instruction_verdict(text, fc, self.seen)
        if verdict.keep and score > fc.rouge_threshold:
            closest = f" with: {similar[0][0]}" if similar else ""
            verdict = Verdict.drop(filters.ROUGE_SIMILAR, f"ROUGE-L {score:.3f} > {fc.rouge_threshold}{closest}")
        if verdict.keep and self.kept >= self.config.target:
            verdict = Verdict.drop(filters.OVER_TARGET, f"the target of {self.config.target} was already reached")
        self.seen.add(text.strip())
        if verdict.keep:
            self.index.add(text)
            self.machine_texts.append(text)
        return {
            "text": text, "keep": verdict.keep, "reason": verdict.reason, "detail": verdict.detail,
            "max_rouge": score, "similar": similar,
        }

    def _classify(self, it: int, kept: list[dict[str, Any]]) -> Iterator[Event]:
        c = self.config.classify
        reqs = [
            LMRequest(prompt=prompts.build_classification_prompt(k["text"]), step="classify",
                      temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens, stop=tuple(c.stop))
            for k in kept
        ]
        for k, (call_id, resp) in zip(kept, self._call_batch(reqs)):
            k["clf_call_id"] = call_id
            k["is_classification"] = prompts.parse_classification(resp.text)
            yield Event("classification", it, {"text": k["text"], "is_classification": k["is_classification"],
                                                "raw": resp.text})

    def _instances(self, it: int, kept: list[dict[str, Any]]) -> Iterator[Event]:
        c = self.config.instances
        reqs = [
            LMRequest(prompt=prompts.build_instance_prompt(k["text"], bool(k["is_classification"])),
                      step="instances", temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens,
                      stop=tuple(c.stop), presence_penalty=c.presence_penalty,
                      frequency_penalty=c.frequency_penalty)
            for k in kept
        ]
        for k, (call_id, resp) in zip(kept, self._call_batch(reqs)):
            parsed = prompts.parse_instances(resp.text, is_classification=bool(k["is_classification"]),
                                             finish_reason=resp.finish_reason)[: c.max_instances * 3]
            verdicts = filters.instance_verdicts(parsed, self.config.filters)
            k["inst_call_id"] = call_id
            k["instances"] = list(zip(parsed, verdicts))
            yield Event("instances", it, {"text": k["text"], "instances": [
                {"input": i.input, "output": i.output, "keep": v.keep, "reason": v.reason, "detail": v.detail}
                for i, v in k["instances"]
            ]})

    def _save(self, it: int, slots: list, answers: list[tuple[int, LMResponse]], candidates: list[dict]) -> None:
        prompt_rows = [
            ([{"text": t, "origin": o} for t, o in chosen], call_id)
            for (chosen, _req), (call_id, _resp) in zip(slots, answers)
        ]
        self.store.save_iteration(self.run.id, it, prompt_rows, candidates)
        self.store.heartbeat(self.run.id)
