"""Any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, Ollama) via the openai SDK.

The SDK's own retries are off (``max_retries=0``): this module retries, so each
transient fault (rate limit, 5xx, timeout, dropped connection, garbled or empty
response) is recorded in ``LMResponse.faults`` and visible to the run log.
Faults retrying cannot fix (wrong key, unknown model, bad request) raise
``LMFatalError`` at once. The API key never appears in messages or reprs.

An LM may have several endpoints serving the same model (``cfg.base_url`` and
``cfg.replicas``); each request goes to the least-loaded one, within that endpoint's
adaptive concurrency limit and its requests and tokens a minute (``limits``).
"""

from __future__ import annotations

import contextvars
import email.utils
import json
import math
import os
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import urlparse

import httpx2
import openai

from selfinstruct.config import LMConfig, base_url_problems
from selfinstruct.lm.limits import Endpoint, EndpointPool, Lease, RateLimiter
from selfinstruct.redact import MASK, redact, strip_url_credentials
from selfinstruct.lm.base import (
    LMError,
    LMFatalError,
    LMRequest,
    LMResponse,
    LMUnavailable,
    TokenCallback,
    execute_serially,
    report_retry,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
DUMMY_KEY = "not-needed"
_STATUS_LABELS = {
    408: "request timeout",
    409: "conflict",
    429: "rate limited",
    500: "server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}
_THROTTLED = (429, 503)  # the server says it has too much: the endpoint pauses and takes fewer at once


class _Malformed(Exception):
    """The server answered 200 but the answer cannot be used (garbled, empty, wrongly typed)."""


class _TooLarge(Exception):
    """The reply outgrew ``max_reply_chars``: read no further, so memory stays bounded."""


class _Late(Exception):
    """No complete reply before the request's deadline (``timeout_s`` for the whole request)."""


def is_local(base_url: str) -> bool:
    """True for loopback endpoints, which usually need no key."""
    host = urlparse(base_url).hostname or ""
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def estimate_tokens(text: str) -> int:
    """About four characters a token: used when a server reports no usage."""
    return math.ceil(len(text) / 4)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _late(e: Exception) -> bool:
    """No complete reply in time: congestion too (a queueing server answers ever later)."""
    return isinstance(e, openai.APITimeoutError) or any(isinstance(c, _Late) for c in (e, e.__cause__, e.__context__))


def _throttled(e: Exception) -> bool:
    return isinstance(e, openai.APIStatusError) and e.status_code in _THROTTLED


def _kind(value: Any) -> str:
    """How a wrongly typed value is named in a fault: its JSON type, never its content."""
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), "of another type")


def _hider(secret: str) -> Callable[[str], str]:
    """Masks ``secret`` (and key shapes, URL credentials) in server text through the one redaction
    layer; a closure, so no attribute holds the key."""
    return lambda text: redact(text.replace(secret, MASK) if secret else text)


@dataclass(frozen=True)
class _Limits:
    """What one HTTP request may take: a deadline (monotonic clock) and a body size."""

    deadline: float
    max_chars: int

    @property
    def max_bytes(self) -> int:
        # JSON may spend up to 6 bytes on a character (\uXXXX); the slack covers the envelope
        return 6 * self.max_chars + 65536

    def left(self) -> float:
        return self.deadline - time.monotonic()


# Set around each attempt; the HTTP client's hooks read it (hooks run on the calling thread).
_LIMITS: ContextVar[_Limits | None] = ContextVar("selfinstruct_lm_limits", default=None)


def _bound_request(request: httpx2.Request) -> None:
    """Request hook: no connect, write or read may wait past the request's deadline."""
    limits = _LIMITS.get()
    if limits is None:
        return
    left = max(0.001, limits.left())
    timeouts = dict(request.extensions.get("timeout") or {})
    request.extensions["timeout"] = {k: left if v is None else min(v, left)
                                     for k, v in {"connect": None, "read": None, "write": None,
                                                  "pool": None, **timeouts}.items()}


