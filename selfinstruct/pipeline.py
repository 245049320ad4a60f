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
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from . import filters, prompts
from .config import RunConfig
from .costs import cost_of, money
from .lm.base import LM, LMError, LMFatalError, LMRequest, LMResponse
from .lm.cache import RecordedLM
from .lm.dispatch import Concurrent, Dispatch, Done, Stepwise
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


@dataclass
class _Prompt:
    """One instruction prompt of an iteration and, once in, its answer."""

    slot: int
    chosen: list[tuple[str, str]]
    request: LMRequest
    answer: tuple[int, LMResponse] | None = None


@dataclass
class _Iteration:
    """A group of ``request_batch_size`` prompts: the unit the store saves and the dashboard shows."""

    number: int
    prompts: list[_Prompt]
    judged: int = 0  # prompts judged so far, in slot order
    candidates: list[dict[str, Any]] = field(default_factory=list)
    waiting: int = 0  # kept candidates whose instances are not in yet

    @property
    def complete(self) -> bool:
        return self.judged == len(self.prompts) and self.waiting == 0


@dataclass
class Stats:
    """Where a run stands in this session, for progress lines."""

    in_flight: int = 0
    queued: int = 0
    calls: int = 0  # answered by the model this session (cache hits not counted)
    kept: int = 0
    kept_now: int = 0  # kept this session
    tokens_out: int = 0
    elapsed_s: float = 0.0
    target: int = 0
    judged: int = 0  # prompts judged this session

    @property
    def kept_per_s(self) -> float:
        return self.kept_now / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_out / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds to the target at this session's pace; None before anything was kept."""
        rate = self.kept_per_s
        return max(0, self.target - self.kept) / rate if rate > 0 else None


