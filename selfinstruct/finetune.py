"""Start a fine-tuning job on an OpenAI-compatible API from an exported chat file, and follow it.

The file is checked line by line before anything is uploaded, so a bad line
costs nothing but a message naming it. The API key comes from
``OPENAI_API_KEY`` only and is never printed, logged or stored; server messages
are redacted, since gateways echo the key back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import httpx
import openai

from .inputs import read_input_bytes
from .jsonlines import parse
from .redact import redact, strip_url_credentials, url_secrets

T = TypeVar("T")

ROLES = ("system", "user", "assistant")
FINAL_STATES = {"succeeded", "failed", "cancelled"}


class FinetuneError(RuntimeError):
    """The file, the key or the API stopped the job; the message says which and why."""


def make_client(
    base_url: str | None = None, *, http_client: httpx.Client | None = None, timeout_s: float | None = None,
) -> openai.OpenAI:
    """A client for the API at ``base_url`` (default: $OPENAI_BASE_URL or OpenAI), keyed from the environment.

    The URL is checked as the other commands check it, and requests time out after
    ``timeout_s`` (default: the LM settings' timeout), so a hanging server ends in a message.
    """
    from .config import LMConfig, base_url_problems
    from .lm.openai_compat import DUMMY_KEY, is_local

    given = (base_url or "").strip()
    url = given or os.environ.get("OPENAI_BASE_URL", "").strip()
    for key, why in base_url_problems("--base-url" if given else "$OPENAI_BASE_URL", url) if url else ():
        raise FinetuneError(f"{key} {why}")
    key = os.environ.get("OPENAI_API_KEY")
    if not key and url and is_local(url):
        key = DUMMY_KEY  # a local server usually wants no key; the SDK insists on one
    if not key:
        raise FinetuneError("set OPENAI_API_KEY to the API's key (it is read from the environment only)")
    timeout = LMConfig().timeout_s if timeout_s is None else timeout_s
    return openai.OpenAI(api_key=key, base_url=url or None, http_client=http_client, max_retries=2, timeout=timeout)


def check_example(obj: Any) -> None:
    """Raise ValueError unless ``obj`` is one chat fine-tuning example: {messages: [...]} with
    roles system (first, optional) then user/assistant turns, non-empty contents, ending with the assistant."""
    if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
        raise ValueError("expected an object with a 'messages' list")
    messages = obj["messages"]
    if not messages:
        raise ValueError("'messages' is empty")
    for n, m in enumerate(messages, start=1):
        if not isinstance(m, dict):
            raise ValueError(f"message {n} is not an object")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise ValueError(f"message {n} has role {role!r}; expected one of {', '.join(ROLES)}")
        if role == "system" and n != 1:
            raise ValueError(f"message {n}: a system message may only come first")
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"message {n} ({role}) has no text")
    turns = [m["role"] for m in messages if m["role"] != "system"]
    if not turns or turns[0] != "user" or turns[-1] != "assistant":
        raise ValueError("the turns must start with the user and end with the assistant")
    if any(a == b for a, b in zip(turns, turns[1:])):
        raise ValueError("user and assistant turns must alternate")


def check_chat_file(path: str | Path) -> int:
    """Count of examples in a chat JSONL file; FinetuneError names the first bad line."""
    p = Path(path)
    raw = read_input_bytes(p, FinetuneError)
    n = 0
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            check_example(parse(line.decode("utf-8")))
        except UnicodeDecodeError:
            raise FinetuneError(f"{p}:{lineno}: not valid UTF-8") from None
        except ValueError as e:  # JSONProblem too: syntax, a key twice, nesting, surrogates
            raise FinetuneError(f"{p}:{lineno}: {e}") from None
        n += 1
    if not n:
        raise FinetuneError(f"{p}: holds no examples")
    return n


def launch(
    client: openai.OpenAI, path: str | Path, model: str, *, suffix: str | None = None,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Check and upload the file (purpose "fine-tune"), then create the job; returns the job as a dict."""
    check_chat_file(path)
    extra: dict[str, Any] = {}
    if suffix:
        extra["suffix"] = suffix
    if epochs:
        extra["hyperparameters"] = {"n_epochs": epochs}
    uploaded = _ask(client, "upload the training file", lambda: _opened(path, lambda fh: client.files.create(
        file=fh, purpose="fine-tune")))
    job = _ask(client, "create the fine-tuning job",
               lambda: client.fine_tuning.jobs.create(training_file=uploaded.id, model=model, **extra))
    return job.model_dump()


def status(client: openai.OpenAI, job_id: str, *, events: int = 5) -> dict[str, Any]:
    """The job as a dict, with its latest ``events`` messages (newest first) under "events"."""
    job = _ask(client, f"read fine-tuning job {job_id}", lambda: client.fine_tuning.jobs.retrieve(job_id)).model_dump()
    job["events"] = [e.model_dump() for e in _ask(
        client, f"read the events of fine-tuning job {job_id}",
        lambda: client.fine_tuning.jobs.list_events(job_id, limit=events)).data] if events else []
    return job


def describe(job: dict[str, Any]) -> str:
    """A few lines for people: id, model, state, the tuned model when done, the error when failed."""
    lines = [f"job {job.get('id')}: {job.get('status')} (base model {job.get('model')})",
             f"training file {job.get('training_file')}"]
    if job.get("fine_tuned_model"):
        lines.append(f"tuned model: {job['fine_tuned_model']}")
    if job.get("trained_tokens"):
        lines.append(f"trained tokens: {job['trained_tokens']:,}")
    err = job.get("error") or {}
    if err.get("message"):
        lines.append(f"error: {err['message']}")
    for ev in job.get("events", []):
        lines.append(f"  [{ev.get('level', 'info')}] {ev.get('message')}")
    return "\n".join(lines)


def _opened(path: str | Path, use: Callable[[Any], T]) -> T:
    """``use`` on the file opened for upload, closed again however the upload ends."""
    with open(path, "rb") as fh:
        return use(fh)


def _ask(client: openai.OpenAI, what: str, call: Callable[[], T]) -> T:
    """``call()``'s answer, or a FinetuneError saying what failed, in the words the other
    commands use: servers answer HTML, garbled JSON, echo the key, or never answer at all."""
    where = strip_url_credentials(str(client.base_url))
    secrets = [client.api_key, *url_secrets(str(client.base_url))]
    try:
        answer = call()
    except openai.APITimeoutError:
        raise FinetuneError(f"the API at {where} did not answer within {client.timeout} s when trying to {what}; "
                            "check that the server is up, or raise --timeout") from None
    except openai.APIConnectionError as e:
        raise FinetuneError(f"could not reach the API at {where} to {what}: {redact(_api_message(e), secrets)}; "
                            "check --base-url and that the server is up") from None
    except openai.APIError as e:
        raise FinetuneError(f"the API at {where} refused to {what}: {redact(_api_message(e), secrets)}") from None
    except ValueError as e:  # a 200 whose JSON does not parse
        raise FinetuneError(f"the API at {where} sent an answer that is not valid JSON when asked to {what} "
                            f"({redact(str(e), secrets)}); check --base-url points at an OpenAI-compatible API") from None
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "model_dump"):
        sample = redact(str(answer)[:80], secrets)
        raise FinetuneError(f"the API at {where} did not answer with JSON when asked to {what} (it sent {sample!r}); "
                            "check --base-url points at an OpenAI-compatible API") from None
    return answer


def _api_message(e: openai.APIError) -> str:
    status_code = getattr(e, "status_code", None)
    return f"HTTP {status_code}: {e.message}" if status_code else str(e.message)
