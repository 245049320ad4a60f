"""Whole runs against a local OpenAI-compatible server that misbehaves on purpose.

Every fault is survived (retried with backoff) or pauses the run with a clear
status; every fault is recorded in the store; no record is lost or duplicated;
a wrong key or model stops at once; the key appears nowhere.
"""

import os
import subprocess
import sys

import pytest

from selfinstruct.config import LMConfig, RunConfig
from selfinstruct.lm.base import LMRequest
from selfinstruct.lm.fake import demo_responder
from selfinstruct.lm.openai_compat import OpenAICompatLM
from selfinstruct.pipeline import Pipeline, PipelineError, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from selfinstruct.store.check import check

from conftest import OUR_SEEDS, ROOT
from openai_stub import OpenAIStub, drop, empty_choices, length, malformed, status, timeout

KEY = "sk-test-SECRET-7f3a9c1e5b"
SEEDS = load_tasks(OUR_SEEDS)


def answer(body: dict) -> str:
    """The fake model's answer, served over HTTP: the step is recognised from the prompt."""
    prompt = body.get("prompt") or body["messages"][-1]["content"]
    step = ("instructions" if prompt.startswith("Come up with a series of tasks:")
            else "classify" if prompt.rstrip().endswith("Is it classification?") else "instances")
    return demo_responder(LMRequest(prompt, step=step, seed=body.get("seed"),
                                    max_tokens=body.get("max_tokens", 256)))


def lm_for(stub: OpenAIStub, **cfg) -> OpenAICompatLM:
    c = LMConfig(backend="openai", model="base-model", base_url=stub.base_url, timeout_s=1.0,
                 max_retries=12, concurrency=2, **cfg)
    return OpenAICompatLM(c, api_key=KEY, sleep=lambda s: None)


def new_run(path, target=25) -> tuple[Store, object]:
    store = Store(path)
    cfg = RunConfig(target=target)
    cfg.generate.request_batch_size = 2
    cfg.lm.backend = "openai"
    return store, start_run(store, "r", SEEDS, cfg)


def texts(store, run):
    return [(r.text, r.verdict, r.reason) for r in store.instructions(run.id)]


@pytest.mark.parametrize("api_mode", ["completion", "chat"])
def test_every_fault_is_survived_recorded_and_changes_nothing(tmp_path, api_mode):
    with OpenAIStub(answer) as clean:
        ref_store, ref_run = new_run(tmp_path / "ref.sqlite")
        list(Pipeline(ref_store, ref_run, lm_for(clean, api_mode=api_mode)).events())

    faults = [status(429, retry_after=1), status(429), status(500), status(503), timeout(3), drop(),
              malformed(), empty_choices(), status(502), status(504)]
    with OpenAIStub(answer) as stub:
        stub.script(*faults)
        store, run = new_run(tmp_path / "faulty.sqlite")
        list(Pipeline(store, run, lm_for(stub, api_mode=api_mode)).events())
        assert store.run(run.id).state == "done"
        assert store.usage(run.id)["faults"] == len(faults)       # every fault recorded
        assert texts(store, run) == texts(ref_store, ref_run)     # nothing lost, nothing duplicated
        assert not any(check(store).values())


def test_cut_completion_drops_only_the_cut_item(tmp_path):
    with OpenAIStub(answer) as stub:
        stub.script(length(" Describe a calm morning routine for busy parents.\n10. Explain the rules of"))
        store, run = new_run(tmp_path / "w.sqlite")
        list(Pipeline(store, run, lm_for(stub)).events(iterations=1))
        got = [r.text for r in store.instructions(run.id, origin="machine")]
        assert "Describe a calm morning routine for busy parents." in got
        assert not any(t.startswith("Explain the rules of") for t in got)


def test_endpoint_that_stays_down_pauses_and_resume_finishes(tmp_path):
    with OpenAIStub(answer) as stub:
        stub.script(*[status(503)] * 40)  # more than two requests x 13 attempts
        store, run = new_run(tmp_path / "w.sqlite")
        with pytest.raises(PipelineError, match="unavailable"):
            list(Pipeline(store, run, lm_for(stub)).events())
        info = store.run(run.id)
        assert info.state == "paused" and "resume" in info.status
        assert store.usage(run.id)["errors"] >= 1
        list(Pipeline(store, info, lm_for(stub)).events())  # the server has recovered
        assert store.run(run.id).state == "done"
        assert not any(check(store).values())


def test_wrong_key_and_unknown_model_stop_at_once(tmp_path):
    with OpenAIStub(answer, api_key="sk-the-right-one", models=["base-model"]) as stub:
        store, run = new_run(tmp_path / "w.sqlite")
        with pytest.raises(PipelineError, match="API key") as e:
            list(Pipeline(store, run, lm_for(stub)).events())
        assert KEY not in str(e.value)
        assert store.run(run.id).state == "failed"
        prompts = [p.prompt for p in stub.posts]
        # none retried, and nothing sent past the requests already taken up by the 2 in flight
        assert len(prompts) == len(set(prompts)) <= 4

    with OpenAIStub(answer, models=["base-model"]) as stub:
        store, run = new_run(tmp_path / "w2.sqlite")
        cfg = LMConfig(backend="openai", model="no-such-model", base_url=stub.base_url, max_retries=3)
        with pytest.raises(PipelineError, match="no-such-model"):
            list(Pipeline(store, run, OpenAICompatLM(cfg, api_key=KEY, sleep=lambda s: None)).events())


def test_the_key_appears_nowhere(tmp_path):
    ws = tmp_path / "w.sqlite"
    with OpenAIStub(answer, api_key=KEY) as stub:
        env = {**os.environ, "OPENAI_API_KEY": KEY}
        r = subprocess.run([sys.executable, "-m", "selfinstruct", "generate", "-w", str(ws), "--lm", "openai",
                            "--model", "base-model", "--base-url", stub.base_url, "--target", "10",
                            "--request-batch-size", "2"], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert all({k.lower(): v for k, v in req.headers.items()}.get("authorization") == f"Bearer {KEY}"
                   for req in stub.posts)
        bad = subprocess.run([sys.executable, "-m", "selfinstruct", "generate", "-w", str(tmp_path / "x.sqlite"),
                              "--lm", "openai", "--model", "base-model", "--base-url", stub.base_url],
                             cwd=ROOT, env={**env, "OPENAI_API_KEY": KEY + "-wrong"}, capture_output=True,
                             text=True, timeout=120)
        assert bad.returncode == 2 and "API key" in bad.stderr
    status_out = subprocess.run([sys.executable, "-m", "selfinstruct", "status", "-w", str(ws), "--json"],
                                cwd=ROOT, capture_output=True, text=True).stdout
    for blob in (r.stdout, r.stderr, bad.stdout, bad.stderr, status_out):
        assert KEY not in blob
    for f in tmp_path.iterdir():
        assert KEY.encode() not in f.read_bytes(), f
