"""The bootstrap loop on the fake LM: method, records, resume and failures."""

from collections import Counter

import pytest
from rouge_score import rouge_scorer

from selfinstruct import filters
from selfinstruct.config import RunConfig
from selfinstruct.lm.base import LMFatalError, LMUnavailable
from selfinstruct.lm.fake import FakeLM, demo_responder
from selfinstruct.pipeline import Pipeline, PipelineError, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from selfinstruct.store.check import check

from conftest import OUR_SEEDS

SEEDS = load_tasks(OUR_SEEDS)


def new_run(workspace, target=40, name="r", **gen):
    store = Store(workspace)
    cfg = RunConfig(target=target)
    cfg.lm.backend = "fake"
    for k, v in gen.items():
        setattr(cfg.generate, k, v)
    return store, start_run(store, name, SEEDS, cfg)


def run_all(store, run, lm, **kw):
    return list(Pipeline(store, run, lm).events(**kw))


def test_full_run_reaches_the_target_with_every_decision_stored(workspace):
    store, run = new_run(workspace, target=40)
    events = run_all(store, run, FakeLM())
    assert events[-1].kind == "stopped" and events[-1].data["state"] == "done"
    c = store.counts(run.id)
    assert c["kept"] == 40 and c["generated"] == c["kept"] + c["dropped"]
    rows = store.instructions(run.id, origin="machine")
    for r in rows:
        assert (r.verdict == "keep") == (r.reason is None)
        assert r.max_rouge is not None and len(r.similar) <= 10
    kept = [r for r in rows if r.verdict == "keep"]
    assert all(r.is_classification is not None for r in kept)
    assert store.instances(run_id=run.id)
    assert not any(check(store).values())


def test_novelty_decisions_equal_rouge_score_greedy_loop(workspace):
    store, run = new_run(workspace, target=60)
    run_all(store, run, FakeLM())
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pool = [r.text for r in store.instructions(run.id, origin="seed")]
    for r in store.instructions(run.id, origin="machine"):
        best = max(scorer.score(p, r.text)["rougeL"].fmeasure for p in pool)
        assert r.max_rouge == pytest.approx(best, abs=1e-9)
        if r.verdict == "keep":
            assert best <= 0.7
            pool.append(r.text)
        elif r.reason == filters.ROUGE_SIMILAR:
            assert best > 0.7


def test_prompts_hold_eight_instructions_six_seeds_and_up_to_two_machine(workspace):
    store, run = new_run(workspace, target=40, request_batch_size=3, pool_lag=1)
    events = run_all(store, run, FakeLM())
    firsts = [e for e in events if e.kind == "iteration"]
    first_prompt = firsts[0].data["prompts"][0]
    assert first_prompt["prompt"].startswith("Come up with a series of tasks:\n1. ")
    assert first_prompt["prompt"].endswith("\n9.")
    assert [c["origin"] for c in first_prompt["in_context"]].count("seed") == 8  # no machine ones yet
    later = firsts[-1].data["prompts"][0]["in_context"]
    assert len(later) == 8 and Counter(c["origin"] for c in later) == {"seed": 6, "machine": 2}
    stored = store.prompts(run.id, 1)
    assert len(stored) == 3 and stored[0]["in_context"] == first_prompt["in_context"]


def test_resume_replays_the_same_run_without_paying_twice(tmp_path):
    ref_store, ref_run = new_run(tmp_path / "ref.sqlite", target=60)
    ref_lm = FakeLM()
    run_all(ref_store, ref_run, ref_lm)

    store, run = new_run(tmp_path / "resumed.sqlite", target=60)
    lm = FakeLM()
    run_all(store, run, lm, iterations=1)
    assert store.run(run.id).state == "paused"
    run_all(store, store.run(run.id), lm)
    assert [(r.text, r.verdict) for r in store.instructions(run.id)] == \
           [(r.text, r.verdict) for r in ref_store.instructions(ref_run.id)]
    # no request sent twice over the two invocations (how many prompts past the target each run
    # launched, and dropped, depends on timing; what was kept does not)
    keys = [r.cache_key(lm.name) for r in lm.requests]
    assert len(keys) == len(set(keys))
    assert store.scalar("SELECT COUNT(*) - COUNT(DISTINCT cache_key) FROM lm_calls WHERE error IS NULL") == 0


