"""A local stub of OpenAI's files and batches endpoints, for tests of the Batch API backend.

Serves POST /v1/files (multipart upload), GET /v1/files/{id} and /v1/files/{id}/content,
POST /v1/batches, GET /v1/batches/{id} and POST /v1/batches/{id}/cancel on 127.0.0.1 at a
free port, with JSON built from the SDK's own types (``openai.types.Batch``, ``FileObject``).
A batch is validating when created, in progress once polled, and done after ``polls`` polls
(never while ``hold`` is set): each of its lines is answered by ``responder(body)``, a text or
one of ``openai_stub``'s behaviours (``ok``, ``length``, ``status``), unless ``fail(body)``
makes it a 500 or ``expire(body)`` leaves it unanswered (the batch then ends ``expired``).
``refuse`` fails the next batches' validation with that message. Every batch is kept, with
its request bodies, in ``batches``.

    with BatchStub(lambda body: "hi") as stub:
        lm = BatchLM(LMConfig(backend="openai", model="m", base_url=stub.base_url), log, poll_s=0.02)
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from openai.types import Batch, BatchError, BatchRequestCounts, FileObject
from openai.types.batch import Errors

from openai_stub import Behaviour, _completion, ok

Responder = Callable[[dict[str, Any]], "str | Behaviour"]


@dataclass
class StubBatch:
    """One batch as the stub holds it: the API's object, the request lines, and how often it was polled."""

    batch: Batch
    lines: list[dict[str, Any]]
    polls: int = 0

    @property
    def prompts(self) -> list[str]:
        """Each request's prompt (or last message), in file order."""
        return [str(b.get("prompt") or b.get("messages", [{}])[-1].get("content", ""))
                for b in (line["body"] for line in self.lines)]