def _bound_response(response: httpx2.Response) -> None:
    """Response hook: the body is read through a guard that stops at the deadline and the size cap.

    Compressed bodies are refused (``identity`` was asked for): a few kilobytes of gzip can
    inflate past any cap before a byte of it is counted."""
    limits = _LIMITS.get()
    if limits is None:
        return
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        response.close()
        raise _Malformed(f"reply compressed ({encoding[:20]}) though identity was asked for")
    events = response.headers.get("content-type", "").startswith("text/event-stream")
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    response.stream = _GuardedBody(response.stream, limits, events=events, sock=sock)


class _GuardedBody(httpx2.SyncByteStream):
    """A response body cut off at the deadline or past the size cap.

    A watchdog shuts the socket down at the deadline, so even a server that drips one
    byte a second, or stops mid-body, cannot hold the call longer. Plain bodies count
    every byte; event streams count the bytes of the event being read (the text they
    carry is capped as it is joined)."""

    def __init__(self, inner: httpx2.SyncByteStream, limits: _Limits, *, events: bool,
                 sock: socket.socket | None):
        self._inner = inner
        self._limits = limits
        self._events = events
        self._watchdog = threading.Timer(max(0.0, limits.left()), self._cut, (sock,)) if sock else None
        if self._watchdog is not None:
            self._watchdog.daemon = True
            self._watchdog.start()

    @staticmethod
    def _cut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: the read is over anyway

    def __iter__(self) -> Iterator[bytes]:
        count, tail = 0, b""
        try:
            for chunk in self._inner:
                if self._limits.left() <= 0:
                    raise _Late()
                if self._events:
                    seen = tail + chunk
                    end = max(seen.rfind(b"\n\n"), seen.rfind(b"\r\r"), seen.rfind(b"\r\n\r\n"))
                    count = len(seen) - end - 2 if end >= 0 else count + len(chunk)
                    tail = seen[-3:]
                else:
                    count += len(chunk)
                if count > self._limits.max_bytes:
                    raise _TooLarge()
                yield chunk
        except (httpx2.TransportError, OSError):
            if self._limits.left() <= 0:
                raise _Late() from None
            raise

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._inner.close()


class _Relay:
    """Forwards streamed text to the caller once, even when a retry streams it again.

    A retried stream re-sends text the caller already has; only what goes beyond
    it is forwarded (and nothing more if the retry diverges).
    """

    def __init__(self, on_token: TokenCallback):
        self._on_token = on_token
        self._shown = ""
        self._current = ""

    def restart(self) -> None:
        self._current = ""

    def feed(self, piece: str) -> None:
        self._current += piece
        if len(self._current) > len(self._shown) and self._current.startswith(self._shown):
            self._on_token(self._current[len(self._shown):])
            self._shown = self._current


