"""A local, scriptable, fault-injecting OpenAI-compatible server for tests.

Serves POST /v1/completions and /v1/chat/completions (plain JSON or SSE
streams) and GET /v1/models on 127.0.0.1 at a free port. Each POST takes the
next scripted behaviour from the queue (``ok``, ``status``, ``timeout``,
``drop``, ``malformed``, ``empty_choices``, ``length``, and the hostile ``endless``,
``drip``, ``huge``, ``html``, ``raw``, ``hang``); with the queue empty
it answers ``ok`` with ``responder(body)``. Every request is recorded.

    with OpenAIStub() as stub:
        stub.script(status(429, retry_after=1), ok("hello"))
        lm = OpenAICompatLM(LMConfig(backend="openai", model="m", base_url=stub.base_url))
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass(frozen=True)
class Behaviour:
    """How the server answers one POST; build one with the helpers below."""

    kind: str  # ok | status | timeout | drop | malformed | empty_choices
    text: str = ""
    finish_reason: str = "stop"
    code: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    usage: bool = True
    usage_value: Any = None  # replaces the usage report (e.g. negative or string counts)


def ok(text: str = "ok", finish_reason: str = "stop", *, delay_s: float = 0.0, usage: bool = True,
       usage_value: Any = None) -> Behaviour:
    """A normal answer; ``usage=False`` leaves token counts out, as some servers do, and
    ``usage_value`` replaces the usage report with anything (negative or string counts)."""
    return Behaviour("ok", text=text, finish_reason=finish_reason, delay_s=delay_s, usage=usage,
                     usage_value=usage_value)


def length(text: str = "cut off mid") -> Behaviour:
    """An answer cut at max_tokens (``finish_reason="length"``)."""
    return ok(text, "length")


def status(
    code: int,
    retry_after: str | float | None = None,
    body: Any = None,
    *,
    retry_after_ms: float | None = None,
    message: str | None = None,
    error_code: str | None = None,
) -> Behaviour:
    """An HTTP error; ``body`` defaults to OpenAI's ``{"error": {...}}`` shape."""
    headers = []
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    if retry_after_ms is not None:
        headers.append(("retry-after-ms", str(retry_after_ms)))
    if body is None:
        body = {"error": {"message": message or f"stub error {code}", "type": "stub", "code": error_code}}
    return Behaviour("status", code=code, body=body, headers=tuple(headers))


def timeout(seconds: float = 5.0) -> Behaviour:
    """Say nothing for ``seconds`` (set it beyond the client's timeout), then answer."""
    return Behaviour("timeout", delay_s=seconds, text="too late")


def drop(text: str = "partial answer") -> Behaviour:
    """Send headers and part of the body, then close the connection."""
    return Behaviour("drop", text=text)


def malformed(raw: str = '{"id": "x", "choices": [{"text": "oops"') -> Behaviour:
    """A 200 whose JSON body (or SSE event) does not parse."""
    return Behaviour("malformed", text=raw)


def endless() -> Behaviour:
    """A 200 whose chunked body never ends: a JSON string that never closes, or an
    event stream of text pieces that never says [DONE]."""
    return Behaviour("endless")


def drip(text: str = "a slow answer") -> Behaviour:
    """A normal answer sent one byte a second."""
    return Behaviour("drip", text=text)


def paced(seconds: float) -> Callable[[Any, bytes], Any]:
    """A ``_Handler._slowly`` to patch in: a streamed ``drip`` answer goes out one event (a piece of
    text) every ``seconds`` instead of a byte a second (a live view's pace)."""

    def slowly(handler: Any, data: bytes) -> Any:
        for event in data.split(b"\n\n")[:-1]:
            if handler.server_stub._stopping.wait(seconds):
                return
            yield event + b"\n\n"

    return slowly


def huge(chars: int = 60_000_000) -> Behaviour:
    """A well-formed answer of ``chars`` characters (60 MB by default)."""
    return Behaviour("huge", text="x" * chars)