@dataclass
class BatchStub:
    """Threaded stub server; use as a context manager (or ``start()``/``stop()``).

    ``api_key``, when set, makes any other key get 401; ``models``, when set, makes a request
    for any other model a 404 line of the error file, as the real API does."""

    responder: Responder = lambda body: "ok"
    polls: int = 2
    hold: bool = False
    refuse: str | None = None
    fail: Callable[[dict[str, Any]], bool] = lambda body: False
    expire: Callable[[dict[str, Any]], bool] = lambda body: False
    api_key: str | None = None
    models: tuple[str, ...] | None = None
    batches: list[StubBatch] = field(default_factory=list)
    files: dict[str, tuple[FileObject, bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- control --------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the stub first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def created(self) -> int:
        """How many batches were created."""
        return len(self.batches)

    def start(self) -> "BatchStub":
        stub = self

        class Handler(_Handler):
            server_stub = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "BatchStub":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the API --------------------------------------------------------

    def _id(self, prefix: str) -> str:
        """Unique across stubs too, as the API's ids are (a workspace may outlive a stub)."""
        return f"{prefix}_{uuid.uuid4().hex[:16]}"

    def _add_file(self, name: str, purpose: str, data: bytes) -> FileObject:
        obj = FileObject(id=self._id("file"), bytes=len(data), created_at=int(time.time()), filename=name,
                         object="file", purpose=purpose, status="processed")  # type: ignore[arg-type]
        self.files[obj.id] = (obj, data)
        return obj

    def _create(self, request: dict[str, Any]) -> Batch:
        with self._lock:
            found = self.files.get(request.get("input_file_id", ""))
            lines = [json.loads(x) for x in found[1].decode("utf-8").splitlines() if x.strip()] if found else []
            batch = Batch(id=self._id("batch"), object="batch", endpoint=request["endpoint"],
                          input_file_id=request.get("input_file_id", ""), completion_window=request["completion_window"],
                          status="validating", created_at=int(time.time()),
                          request_counts=BatchRequestCounts(total=len(lines), completed=0, failed=0))
            problem = self.refuse or (None if found else "input file not found")
            problem = problem or next((f"line url {x.get('url')!r} is not the batch's endpoint"
                                       for x in lines if x.get("url") != request["endpoint"]), None)
            if problem:
                batch = batch.model_copy(update={"status": "failed", "failed_at": int(time.time()),
                                                 "errors": Errors(object="list", data=[BatchError(
                                                     code="invalid_request", message=problem, line=1)])})
            self.batches.append(StubBatch(batch, lines))
            return batch

    def _find(self, batch_id: str) -> StubBatch | None:
        return next((b for b in self.batches if b.batch.id == batch_id), None)

    def _poll(self, batch_id: str) -> Batch | None:
        with self._lock:
            held = self._find(batch_id)
            if held is None:
                return None
            if held.batch.status in ("validating", "in_progress"):
                held.polls += 1
                if self.hold or held.polls < self.polls:
                    held.batch = held.batch.model_copy(update={"status": "in_progress"})
                else:
                    self._run(held)
            return held.batch

    def _cancel(self, batch_id: str) -> Batch | None:
        with self._lock:
            held = self._find(batch_id)
            if held is not None and held.batch.status in ("validating", "in_progress"):
                held.batch = held.batch.model_copy(update={"status": "cancelled", "cancelled_at": int(time.time())})
            return None if held is None else held.batch

    def _run(self, held: StubBatch) -> None:
        """Answer every line of a batch into its output and error files."""
        chat = held.batch.endpoint.endswith("chat/completions")
        out, errors, expired = [], [], False
        for line in held.lines:
            body = line["body"]
            entry: dict[str, Any] = {"id": self._id("batch_req"), "custom_id": line["custom_id"], "error": None}
            if self.expire(body):
                expired = True
                errors.append({**entry, "response": None, "error": {
                    "code": "batch_expired",
                    "message": "This request could not be executed before the completion window expired."}})
                continue
            if self.models is not None and body.get("model") not in self.models:
                answer: Behaviour = Behaviour("status", code=404, body={"error": {
                    "message": f"The model `{body.get('model')}` does not exist.", "code": "model_not_found"}})
            elif self.fail(body):
                answer = Behaviour("status", code=500, body={"error": {"message": "stub server error"}})
            else:
                reply = self.responder(body)
                answer = reply if isinstance(reply, Behaviour) else ok(reply)
            if answer.kind == "status":
                errors.append({**entry, "response": {"status_code": answer.code, "request_id": entry["id"],
                                                     "body": answer.body}})
                continue
            payload = _completion(body, answer.text, answer.finish_reason, chat, answer.usage)
            if answer.usage_value is not None:
                payload["usage"] = answer.usage_value
            out.append({**entry, "response": {"status_code": 200, "request_id": entry["id"], "body": payload}})
        now = int(time.time())
        update: dict[str, Any] = {
            "status": "expired" if expired else "completed", ("expired_at" if expired else "completed_at"): now,
            "request_counts": BatchRequestCounts(total=len(held.lines), completed=len(out), failed=len(errors)),
        }
        for key, lines in (("output_file_id", out), ("error_file_id", errors)):
            if lines:
                data = "".join(json.dumps(x) + "\n" for x in lines).encode("utf-8")
                update[key] = self._add_file(f"{held.batch.id}_{key}.jsonl", "batch_output", data).id
        held.batch = held.batch.model_copy(update=update)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_stub: BatchStub

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, code: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _missing(self) -> None:
        self._send(404, {"error": {"message": f"no such object: {self.path}", "type": "invalid_request_error"}})

    def _authorized(self) -> bool:
        key = self.server_stub.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._send(401, {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}})
        return False

    def do_GET(self) -> None:
        stub = self.server_stub
        if not self._authorized():
            return
        if m := re.fullmatch(r"/v1/batches/([^/]+)", self.path):
            batch = stub._poll(m[1])
            self._send(200, batch.model_dump(mode="json")) if batch else self._missing()
        elif m := re.fullmatch(r"/v1/files/([^/]+)(/content)?", self.path):
            found = stub.files.get(m[1])
            if found is None:
                self._missing()
            elif m[2]:
                self._send(200, found[1], "application/octet-stream")
            else:
                self._send(200, found[0].model_dump(mode="json"))
        else:
            self._missing()

    def do_POST(self) -> None:
        stub = self.server_stub
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self._authorized():
            return
        if self.path == "/v1/files":
            fields = _multipart(self.headers.get("Content-Type", ""), raw)
            name, data = fields.get("file", ("", b""))
            self._send(200, stub._add_file(name or "upload.jsonl", fields.get("purpose", ("", b""))[1].decode(),
                                           data).model_dump(mode="json"))
        elif self.path == "/v1/batches":
            self._send(200, stub._create(json.loads(raw or b"{}")).model_dump(mode="json"))
        elif m := re.fullmatch(r"/v1/batches/([^/]+)/cancel", self.path):
            batch = stub._cancel(m[1])
            self._send(200, batch.model_dump(mode="json")) if batch else self._missing()
        else:
            self._missing()


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str, bytes]]:
    """A multipart/form-data body as {field: (file name, bytes)}."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    return {part.get_param("name", header="content-disposition"): (part.get_filename() or "",
                                                                    part.get_payload(decode=True) or b"")
            for part in message.iter_parts()}
