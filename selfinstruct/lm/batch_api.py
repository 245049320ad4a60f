"""The OpenAI Batch API as an LM backend: slow turnaround (up to 24 hours) at half the price.

``execute_many`` writes its requests as one JSONL file, uploads it, creates a batch
and polls it until it ends, then reads the output and error files back into answers
in request order. It is the same endpoint and model as the online backend
(``OpenAICompatLM``, whose request bodies, key rules and fault diagnosis it uses),
under the same ``name``, so the call cache serves both.

Nothing is paid twice. A batch is stored in the workspace (``BatchLog``) as soon as
the API accepts it, before it is polled; asking the same requests again (a killed
process run again) first looks there for a batch of exactly those requests that is
still pending or not yet collected, and collects that one. Requests that failed or
expired inside a batch are resubmitted alone, never the ones already answered.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Protocol, Sequence, TypeVar

import openai

from selfinstruct.config import LMConfig
from selfinstruct.lm.base import (
    LMError,
    LMFatalError,
    LMRequest,
    LMResponse,
    LMUnavailable,
    TokenCallback,
    report_retry,
)
from selfinstruct.lm.openai_compat import OpenAICompatLM, _Malformed, estimate_tokens

T = TypeVar("T")
StatusCallback = Callable[[str], None]

ENDPOINTS = {"completion": "/v1/completions", "chat": "/v1/chat/completions"}
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})  # the API's terminal statuses
MAX_RESUBMITS = 3
_RETRYABLE = frozenset({408, 409, 429})  # with 5xx: a later batch may succeed


class BatchLog(Protocol):
    """Where batches are remembered across processes: the workspace (``store.batches.BatchTable``),
    named by what it does so this module needs nothing of the store's."""

    def record_batch(self, batch_id: str, model: str, endpoint: str, keys_hash: str, n_requests: int,
                     state: str) -> None: ...

    def open_batch(self, model: str, endpoint: str, keys_hash: str) -> str | None: ...

    def set_batch_state(self, batch_id: str, state: str, error: str | None = None) -> None: ...


@dataclass(frozen=True)
class _Failed:
    """A request a batch did not answer: why, and whether another batch cannot help (``fatal``)."""

    message: str
    fatal: bool = False


def keys_hash(keys: Sequence[str]) -> str:
    """One name for a set of requests (their cache keys), whatever their order."""
    return hashlib.sha256("\n".join(sorted(set(keys))).encode("ascii")).hexdigest()


