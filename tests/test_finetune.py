"""Fine-tuning launch against a mocked OpenAI-compatible API: never the network."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from selfinstruct import finetune
from selfinstruct.cli import main

KEY = "sk-test-not-a-real-key-1234567890"


def _example(user: str = "Name a colour.", answer: str = "Blue.", system: str = "") -> dict:
    msgs = [{"role": "system", "content": system}] if system else []
    return {"messages": msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


@pytest.fixture()
def chat_file(tmp_path):
    p = tmp_path / "chat.jsonl"
    p.write_text("".join(json.dumps(_example(f"Say {i}.", str(i), "Be brief.")) + "\n" for i in range(12)))
    return p


class FakeAPI:
    """Just enough of the files and fine-tuning endpoints; records every request."""

    def __init__(self, fail_create: bool = False):
        self.requests: list[httpx.Request] = []
        self.fail_create = fail_create
        self.uploaded = b""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "POST" and path.endswith("/files"):
            self.uploaded = request.read()
            return httpx.Response(200, json={
                "id": "file-abc", "object": "file", "bytes": len(self.uploaded), "created_at": 1,
                "filename": "chat.jsonl", "purpose": "fine-tune", "status": "processed"})
        if request.method == "POST" and path.endswith("/fine_tuning/jobs"):
            if self.fail_create:
                return httpx.Response(400, json={"error": {"message": "model not available for fine-tuning",
                                                           "type": "invalid_request_error"}})
            body = json.loads(request.read())
            return httpx.Response(200, json=_job("queued", body["model"], body["training_file"]))
        if request.method == "GET" and path.endswith("/fine_tuning/jobs/ftjob-1"):
            return httpx.Response(200, json=_job("succeeded", "base-model", "file-abc", tuned="ft:base-model:x"))
        if request.method == "GET" and path.endswith("/fine_tuning/jobs/ftjob-1/events"):
            return httpx.Response(200, json={"object": "list", "has_more": False, "data": [
                {"id": "ev-1", "object": "fine_tuning.job.event", "created_at": 2, "level": "info",
                 "message": "Job succeeded"}]})
        return httpx.Response(404, json={"error": {"message": f"no route {path}"}})


def _job(state: str, model: str, file_id: str, tuned: str | None = None) -> dict:
    return {"id": "ftjob-1", "object": "fine_tuning.job", "created_at": 1, "model": model,
            "status": state, "training_file": file_id, "validation_file": None, "fine_tuned_model": tuned,
            "finished_at": None, "error": None, "hyperparameters": {"n_epochs": "auto"},
            "organization_id": "org", "result_files": [], "trained_tokens": 1234 if tuned else None,
            "seed": 1}


def _client(api: FakeAPI, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return finetune.make_client("http://api.test/v1", http_client=httpx.Client(transport=httpx.MockTransport(api)))


def test_launch_uploads_then_creates_the_job(chat_file, monkeypatch):
    api = FakeAPI()
    job = finetune.launch(_client(api, monkeypatch), chat_file, "base-model", suffix="mine", epochs=3)
    assert job["id"] == "ftjob-1" and job["status"] == "queued" and job["training_file"] == "file-abc"
    upload, create = api.requests
    assert upload.url.path == "/v1/files" and b'name="purpose"' in api.uploaded and b"fine-tune" in api.uploaded
    assert chat_file.read_bytes() in api.uploaded
    body = json.loads(create.read())
    assert body == {"model": "base-model", "training_file": "file-abc", "suffix": "mine",
                    "hyperparameters": {"n_epochs": 3}}
    assert upload.headers["authorization"] == f"Bearer {KEY}"


def test_status_reads_the_job_and_its_events(monkeypatch):
    job = finetune.status(_client(FakeAPI(), monkeypatch), "ftjob-1")
    text = finetune.describe(job)
    assert "succeeded" in text and "tuned model: ft:base-model:x" in text and "Job succeeded" in text
    assert "trained tokens: 1,234" in text


def test_bad_line_stops_before_any_upload(tmp_path, monkeypatch):
    p = tmp_path / "chat.jsonl"
    p.write_text(json.dumps(_example()) + "\n" + json.dumps({"messages": [
        {"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}]}) + "\n")
    api = FakeAPI()
    with pytest.raises(finetune.FinetuneError, match=r"chat\.jsonl:2: the turns must start with the user"):
        finetune.launch(_client(api, monkeypatch), p, "m")
    assert api.requests == []


@pytest.mark.parametrize("obj, message", [
    ({"messages": []}, "empty"),
    ({"prompt": "x"}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": " "}]}, "no text"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "s"},
                   {"role": "assistant", "content": "y"}]}, "only come first"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "role 'tool'"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                   {"role": "assistant", "content": "c"}]}, "alternate"),
])
def test_check_example_names_the_problem(obj, message):
    with pytest.raises(ValueError, match=message):
        finetune.check_example(obj)


def test_multi_turn_and_system_examples_pass():
    finetune.check_example(_example(system="Be kind."))
    finetune.check_example({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                         {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]})


def test_api_refusal_is_a_clear_error_without_the_key(chat_file, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(finetune.FinetuneError) as e:
        finetune.launch(_client(FakeAPI(fail_create=True), monkeypatch), chat_file, "m")
    assert "HTTP 400" in str(e.value) and "model not available" in str(e.value)
    assert KEY not in str(e.value) and KEY not in caplog.text


def test_missing_key_is_named(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(finetune.FinetuneError, match="OPENAI_API_KEY"):
        finetune.make_client("http://api.test/v1")


def test_cli_launch_and_status_print_the_job_not_the_key(chat_file, monkeypatch, capsys):
    api = FakeAPI()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    real = finetune.make_client
    monkeypatch.setattr(finetune, "make_client", lambda base_url=None, **kw: real(
        base_url, **kw, http_client=httpx.Client(transport=httpx.MockTransport(api))))
    assert main(["finetune", "launch", "--file", str(chat_file), "--model", "base-model",
                 "--base-url", "http://api.test/v1"]) == 0
    assert main(["finetune", "status", "ftjob-1", "--base-url", "http://api.test/v1"]) == 0
    out = capsys.readouterr()
    assert "job ftjob-1: queued" in out.out and "tuned model: ft:base-model:x" in out.out
    assert KEY not in out.out + out.err
    assert [r.url.path for r in api.requests] == [
        "/v1/files", "/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs/ftjob-1", "/v1/fine_tuning/jobs/ftjob-1/events"]
