"""Many endpoints per LM: least-loaded dispatch, rpm/tpm per endpoint, adaptive concurrency."""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import replace

import pytest

from selfinstruct.cli.common import add_lm_args, lm_config_from_args, storable
from selfinstruct.config import ConfigError, LMConfig, RunConfig
from selfinstruct.lm import LMRequest, LMResponse
from selfinstruct.lm.limits import SLOW_START, Endpoint, EndpointPool, RateLimiter, RateWindow
from selfinstruct.lm.openai_compat import OpenAICompatLM
from tests.openai_stub import OpenAIStub, ok, status


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_lm(primary: OpenAIStub, *replicas: OpenAIStub, sleep=time.sleep, **cfg) -> OpenAICompatLM:
    settings = dict(backend="openai", model="stub-model", base_url=primary.base_url, timeout_s=5.0,
                    replicas=[r.base_url for r in replicas])
    return OpenAICompatLM(LMConfig(**{**settings, **cfg}), sleep=sleep, backoff_base_s=0.01)


def run_threads(lm: OpenAICompatLM, threads: int, per_thread: int) -> list[LMResponse]:
    out: list[LMResponse] = []

    def work(t: int) -> None:
        for i in range(per_thread):
            out.append(lm.execute(LMRequest(f"p{t}-{i}", max_tokens=4)))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return out


# --- limits, with a fake clock ---------------------------------------------------------


def test_rpm_books_each_request_in_any_minute_window():
    clock = Clock()
    rate = RateLimiter(rpm=3, clock=clock)
    assert [rate.reserve(0).wait_s for _ in range(4)] == [0.0, 0.0, 0.0, 60.0]
    clock.now = 10.0
    assert [rate.reserve(0).wait_s for _ in range(3)] == [50.0, 50.0, 110.0]  # in order: none overtakes
    clock.now = 500.0
    assert rate.reserve(0).wait_s == 0.0  # everything left the window


def test_tpm_counts_estimates_then_reported_usage():
    clock = Clock()
    rate = RateLimiter(tpm=1000, clock=clock)
    assert [rate.reserve(400).wait_s for _ in range(3)] == [0.0, 0.0, 60.0]  # 1200: wait for the first to leave
    rate = RateLimiter(tpm=1000, clock=clock)
    first = rate.reserve(400)
    rate.reserve(400)
    rate.settle(first, 100)  # the server reported 100: 500 booked
    assert rate.reserve(400).wait_s == 0.0
    assert rate.reserve(200).wait_s == 60.0


def test_a_cost_above_the_limit_waits_for_an_empty_window():
    clock = Clock()
    rate = RateLimiter(rpm=0, tpm=1000, clock=clock)
    assert rate.reserve(5000).wait_s == 0.0
    clock.now = 30.0
    assert rate.reserve(1).wait_s == 30.0


def test_rpm_and_tpm_together_take_the_later_time():
    clock = Clock()
    rate = RateLimiter(rpm=2, tpm=100, clock=clock)
    assert rate.reserve(10).wait_s == 0.0
    clock.now = 20.0
    assert rate.reserve(80).wait_s == 0.0
    assert rate.reserve(30).wait_s == 60.0  # rpm alone: 60 (the first leaves); tpm: 80 (both must leave)
    window = RateWindow(0)
    assert window.earliest(5.0, 10**9) == 5.0  # 0: no limit


def pool(n: int, max_limit: int, clock: Clock) -> EndpointPool:
    return EndpointPool([Endpoint(f"http://h{i}/v1", f"http://h{i}/v1", max_limit, RateLimiter(clock=clock))
                         for i in range(n)], clock=clock)


def test_least_loaded_dispatch_skips_paused_endpoints():
    clock = Clock()
    p = pool(2, 4, clock)
    h0, h1 = p.endpoints
    leases = [p.acquire(10) for _ in range(3)]
    assert [lease.endpoint for lease in leases] == [h0, h1, h0]  # ties go to the first
    p.release(leases[0], congested=True, pause_s=5.0)  # a 429 with Retry-After: 5
    assert (h0.limit, h0.in_flight, h0.throttled) == (2, 1, 1)
    assert p.any_open() and p.acquire(10).endpoint is h1  # h0 is paused, though less loaded
    assert p.acquire(10, waited=h0).endpoint is h0  # a retry that sat the pause out itself
    clock.now = 5.0
    assert p.stats()[0] == {"url": "http://h0/v1", "in_flight": 2, "limit": 2, "paused_s": 0.0,
                            "requests": 3, "throttled": 1}


def test_slow_start_doubles_then_halving_once_per_signal_then_additive_increase():
    e = Endpoint("u", "u", 300, RateLimiter())
    assert e.limit == SLOW_START == 64
    for _ in range(64):
        e.succeeded(was_full=True)
    assert e.limit == 128
    e.succeeded(was_full=False)  # the limit held nothing back: no growth
    assert e.limit == 128 and e._successes == 0
    epoch = e._epoch
    e.congested(epoch)
    e.congested(epoch)  # another answer to a request sent before the cut
    assert e.limit == 64
    for _ in range(64):
        e.succeeded(was_full=True)
    assert e.limit == 65  # past the first signal: one more per window
    small = Endpoint("u", "u", 4, RateLimiter())
    assert small.limit == 4
    for _ in range(3):
        small.congested(small._epoch)
    assert small.limit == 1  # the floor


# --- against local servers -------------------------------------------------------------


