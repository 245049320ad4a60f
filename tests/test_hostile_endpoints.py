"""Hostile OpenAI-compatible endpoints: every reply that is endless, dripping, huge, not JSON,
wrongly typed or echoing the key ends within the request's deadline as a clear LM error
(or a noted fault), with bounded memory and the key in no message.

A local server (``tests/openai_stub.py``) plays each part, for the completion and chat APIs,
streaming and not. ``timeout_s`` is the whole-request deadline, so a server that drips one
byte a second or never answers is cut off there, not after it.
"""

from __future__ import annotations

import tracemalloc
import sqlite3
import time
from pathlib import Path
from typing import Callable, TypeVar

import pytest

from selfinstruct.config import ConfigError, LMConfig
from selfinstruct.lm import LMError, LMRequest, LMResponse
from selfinstruct.lm.openai_compat import OpenAICompatLM
from tests.conftest import cli
from tests.openai_stub import (
    Behaviour,
    OpenAIStub,
    drip,
    endless,
    hang,
    html,
    huge,
    malformed,
    ok,
    raw,
    status,
)

KEY = "sk-hostile-5f3a9c1e7b2d4068aa11"
DEADLINE_S = 2.0
SLACK_S = 1.5  # scheduling on a shared 2-CPU box; a per-read timeout would overshoot by far more
PEAK_LIMIT_MB = 500
T = TypeVar("T")


def traced_peak_mb(call: Callable[[], T]) -> tuple[T, float]:
    """``call()`` and the peak of the memory Python allocated meanwhile (the client's buffers, and the
    in-process stub's): the process's own peak would count whatever earlier tests of the run loaded."""
    tracemalloc.start()
    try:
        value = call()
        return value, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def wrong(chat: bool, stream: bool, value: object) -> Behaviour:
    """A reply whose text (completion) or content (chat) is ``value``."""
    if chat:
        choice = {"index": 0, "finish_reason": "stop", ("delta" if stream else "message"): {"role": "assistant", "content": value}}
    else:
        choice = {"index": 0, "finish_reason": "stop", "text": value}
    return raw({"id": "x", "object": "text_completion", "created": 0, "model": "m", "choices": [choice]})


LATE = "no complete reply within 2 s"
LARGE = "reply larger than"
# mode -> (behaviour for (chat, stream), the fault it must be named by)
MODES: dict[str, tuple[Callable[[bool, bool], Behaviour], str]] = {
    "endless": (lambda chat, stream: endless(), f"{LARGE}|{LATE}"),
    "drip": (lambda chat, stream: drip("a slow answer that never gets there"), LATE),
    "huge": (lambda chat, stream: huge(), LARGE),
    "html": (lambda chat, stream: html(), "unparsable|malformed|empty choices"),
    "bad-json": (lambda chat, stream: malformed(), "malformed|unparsable"),
    "text-number": (lambda chat, stream: wrong(chat, stream, 123), "is a number, not text"),
    "text-list": (lambda chat, stream: wrong(chat, stream, ["a", "b"]), "is a list, not text"),
    "text-object": (lambda chat, stream: wrong(chat, stream, {"a": 1}), "is an object, not text"),
    "choices-missing": (lambda chat, stream: raw({"id": "x", "object": "text_completion"}),
                        "unparsable|malformed|empty choices"),
    "choices-not-list": (lambda chat, stream: raw({"id": "x", "choices": "all of them"}),
                         "unparsable|malformed|empty choices"),
    "hang": (lambda chat, stream: hang(), "timeout after 2s"),
    "key-echo-500": (lambda chat, stream: status(500, message=f"upstream said: bad key {KEY}"), "500 server error"),
    "key-echo-400": (lambda chat, stream: status(400, message=f"invalid request for key {KEY}"), "refused the request"),
    "key-echo-401": (lambda chat, stream: status(401, message=f"Incorrect API key provided: {KEY}"), "rejected the API key"),
    "key-echo-401-text": (lambda chat, stream: status(401, body=f"<html>denied: Bearer {KEY}</html>"), "rejected the API key"),
    "key-echo-stream-error": (lambda chat, stream: raw({"error": {"message": f"quota for {KEY} exceeded"}}),
                              "error from server|malformed|unparsable|empty choices"),
}
CASES = [(mode, api, stream) for mode in MODES for api in ("completion", "chat") for stream in (False, True)]


def make_lm(stub: OpenAIStub, api_mode: str, **cfg: object) -> OpenAICompatLM:
    settings = dict(backend="openai", model="m", base_url=stub.base_url, api_mode=api_mode,
                    timeout_s=DEADLINE_S, max_retries=0)
    return OpenAICompatLM(LMConfig(**{**settings, **cfg}), api_key=KEY, sleep=lambda s: None)


def run_once(lm: OpenAICompatLM, stream: bool) -> tuple[LMResponse | LMError, float]:
    """One call; any exception but an LMError fails the test (it would be a traceback)."""
    pieces: list[str] = []
    start = time.monotonic()
    try:
        result: LMResponse | LMError = lm.execute(LMRequest("1. Write a poem.\n2.", max_tokens=16),
                                                  on_token=pieces.append if stream else None)
    except LMError as e:
        result = e
    return result, time.monotonic() - start


@pytest.fixture(scope="module")
def stub():
    with OpenAIStub() as s:
        yield s


