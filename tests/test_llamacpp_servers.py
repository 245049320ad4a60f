"""Two real llama.cpp servers (``python -m llama_cpp.server``, the packaged Gemma 3 270M) behind
one LM (``base_url`` and ``replicas``) are both kept busy by a generation run.

llama.cpp's server answers one request at a time, so each endpoint is only busy while it holds a
request. A pass-through proxy in front of each server notes when every request starts and ends;
a server's busy fraction is the union of those intervals over the run's wall time.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from selfinstruct.config import LMConfig, RunConfig
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

from conftest import OUR_SEEDS

ITERATIONS = 10  # of 2 prompts each, a few tokens an answer: the last answers' drain (one server idle while
# the other ends the run) is a few calls whatever the length, so the run is long enough to keep it under 5%
SERVER_DEPS = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "pydantic_settings", "starlette_context")
missing = [m for m in SERVER_DEPS if importlib.util.find_spec(m) is None]

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.slow,
    pytest.mark.timeout(400),
    pytest.mark.skipif(bool(missing), reason=f"llama_cpp.server's deps are missing ({', '.join(missing)}): "
                                            "make setup installs them"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """A pass-through HTTP proxy on 127.0.0.1 to ``upstream_port`` noting each POST's (start, end):
    from its headers read to its whole answer received from the server."""

    def __init__(self, upstream_port: int):
        self.intervals: list[tuple[float, float]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                start = time.monotonic()
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=300)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                if self.command == "POST":
                    proxy.intervals.append((start, time.monotonic()))
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def busy(self, t0: float, t1: float) -> float:
        """The fraction of [t0, t1] during which at least one request was in progress."""
        covered, end = 0.0, t0
        for a, b in sorted(self.intervals):
            a, b = max(a, end), min(b, t1)
            if b > a:
                covered += b - a
                end = b
        return covered / (t1 - t0)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_server(model: Path, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "gemma",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", "1",
         "--n_threads_batch", "1", "--interrupt_requests", "False", "--verbose", "False"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v1/models")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"llama_cpp.server on port {port} not ready within {timeout:g} s: {log.read_text()[-2000:]}")


def test_two_llamacpp_servers_are_both_kept_busy(tmp_path, workspace):
    try:
        from selfinstruct.lm.llamacpp import default_model_path

        model = default_model_path()
    except Exception as e:  # noqa: BLE001 - the packaged model is an optional install
        pytest.skip(f"the packaged GGUF is not available: {e}")
    from selfinstruct.lm import make_lm

    ports = [free_port(), free_port()]
    logs = [tmp_path / f"server{i}.log" for i in (1, 2)]
    procs = [start_server(model, p, log) for p, log in zip(ports, logs)]
    proxies: list[Proxy] = []
    try:
        for proc, port, log in zip(procs, ports, logs):
            wait_ready(proc, port, log)
        proxies = [Proxy(port) for port in ports]
        cfg = RunConfig(target=1000)
        cfg.generate.request_batch_size = 2
        cfg.generate.max_tokens = 48
        cfg.classify.max_tokens = 2
        cfg.instances.max_tokens = 48
        cfg.lm = LMConfig(backend="openai", model="gemma", base_url=proxies[0].url, replicas=[proxies[1].url],
                          concurrency=2, timeout_s=300)
        lm = make_lm(cfg.lm)
        with Store(workspace) as store:
            run = start_run(store, "two servers", load_tasks(OUR_SEEDS), cfg)
            pipe = Pipeline(store, run, lm)
            t0 = time.monotonic()
            for _ in pipe.events(iterations=ITERATIONS):
                pass
            t1 = time.monotonic()
            assert store.completed_iterations(run.id) == ITERATIONS
            calls = pipe.stats().calls
        busy = [p.busy(t0, t1) for p in proxies]
        requests = [len(p.intervals) for p in proxies]
        print(f"\ntwo llama.cpp servers: wall {t1 - t0:.1f} s, {calls} calls, requests per server {requests}, "
              f"busy fraction {busy[0]:.3f} / {busy[1]:.3f}; endpoints {lm.endpoint_stats()}")
        assert all(n > 0 for n in requests), requests
        assert min(busy) >= 0.9, f"busy fractions {busy} (requests {requests}, wall {t1 - t0:.1f} s)"
    finally:
        for p in proxies:
            p.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