class Pipeline:
    """Drives one generation run of a workspace.

    A scheduler keeps up to the backend's ``concurrency`` requests in flight across the three
    steps: a kept instruction's classification and instance calls go out as soon as it is kept,
    while new prompts keep being launched. What is decided never depends on timing:

    - each prompt's in-context sample depends only on the run seed, its iteration and slot, and
      the pool as it stood ``pool_lag`` iterations earlier (so up to that many iterations overlap);
    - candidates are judged in prompt order (answers that arrive early wait their turn);
    - iterations are saved in order, each whole, and the run stops at the iteration that reached
      the target, dropping any later one already under way (its calls stay cached).

    A killed run resumes after its last saved iteration and rebuilds the same prompts, whose
    answers it finds in the workspace.
    """

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
        machine = [r for r in pool if r.origin == "machine"]
        self.machine_texts = [r.text for r in machine]
        fc = self.config.filters
        self.index = NoveltyIndex([r.text for r in pool], tokenizer=fc.tokenizer)
        self.seen = {r.text.strip() for r in store.instructions(run.id)}
        self._completed = store.completed_iterations(run.id)
        # how many machine instructions the pool held after each iteration was judged
        self._pool_after = [0] * (self._completed + 1)
        for r in machine:
            if r.iteration is not None and r.iteration <= self._completed:
                self._pool_after[r.iteration] += 1
        for i in range(1, len(self._pool_after)):
            self._pool_after[i] += self._pool_after[i - 1]
        self._stats = Stats(kept=self.kept, target=self.config.target)
        self._dispatch: Dispatch | None = None
        self._started = time.monotonic()
        self._open: dict[int, _Iteration] = {}  # launched, not saved yet
        self._judging = self._completed + 1  # the iteration whose prompts are judged next
        self._final: int | None = None  # the last iteration to save (target reached or stalled)
        self._round_end = 0  # in rounds: the first iteration after the round under way

    @property
    def kept(self) -> int:
        return len(self.machine_texts)

    def stats(self) -> Stats:
        """This session's numbers; cheap, for a progress line after each event."""
        s = self._stats
        d = self._dispatch
        s.in_flight, s.queued = (d.in_flight, d.queued) if d is not None else (0, 0)
        s.kept, s.elapsed_s = self.kept, time.monotonic() - self._started
        return s

    def events(
        self,
        *,
        iterations: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_token: Callable[[int, int, str], None] | None = None,
        max_cost: float | None = None,
        rounds: int | None = None,
    ) -> Iterator[Event]:
        """Run until the target, ``iterations`` more iterations, ``should_stop()`` or ``max_cost``
        dollars spent by the generation; yield what happens.

        ``on_token(iteration, slot, piece)`` hears every instruction prompt stream. ``rounds``
        runs the steps one after another instead, that many iterations at a time, each step's
        requests handed to the backend together (``execute_many``): a Batch API backend makes
        each step one batch; ``rounds=1, pool_lag=1`` is the original loop, for comparisons.
        """
        store, run = self.store, self.run
        store.acquire_run_lock(run.id, self.owner)
        self._started = time.monotonic()
        if rounds is not None:
            self._dispatch = Stepwise(self.lm)
        else:
            width = max(1, int(getattr(self.lm.lm, "concurrency", 1)))
            stream = None if on_token is None else (lambda tag, piece: on_token(tag[1], tag[2], piece))
            self._dispatch = Concurrent(self.lm, width, stream)
        wait = False
        try:
            store.set_run_state(run.id, "running", "")
            yield from self._schedule(iterations, should_stop, max_cost, rounds)
            wait = True
        except LMFatalError as e:
            wait = True
            store.set_run_state(run.id, "failed", f"the LM refused the request: {e}")
            raise PipelineError(f"the LM refused the request: {e}") from e
        except LMError as e:
            wait = True
            store.set_run_state(run.id, "paused", f"the LM is unavailable, resume later: {e}")
            raise PipelineError(f"the LM is unavailable; the run is paused, resume it later: {e}") from e
        except KeyboardInterrupt:
            store.set_run_state(run.id, "paused", "interrupted; resume it to go on")
            raise
        finally:
            # after an endpoint failure the answers still on their way are kept (never paid twice)
            self._dispatch.close(wait=wait)
            try:
                store.release_run_lock(run.id)
            except StoreError:
                pass
        info = store.run(run.id)
        yield Event("stopped", store.completed_iterations(run.id), {"state": info.state, "status": info.status})

    # ------------------------------------------------------------------ the scheduler
    def _schedule(self, iterations: int | None, should_stop: Callable[[], bool] | None,
                  max_cost: float | None, rounds: int | None) -> Iterator[Event]:
        cfg, store, run = self.config, self.store, self.run
        d = self._dispatch
        assert d is not None
        lag = cfg.generate.pool_lag
        limit = self._completed + iterations if iterations is not None else None
        if cfg.max_iterations:
            limit = cfg.max_iterations if limit is None else min(limit, cfg.max_iterations)
        limit_words = (f"stopped after {iterations} iteration(s) as asked"
                       if iterations is not None and limit == self._completed + iterations
                       else f"reached max_iterations = {cfg.max_iterations}")
        spent = estimate_cost(generation_usage(store, run.id), cfg) if max_cost is not None else 0.0
        end: tuple[str, str] | None = None  # the run's state and status once the open iterations are saved
        next_it, stalled = self._completed + 1, 0
        if self.kept >= cfg.target:
            self._final, end = self._completed, ("done", f"reached the target of {cfg.target}")
        elif limit is not None and self._completed >= limit:
            end = ("paused", limit_words)

        while True:
            if end is None and should_stop is not None and should_stop():
                end = ("paused", "paused by the user")
            if max_cost is not None and spent >= max_cost:  # nothing more is sent; answers on their way are kept
                end = ("paused", f"reached --max-cost {money(max_cost)} (spent {money(spent)})")
                break
            # launch what the lag, the limits and the target allow
            while end is None and self._final is None and (limit is None or next_it <= limit) \
                    and next_it - lag < self._judging and self._room(next_it, rounds):
                yield self._launch(next_it)
                next_it += 1
            if not self._open:
                break
            failure: LMError | None = None
            for done in d.results(timeout=0.5):
                if done.error is not None:
                    failure = failure or done.error
                    continue
                if done.response is not None and not done.response.cached:
                    self._count(done)
                    if max_cost is not None:
                        spent += cost_of(done.response.tokens_in, done.response.tokens_out,
                                         cfg.lm.price_in_per_1m, cfg.lm.price_out_per_1m)
                if max_cost is None or spent < max_cost:  # past the budget an answer is kept, not followed up
                    yield from self._handle(done)
            while (it := self._open.get(self._completed + 1)) is not None and it.complete:
                yield self._save(it)
                kept_in_it = sum(1 for c in it.candidates if c["keep"])
                stalled = 0 if kept_in_it else stalled + 1
                if self._final == it.number:
                    end = ("done", f"reached the target of {cfg.target}")
                    break
                if stalled >= STALL_ITERATIONS and self._final is None:
                    self._final = it.number
                    end = ("paused", f"no new instruction kept in {STALL_ITERATIONS} iterations in a row")
                    break
                if limit is not None and it.number >= limit:
                    end = end or ("paused", limit_words)
            if failure is not None:
                raise failure
            if self._final is not None and self._completed >= self._final:
                self._open.clear()  # later iterations under way are dropped; their calls stay cached
                break
        if end is None:
            end = ("paused", "paused by the user")
        store.set_run_state(run.id, *end)

    def _room(self, number: int, rounds: int | None) -> bool:
        """Whether to launch iteration ``number`` now: always when nothing is open; otherwise,
        online, while the backend has little waiting and the prompts already out are not expected
        to reach the target; in rounds, only within the round that starts when all is saved."""
        if rounds is not None:
            if not self._open:
                self._round_end = number + rounds
            return number < self._round_end
        if not self._open:
            return True
        d = self._dispatch
        assert d is not None
        if d.queued >= self.config.generate.request_batch_size:
            return False
        unjudged = sum(len(it.prompts) - it.judged for it in self._open.values())
        s = self._stats
        per_prompt = s.kept_now / s.judged if s.judged else 1.0
        return self.kept + unjudged * per_prompt < self.config.target

    def _launch(self, number: int) -> Event:
        """Build an iteration's prompts from the pool as of ``pool_lag`` iterations back and send them."""
        cfg = self.config
        g = cfg.generate
        pool = self.machine_texts[: self._pool_after[max(0, number - g.pool_lag)]]
        prompts_ = []
        for slot in range(g.request_batch_size):
            rng = random.Random(f"{cfg.seed}:{number}:{slot}")
            chosen = sample_in_context(rng, self.seed_texts, pool, g.n_prompt_instructions, g.n_machine)
            req = LMRequest(
                prompt=prompts.build_instruction_prompt([t for t, _ in chosen]), step="instructions",
                temperature=g.temperature, top_p=g.top_p, max_tokens=g.max_tokens, stop=tuple(g.stop),
                presence_penalty=g.presence_penalty, frequency_penalty=g.frequency_penalty,
                seed=_stable_int(cfg.seed, number, slot),
            )
            prompts_.append(_Prompt(slot, chosen, req))
        self._open[number] = _Iteration(number, prompts_)
        for p in prompts_:
            self._submit(("instructions", number, p.slot), p.request, (2, number, p.slot), stream=True)
        return Event("iteration", number, {
            "prompts": [{"slot": p.slot, "prompt": p.request.prompt,
                         "in_context": [{"text": t, "origin": o} for t, o in p.chosen]} for p in prompts_]
        })

    def _submit(self, tag: tuple, request: LMRequest, priority: tuple, *, stream: bool = False) -> None:
        assert self._dispatch is not None
        self._dispatch.submit(tag, request, priority, stream=stream)

    def _count(self, done: Done) -> None:
        assert done.response is not None
        self._stats.calls += 1
        self._stats.tokens_out += done.response.tokens_out

    def _handle(self, done: Done) -> Iterator[Event]:
        step, number, index = done.tag  # type: ignore[misc]
        it = self._open.get(number)
        if it is None:  # an iteration dropped after the target: its answer is recorded, nothing more
            return
        assert done.call_id is not None and done.response is not None
        resp = done.response
        if step == "instructions":
            it.prompts[index].answer = (done.call_id, resp)
            yield Event("completion", number, {
                "slot": index, "call_id": done.call_id, "text": resp.text, "finish_reason": resp.finish_reason,
                "cached": resp.cached, "tokens_in": resp.tokens_in, "tokens_out": resp.tokens_out,
            })
            yield from self._judge_ready()
        elif step == "classify":
            cand = it.candidates[index]
            cand["clf_call_id"] = done.call_id
            cand["is_classification"] = prompts.parse_classification(resp.text)
            yield Event("classification", number, {"text": cand["text"], "slot": cand["slot"],
                                                   "is_classification": cand["is_classification"], "raw": resp.text})
            c = self.config.instances
            self._submit(("instances", number, index), LMRequest(
                prompt=prompts.build_instance_prompt(cand["text"], bool(cand["is_classification"])),
                step="instances", temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens,
                stop=tuple(c.stop), presence_penalty=c.presence_penalty, frequency_penalty=c.frequency_penalty,
            ), (0, number, index))
        else:
            cand = it.candidates[index]
            parsed = prompts.parse_instances(resp.text, is_classification=bool(cand["is_classification"]),
                                             finish_reason=resp.finish_reason)[: self.config.instances.max_instances * 3]
            verdicts = filters.instance_verdicts(parsed, self.config.filters)
            cand["inst_call_id"] = done.call_id
            cand["instances"] = list(zip(parsed, verdicts))
            it.waiting -= 1
            yield Event("instances", number, {"text": cand["text"], "slot": cand["slot"], "instances": [
                {"input": i.input, "output": i.output, "keep": v.keep, "reason": v.reason, "detail": v.detail}
                for i, v in cand["instances"]
            ]})

    def _judge_ready(self) -> Iterator[Event]:
        """Judge every prompt whose answer is in and whose predecessors are judged: the greedy
        filter sees candidates in launch order whatever order the answers came in."""
        c = self.config.classify
        while (self._final is None or self._judging <= self._final) and (it := self._open.get(self._judging)):
            if it.judged == len(it.prompts):
                self._pool_after.append(self.kept)
                self._judging += 1
                continue
            p = it.prompts[it.judged]
            if p.answer is None:
                return
            it.judged += 1
            self._stats.judged += 1
            resp = p.answer[1]
            for pos, text in enumerate(prompts.parse_instructions(resp.text, start=len(p.chosen) + 1,
                                                                  finish_reason=resp.finish_reason)):
                cand = self._judge(text) | {"slot": p.slot, "position": pos}
                it.candidates.append(cand)
                yield Event("candidate", it.number, cand)
                if cand["keep"]:
                    self._stats.kept_now += 1
                    if self.kept >= self.config.target and self._final is None:
                        self._final = it.number
                    it.waiting += 1
                    self._submit(("classify", it.number, len(it.candidates) - 1), LMRequest(
                        prompt=prompts.build_classification_prompt(text), step="classify",
                        temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens, stop=tuple(c.stop),
                    ), (1, it.number, len(it.candidates) - 1))

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

    def _save(self, it: _Iteration) -> Event:
        prompt_rows = [([{"text": t, "origin": o} for t, o in p.chosen], p.answer[0] if p.answer else None)
                       for p in it.prompts]
        self.store.save_iteration(self.run.id, it.number, prompt_rows, it.candidates)
        self.store.heartbeat(self.run.id)
        del self._open[it.number]
        self._completed = it.number
        counts = self.store.counts(self.run.id)
        return Event("saved", it.number, {"counts": counts, "usage": self.store.usage(self.run.id)})