class BatchLM:
    """An OpenAI-compatible endpoint asked through its Batch API (``/v1/files``, ``/v1/batches``).

    Built like ``OpenAICompatLM`` from an ``LMConfig`` (backend "openai": model, base URL,
    ``api_key`` or ``$OPENAI_API_KEY``; ``max_retries`` retries each upload, poll and
    download on transient faults), plus the workspace's ``log``. ``poll_s`` is the wait
    between polls; ``on_status`` hears one line per change ("batch batch_abc: 120/500
    done, in_progress"). A request failing in every one of ``1 + max_resubmits`` batches
    comes back as ``LMUnavailable`` (``LMFatalError`` for a 4xx such as an unknown model).
    """

    def __init__(
        self,
        cfg: LMConfig,
        log: BatchLog,
        *,
        poll_s: float = 30.0,
        api_key: str | None = None,
        on_status: StatusCallback | None = None,
        max_resubmits: int = MAX_RESUBMITS,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._online = OpenAICompatLM(cfg, api_key=api_key, sleep=sleep)
        self.name = self._online.name  # as online: one call cache for both
        self.endpoint = ENDPOINTS[cfg.api_mode]
        self.concurrency = 1_000_000  # a batch holds every request at once
        self.poll_s = poll_s
        self.max_resubmits = max(0, max_resubmits)
        self._log = log
        self._on_status = on_status
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"BatchLM(name={self.name!r}, endpoint={self.endpoint!r})"

    # --- public ---------------------------------------------------------

    def execute(self, request: LMRequest, on_token: TokenCallback | None = None) -> LMResponse:
        """One request in a batch of its own; ``on_token`` hears the whole text once it is in."""
        result = self.execute_many([request])[0]
        if isinstance(result, LMError):
            raise result
        if on_token is not None:
            on_token(result.text)
        return result

    def execute_many(self, requests: Sequence[LMRequest]) -> list[LMResponse | LMError]:
        """Every request in one batch (identical ones once), failures resubmitted alone; results in
        request order, errors as values."""
        keys = [r.cache_key(self.name) for r in requests]
        todo = dict(zip(keys, requests))  # custom_ids must be unique within a batch
        faults: dict[str, list[str]] = {k: [] for k in todo}
        results: dict[str, LMResponse | LMError] = {}
        collected: list[str] = []
        try:
            for attempt in range(self.max_resubmits + 1):
                if not todo:
                    break
                if attempt:
                    self._say(f"resubmitting {len(todo):,} failed request(s) alone "
                              f"(batch {attempt + 1} of at most {self.max_resubmits + 1})")
                batch_id, outcome, refused = self._run(todo, collected)
                if not refused:
                    collected.append(batch_id)
                again: dict[str, LMRequest] = {}
                for key, out in outcome.items():
                    if isinstance(out, LMResponse):
                        out.faults = [*faults[key], *out.faults]
                        results[key] = out
                    elif out.fatal:
                        results[key] = LMFatalError(out.message, [*faults[key], out.message])
                    else:
                        faults[key].append(out.message)
                        again[key] = todo[key]
                todo = again
            for key in todo:
                results[key] = LMUnavailable(
                    f"the Batch API at {self._online.base_url} failed {len(faults[key])} time(s) for model "
                    f"{self._online.model!r}; last: {faults[key][-1]}", faults[key])
        except LMError as e:  # the API itself failed (key refused, unreachable): every open request
            for key in todo:
                results.setdefault(key, type(e)(str(e), [*faults[key], *e.faults]))
        for batch_id in collected:  # their answers are about to be recorded: never collect them again
            self._log.set_batch_state(batch_id, "collected")
        return [results[k] for k in keys]

    # --- one batch ------------------------------------------------------

    def _run(self, todo: dict[str, LMRequest],
             used: Sequence[str]) -> tuple[str, dict[str, LMResponse | _Failed], bool]:
        """(batch id, each request's answer or failure, whether the API refused the batch whole);
        a batch ``used`` already in this call is not picked up again."""
        digest = keys_hash(list(todo))
        batch = self._stored(digest, used) or self._submit(todo, digest)
        batch = self._wait(batch)
        if batch.status == "failed":
            errors = (batch.errors.data if batch.errors else None) or []
            reason = self._online._scrub("; ".join(f"{e.code or 'error'}: {e.message or 'no details'}"
                                                   + (f" (line {e.line})" if e.line else "") for e in errors)
                                         or "no reason given")
            self._log.set_batch_state(batch.id, "failed", reason)
            return batch.id, {k: _Failed(f"the Batch API refused batch {batch.id}: {reason}", fatal=True)
                              for k in todo}, True
        found = self._collect(batch, todo)
        missing = _Failed(f"batch {batch.id}: not answered before the batch was {batch.status}")
        return batch.id, {k: found.get(k, missing) for k in todo}, False

    def _stored(self, digest: str, used: Sequence[str]) -> Any | None:
        """The workspace's batch of exactly these requests, still to collect, as the API sees it now."""
        batch_id = self._log.open_batch(self.name, self.endpoint, digest)
        if batch_id is None or batch_id in used:
            return None
        batch = self._api("poll", lambda: self._online._client.batches.retrieve(batch_id), missing_ok=True)
        if batch is None:
            self._log.set_batch_state(batch_id, "lost", f"{self._online.base_url} no longer knows batch {batch_id}")
            return None
        self._say(f"batch {batch.id}: picked up from the workspace, {batch.status}")
        return batch

    def _submit(self, todo: dict[str, LMRequest], digest: str) -> Any:
        """Upload the requests as JSONL and create their batch, stored before anyone waits on it."""
        lines = [json.dumps({"custom_id": key, "method": "POST", "url": self.endpoint,
                             "body": self._online._params(req)}, ensure_ascii=False) for key, req in todo.items()]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        client = self._online._client
        upload = self._api("upload", lambda: client.files.create(
            file=("selfinstruct-batch.jsonl", data, "application/jsonl"), purpose="batch"))
        batch = self._api("create", lambda: client.batches.create(
            input_file_id=upload.id, endpoint=self.endpoint, completion_window="24h"))  # type: ignore[arg-type]
        self._log.record_batch(batch.id, self.name, self.endpoint, digest, len(todo), batch.status)
        return batch

    def _wait(self, batch: Any) -> Any:
        """Poll every ``poll_s`` until the batch ends; each new status is stored and reported."""
        said = ""
        while True:
            counts = batch.request_counts
            line = (f"batch {batch.id}: {counts.completed if counts else 0:,}/"
                    f"{counts.total if counts else '?'} done, {batch.status}")
            if line != said:
                self._log.set_batch_state(batch.id, batch.status)
                self._say(line)
                said = line
            if batch.status in ENDED:
                return batch
            self._sleep(self.poll_s)
            batch_id = batch.id
            batch = self._api("poll", lambda: self._online._client.batches.retrieve(batch_id))

    # --- reading results ------------------------------------------------

    def _collect(self, batch: Any, todo: dict[str, LMRequest]) -> dict[str, LMResponse | _Failed]:
        """Each answered or failed request of an ended batch, from its output and error files."""
        found: dict[str, LMResponse | _Failed] = {}
        for file_id in (batch.error_file_id, batch.output_file_id):  # an answer beats an error line
            if not file_id:
                continue
            text = self._api("download", lambda: self._online._client.files.content(file_id).text)
            for raw in text.splitlines():
                if not raw.strip():
                    continue
                try:
                    line = json.loads(raw, object_hook=lambda d: SimpleNamespace(**d))
                except json.JSONDecodeError:
                    continue  # an unreadable line answers nothing: its request counts as not answered
                key = getattr(line, "custom_id", None)
                if isinstance(key, str) and key in todo:
                    found[key] = self._result(batch.id, line, todo[key])
        return found

    def _result(self, batch_id: str, line: Any, request: LMRequest) -> LMResponse | _Failed:
        """One line of an output or error file: an answer, or why there is none."""
        response = getattr(line, "response", None)
        code = getattr(response, "status_code", None)
        body = getattr(response, "body", None)
        error = getattr(line, "error", None)
        if error is not None and code is None:
            what = f"{getattr(error, 'code', None) or 'error'}: {getattr(error, 'message', None) or 'no details'}"
            return _Failed(f"batch {batch_id}: {self._online._scrub(str(what))}")
        if code != 200:
            detail = getattr(body, "error", body)
            message = self._online._scrub(str(getattr(detail, "message", None) or "no details"))
            fatal = isinstance(code, int) and 400 <= code < 500 and code not in _RETRYABLE
            return _Failed(f"batch {batch_id}: the endpoint refused the request ({code}): {message}", fatal)
        try:
            return self._answer(body, request)
        except _Malformed as e:
            return _Failed(f"batch {batch_id}: {e}")

    def _answer(self, body: Any, request: LMRequest) -> LMResponse:
        """A completion body as an answer, read as the online backend reads one."""
        choices = getattr(body, "choices", None)
        if not isinstance(choices, list):
            raise _Malformed("unparsable response (not an OpenAI completion object)")
        if not choices:
            raise _Malformed("empty choices")
        online = self._online
        text = online._piece(choices[0], streaming=False)
        if text is None and online.api_mode == "completion":
            raise _Malformed("malformed response (choice without text)")
        text = text or ""
        if len(text) > online.max_reply_chars:
            raise _Malformed(f"reply larger than {online.max_reply_chars} chars")
        usage, notes = getattr(body, "usage", None), []
        tokens_in = online._count(usage, "prompt_tokens", notes)
        tokens_out = online._count(usage, "completion_tokens", notes)
        prompt = f"{request.system}\n\n{request.prompt}" if request.system else request.prompt
        return LMResponse(
            text=text,
            finish_reason="length" if online._finish(choices[0]) == "length" else "stop",
            tokens_in=tokens_in or estimate_tokens(prompt),
            tokens_out=tokens_out if tokens_out is not None else estimate_tokens(text),
            faults=notes,
        )

    # --- the API --------------------------------------------------------

    def _api(self, what: str, call: Callable[[], T], *, missing_ok: bool = False) -> T | None:
        """One upload, create, poll or download, retried like a completion on transient faults.

        A 404 is ``None`` with ``missing_ok`` (a stored batch the API forgot), else fatal: the
        endpoint offers no Batch API. Other faults retrying cannot help raise ``LMFatalError``."""
        online = self._online
        faults: list[str] = []
        for attempt in range(online.max_retries + 1):
            try:
                return call()
            except openai.NotFoundError as e:
                if missing_ok:
                    return None
                raise LMFatalError(f"{what} at {online.base_url} found nothing (404): {online._server_message(e)}; "
                                   "does this endpoint offer the Batch API (/v1/files, /v1/batches)?") from None
            except Exception as e:
                fault, wait = online._diagnose(e)
                faults.append(f"{what}: {fault}")
                if attempt == online.max_retries:
                    break
                delay = online._delay(attempt, wait)
                report_retry(f"batch {what}: {fault}; retry {attempt + 1} of {online.max_retries} in {delay:.0f} s")
                self._sleep(delay)
        raise LMUnavailable(f"the Batch API at {online.base_url} failed {len(faults)} time(s) in a row; "
                            f"last: {faults[-1]}", faults)

    def _say(self, line: str) -> None:
        if self._on_status is not None:
            self._on_status(line)