class OpenAICompatLM:
    """Completion (base models, as in the paper) or chat against an OpenAI-compatible URL.

    ``api_key`` defaults to ``$OPENAI_API_KEY`` and the URL to ``cfg.base_url`` or
    ``$OPENAI_BASE_URL``. ``cfg.max_retries`` retries follow the first attempt,
    with exponential backoff (``backoff_base_s`` doubling up to
    ``backoff_max_s``, with jitter) or the server's ``Retry-After`` (capped at
    ``retry_after_cap_s``); ``sleep`` is injectable so tests need not wait.

    ``cfg.replicas`` are more URLs serving the same model: ``name`` (the call cache's key)
    names the primary URL only, so adding or removing a replica keeps the cache. Each
    endpoint keeps up to ``cfg.concurrency`` requests in flight (adaptively: see
    ``limits.Endpoint``), so ``concurrency``, the width callers use, is that times the
    number of endpoints. A 429 or 503 pauses its endpoint for the retry delay; the retry
    goes to another endpoint at once when one is open.
    """

    def __init__(
        self,
        cfg: LMConfig,
        *,
        api_key: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 30.0,
        retry_after_cap_s: float = 60.0,
        rng: random.Random | None = None,
    ):
        cfg.validate()
        if not cfg.model.strip():
            raise ValueError("the openai backend needs a model name (--model, or [lm] model in the config)")
        self.model = cfg.model.strip()
        self.api_mode = cfg.api_mode
        self.base_url = (cfg.base_url.strip() or os.environ.get("OPENAI_BASE_URL", "").strip() or DEFAULT_BASE_URL).rstrip("/")
        for key, why in base_url_problems("base URL" if cfg.base_url.strip() else "$OPENAI_BASE_URL", self.base_url):
            raise ValueError(f"{key} {why}")
        self.name = f"openai:{self.model}@{strip_url_credentials(self.base_url)}"  # a cache key: stored
        urls = [self.base_url, *(u.strip().rstrip("/") for u in cfg.replicas)]
        self.timeout_s = cfg.timeout_s
        self.max_reply_chars = cfg.max_reply_chars
        self.max_retries = max(0, cfg.max_retries)
        self.concurrency = max(1, cfg.concurrency) * len(urls)
        self._sleep = sleep
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._retry_after_cap_s = retry_after_cap_s
        self._rng = rng or random.Random()
        key = (api_key or os.environ.get("OPENAI_API_KEY") or "").strip()  # "" from a form: use the env
        if not key:
            remote = next((u for u in urls if not is_local(u)), None)
            if remote is not None:
                raise LMFatalError(
                    f"no API key for {strip_url_credentials(remote)}: set the OPENAI_API_KEY environment "
                    "variable (or enter a key in the dashboard)"
                )
            key = DUMMY_KEY
        self._hide = _hider(key if key != DUMMY_KEY else "")
        self._pool = EndpointPool([Endpoint(u, strip_url_credentials(u), max(1, cfg.concurrency),
                                            RateLimiter(cfg.rpm, cfg.tpm)) for u in urls])
        self._clients = {e: openai.OpenAI(
            api_key=key, base_url=e.url, timeout=cfg.timeout_s, max_retries=0,
            default_headers={"Accept-Encoding": "identity"},
            http_client=openai.DefaultHttpxClient(
                event_hooks={"request": [_bound_request], "response": [_bound_response]}),
        ) for e in self._pool.endpoints}
        self._client = self._clients[self._pool.endpoints[0]]  # the primary's: the Batch API and files

    def __repr__(self) -> str:
        return f"OpenAICompatLM(name={self.name!r}, api_mode={self.api_mode!r})"

    # --- public ---------------------------------------------------------

    def execute(self, request: LMRequest, on_token: TokenCallback | None = None) -> LMResponse:
        start = time.monotonic()
        relay = _Relay(on_token) if on_token is not None else None
        faults: list[str] = []
        cost = estimate_tokens(f"{request.system or ''}{request.prompt}") + request.max_tokens
        waited: Endpoint | None = None
        for attempt in range(self.max_retries + 1):
            if relay is not None:
                relay.restart()
            lease = self._pool.acquire(cost, waited=waited)
            if lease.booking.wait_s > 0:
                self._sleep(lease.booking.wait_s)  # the endpoint's requests or tokens a minute
            limits = _LIMITS.set(_Limits(time.monotonic() + self.timeout_s, self.max_reply_chars))
            try:
                response = self._attempt(request, relay, self._clients[lease.endpoint])
            except Exception as e:
                fault, delay = self._failed(e, lease, attempt)
                faults.append(fault)
                if attempt == self.max_retries:
                    break
                if _throttled(e) and self._pool.any_open():
                    delay = 0.0  # another endpoint is open: go there now
                # having slept the pause itself, the retry may go back to its endpoint at once
                waited = lease.endpoint if _throttled(e) and delay else None
                report_retry(f"{fault}; retry {attempt + 1} of {self.max_retries} in {delay:.0f} s")
                self._sleep(delay)
                continue
            finally:
                _LIMITS.reset(limits)
            self._pool.release(lease, tokens=response.tokens_in + response.tokens_out)
            response.faults = [*faults, *response.faults]
            response.latency_s = time.monotonic() - start
            return response
        raise LMUnavailable(
            f"{self.base_url} failed {len(faults)} time(s) in a row for model "
            f"{self.model!r}; last: {faults[-1]}",
            faults,
        )

    def endpoint_stats(self) -> list[dict]:
        """Per endpoint: ``url`` (without credentials), ``in_flight``, ``limit``, ``paused_s``
        (seconds it takes no new request), ``requests`` sent and ``throttled`` (429/503) so far."""
        return self._pool.stats()

    def execute_many(self, requests: Sequence[LMRequest]) -> list[LMResponse | LMError]:
        """Up to ``cfg.concurrency`` requests at once; results in request order."""
        if self.concurrency == 1 or len(requests) <= 1:
            return execute_serially(self, requests)
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            # each worker runs in a copy of this context, so retries reach this thread's listener
            futures = [pool.submit(contextvars.copy_context().run, self._execute_caught, r) for r in requests]
            return [f.result() for f in futures]

    # --- one attempt ----------------------------------------------------

    def _failed(self, e: Exception, lease: Lease, attempt: int) -> tuple[str, float]:
        """The fault and the delay before a retry, with the slot given back: a 429 or 503 pauses
        its endpoint for that delay, and a timeout, 429 or 503 cuts the endpoint's limit."""
        try:
            fault, wait = self._diagnose(e)
        except BaseException:
            self._pool.release(lease)
            raise
        delay = self._delay(attempt, wait)
        self._pool.release(lease, congested=_throttled(e) or _late(e), pause_s=delay if _throttled(e) else None)
        return fault, delay

    def _execute_caught(self, request: LMRequest) -> LMResponse | LMError:
        try:
            return self.execute(request)
        except LMError as e:
            return e

    def _params(self, request: LMRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_tokens": request.max_tokens,
        }
        if request.stop:
            params["stop"] = list(request.stop)
        if request.seed is not None:
            params["seed"] = request.seed
        if request.presence_penalty:
            params["presence_penalty"] = request.presence_penalty
        if request.frequency_penalty:
            params["frequency_penalty"] = request.frequency_penalty
        if self.api_mode == "chat":
            messages = [{"role": "system", "content": request.system}] if request.system else []
            messages.append({"role": "user", "content": request.prompt})
            params["messages"] = messages
        else:
            params["prompt"] = request.prompt if not request.system else f"{request.system}\n\n{request.prompt}"
        return params

    def _create(self, params: dict[str, Any], client: openai.OpenAI) -> Any:
        if self.api_mode == "chat":
            return client.chat.completions.create(**params)
        return client.completions.create(**params)

    def _piece(self, choice: Any, streaming: bool) -> str | None:
        """The choice's text; a server's number, list or object there is a fault, not a crash."""
        if self.api_mode == "completion":
            where, value = "text", getattr(choice, "text", None)
        else:
            where = "delta" if streaming else "message"
            holder = getattr(choice, where, None)
            value = getattr(holder, "content", None)
            where += ".content"
        if value is None or isinstance(value, str):
            return value
        raise _Malformed(f"malformed response ({where} is {_kind(value)}, not text)")

    def _finish(self, choice: Any) -> str | None:
        finish = getattr(choice, "finish_reason", None)
        return finish if isinstance(finish, str) else None

    def _count(self, usage: Any, name: str, notes: list[str]) -> int | None:
        """A usage count the server reported, or None (then estimated) when it is not a count."""
        value = getattr(usage, name, None) if usage is not None else None
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return value
        notes.append(f"usage {name} {self._scrub(repr(value), 40)} is not a token count; estimated")
        return None

    def _capped(self, text: str) -> str:
        if len(text) > self.max_reply_chars:
            raise _TooLarge()
        return text

    def _attempt(self, request: LMRequest, relay: _Relay | None, client: openai.OpenAI) -> LMResponse:
        params = self._params(request)
        if relay is not None:
            text, finish, usage = self._stream(params, relay, client)
        else:
            out = self._create(params, client)
            choices = getattr(out, "choices", None)
            if not isinstance(choices, list):
                raise _Malformed("unparsable response (not an OpenAI completion object)")
            if not choices:
                raise _Malformed("empty choices")
            text = self._piece(choices[0], streaming=False)
            if text is None and self.api_mode == "completion":
                raise _Malformed("malformed response (choice without text)")
            text = self._capped(text or "")
            finish, usage = self._finish(choices[0]), getattr(out, "usage", None)
        prompt_text = "\n".join(m["content"] for m in params.get("messages", ())) or params.get("prompt", "")
        notes: list[str] = []
        tokens_in, tokens_out = self._count(usage, "prompt_tokens", notes), self._count(usage, "completion_tokens", notes)
        return LMResponse(
            text=text,
            finish_reason="length" if finish == "length" else "stop",
            tokens_in=tokens_in or estimate_tokens(prompt_text),
            tokens_out=tokens_out if tokens_out is not None else estimate_tokens(text),
            faults=notes,
        )

    def _stream(self, params: dict[str, Any], relay: _Relay, client: openai.OpenAI) -> tuple[str, str | None, Any]:
        stream = self._create({**params, "stream": True, "stream_options": {"include_usage": True}}, client)
        pieces: list[str] = []
        size = 0
        finish: str | None = None
        usage = None
        saw_choice = False
        try:
            for chunk in stream:
                choices = getattr(chunk, "choices", None)
                if not isinstance(choices, list):
                    raise _Malformed("unparsable stream chunk")
                usage = getattr(chunk, "usage", None) or usage
                if not choices:
                    continue
                saw_choice = True
                piece = self._piece(choices[0], streaming=True)
                if piece:
                    size += len(piece)
                    if size > self.max_reply_chars:
                        raise _TooLarge()
                    pieces.append(piece)
                    relay.feed(piece)
                finish = self._finish(choices[0]) or finish
        finally:
            stream.close()
        if not saw_choice:
            raise _Malformed("empty choices")
        return "".join(pieces), finish, usage

    # --- faults ---------------------------------------------------------

    def _scrub(self, text: str, limit: int = 300) -> str:
        text = self._hide(text)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def _server_message(self, e: openai.APIStatusError) -> str:
        body = e.body
        if isinstance(body, dict):
            error = body.get("error", body)
            message = error.get("message") if isinstance(error, dict) else error
            if message:
                return self._scrub(str(message))
        if isinstance(body, str) and body.strip():
            return self._scrub(body.strip())
        return "no details"

    def _diagnose(self, e: Exception) -> tuple[str, float | None]:
        """A short fault string and the server's requested wait; raises LMFatalError if retrying cannot help."""
        for cause in (e, e.__cause__, e.__context__):
            if isinstance(cause, _Malformed):
                return str(cause), None
            if isinstance(cause, _TooLarge):
                return f"reply larger than {self.max_reply_chars} chars", None
            if isinstance(cause, _Late):
                return f"no complete reply within {self.timeout_s:g} s", None
        if isinstance(e, json.JSONDecodeError):
            return "malformed response (invalid JSON)", None
        if isinstance(e, openai.APITimeoutError):
            return f"timeout after {self.timeout_s:g}s", None
        if isinstance(e, openai.APIConnectionError):
            cause = type(e.__cause__).__name__ if e.__cause__ else "connection error"
            return f"connection failed or dropped ({cause})", None
        if isinstance(e, openai.APIResponseValidationError):
            return "malformed response (unexpected shape)", None
        if isinstance(e, openai.APIStatusError):
            return self._diagnose_status(e)
        if isinstance(e, openai.APIError):
            return f"error from server: {self._scrub(str(e.message), 120)}", None
        if isinstance(e, openai.OpenAIError):
            raise LMFatalError(f"openai SDK error for {self.base_url}: {self._scrub(str(e))}") from None
        raise e

    def _diagnose_status(self, e: openai.APIStatusError) -> tuple[str, float | None]:
        code = e.status_code
        message = self._server_message(e)
        if code in (401, 403):
            raise LMFatalError(
                f"the endpoint at {self.base_url} rejected the API key ({code}): {message}; "
                "check OPENAI_API_KEY (or the key entered in the dashboard)"
            ) from None
        if code == 404:
            raise LMFatalError(
                f"model {self.model!r} was not found at {self.base_url} (404): {message}; "
                "check the model name (--model) and that the base URL ends in /v1"
            ) from None
        if code == 429 and "insufficient_quota" in (e.code, e.type):
            raise LMFatalError(
                f"the account behind the API key for {self.base_url} is out of quota (429): {message}"
            ) from None
        if code in _STATUS_LABELS or code >= 500:
            wait = parse_retry_after(e.response.headers)
            label = f"{code} {_STATUS_LABELS.get(code, 'server error')}"
            return (f"{label} (retry after {wait:g}s)" if wait is not None else label), wait
        raise LMFatalError(f"the endpoint at {self.base_url} refused the request ({code}): {message}") from None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._retry_after_cap_s)
        ceiling = min(self._backoff_max_s, self._backoff_base_s * 2**attempt)
        return ceiling * (0.5 + self._rng.random() / 2)
