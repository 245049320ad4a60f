"""Every fault the OpenAI-compatible backend meets: survived and recorded, or fatal at once; the key never leaks."""

from __future__ import annotations

import pytest

from selfinstruct.config import LMConfig
from selfinstruct.lm import LMFatalError, LMRequest, LMUnavailable
from selfinstruct.lm.openai_compat import OpenAICompatLM
from tests.openai_stub import OpenAIStub, drop, empty_choices, length, malformed, ok, status, timeout

SECRET = "sk-test-SECRET1234567890abcdef"
REQ = LMRequest("Name a colour.", max_tokens=8)


def make(stub: OpenAIStub, *, mode: str = "completion", retries: int = 3, key: str = SECRET,
         model: str = "stub-model", sleeps: list[float] | None = None,
         timeout_s: float = 5.0) -> OpenAICompatLM:
    cfg = LMConfig(backend="openai", model=model, base_url=stub.base_url, api_mode=mode,
                   timeout_s=timeout_s, max_retries=retries)
    return OpenAICompatLM(cfg, api_key=key, sleep=(sleeps.append if sleeps is not None else lambda s: None),
                          backoff_base_s=0.01)


def run(stub: OpenAIStub, *behaviours, stream: bool = False, mode: str = "completion", **kw):
    stub.script(*behaviours)
    pieces: list[str] = []
    r = make(stub, mode=mode, **kw).execute(REQ, on_token=pieces.append if stream else None)
    if stream and not r.faults:
        assert "".join(pieces) == r.text
    return r


FAULTS = {
    "429": (status(429), "429 rate limited"),
    "500": (status(500), "500 server error"),
    "502": (status(502), "502 bad gateway"),
    "503": (status(503), "503 service unavailable"),
    "504": (status(504), "504 gateway timeout"),
    "timeout": (timeout(3.0), "timeout after 0.3s"),
    "drop": (drop(), "connection failed or dropped"),
    "malformed": (malformed(), "malformed response"),
    "empty": (empty_choices(), "empty choices"),
}


