"""Secrets never printed or stored, settings checked before anything is written, messages that name the problem."""

from __future__ import annotations

import pytest

from selfinstruct.redact import redact, strip_url_credentials, url_secrets

KEY = "sk-test-Zq8vLr3XyW5pN2mK7tB4"


# --- the redaction layer -------------------------------------------------------------

@pytest.mark.parametrize(
    "text, secrets, expected",
    [
        (f"Incorrect API key provided: {KEY}.", [KEY], "Incorrect API key provided: ***."),
        ("key mykey-123456 rejected", ["mykey-123456"], "key *** rejected"),
        ("unknown sk-abcdefghijklmnop here", [], "unknown *** here"),
        ("sent Authorization: Bearer abc.def-ghi_123", [], "sent Authorization: Bearer ***"),
        ("nothing secret", ["", None, "abc"], "nothing secret"),
        ("a long-secret-x and long-secret", ["long-secret", "long-secret-x"], "a *** and ***"),
        ("POST http://bob:hunter22@h:8/v1 failed", [], "POST http://h:8/v1 failed"),
        ("GET https://h/v1?api-key=s3cr3t&model=m", [], "GET https://h/v1?api-key=***&model=m"),
        ("sk-short", [], "sk-short"),
    ],
)
def test_redact(text: str, secrets: list, expected: str) -> None:
    assert redact(text, secrets) == expected


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://user:password@host:8000/v1", "http://host:8000/v1"),
        ("https://token@api.example.com/v1", "https://api.example.com/v1"),
        ("https://h/v1?api-key=abc&api_key=d&key=e&token=f&access_token=g&sig=h&x=1",
         "https://h/v1?api-key=***&api_key=***&key=***&token=***&access_token=***&sig=***&x=1"),
        ("https://h/openai/deployments/d?api-version=2024-02-01&subscription-key=zz",
         "https://h/openai/deployments/d?api-version=2024-02-01&subscription-key=***"),
        ("http://u:p@[::1]:9/v1?Signature=x", "http://[::1]:9/v1?Signature=***"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
        ("not a url", "not a url"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected


def test_url_secrets() -> None:
    assert url_secrets("http://bob:pa%40ss@h/v1?api-key=k%2Fy&model=m") == ["k%2Fy", "k/y", "pa%40ss", "pa@ss"]
    assert url_secrets("http://h/v1") == []


# --- end to end: the key and URL credentials never printed or stored -----------------

import json  # noqa: E402
import os  # noqa: E402
import sqlite3  # noqa: E402
import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from pathlib import Path  # noqa: E402

from conftest import OUR_SEEDS  # noqa: E402
from openai_stub import OpenAIStub, status  # noqa: E402

from selfinstruct.cli import main  # noqa: E402
from selfinstruct.config import ConfigError, RunConfig  # noqa: E402

ECHO = f"Incorrect API key provided: {KEY}. You can find your API key at https://platform.example/keys"


class Server:
    """Answers every request the same way (status, content type, body, delay): what a
    gateway in front of a fine-tuning API may do. Records the paths asked for."""

    def __init__(self, code: int = 200, body: bytes = b"{}", content_type: str = "application/json",
                 delay_s: float = 0.0):
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def _reply(self) -> None:
                outer.paths.append(self.path)
                self.rfile.read(int(self.headers.get("content-length") or 0))
                if delay_s and outer.stopping.wait(delay_s):
                    return
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            do_GET = do_POST = _reply

        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "Server":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def chat_file(tmp_path: Path) -> Path:
    p = tmp_path / "chat.jsonl"
    p.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi."},
                                          {"role": "assistant", "content": "Hello."}]}) + "\n")
    return p


def _finetune(action: str, url: str, chat_file: Path, *extra: str) -> list[str]:
    if action == "launch":
        return ["finetune", "launch", "--file", str(chat_file), "--model", "m", "--base-url", url, *extra]
    return ["finetune", "status", "ftjob-1", "--base-url", url, *extra]


