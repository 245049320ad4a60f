"""A small real run of the whole pipeline on the embedded model (llama.cpp + Gemma 3 270M)."""

import pytest

from selfinstruct.config import RunConfig
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from selfinstruct.store.check import check

from conftest import OUR_SEEDS

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (make test installs it)")

pytestmark = pytest.mark.embedded


def test_one_real_iteration_on_the_embedded_model(workspace):
    from selfinstruct.lm.llamacpp import LlamaCppLM

    cfg = RunConfig(target=3)
    cfg.generate.request_batch_size = 1
    cfg.generate.max_tokens = 96
    cfg.instances.max_tokens = 64
    store = Store(workspace)
    run = start_run(store, "real", load_tasks(OUR_SEEDS), cfg)
    lm = LlamaCppLM(cfg.lm)
    events = list(Pipeline(store, run, lm).events(iterations=1))
    completion = next(e for e in events if e.kind == "completion")
    assert completion.data["text"].strip(), "the model wrote nothing"
    calls = store.query("SELECT step, text, tokens_out FROM lm_calls")
    assert calls[0]["step"] == "instructions" and calls[0]["tokens_out"] > 0
    assert store.completed_iterations(run.id) == 1
    # Whatever the small model wrote, every candidate got a verdict and the store is consistent.
    assert all(r.verdict in ("keep", "drop") for r in store.instructions(run.id, origin="machine"))
    assert not any(check(store).values())