def html(page: str = "<html><body><h1>502 Bad Gateway</h1></body></html>") -> Behaviour:
    """A 200 with an HTML page instead of JSON (a proxy's error page)."""
    return Behaviour("html", text=page)


def raw(payload: Any) -> Behaviour:
    """A 200 carrying ``payload`` as is: the JSON body, or the one event of a stream."""
    return Behaviour("raw", body=payload)


def hang() -> Behaviour:
    """Accept the request and never answer (until the stub stops)."""
    return timeout(3600.0)


def empty_choices() -> Behaviour:
    """A 200 with ``"choices": []``."""
    return Behaviour("empty_choices")


@dataclass
class StubRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    received_at: float = field(default_factory=time.monotonic)

    @property
    def prompt(self) -> str:
        """The prompt, or the last message's content in chat mode."""
        if not self.body:
            return ""
        if "messages" in self.body:
            return str(self.body["messages"][-1].get("content", ""))
        return str(self.body.get("prompt", ""))


def _pieces(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+$", text) or [""]


class OpenAIStub:
    """Threaded stub server; use as a context manager (or ``start()``/``stop()``).

    ``responder(body)`` answers when the script is empty and may return a text
    or a ``Behaviour``. ``api_key``, when set, makes any other key get 401;
    ``models``, when set, makes any other model get 404, as real servers do.
    """

    def __init__(
        self,
        responder: Callable[[dict[str, Any]], str | Behaviour] | None = None,
        *,
        api_key: str | None = None,
        models: tuple[str, ...] | list[str] | None = None,
    ):
        self.responder = responder or (lambda body: "ok")
        self.api_key = api_key
        self.models = tuple(models) if models else None
        self.requests: list[StubRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control --------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the stub first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *behaviours: Behaviour) -> "OpenAIStub":
        """Queue behaviours for the next POSTs, in order."""
        with self._lock:
            self._queue.extend(behaviours)
        return self

    @property
    def posts(self) -> list[StubRequest]:
        """Recorded completion requests (GETs left out)."""
        return [r for r in self.requests if r.method == "POST"]

    def start(self) -> "OpenAIStub":
        stub = self

        class Handler(_Handler):
            server_stub = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "OpenAIStub":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- used by the handler --------------------------------------------

    def _record(self, request: StubRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Behaviour:
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return status(401, message="Incorrect API key provided.", error_code="invalid_api_key")
        if self.models is not None and body.get("model") not in self.models:
            return status(404, message=f"The model `{body.get('model')}` does not exist.", error_code="model_not_found")
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        answer = self.responder(body)
        return answer if isinstance(answer, Behaviour) else ok(answer)

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_stub: OpenAIStub

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # a client that cut off a hostile reply; nothing to report

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _send_json(self, code: int, payload: Any, extra: tuple[tuple[str, str], ...] = ()) -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        stub = self.server_stub
        stub._record(StubRequest("GET", self.path, self._headers()))
        if self.path.rstrip("/") != "/v1/models":
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        names = stub.models or ("stub-model",)
        self._send_json(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "stub"} for m in names]})

    def do_POST(self) -> None:
        stub = self.server_stub
        headers = self._headers()
        raw = self.rfile.read(int(headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        stub._record(StubRequest("POST", self.path, headers, body))
        path = self.path.rstrip("/")
        if path not in ("/v1/completions", "/v1/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        stub._enter()
        try:
            self._answer(stub._next(body, headers), body, chat=path.endswith("chat/completions"))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. after its timeout)
        finally:
            stub._leave()

    def _answer(self, b: Behaviour, body: dict[str, Any], *, chat: bool) -> None:
        stream = bool(body.get("stream"))
        if b.delay_s and self.server_stub._stopping.wait(b.delay_s):
            return
        if b.kind == "status":
            self._send_json(b.code, b.body, b.headers)
        elif b.kind in ("endless", "drip", "huge", "html", "raw"):
            self._hostile(b, body, chat, stream)
        elif b.kind == "malformed" and not stream:
            self._send_json(200, b.text)
        elif b.kind == "drop" and not stream:
            data = json.dumps(_completion(body, b.text, "stop", chat, True)).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._hang_up()
        elif stream:
            self._stream(b, body, chat)
        else:
            payload = _completion(body, b.text, b.finish_reason, chat, b.usage)
            if b.usage_value is not None:
                payload["usage"] = b.usage_value
            if b.kind == "empty_choices":
                payload["choices"] = []
            self._send_json(200, payload)

    def _chunked(self, content_type: str, frames: Any) -> None:
        """Send ``frames`` (an iterable of bytes) as a chunked body, until the stub stops."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for frame in frames:
            if self.server_stub._stopping.is_set():
                return
            self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _hostile(self, b: Behaviour, body: dict[str, Any], chat: bool, stream: bool) -> None:
        if b.kind == "html":
            data = b.text.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif b.kind == "raw":
            if stream:
                self._chunked("text/event-stream", (f"data: {json.dumps(b.body)}\n\n".encode(), b"data: [DONE]\n\n"))
            else:
                self._send_json(200, b.body)
        elif b.kind == "endless":
            if stream:
                event = f"data: {json.dumps(_chunk(body, 'word ' * 200, None, chat))}\n\n".encode()
                self._chunked("text/event-stream", itertools.repeat(event))
            else:
                head = json.dumps(_completion(body, "", "stop", chat, False))[:-1].encode()
                self._chunked("application/json", itertools.chain([head + b', "pad": "'], itertools.repeat(b"x" * 65536)))
        elif b.kind == "huge" and not stream:
            self._send_json(200, _completion(body, b.text, "stop", chat, True))
        elif b.kind == "huge":
            event = f"data: {json.dumps(_chunk(body, b.text[:65536], None, chat))}\n\n".encode()
            self._chunked("text/event-stream", itertools.repeat(event, len(b.text) // 65536))
        else:  # drip
            if stream:
                data = b"".join(f"data: {json.dumps(_chunk(body, p, None, chat))}\n\n".encode() for p in _pieces(b.text))
                data += b"data: [DONE]\n\n"
            else:
                data = json.dumps(_completion(body, b.text, "stop", chat, True)).encode()
            self._chunked("text/event-stream" if stream else "application/json", self._slowly(data))

    def _slowly(self, data: bytes) -> Any:
        for i in range(len(data)):
            if self.server_stub._stopping.wait(1.0):
                return
            yield data[i:i + 1]

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _stream(self, b: Behaviour, body: dict[str, Any], chat: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(data: str) -> None:
            frame = f"data: {data}\n\n".encode("utf-8")
            self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            self.wfile.flush()

        if b.kind == "malformed":
            event(b.text)
        elif b.kind != "empty_choices":
            pieces = _pieces(b.text)
            if b.kind == "drop":
                event(json.dumps(_chunk(body, pieces[0], None, chat)))
                self._hang_up()
                return
            for i, piece in enumerate(pieces):
                last = i == len(pieces) - 1
                event(json.dumps(_chunk(body, piece, b.finish_reason if last else None, chat)))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if include_usage and b.usage and b.kind != "malformed":
            usage_chunk = _chunk(body, "", None, chat)
            usage_chunk["choices"] = []
            usage_chunk["usage"] = b.usage_value if b.usage_value is not None else _usage(body, b.text)
            event(json.dumps(usage_chunk))
        event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _usage(body: dict[str, Any], text: str) -> dict[str, int]:
    prompt = body.get("prompt") or " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    n_in, n_out = len(str(prompt).split()), len(text.split())
    return {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}


def _completion(body: dict[str, Any], text: str, finish: str, chat: bool, usage: bool) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": None}
    if chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    payload: dict[str, Any] = {
        "id": "stub-1",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": body.get("model", "stub-model"),
        "choices": [choice],
    }
    if usage:
        payload["usage"] = _usage(body, text)
    return payload


def _chunk(body: dict[str, Any], piece: str, finish: str | None, chat: bool) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": None}
    if chat:
        choice["delta"] = {"content": piece}
    else:
        choice["text"] = piece
    return {
        "id": "stub-1",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": body.get("model", "stub-model"),
        "choices": [choice],
    }
