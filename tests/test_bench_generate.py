"""The generation bench's core (bench/bench_generate.py) still runs: tiny latency and targets."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_generate.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_generate", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_stub_answers_each_step_like_the_demo_responder(bench):
    from selfinstruct import prompts

    text, finish = bench.answer({"prompt": prompts.build_instruction_prompt(["Say hi.", "Name a colour."]),
                                 "max_tokens": 1024, "stop": ["\n\n"], "seed": 7})
    assert finish == "stop" and len(prompts.parse_instructions(text, start=3)) >= 5
    text, _ = bench.answer({"prompt": prompts.build_classification_prompt("Classify the tweet as spam or not spam."),
                            "max_tokens": 3})
    assert text.strip() == "Yes"
    text, _ = bench.answer({"prompt": prompts.build_instance_prompt("Explain tides to a child.", False),
                            "max_tokens": 300})
    assert prompts.parse_instances(text, is_classification=False)


def test_bench_core_runs_and_reports(bench):
    out = bench.run_bench(bench.Plan(latency=0.05, old_target=6, new_target=30, sweep=[(8, 12)]), log=lambda _: None)
    old, new, (r,) = out["old"], out["new"], out["sweep"]
    assert (old.kept, new.kept, r.kept) == (6, 30, 12)  # each target, kept with classification and instances
    assert old.in_flight == 4 and r.in_flight == 8 and new.in_flight >= 8
    assert r.calls > r.kept and r.bound_s > 0 and r.efficiency > 0 and r.stub["max_in_flight"] <= 8
    assert out["ratio"] > 0 and len(out["goals"]) == 3
    assert "kept/s" in bench.HEADER and bench._row(r)