@pytest.mark.parametrize("action", ["launch", "status"])
def test_finetune_never_prints_an_echoed_key(action, chat_file, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    body = json.dumps({"error": {"message": ECHO, "type": "invalid_request_error"}}).encode()
    with Server(401, body) as srv:
        assert main(_finetune(action, srv.url, chat_file)) == 2
        assert srv.paths
    out = capsys.readouterr()
    assert KEY not in out.out + out.err
    assert "HTTP 401" in out.err and "Incorrect API key provided: ***" in out.err


@pytest.mark.parametrize("action", ["launch", "status"])
@pytest.mark.parametrize("code, body, content_type, expected", [
    (200, b"<html><body>Welcome to nginx</body></html>", "text/html", "did not answer with JSON"),
    (200, b'{"id": "file-1", "object": ', "application/json", "not valid JSON"),
    (502, b"<html>Bad Gateway</html>", "text/html", "HTTP 502"),
])
def test_finetune_names_a_reply_that_is_not_the_api(action, code, body, content_type, expected, chat_file,
                                                    monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with Server(code, body, content_type) as srv:
        assert main(_finetune(action, srv.url, chat_file)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and srv.url in err
    assert "Traceback" not in err and KEY not in err


def test_finetune_times_out_on_a_hanging_server(chat_file, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with Server(delay_s=30) as srv:
        assert main(_finetune("launch", srv.url, chat_file, "--timeout", "0.3")) == 2
    assert "did not answer within 0.3 s" in capsys.readouterr().err


def _workspace_bytes(ws: Path) -> bytes:
    return b"".join(p.read_bytes() for p in ws.parent.glob(ws.name + "*"))


def _generate(ws: Path, url: str, *extra: str) -> list[str]:
    return ["generate", "-w", str(ws), "--lm", "openai", "--model", "stub-model", "--base-url", url,
            "--seeds", str(OUR_SEEDS), "--target", "2", "--request-batch-size", "1", "--max-retries", "0",
            "--no-progress", *extra]


def test_generate_and_answer_never_print_or_store_an_echoed_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    ws = tmp_path / "w.sqlite"
    with OpenAIStub(lambda body: status(401, message=ECHO)) as stub:
        assert main(_generate(ws, stub.base_url)) == 2
        assert main(["generate", "-w", str(ws), "--run", "f", "--lm", "fake", "--target", "2", "--no-progress"]) == 0
        assert main(["answer", "-w", str(ws), "--run", "f", "--name", "a", "--lm", "openai", "--model", "stub-model",
                     "--base-url", stub.base_url, "--max-retries", "0", "--no-progress"]) != 0
        assert len(stub.posts) >= 2
        assert main(["status", "-w", str(ws)]) == 0
    out = capsys.readouterr()
    assert "API key" in out.err
    assert KEY not in out.out + out.err
    assert KEY.encode() not in _workspace_bytes(ws)


def test_credentials_in_the_base_url_reach_the_server_but_nothing_else(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    ws = tmp_path / "w.sqlite"
    with OpenAIStub(lambda body: status(401, message="bad credentials")) as stub:
        port = stub.base_url.split(":")[2].split("/")[0]
        url = f"http://alice:hunter2-Pw9@127.0.0.1:{port}/v1?api-key=Qk-77-secret"
        assert main(_generate(ws, url)) == 2
        assert stub.posts  # the real URL was used to talk to the server
        assert main(["status", "-w", str(ws), "--json"]) == 0
        assert main(["status", "-w", str(ws)]) == 0
    out = capsys.readouterr()
    stored = _workspace_bytes(ws)
    for secret in ("hunter2-Pw9", "Qk-77-secret", "alice:"):
        assert secret not in out.out + out.err
        assert secret.encode() not in stored
    config = json.loads(sqlite3.connect(ws).execute("SELECT config FROM runs").fetchone()[0])
    assert config["lm"]["base_url"] == f"http://127.0.0.1:{port}/v1?api-key=***"
    model = sqlite3.connect(ws).execute("SELECT DISTINCT model FROM lm_calls").fetchall()
    assert model == [(f"openai:stub-model@http://127.0.0.1:{port}/v1?api-key=***",)]


# --- settings checked before anything is stored ----------------------------------------

def test_a_bad_openai_base_url_from_the_environment_is_refused_before_the_workspace(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_BASE_URL", "ftp://user:pw-Secret9@example.com/v1")
    ws = tmp_path / "w.sqlite"
    assert main(["generate", "-w", str(ws), "--lm", "openai", "--model", "m", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "$OPENAI_BASE_URL" in err and "pw-Secret9" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_workspace_is_refused_unchanged(tmp_path, capsys):
    ws = tmp_path / "w.sqlite"
    assert main(["generate", "-w", str(ws), "--lm", "fake", "--target", "3", "--no-progress"]) == 0
    with sqlite3.connect(ws) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(ws.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[3 * page:3 * page + 200] = b"\xff" * 200  # a page in the middle, not the header
    ws.write_bytes(bytes(data))
    assert main(["generate", "-w", str(ws), "--lm", "fake", "--target", "50", "--no-progress"]) == 2
    assert "damaged" in capsys.readouterr().err
    assert ws.read_bytes() == bytes(data)


@pytest.mark.parametrize("command", ["status", "stats", "check"])
def test_a_read_command_on_a_path_that_is_no_file_creates_nothing(command, tmp_path, capsys):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    assert main([command, "-w", str(pipe)]) == 2
    assert "not a regular file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
    existed = os.path.exists("/dev/null-journal")
    assert main([command, "-w", "/dev/null"]) == 2
    assert os.path.exists("/dev/null-journal") == existed


# --- messages that name the problem ----------------------------------------------------

def test_a_run_name_that_is_not_utf8_is_named(tmp_path, capsys):
    name = os.fsdecode(b"run-\xff")
    assert main(["generate", "-w", str(tmp_path / "w.sqlite"), "--run", name, "--lm", "fake", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "run name is not valid UTF-8" in err


def test_a_list_of_numbers_is_named_by_key():
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({"filters": {"blacklist": [1, 2]}})
    assert "filters.blacklist: must be a list of strings, got [1, 2]" in str(e.value)


def test_the_loser_of_two_first_starts_is_told_to_run_again(tmp_path, monkeypatch, capsys):
    from selfinstruct import pipeline
    from selfinstruct.store import Store

    ws = tmp_path / "w.sqlite"
    real = pipeline.start_run

    def raced(store, name, seeds, config):  # the other process wins between the look and the start
        real(Store(ws), name, seeds, config)
        return real(store, name, seeds, config)

    monkeypatch.setattr(pipeline, "start_run", raced)
    assert main(["generate", "-w", str(ws), "--lm", "fake", "--target", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "being started by another process" in err and "run the same command again to resume" in err
    assert "already exists" not in err
