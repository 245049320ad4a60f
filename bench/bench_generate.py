"""Generation throughput against an endpoint of fixed latency (issue 14).

    .venv/bin/python bench/bench_generate.py            # 2 s a request: ~6 min
    .venv/bin/python bench/bench_generate.py --quick    # 0.25 s a request, small targets: ~1 min

A stub OpenAI-compatible server (this file run with ``--stub``, in a process of its own so
it does not share the client's interpreter lock) answers every request after a fixed latency,
however many are in flight, like ``selfinstruct.lm.fake.demo_responder``. Each run is a real
``Pipeline(store, run, lm).events()`` on a fresh workspace, through the openai backend.

1. Today's loop (``events(rounds=1)``, ``generate.pool_lag = 1``, ``lm.concurrency = 4``: one
   iteration at a time, its three steps one after another) against the new defaults
   (``RunConfig()``, ``LMConfig().concurrency``) keeping 1,000 instructions with their
   classification and instances; the ratio is of kept instructions a second, same run.
2. Kept a second at 8, 32, 128 and 256 requests in flight, each against the latency bound:
   ``3 x latency + calls x latency / in_flight`` (the last instruction prompt, its
   classification and its instances are three round trips that cannot overlap; every other
   call could). Efficiency = bound / measured wall time.

Columns besides: the stub's time-weighted mean of requests in flight over the run, the seconds
until the endpoint's adaptive limit reached its maximum (slow start), and the CPU the client
and the stub used (2 cores: 200% is all of them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEEDS = ROOT / "seeds" / "seed_tasks.jsonl"
CALLS_PER_KEPT = 2.2  # classification + instances, and about 1/5.5 of an instruction prompt


# --------------------------------------------------------------------------- the stub endpoint


def answer(body: dict[str, Any]) -> tuple[str, str]:
    """``demo_responder``'s text for a completion request's body (``fake.demo_answer_to``: the step
    told by the prompt's header, cut at its stop sequences and max_tokens words); returns
    (text, finish_reason), "length" when the cut took all max_tokens words."""
    from selfinstruct.lm.fake import demo_answer_to

    text = demo_answer_to(body)
    return text, "length" if len(text.split()) >= int(body.get("max_tokens") or 256) else "stop"


class _StubStats:
    """Requests in flight over time, as the stub saw them; ``GET /stats`` reads and resets them."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = self.in_flight_now = self.max_in_flight = 0
        self.area = 0.0  # integral of requests in flight over time
        self.first: float | None = None
        self.last = time.monotonic()
        self.cpu0 = time.process_time()

    def change(self, delta: int) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.area += self.in_flight_now * (now - self.last)
        self.last = now
        self.in_flight_now += delta
        self.max_in_flight = max(self.max_in_flight, self.in_flight_now)

    def read(self) -> dict[str, Any]:
        self.change(0)
        span = self.last - self.first if self.first is not None else 0.0
        out = {"requests": self.requests, "max_in_flight": self.max_in_flight,
               "mean_in_flight": self.area / span if span else 0.0, "span_s": span,
               "cpu_s": time.process_time() - self.cpu0}
        self.reset()
        return out


async def _serve(latency: float) -> None:
    stats = _StubStats()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path = line.decode("latin-1").split(" ")[:2]
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                raw = await reader.readexactly(int(headers.get("content-length") or 0))
                if method == "GET" and path.startswith("/stats"):
                    code, payload, ctype = 200, json.dumps(stats.read()).encode(), "application/json"
                elif method == "GET":
                    code, payload, ctype = 200, b'{"object": "list", "data": [{"id": "stub-model"}]}', "application/json"
                else:
                    stats.requests += 1
                    stats.change(+1)
                    try:
                        body = json.loads(raw or b"{}")
                        text, finish = answer(body)
                        await asyncio.sleep(latency)
                    finally:
                        stats.change(-1)
                    code, ctype = 200, "application/json"
                    usage = {"prompt_tokens": len(str(body.get("prompt", "")).split()),
                             "completion_tokens": len(text.split())}
                    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                    choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
                    done = {"id": "stub", "object": "text_completion", "created": int(time.time()),
                            "model": body.get("model", "stub-model"), "choices": [choice]}
                    if body.get("stream"):  # one piece, then usage, then [DONE]
                        events = [done, {**done, "choices": [], "usage": usage}]
                        payload = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"
                        ctype = "text/event-stream"
                    else:
                        payload = json.dumps({**done, "usage": usage}).encode()
                writer.write(f"HTTP/1.1 {code} OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                             "Connection: keep-alive\r\n\r\n".encode() + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


class Stub:
    """The stub in a child process: ``with Stub(latency) as stub: stub.base_url``."""

    def __init__(self, latency: float):
        self.latency = latency
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> "Stub":
        self.proc = subprocess.Popen([sys.executable, __file__, "--stub", str(self.latency)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"the stub did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        return self

    def stats(self) -> dict[str, Any]:
        """What the stub saw since the last call (and start afresh)."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as r:
            return json.loads(r.read())

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


# --------------------------------------------------------------------------- one measured run


@dataclass
class Result:
    label: str
    in_flight: int  # lm.concurrency
    target: int
    kept: int  # kept instructions with their classification and instances in the store
    wall_s: float
    calls: int
    latency: float
    stub: dict[str, Any] = field(default_factory=dict)
    ramp_s: float | None = None  # until the endpoint's adaptive limit reached lm.concurrency
    cpu_s: float = 0.0  # this process's CPU during the run
    steady: float = 0.0  # mean requests out on the endpoint / lm.concurrency, from the ramp's end to 3 latencies before the end

    @property
    def kept_per_s(self) -> float:
        return self.kept / self.wall_s

    @property
    def bound_s(self) -> float:
        return 3 * self.latency + self.calls * self.latency / self.in_flight

    @property
    def efficiency(self) -> float:
        return self.bound_s / self.wall_s


def measure(label: str, stub: Stub, target: int, concurrency: int | None = None, *,
            old_loop: bool = False, workdir: Path) -> Result:
    """One generation run to ``target`` on a fresh workspace: today's loop (``old_loop``:
    rounds=1, pool_lag=1) or the scheduler, at ``concurrency`` (None: the default)."""
    from selfinstruct.config import LMConfig, RunConfig
    from selfinstruct.lm import make_lm
    from selfinstruct.pipeline import Pipeline, start_run
    from selfinstruct.seeds import load_tasks
    from selfinstruct.store import Store

    cfg = RunConfig(target=target)
    cfg.lm = LMConfig(backend="openai", model="stub-model", base_url=stub.base_url)
    if concurrency is not None:
        cfg.lm.concurrency = concurrency
    if old_loop:
        cfg.generate.pool_lag = 1
    lm = make_lm(cfg.lm)
    path = workdir / f"{label.replace(' ', '-')}-{concurrency}-{target}.sqlite"
    ramp: list[float] = []
    samples: list[tuple[float, int]] = []  # (seconds in, requests out on the endpoints)
    stop = threading.Event()

    def watch(t0: float) -> None:  # when the slow start reached the full limit; how full the endpoint is
        while not stop.wait(0.05):
            now = lm.endpoint_stats()
            samples.append((time.monotonic() - t0, sum(e["in_flight"] for e in now)))
            if not ramp and all(e["limit"] >= cfg.lm.concurrency for e in now):
                ramp.append(samples[-1][0])

    with Store(path) as store:
        run = start_run(store, label, load_tasks(SEEDS), cfg)
        pipe = Pipeline(store, run, lm)
        stub.stats()  # start the stub's books afresh
        cpu0, t0 = time.process_time(), time.monotonic()
        watcher = threading.Thread(target=watch, args=(t0,), daemon=True)
        watcher.start()
        for _ in pipe.events(rounds=1 if old_loop else None):
            pass
        wall = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        stop.set()
        seen = stub.stats()
        kept = store.query("SELECT COUNT(*) AS n FROM instructions WHERE run_id = ? AND origin = 'machine'"
                           " AND verdict = 'keep' AND clf_call_id IS NOT NULL AND inst_call_id IS NOT NULL",
                           (run.id,))[0]["n"]
        assert store.run(run.id).state == "done", store.run(run.id).status
        calls = pipe.stats().calls
    watcher.join()
    mid = [n for t, n in samples if (ramp[0] if ramp else 0) <= t <= wall - 3 * stub.latency]
    steady = sum(mid) / len(mid) / cfg.lm.concurrency if mid else 0.0
    return Result(label, cfg.lm.concurrency, target, kept, wall, calls, stub.latency, seen,
                  ramp[0] if ramp else None, cpu, steady)


# --------------------------------------------------------------------------- the whole bench


@dataclass
class Plan:
    latency: float
    old_target: int
    new_target: int
    sweep: Sequence[tuple[int, int]]  # (lm.concurrency, target)


def plan(latency: float, old_target: int, new_target: int, seconds: float,
         widths: Sequence[int] = (8, 32, 128, 256)) -> Plan:
    """Targets sized so each sweep run takes about ``seconds`` at ``latency``."""
    return Plan(latency, old_target, new_target,
                [(c, max(5, round(seconds * c / (latency * CALLS_PER_KEPT)))) for c in widths])


def run_bench(p: Plan, *, log=print) -> dict[str, Any]:
    """Every run of plan ``p`` against one stub; returns the results and the goals."""
    out: dict[str, Any] = {"plan": p}
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp, Stub(p.latency) as stub:
        work = Path(tmp)
        out["old"] = old = measure("today's loop", stub, p.old_target, 4, old_loop=True, workdir=work)
        log(_row(old))
        out["new"] = new = measure("new defaults", stub, p.new_target, workdir=work)
        log(_row(new))
        out["sweep"] = []
        for c, target in p.sweep:
            r = measure("in flight", stub, target, c, workdir=work)
            out["sweep"].append(r)
            log(_row(r))
    out["ratio"] = new.kept_per_s / old.kept_per_s if old.kept_per_s else float("inf")
    top = max(out["sweep"], key=lambda r: r.in_flight) if out["sweep"] else None
    out["goals"] = [
        (f"new defaults keep {p.new_target} in < 60 s", new.kept >= p.new_target and new.wall_s < 60,
         f"{new.kept} in {new.wall_s:.1f} s"),
        ("kept/s >= 20x today's loop", out["ratio"] >= 20, f"{out['ratio']:.1f}x"),
    ]
    if top is not None:
        out["goals"].append((f"efficiency at {top.in_flight} in flight >= 0.8", top.efficiency >= 0.8,
                             f"{top.efficiency:.2f}"))
    return out


HEADER = (f"{'run':<14} {'in flight':>9} {'target':>6} {'kept':>5} {'calls':>6} {'wall s':>7} {'kept/s':>7} "
          f"{'bound s':>7} {'eff':>5} {'stub mean':>9} {'stub max':>8} {'ramp s':>6} {'steady':>6} {'cpu %':>6} {'stub cpu %':>10}")


def _row(r: Result) -> str:
    ramp = f"{r.ramp_s:.1f}" if r.ramp_s is not None else "-"
    return (f"{r.label:<14} {r.in_flight:>9} {r.target:>6} {r.kept:>5} {r.calls:>6} {r.wall_s:>7.1f} "
            f"{r.kept_per_s:>7.2f} {r.bound_s:>7.1f} {r.efficiency:>5.2f} {r.stub.get('mean_in_flight', 0):>9.1f} "
            f"{r.stub.get('max_in_flight', 0):>8} {ramp:>6} {r.steady:>6.2f} {100 * r.cpu_s / r.wall_s:>6.0f} "
            f"{100 * r.stub.get('cpu_s', 0) / r.wall_s:>10.0f}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="0.25 s latency, small targets: a smoke run")
    ap.add_argument("--latency", type=float, help="seconds the stub takes per request (default 2, --quick 0.25)")
    ap.add_argument("--seconds", type=float, help="about how long each sweep run takes (default 30, --quick 3)")
    ap.add_argument("--old-target", type=int, help="today's loop's target (default 50, --quick 20)")
    ap.add_argument("--new-target", type=int, help="the new defaults' target (default 1000, --quick 200)")
    ap.add_argument("--widths", default="8,32,128,256", help="lm.concurrency values of the sweep")
    ap.add_argument("--stub", type=float, help=argparse.SUPPRESS)  # serve the stub at this latency
    a = ap.parse_args(argv)
    if a.stub is not None:
        asyncio.run(_serve(a.stub))
        return 0
    latency = a.latency or (0.25 if a.quick else 2.0)
    p = plan(latency, a.old_target or (20 if a.quick else 50), a.new_target or (200 if a.quick else 1000),
             a.seconds or (3 if a.quick else 30), [int(w) for w in a.widths.split(",") if w])
    print(f"stub latency {latency:g} s a request; {os.cpu_count()} CPUs; load average "
          + " / ".join(f"{x:.1f}" for x in os.getloadavg()))
    print(HEADER)
    out = run_bench(p)
    print(f"\nnew defaults vs today's loop: {out['ratio']:.1f}x kept/s "
          f"({out['new'].kept_per_s:.2f} vs {out['old'].kept_per_s:.2f})")
    for name, ok, value in out["goals"]:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
    if a.quick or latency != 2.0:
        print("(the goals are set for 2 s latency and the default targets; this run only smoke-tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
