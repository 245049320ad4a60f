"""LM backends: the factory, the fake, the OpenAI-compatible client against a local stub, the embedded model."""

from __future__ import annotations

import re
import threading
import time

import pytest

from selfinstruct.config import BLACKLIST, LMConfig
from selfinstruct.lm import LM, LMFatalError, LMRequest, LMResponse, make_lm
from selfinstruct.lm.fake import FakeLM, demo_responder
from selfinstruct.lm.openai_compat import OpenAICompatLM, parse_retry_after
from tests.openai_stub import OpenAIStub, length, ok


def stub_lm(stub: OpenAIStub, **cfg_overrides) -> OpenAICompatLM:
    cfg = LMConfig(backend="openai", model="stub-model", base_url=stub.base_url, timeout_s=5.0)
    for k, v in cfg_overrides.items():
        setattr(cfg, k, v)
    return OpenAICompatLM(cfg, sleep=lambda s: None)


# --- make_lm ----------------------------------------------------------------


def test_make_lm_builds_each_backend(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert isinstance(make_lm(LMConfig(backend="fake")), FakeLM)
    lm = make_lm(LMConfig(backend="openai", model="gpt-x"), api_key="sk-abc")
    assert lm.name == "openai:gpt-x@https://api.openai.com/v1"
    assert make_lm(LMConfig()).name == "llamacpp:gemma-3-270m-q4_k_m.gguf"
    for lm in (make_lm(LMConfig(backend="fake")), make_lm(LMConfig())):
        assert isinstance(lm, LM)


def test_make_lm_reads_env(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1/")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    lm = make_lm(LMConfig(backend="openai", model="llama3"))
    assert lm.name == "openai:llama3@http://localhost:8000/v1"  # local: no key needed
    lm = make_lm(LMConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1"))
    assert lm.base_url == "http://127.0.0.1:9/v1"  # the config wins over the env


@pytest.mark.parametrize(
    "cfg, match",
    [
        (LMConfig(backend="gpt"), "lm.backend: must be one of llamacpp, openai, fake, got 'gpt'"),
        (LMConfig(backend="openai", model="m", api_mode="edit"), "lm.api_mode: must be one of completion, chat"),
        (LMConfig(backend="openai", model=" "), "needs a model name"),
        (LMConfig(backend="openai", model="m", base_url="http://[::1/v1"), "lm.base_url: is not a valid URL"),
        (LMConfig(backend="openai", model="m", base_url="ftp://host/v1"), "must look like http"),
        (LMConfig(backend="openai", model="m", concurrency=0), "lm.concurrency: must be at least 1"),
        (LMConfig(backend="openai", model="m", timeout_s=float("nan")), "lm.timeout_s: must be a finite"),
    ],
)
def test_make_lm_rejects_bad_config(cfg, match):
    with pytest.raises(ValueError, match=match):
        make_lm(cfg, api_key="k")


def test_remote_endpoint_without_key_is_fatal(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LMFatalError, match="set the OPENAI_API_KEY"):
        make_lm(LMConfig(backend="openai", model="gpt-x"))


def test_embedded_threads_default_to_half_the_cpus():
    from selfinstruct.lm.llamacpp import default_threads

    assert make_lm(LMConfig(threads=3)).n_threads == 3
    assert make_lm(LMConfig(threads=0)).n_threads == default_threads() >= 1


def test_missing_model_file_is_fatal(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(LMFatalError, match=re.escape(str(missing))):
        make_lm(LMConfig(model_path=str(missing)))


def test_parse_retry_after_forms():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


# --- FakeLM -----------------------------------------------------------------


def test_fake_replays_queue_then_fails_loudly():
    canned = LMResponse("canned", tokens_out=7)
    lm = FakeLM(["one two", canned, LMFatalError("boom")])
    assert lm.execute(LMRequest("p")).text == "one two"
    assert lm.execute(LMRequest("p")).tokens_out == 7
    with pytest.raises(LMFatalError, match="boom"):
        lm.execute(LMRequest("p"))
    with pytest.raises(LMFatalError, match="ran out of scripted responses"):
        lm.execute(LMRequest("p", step="classify"))
    assert len(lm.requests) == 4


def test_fake_acts_like_a_model_on_strings():
    lm = FakeLM(responder=lambda r: "a b c d e\n\nlater")
    cut = lm.execute(LMRequest("hello there", stop=("\n\n",)))
    assert (cut.text, cut.finish_reason, cut.tokens_in, cut.tokens_out) == ("a b c d e", "stop", 2, 5)
    short = lm.execute(LMRequest("p", max_tokens=3, stop=("\n\n",)))
    assert (short.text, short.finish_reason) == ("a b c", "length")


def test_fake_execute_many_returns_errors_as_values_and_streams():
    lm = FakeLM(["x y", LMFatalError("bad")])
    out = lm.execute_many([LMRequest("a"), LMRequest("b")])
    assert out[0].text == "x y" and isinstance(out[1], LMFatalError)
    pieces: list[str] = []
    assert FakeLM(["alpha beta  gamma"]).execute(LMRequest("p"), on_token=pieces.append).text == "".join(pieces)
    assert pieces == ["alpha", " beta", "  gamma"]


def test_fake_delay():
    start = time.monotonic()
    FakeLM(["x"], delay_s=0.05).execute(LMRequest("p"))
    assert time.monotonic() - start >= 0.05


def test_demo_instructions_continue_the_numbered_list():
    prompt = "Come up with a series of tasks:\n1. A\n2. B\n3. C\n4. D\n5. E\n6. F\n7. G\n8. H\n9."
    r = FakeLM().execute(LMRequest(prompt, step="instructions", seed=3, max_tokens=1024))
    assert r.text.startswith(" ") and not r.text.startswith("  ")
    lines = r.text.split("\n")
    assert 6 <= len(lines) <= 7
    for i, line in enumerate(lines[1:], start=10):
        assert line.startswith(f"{i}. ")
    again = FakeLM().execute(LMRequest(prompt, step="instructions", seed=3, max_tokens=1024))
    assert again.text == r.text
    other = FakeLM().execute(LMRequest(prompt, step="instructions", seed=4, max_tokens=1024))
    assert other.text != r.text


def test_demo_instructions_vary_and_exercise_filters():
    texts = []
    for seed in range(200):
        out = demo_responder(LMRequest("tasks\n9.", step="instructions", seed=seed))
        texts += re.split(r"\n\d+\. ", out.strip())
    assert len(set(texts)) > 0.95 * len(texts)
    assert any(len(t.split()) <= 3 for t in texts)
    assert any(re.search(rf"\b{w}\b", t.lower()) for t in texts for w in BLACKLIST)


def test_demo_classify_and_instances():
    lm = FakeLM()
    yes = lm.execute(LMRequest("...\nTask: Classify this customer review about tea as spam or not spam.\nIs it classification?", step="classify", max_tokens=3))
    no = lm.execute(LMRequest("...\nTask: Explain a haiku about tea.\nIs it classification?", step="classify", max_tokens=3))
    assert (yes.text, no.text) == (" Yes", " No")
    plain = lm.execute(LMRequest("Come up with examples.\n\nTask: Explain a haiku about tea.", step="instances", max_tokens=300)).text
    assert re.fullmatch(r"Example 1\nInput: .+\nOutput: .+\n\nExample 2\nInput: .+\nOutput: .+(\n\nExample 3\nInput: .+\nOutput: .+)?", plain)
    labelled = lm.execute(LMRequest("Class label: X\nInput: y\n\nTask: Classify this email about tea as urgent or routine.", step="instances", max_tokens=300)).text
    assert re.fullmatch(r"Class label: urgent\nInput: .+\n\nClass label: routine\nInput: .+(\n\nClass label: urgent\nInput: .+)?", labelled)
    assert lm.execute(LMRequest("Task: say hi", step="answer")).text.strip()


# --- OpenAICompatLM against the stub -----------------------------------------


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_openai_request_and_response(mode):
    with OpenAIStub(api_key="sk-good") as stub:
        stub.script(ok("Hello there world"))
        lm = OpenAICompatLM(
            LMConfig(backend="openai", model="stub-model", base_url=stub.base_url, api_mode=mode),
            api_key="sk-good",
        )
        req = LMRequest("Say hi", temperature=0.7, top_p=0.5, max_tokens=20, stop=("\n\n", "16."),
                        presence_penalty=2.0, seed=11, system="Be brief." if mode == "chat" else None)
        r = lm.execute(req)
    assert (r.text, r.finish_reason, r.faults, r.tokens_out) == ("Hello there world", "stop", [], 3)
    assert r.tokens_in > 0 and r.latency_s > 0
    [sent] = stub.posts
    assert sent.path == ("/v1/chat/completions" if mode == "chat" else "/v1/completions")
    assert sent.headers["authorization"] == "Bearer sk-good"
    body = sent.body
    assert (body["model"], body["temperature"], body["top_p"], body["max_tokens"]) == ("stub-model", 0.7, 0.5, 20)
    assert (body["stop"], body["presence_penalty"], body["seed"]) == (["\n\n", "16."], 2.0, 11)
    assert "frequency_penalty" not in body and not body.get("stream")
    if mode == "chat":
        assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}]
    else:
        assert body["prompt"] == "Say hi"


@pytest.mark.parametrize("mode", ["completion", "chat"])
@pytest.mark.parametrize("usage", [True, False])
def test_openai_streaming(mode, usage):
    with OpenAIStub() as stub:
        stub.script(ok("one two three four", usage=usage))
        pieces: list[str] = []
        r = stub_lm(stub, api_mode=mode).execute(LMRequest("count please"), on_token=pieces.append)
    assert pieces == ["one", " two", " three", " four"] and r.text == "one two three four"
    assert stub.posts[0].body["stream"] is True
    assert stub.posts[0].body["stream_options"] == {"include_usage": True}
    if usage:
        assert (r.tokens_in, r.tokens_out) == (2, 4)
    else:  # estimated from characters
        assert (r.tokens_in, r.tokens_out) == (3, 5)


@pytest.mark.parametrize("stream", [False, True])
def test_openai_length_passes_through(stream):
    with OpenAIStub() as stub:
        stub.script(length("cut here"))
        r = stub_lm(stub).execute(LMRequest("p"), on_token=(lambda s: None) if stream else None)
    assert (r.text, r.finish_reason, r.faults) == ("cut here", "length", [])


def test_openai_execute_many_is_concurrent_and_ordered():
    def slow_echo(body):
        i = int(body["prompt"][1:])
        return ok(f"answer {i}", delay_s=0.05 * (8 - i))  # later requests finish first

    with OpenAIStub(responder=slow_echo) as stub:
        lm = stub_lm(stub, concurrency=4)
        out = lm.execute_many([LMRequest(f"p{i}") for i in range(8)])
    assert [r.text for r in out] == [f"answer {i}" for i in range(8)]
    assert stub.max_in_flight == 4


def test_openai_execute_many_returns_errors_in_place():
    with OpenAIStub(responder=lambda body: "fine", models=("stub-model",)) as stub:
        lm = stub_lm(stub, concurrency=3)
        cfg = LMConfig(backend="openai", model="nope", base_url=stub.base_url)
        wrong = OpenAICompatLM(cfg, sleep=lambda s: None)
        assert [r.text for r in lm.execute_many([LMRequest("a"), LMRequest("b")])] == ["fine", "fine"]
        out = wrong.execute_many([LMRequest("a"), LMRequest("b")])
    assert all(isinstance(e, LMFatalError) for e in out)


def test_stub_models_endpoint():
    import openai

    with OpenAIStub(models=["a", "b"]) as stub:
        client = openai.OpenAI(api_key="x", base_url=stub.base_url, max_retries=0)
        assert [m.id for m in client.models.list()] == ["a", "b"]


def test_openai_sdk_called_from_threads_shares_one_client():
    with OpenAIStub() as stub:
        lm = stub_lm(stub)
        threads = [threading.Thread(target=lm.execute, args=(LMRequest(f"q{i}"),)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(stub.posts) == 5


# --- RecordedLM (the call cache) -------------------------------------------------


def test_recorded_call_many_pays_and_records_identical_requests_once(tmp_path):
    from selfinstruct.lm.base import LMUnavailable
    from selfinstruct.lm.cache import RecordedLM
    from selfinstruct.store import Store
    from selfinstruct.store.check import check

    store = Store(tmp_path / "w.sqlite")
    lm = FakeLM(responder=lambda r: "answer to " + r.prompt)
    rec = RecordedLM(lm, store, None)
    a, b = LMRequest("a", max_tokens=8), LMRequest("b", max_tokens=8)
    out = rec.call_many([a, b, a, LMRequest("a", max_tokens=8)])
    assert [r.prompt for r in lm.requests] == ["a", "b"]  # one call per distinct request
    assert store.scalar("SELECT COUNT(*) FROM lm_calls") == 2
    assert [(cid, resp.text, resp.cached) for cid, resp in out] == [
        (out[0][0], "answer to a", False), (out[1][0], "answer to b", False),
        (out[0][0], "answer to a", True), (out[0][0], "answer to a", True)]  # repeats cost nothing
    again = rec.call_many([b, b])  # from the cache, still one row
    assert len(lm.requests) == 2 and [r[1].cached for r in again] == [True, True]
    failing = RecordedLM(FakeLM([LMUnavailable("down")]), store, None)
    c = LMRequest("c", max_tokens=8)
    errors = failing.call_many([c, c])
    assert all(isinstance(e, LMUnavailable) for e in errors)
    assert store.scalar("SELECT COUNT(*) FROM lm_calls WHERE error IS NOT NULL") == 1  # the failure logged once
    assert check(store)["LM calls"] == []


def test_a_reply_with_a_lone_surrogate_is_recorded_with_it_replaced(tmp_path):
    from selfinstruct.lm.cache import RecordedLM
    from selfinstruct.store import Store

    store = Store(tmp_path / "w.sqlite")
    lm = FakeLM(responder=lambda r: "half \ud800 a pair")  # what json gives for "\\ud800"
    rec = RecordedLM(lm, store, None)
    (cid, resp), = rec.call_many([LMRequest("a", max_tokens=8)])
    assert resp.text == "half \ufffd a pair" and "lone UTF-16 surrogates" in resp.faults[-1]
    _, one = rec.call(LMRequest("b", max_tokens=8))
    assert one.text == "half \ufffd a pair"
    assert rec.call(LMRequest("a", max_tokens=8))[1].cached  # stored, so never paid again
    assert len(lm.requests) == 2


# --- the embedded model -------------------------------------------------------


@pytest.mark.embedded
def test_embedded_model_runs_a_short_completion():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (wheel not built yet)")
    lm = make_lm(LMConfig(n_ctx=512, threads=1))  # one thread: robust on a busy CI box
    pieces: list[str] = []
    req = LMRequest("Come up with a series of tasks:\n1. Write a poem about the sea.\n2.", max_tokens=16, seed=1)
    r = lm.execute(req, on_token=pieces.append)
    assert r.text and r.text == "".join(pieces)
    assert r.tokens_in > 10 and 0 < r.tokens_out <= 16
    assert r.finish_reason in ("stop", "length")
    again = lm.execute(req)  # greedy: the same answer, model loaded once
    assert again.text == r.text
    with pytest.raises(LMFatalError, match="context holds 512"):
        lm.execute(LMRequest("word " * 600, max_tokens=4))
