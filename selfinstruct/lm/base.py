"""The one small interface every LM backend implements.

A backend turns an ``LMRequest`` into an ``LMResponse``. Everything above it
(pipeline, evaluation, answering) speaks only this interface, so the embedded
llama.cpp model, any OpenAI-compatible endpoint and the scripted fake are
interchangeable, and the call cache can wrap any of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class LMRequest:
    """One completion request. ``step`` names the pipeline step, for the log only."""

    prompt: str
    step: str = "other"
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    system: str | None = None

    def params(self) -> dict:
        """Sampling parameters as a JSON-able dict (everything but prompt and step)."""
        d = asdict(self)
        d.pop("prompt")
        d.pop("step")
        d["stop"] = list(self.stop)
        return d

    def cache_key(self, model: str) -> str:
        """Hash of (model, prompt, parameters): equal keys may reuse one stored answer."""
        blob = json.dumps([model, self.prompt, self.params()], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class LMResponse:
    """What came back. ``finish_reason`` is ``"stop"`` or ``"length"`` (cut at max_tokens).

    ``faults`` lists transient errors the backend survived (retried) before this
    answer, so the caller can record them; ``cached`` is set by the cache layer.
    """

    text: str
    finish_reason: str = "stop"
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    faults: list[str] = field(default_factory=list)
    cached: bool = False


class LMError(Exception):
    """Base class of LM failures; ``faults`` lists what was tried before giving up."""

    def __init__(self, message: str, faults: Sequence[str] = ()):
        super().__init__(message)
        self.faults = list(faults)


class LMFatalError(LMError):
    """Retrying cannot help: wrong key, unknown model, bad request. Stop the run."""


class LMUnavailable(LMError):
    """The endpoint kept failing after every retry. Pause the run; resume later."""


TokenCallback = Callable[[str], None]
RetryListener = Callable[[str], None]

# Who hears of retries while they happen (the dashboard shows them); per thread of work, so
# two jobs sharing one backend each hear only their own. Worker threads inherit it through
# ``contextvars.copy_context``.
_retry_listener: ContextVar[RetryListener | None] = ContextVar("selfinstruct_retry_listener", default=None)


@contextlib.contextmanager
def retries_reported_to(listener: RetryListener) -> Iterator[None]:
    """Send every retry a backend makes inside this block to ``listener`` (one line each)."""
    token = _retry_listener.set(listener)
    try:
        yield
    finally:
        _retry_listener.reset(token)


def report_retry(message: str) -> None:
    """A backend is about to retry: tell whoever listens (``retries_reported_to``), if anyone."""
    listener = _retry_listener.get()
    if listener is not None:
        listener(message)


@runtime_checkable
class LM(Protocol):
    """A language model backend.

    ``name`` identifies the model for the call cache (backend, model and, for
    remote endpoints, the base URL), so the same prompt to another model is a
    different call.
    """

    name: str

    def execute(self, request: LMRequest, on_token: TokenCallback | None = None) -> LMResponse:
        """Run one request; ``on_token`` receives text pieces as they stream, if supported."""
        ...

    def execute_many(self, requests: Sequence[LMRequest]) -> list[LMResponse | LMError]:
        """Run several requests (concurrently where the backend can); errors are returned, not raised."""
        ...


def execute_serially(lm: LM, requests: Sequence[LMRequest]) -> list[LMResponse | LMError]:
    """Default ``execute_many`` for backends that cannot run requests side by side."""
    out: list[LMResponse | LMError] = []
    for r in requests:
        try:
            out.append(lm.execute(r))
        except LMError as e:
            out.append(e)
    return out