@pytest.mark.parametrize("mode", ["completion", "chat"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", list(FAULTS))
def test_each_fault_is_survived_and_recorded(kind, stream, mode):
    behaviour, fault = FAULTS[kind]
    with OpenAIStub() as stub:
        # only the timeout case gets a tight client timeout: a busy test box can be slow
        r = run(stub, behaviour, ok("blue"), stream=stream, mode=mode,
                timeout_s=0.3 if kind == "timeout" else 5.0)
    assert r.text == "blue" and r.finish_reason == "stop"
    assert r.faults and all(f.startswith(fault) for f in r.faults), r.faults
    assert len(stub.posts) == len(r.faults) + 1  # one request per attempt, no hidden SDK retries


def test_faults_accumulate_in_order():
    with OpenAIStub() as stub:
        r = run(stub, status(503), malformed(), status(429, retry_after=1), ok("red"))
    assert r.faults == ["503 service unavailable", "malformed response (invalid JSON)",
                        "429 rate limited (retry after 1s)"]


@pytest.mark.parametrize(
    "behaviour, expected_wait, fault",
    [
        (status(429, retry_after=2), 2.0, "429 rate limited (retry after 2s)"),
        (status(429, retry_after_ms=250), 0.25, "429 rate limited (retry after 0.25s)"),
        (status(503, retry_after=3600), 60.0, "503 service unavailable (retry after 3600s)"),
    ],
)
def test_retry_after_is_honoured_and_capped(behaviour, expected_wait, fault):
    sleeps: list[float] = []
    with OpenAIStub() as stub:
        r = run(stub, behaviour, ok("green"), sleeps=sleeps)
    assert sleeps == [expected_wait] and r.faults == [fault]


def test_retry_after_http_date():
    sleeps: list[float] = []
    with OpenAIStub() as stub:
        r = run(stub, status(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"), ok("x"), sleeps=sleeps)
    assert sleeps == [0.0] and r.faults == ["429 rate limited (retry after 0s)"]  # a date in the past


def test_backoff_grows_exponentially_with_jitter():
    sleeps: list[float] = []
    with OpenAIStub() as stub:
        run(stub, status(500), status(500), status(500), ok("x"), sleeps=sleeps)
    assert len(sleeps) == 3
    for attempt, s in enumerate(sleeps):
        assert 0.01 * 2**attempt * 0.5 <= s <= 0.01 * 2**attempt


def test_persistent_failure_raises_unavailable_with_every_fault():
    with OpenAIStub() as stub:
        stub.script(*[status(503)] * 3)
        with pytest.raises(LMUnavailable) as info:
            make(stub, retries=2).execute(REQ)
    assert info.value.faults == ["503 service unavailable"] * 3
    assert "failed 3 time(s)" in str(info.value) and len(stub.posts) == 3


def test_execute_many_reports_unavailable_as_a_value():
    with OpenAIStub(responder=lambda body: status(500)) as stub:
        out = make(stub, retries=1).execute_many([REQ, REQ])
    assert all(isinstance(e, LMUnavailable) and len(e.faults) == 2 for e in out)


def test_length_cut_is_an_answer_not_a_fault():
    with OpenAIStub() as stub:
        r = run(stub, length("a very long"))
    assert (r.text, r.finish_reason, r.faults) == ("a very long", "length", [])
    assert len(stub.posts) == 1


def test_retried_stream_does_not_repeat_shown_text():
    with OpenAIStub() as stub:
        stub.script(drop("violet indigo"), ok("violet indigo blue"))
        pieces: list[str] = []
        r = make(stub).execute(REQ, on_token=pieces.append)
    assert "".join(pieces) == r.text == "violet indigo blue"
    assert r.faults[0].startswith("connection failed or dropped")


@pytest.mark.parametrize("code", [401, 403])
def test_wrong_key_is_fatal_at_once(code):
    with OpenAIStub() as stub:
        stub.script(status(code, message=f"Incorrect API key provided: {SECRET}."))
        with pytest.raises(LMFatalError, match=f"rejected the API key \\({code}\\)") as info:
            make(stub).execute(REQ)
    assert len(stub.posts) == 1
    assert stub.base_url in str(info.value) and SECRET not in str(info.value)


def test_stub_key_check_gives_401():
    with OpenAIStub(api_key="sk-right") as stub:
        with pytest.raises(LMFatalError, match="rejected the API key"):
            make(stub, key="sk-wrong").execute(REQ)
    assert len(stub.posts) == 1


def test_unknown_model_is_fatal_at_once():
    with OpenAIStub(models=["stub-model"]) as stub:
        with pytest.raises(LMFatalError, match="model 'gpt-nope' was not found") as info:
            make(stub, model="gpt-nope").execute(REQ)
    assert "does not exist" in str(info.value) and len(stub.posts) == 1


def test_bad_request_and_quota_are_fatal_with_the_server_message():
    with OpenAIStub() as stub:
        stub.script(status(400, message="max_tokens is too large"))
        with pytest.raises(LMFatalError, match=r"refused the request \(400\): max_tokens is too large"):
            make(stub).execute(REQ)
        stub.script(status(429, message="You exceeded your current quota", error_code="insufficient_quota"))
        with pytest.raises(LMFatalError, match="out of quota"):
            make(stub).execute(REQ)
    assert len(stub.posts) == 2


def test_secret_key_never_leaks():
    echo = f"Incorrect API key provided: {SECRET}"
    with OpenAIStub() as stub:
        lm = make(stub, retries=2)
        texts = [repr(lm), lm.name, *(repr(v) for v in vars(lm).values())]
        stub.script(status(500, message=echo), status(429, message=echo), status(503, message=echo))
        with pytest.raises(LMUnavailable) as unavailable:
            lm.execute(REQ)
        for code in (401, 400, 404):
            stub.script(status(code, message=echo))
            with pytest.raises(LMFatalError) as fatal:
                lm.execute(REQ)
            texts += [str(fatal.value), repr(fatal.value), *fatal.value.faults]
            assert fatal.value.__cause__ is None and fatal.value.__suppress_context__
        stub.script(status(503, message=echo), ok("fine"))
        survived = lm.execute(REQ)
    texts += [str(unavailable.value), repr(unavailable.value), *unavailable.value.faults, repr(survived), *survived.faults]
    assert stub.posts[0].headers["authorization"] == f"Bearer {SECRET}"  # it was sent, to the server only
    leaked = [t for t in texts if "SECRET123" in t]
    assert not leaked, leaked


def test_local_endpoint_without_key_uses_a_dummy(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with OpenAIStub() as stub:
        cfg = LMConfig(backend="openai", model="m", base_url=stub.base_url)
        assert OpenAICompatLM(cfg).execute(REQ).text == "ok"
    assert stub.posts[0].headers["authorization"] == "Bearer not-needed"