def test_concurrent_requests_spread_over_both_endpoints_within_the_limit():
    slow = lambda body: ok("hi", delay_s=0.05)  # noqa: E731
    with OpenAIStub(slow) as a, OpenAIStub(slow) as b:
        lm = make_lm(a, b, concurrency=8)
        assert lm.concurrency == 16 and lm.name == f"openai:stub-model@{a.base_url}"
        out = run_threads(lm, 40, 1)
        assert [r.text for r in out] == ["hi"] * 40
        assert len(a.posts) + len(b.posts) == 40 and len(a.posts) >= 12 and len(b.posts) >= 12
        assert a.max_in_flight <= 8 and b.max_in_flight <= 8
        assert [s["requests"] for s in lm.endpoint_stats()] == [len(a.posts), len(b.posts)]


def test_429_halves_the_limit_pauses_the_endpoint_and_the_limit_grows_back():
    pause_s = 0.4
    quick = lambda body: ok("hi", delay_s=0.03)  # noqa: E731
    with OpenAIStub(quick) as a, OpenAIStub(quick) as b:
        # the first four sent to a, answered late enough that all four are sent before the first answer
        a.script(*[replace(status(429, retry_after_ms=pause_s * 1000), delay_s=0.1)] * 4)
        lm = make_lm(a, b, concurrency=4)
        limits: list[int] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                limits.append(lm.endpoint_stats()[0]["limit"])
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            out = run_threads(lm, 16, 10)
        finally:
            done.set()
            watcher.join()
        stats = lm.endpoint_stats()
    assert len(out) == 160 and all(r.text == "hi" for r in out)
    assert sum(bool(r.faults) for r in out) == 4  # each retried at once on b
    assert min(limits) == 2  # four 429s to requests sent under one limit: halved once
    received = sorted(r.received_at for r in a.posts)
    assert received[4] - received[3] >= pause_s - 0.01  # nothing reached a before Retry-After passed
    assert stats[0]["throttled"] == 4 and stats[0]["limit"] == 4  # grown back to the max
    assert stats[1]["throttled"] == 0 and stats[1]["limit"] == 4


def test_the_limit_reaches_the_max_against_an_unlimited_endpoint():
    with OpenAIStub(lambda body: ok("hi", delay_s=0.3)) as stub:  # long enough for the stub to hold them all
        lm = make_lm(stub, concurrency=200)
        assert lm.endpoint_stats()[0]["limit"] == 64  # slow start
        out = lm.execute_many([LMRequest(f"p{i}", max_tokens=4) for i in range(800)])
        assert all(isinstance(r, LMResponse) for r in out)
        assert lm.endpoint_stats()[0]["limit"] == 200
        assert 64 < stub.max_in_flight <= 200


def test_rpm_makes_a_request_wait_for_its_endpoint():
    sleeps: list[float] = []
    with OpenAIStub() as stub:
        lm = make_lm(stub, sleep=sleeps.append, rpm=2)
        for _ in range(3):
            lm.execute(LMRequest("p", max_tokens=4))
    assert len(sleeps) == 1 and 59.0 < sleeps[0] <= 60.0


def test_stats_and_messages_show_no_url_credentials():
    with OpenAIStub() as a, OpenAIStub() as b:
        port = b.base_url.split(":")[2].split("/")[0]
        replica = f"http://bob:Hunter2-pw@127.0.0.1:{port}/v1?api-key=Qk-secret"
        lm = OpenAICompatLM(LMConfig(backend="openai", model="stub-model", base_url=a.base_url, replicas=[replica]))
        assert lm.name == f"openai:stub-model@{a.base_url}"
        assert lm.endpoint_stats()[1]["url"] == f"http://127.0.0.1:{port}/v1?api-key=***"
    data = storable(RunConfig(lm=LMConfig(replicas=[replica])))
    assert data["lm"]["replicas"] == [f"http://127.0.0.1:{port}/v1?api-key=***"]


# --- settings ----------------------------------------------------------------------------


def test_replicas_rpm_and_tpm_are_checked_naming_the_key():
    with pytest.raises(ConfigError) as info:
        LMConfig(replicas=["http://127.0.0.1:8001/v1", "ftp://x/v1", ""], rpm=-1, tpm=-5).validate()
    keys = [p.split(":")[0] for p in info.value.problems]
    assert keys == ["lm.rpm", "lm.tpm", "lm.replicas[1]", "lm.replicas[2]"]
    with pytest.raises(ConfigError, match="lm.replicas: must be a list of strings"):
        RunConfig.from_dict({"lm": {"replicas": "http://a/v1"}})
    cfg = RunConfig.from_dict({"lm": {"replicas": ["http://a/v1"], "rpm": 60, "tpm": 9000}})
    assert (cfg.lm.replicas, cfg.lm.rpm, cfg.lm.tpm, cfg.lm.concurrency) == (["http://a/v1"], 60, 9000, 128)


def test_cli_flags():
    parser = argparse.ArgumentParser()
    add_lm_args(parser)
    args = parser.parse_args(["--replica", "http://a/v1", "--replica", "http://b/v1", "--max-in-flight", "32",
                              "--rpm", "60", "--tpm", "90000"])
    cfg = lm_config_from_args(args, LMConfig(replicas=["http://old/v1"]))
    assert (cfg.replicas, cfg.concurrency, cfg.rpm, cfg.tpm) == (["http://a/v1", "http://b/v1"], 32, 60, 90000)
    cfg = lm_config_from_args(parser.parse_args(["--concurrency", "8"]), LMConfig(replicas=["http://old/v1"]))
    assert (cfg.concurrency, cfg.replicas) == (8, ["http://old/v1"])  # the old name; unset flags keep the base