@pytest.mark.parametrize("mode,api_mode,stream", CASES, ids=[f"{m}-{a}-{'stream' if s else 'plain'}" for m, a, s in CASES])
def test_hostile_reply_ends_in_time_with_a_clear_fault(stub: OpenAIStub, mode: str, api_mode: str, stream: bool) -> None:
    make, expected = MODES[mode]
    stub.script(make(api_mode == "chat", stream))
    lm = make_lm(stub, api_mode)
    (result, took), peak = traced_peak_mb(lambda: run_once(lm, stream))
    assert isinstance(result, LMError), f"{mode}: a hostile reply was accepted: {result!r}"
    message = " | ".join([str(result), *result.faults])
    assert took < DEADLINE_S + SLACK_S, f"{mode} took {took:.1f} s: {message}"
    assert __import__("re").search(expected, message), message
    assert KEY not in message and KEY[-12:] not in message
    assert peak < PEAK_LIMIT_MB, f"{mode}: {peak:.0f} MB allocated"


@pytest.mark.parametrize("api_mode", ["completion", "chat"])
@pytest.mark.parametrize("stream", [False, True])
def test_usage_counts_that_are_not_counts_are_estimated_and_noted(stub: OpenAIStub, api_mode: str, stream: bool) -> None:
    stub.script(ok("four words of answer", usage_value={"prompt_tokens": "12", "completion_tokens": -795}))
    result, _ = run_once(make_lm(stub, api_mode), stream)
    assert isinstance(result, LMResponse), result
    assert result.text == "four words of answer"
    assert type(result.tokens_in) is int and result.tokens_in > 0
    assert result.tokens_out == 5  # estimated: 20 characters
    assert any("prompt_tokens '12' is not a token count" in f for f in result.faults), result.faults
    assert any("completion_tokens -795 is not a token count" in f for f in result.faults), result.faults


def test_faults_are_retried_then_reported_together(stub: OpenAIStub) -> None:
    stub.script(huge(), drip(), endless())
    result, took = run_once(make_lm(stub, "completion", max_retries=2), stream=False)
    assert isinstance(result, LMError)
    assert [f.split(" (")[0] for f in result.faults] == [
        "reply larger than 2000000 chars", LATE, "reply larger than 2000000 chars"]
    assert took < 2 * DEADLINE_S + 3 * SLACK_S


def test_a_small_cap_refuses_a_reply_just_over_it(stub: OpenAIStub) -> None:
    stub.script(ok("x" * 1001), ok("x" * 1000))
    lm = make_lm(stub, "chat", max_reply_chars=1000, max_retries=1)
    result, _ = run_once(lm, stream=False)
    assert isinstance(result, LMResponse) and len(result.text) == 1000
    assert result.faults == ["reply larger than 1000 chars"]


def test_max_reply_chars_is_validated() -> None:
    with pytest.raises(ConfigError, match="lm.max_reply_chars: must be at least 1"):
        LMConfig(max_reply_chars=0).validate()


@pytest.mark.slow
def test_generate_against_a_hostile_server_exits_2_keeps_no_key_and_checks(tmp_path: Path) -> None:
    hostile = [drip(), endless(), huge(), status(500, message=f"bad key {KEY}"), malformed()]
    turn = iter(range(10**6))

    def responder(body: dict) -> Behaviour:
        return hostile[next(turn) % len(hostile)]

    ws = tmp_path / "w.sqlite"
    with OpenAIStub(responder) as s:
        done = cli("generate", "-w", str(ws), "--lm", "openai", "--model", "m", "--base-url", s.base_url,
                   "--timeout", str(DEADLINE_S), "--max-retries", "1", "--concurrency", "2", "--target", "5",
                   "--no-progress", env={"OPENAI_API_KEY": KEY}, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "Traceback" not in out and KEY not in out
    for path in tmp_path.iterdir():
        assert KEY.encode() not in path.read_bytes(), path
    with sqlite3.connect(ws) as db:
        assert db.execute("select count(*) from lm_calls").fetchone()[0] > 0
    check = cli("check", "-w", str(ws))
    assert check.returncode == 0, check.stdout + check.stderr


class _Log:
    """A CallLog that keeps what would be stored."""

    def __init__(self) -> None:
        self.calls: list[tuple[LMResponse | None, LMError | None]] = []

    def cached_response(self, cache_key: str) -> None:
        return None

    def record_call(self, run_id, model, request, response=None, error=None) -> int:
        self.calls.append((response, error))
        return len(self.calls)


class _Backend:
    """Any backend that hands over a reply of the wrong types."""

    name = "odd"

    def __init__(self, response: LMResponse) -> None:
        self.response = response

    def execute(self, request: LMRequest, on_token=None) -> LMResponse:
        return self.response

    def execute_many(self, requests):
        return [self.response for _ in requests]


def test_the_cache_records_a_non_text_reply_as_a_failed_call_and_never_stores_bad_counts() -> None:
    from selfinstruct.lm.cache import RecordedLM

    log = _Log()
    with pytest.raises(LMError, match="not text"):
        RecordedLM(_Backend(LMResponse(text=123)), log, None).call(LMRequest("p"))  # type: ignore[arg-type]
    assert log.calls[-1][0] is None and log.calls[-1][1] is not None
    [failed] = RecordedLM(_Backend(LMResponse(text=None)), log, None).call_many([LMRequest("p")])  # type: ignore[arg-type]
    assert isinstance(failed, LMError)
    _, stored = RecordedLM(_Backend(LMResponse(text="ok", tokens_in="12", tokens_out=-795)), log, None).call(LMRequest("p"))  # type: ignore[arg-type]
    assert (stored.tokens_in, stored.tokens_out) == (0, 0)
    assert log.calls[-1][0] == stored and len(stored.faults) == 2