def test_endpoint_down_pauses_then_resume_completes_without_duplicates(workspace):
    store, run = new_run(workspace, target=30)
    calls = {"n": 0, "failed": 0}

    def flaky(req):
        calls["n"] += 1
        if 8 <= calls["n"] <= 12:
            calls["failed"] += 1
            raise LMUnavailable("503 service unavailable after 6 tries", ["503", "503"])
        return demo_responder(req)

    with pytest.raises(PipelineError, match="unavailable"):
        run_all(store, run, FakeLM(responder=flaky))
    info = store.run(run.id)
    assert info.state == "paused" and "resume" in info.status
    assert store.usage(run.id)["errors"] == calls["failed"] > 0  # every fault is recorded
    calls["n"] = 100
    run_all(store, info, FakeLM(responder=flaky))
    assert store.run(run.id).state == "done"
    assert not any(check(store).values())


def test_fatal_lm_error_fails_the_run_with_its_reason(workspace):
    store, run = new_run(workspace)
    with pytest.raises(PipelineError, match="API key"):
        run_all(store, run, FakeLM([LMFatalError("the endpoint rejected the API key (401)")]))
    info = store.run(run.id)
    assert info.state == "failed" and "API key" in info.status
    assert store.run_lock(run.id) is None


def test_truncated_completion_drops_the_cut_item(workspace):
    store, run = new_run(workspace, target=2, request_batch_size=1)
    lm = FakeLM(responder=lambda r: demo_responder(r) if r.step != "instructions"
                else " Name three rivers in Africa and their lengths.\n10. Explain why the sky looks blue at")
    store2 = store
    cfg = RunConfig.from_dict(run.config)
    cfg.generate.max_tokens = 14  # the fake cuts at 14 words: the second item is cut
    store2.set_run_config(run.id, cfg.to_dict())
    run_all(store2, store2.run(run.id), lm, iterations=1)
    texts = [r.text for r in store2.instructions(run.id, origin="machine")]
    assert texts == ["Name three rivers in Africa and their lengths."]


# --------------------------------------------------------------------------- cost


def _judge_calls(store, run_id, n=3):
    """Calls of a step whose prices the workspace does not hold (a judge's)."""
    from selfinstruct.lm.base import LMRequest
    from selfinstruct.lm.cache import RecordedLM

    rlm = RecordedLM(FakeLM(), store, run_id)
    for i in range(n):
        rlm.call(LMRequest(prompt=f"Rate answer number {i} from 1 to 10 please.", step="judge", max_tokens=8))


def test_generation_cost_prices_only_the_generations_own_calls(workspace):
    from selfinstruct.pipeline import estimate_cost, generation_usage, run_cost, run_costs

    store = Store(workspace)
    cfg = RunConfig(target=6)
    cfg.lm.backend, cfg.lm.price_in_per_1m, cfg.lm.price_out_per_1m = "fake", 2.0, 8.0
    run = start_run(store, "priced", SEEDS, cfg)
    run_all(store, run, FakeLM(), iterations=2)
    own = generation_usage(store, run.id)
    every = store.usage(run.id)
    tokens = ("calls", "tokens_in", "tokens_out")
    assert [own[k] for k in tokens] == [every[k] for k in tokens] and own["tokens_in"] > 0  # nothing else yet
    _judge_calls(store, run.id)
    every = store.usage(run.id)
    assert [generation_usage(store, run.id)[k] for k in tokens] == [own[k] for k in tokens]
    assert every["calls"] == own["calls"] + 3
    assert every["tokens_in"] > own["tokens_in"]
    run = store.run(run.id)
    cost = run_costs(store, run)
    expected = estimate_cost(own, RunConfig.from_dict(run.config))
    assert cost.known == pytest.approx(expected) and run_cost(store, run) == pytest.approx(expected)
    assert cost.unpriced_calls == 3 and cost.unpriced_tokens == (every["tokens_in"] + every["tokens_out"]
                                                                 - own["tokens_in"] - own["tokens_out"])
    assert cost.total is None and cost.describe() == f"${expected:.4f} + unknown"


def test_a_run_with_no_known_prices_has_an_unknown_cost_and_one_with_no_call_none(workspace):
    from selfinstruct.pipeline import run_costs

    store = Store(workspace)
    imported = store.create_run("imp", kind="import", config={"format": "alpaca"}, state="done")
    assert run_costs(store, imported).describe() == "—"
    tr = store.create_run("imp-zh", kind="translation", config={"model": "fake"}, language="zh",
                          source_run_id=imported.id)
    _judge_calls(store, tr.id, 2)  # any step: a translation run holds no prices
    cost = run_costs(store, tr)
    assert (cost.known, cost.unpriced_calls, cost.total, cost.describe()) == (0.0, 2, None, "unknown")
