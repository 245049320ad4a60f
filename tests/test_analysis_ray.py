"""The analysis on a Ray cluster (one spaCy model per actor; the ROUGE-L distributions sharded)
equals the single-machine analysis, and fills the workspace's parse cache the same way."""

from __future__ import annotations

import json
import random

import pytest

from selfinstruct import analysis
from selfinstruct.cli import main
from selfinstruct.records import Instance, Task
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

from conftest import OUR_SEEDS, fake_run

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster")]
ray = pytest.importorskip("ray")


def _tasks(n: int) -> list[Task]:
    """Instructions of many shapes (imperatives, questions, "Given ..." openings, fragments)."""
    rng = random.Random(5)
    seeds = load_tasks(OUR_SEEDS)
    heads = ["Write", "Summarize", "List", "Explain", "Classify", "Given a text,", "What is", "How do I", "Find"]
    objs = ["a poem about the sea", "the article below", "three ways to sleep better", "why the sky is blue",
            "the sentiment of this review", "the odd one out", "a recipe for bread", "the main idea"]
    out = [Task(f"s{i}", t.instruction, t.instances, t.is_classification, origin="seed") for i, t in enumerate(seeds)]
    while len(out) < n:
        text = f"{rng.choice(heads)} {rng.choice(objs)}" + rng.choice([".", "?", " in one sentence.", ""])
        out.append(Task(f"m{len(out)}", text, (Instance("", "x " * rng.randint(1, 20)),), rng.random() < 0.3,
                        origin="machine"))
    return out


def test_parse_on_actors_equals_the_local_parse() -> None:
    texts = [t.instruction for t in _tasks(400)]
    local = analysis.verb_noun(texts, None, n_process=1)
    cache = analysis.DictCache()
    assert analysis.verb_noun(texts, cache, batch_size=32, ray="auto") == local
    assert len(cache.data[analysis.VERB_NOUN_NAMESPACE]) == len(set(texts))
    assert analysis.verb_noun(texts, cache, ray="auto") == local  # from the cache


def test_full_report_on_ray_equals_the_local_report() -> None:
    tasks = _tasks(400)
    seeds = [t.instruction for t in tasks if t.origin == "seed"]
    here = analysis.full_report(tasks, seeds=seeds, cache=analysis.DictCache())
    there = analysis.full_report(tasks, seeds=seeds, cache=analysis.DictCache(), ray="auto")
    assert there == here


def test_stats_and_prepare_take_ray(tmp_path, capsys: pytest.CaptureFixture) -> None:
    assert main(["stats", "--seeds", str(OUR_SEEDS), "--json"]) == 0
    here = json.loads(capsys.readouterr().out)
    assert main(["stats", "--seeds", str(OUR_SEEDS), "--json", "--ray", "auto"]) == 0
    assert json.loads(capsys.readouterr().out) == here
    ws = tmp_path / "ws.sqlite"
    fake_run(ws, iterations=2)
    assert main(["prepare", "-w", str(ws), "--no-parse"]) == 0
    assert main(["prepare", "-w", str(ws), "--ray", "auto"]) == 0
    with Store(ws) as store:
        texts = [t.instruction for t in store.tasks(store.default_run().id)]
        assert analysis.verb_noun(texts, store) == analysis.verb_noun(texts, None, n_process=1)
        assert len(store.get_many(analysis.VERB_NOUN_NAMESPACE, [analysis.text_key(t) for t in texts])) >= 175
