"""The Batch API backend against a local stub: answers in order, failures resubmitted alone,
pending batches picked up by a new process (or a killed CLI run again) instead of paid twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from batch_stub import BatchStub
from openai_stub import OpenAIStub, length
from selfinstruct.config import LMConfig
from selfinstruct.lm.base import LMFatalError, LMRequest, LMResponse, LMUnavailable
from selfinstruct.lm.batch_api import BatchLM
from selfinstruct.lm.cache import RecordedLM
from selfinstruct.lm.openai_compat import OpenAICompatLM
from selfinstruct.records import Instance, Task
from selfinstruct.store import Store
from selfinstruct.store.batches import BatchTable
from selfinstruct.store.responses import response_set, responses

from conftest import ROOT, cli_main, wait_until


def echo(body: dict[str, Any]) -> Any:
    """'re: <prompt>', cut at max_tokens for prompts that ask for it."""
    prompt = body["prompt"]
    return length(f"re: {prompt}") if "long" in prompt else f"re: {prompt}"


def answer(body: dict[str, Any]) -> str:
    """An answer naming the line after 'Request:' of an answer prompt."""
    lines = body["prompt"].splitlines()
    return "Answer to " + lines[lines.index("Request:") + 1]


class Killed(BaseException):
    """The process dies here (nothing after it runs)."""


def batch_lm(stub: BatchStub, store: Store, **kw: Any) -> BatchLM:
    return BatchLM(LMConfig(backend="openai", model="m", base_url=stub.base_url), BatchTable(store),
                   poll_s=0.02, **kw)


def asks(*prompts: str) -> list[LMRequest]:
    return [LMRequest(prompt=p, step="answer", max_tokens=32) for p in prompts]


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "w.sqlite") as s:
        yield s


def test_answers_in_request_order_with_usage_recorded(store):
    lines: list[str] = []
    with BatchStub(echo) as stub:
        lm = batch_lm(stub, store, on_status=lines.append)
        assert lm.name == OpenAICompatLM(LMConfig(backend="openai", model="m", base_url=stub.base_url)).name
        got = RecordedLM(lm, store, None).call_many(asks("one two", "a long one", "three", "one two"))
    assert stub.created == 1 and sorted(stub.batches[0].prompts) == ["a long one", "one two", "three"]
    texts = [resp.text for _, resp in got]
    assert texts == ["re: one two", "re: a long one", "re: three", "re: one two"]
    assert [resp.finish_reason for _, resp in got] == ["stop", "length", "stop", "stop"]
    assert got[3][1].cached and got[3][0] == got[0][0]  # the repeat is paid once
    call = store.call(got[1][0])
    assert (call["tokens_in"], call["tokens_out"], call["text"]) == (3, 4, "re: a long one")  # the stub's usage
    assert store.query("SELECT state, n_requests FROM batches")[0][:] == ("collected", 3)
    assert lines[-1] == f"batch {stub.batches[0].batch.id}: 3/3 done, completed"


def test_failed_and_expired_requests_are_resubmitted_alone(store):
    seen: set[str] = set()

    def first_time(prompt: str):
        def pick(body: dict[str, Any]) -> bool:
            if body["prompt"] != prompt or prompt in seen:
                return False
            seen.add(prompt)
            return True
        return pick

    with BatchStub(echo, fail=first_time("b"), expire=first_time("d")) as stub:
        got = batch_lm(stub, store).execute_many(asks("a", "b", "c", "d"))
    assert [r.text for r in got] == ["re: a", "re: b", "re: c", "re: d"]  # type: ignore[union-attr]
    assert stub.created == 2 and sorted(stub.batches[1].prompts) == ["b", "d"]
    assert stub.batches[0].batch.status == "expired"
    assert "stub server error" in got[1].faults[0] and "batch_expired" in got[3].faults[0]  # type: ignore[union-attr]
    assert [r[0] for r in store.query("SELECT state FROM batches ORDER BY id")] == ["collected", "collected"]


def test_requests_that_keep_failing_become_errors_in_their_place(store):
    with BatchStub(echo, fail=lambda body: body["prompt"] == "b") as stub:
        got = batch_lm(stub, store, max_resubmits=2).execute_many(asks("a", "b"))
    assert isinstance(got[0], LMResponse) and isinstance(got[1], LMUnavailable)
    assert stub.created == 3 and [b.prompts for b in stub.batches[1:]] == [["b"], ["b"]]
    assert len(got[1].faults) == 3 and "failed 3 time(s)" in str(got[1])

    with BatchStub(echo, models=("other",)) as stub:  # a 404 line: another batch cannot help
        got = batch_lm(stub, store).execute_many(asks("x"))
    assert isinstance(got[0], LMFatalError) and "404" in str(got[0]) and stub.created == 1


def test_a_batch_refused_whole_is_fatal_for_every_request_and_named(store):
    with BatchStub(echo, refuse="line 1: model not supported by the Batch API") as stub:
        got = batch_lm(stub, store).execute_many(asks("a", "b"))
    assert all(isinstance(r, LMFatalError) and "model not supported by the Batch API" in str(r) for r in got)
    assert stub.created == 1
    state, error = store.query("SELECT state, error FROM batches")[0]
    assert state == "failed" and "model not supported" in error


def test_a_rejected_key_is_fatal_and_never_shown(store):
    with BatchStub(echo, api_key="sk-right-key-0123456789") as stub:
        cfg = LMConfig(backend="openai", model="m", base_url=stub.base_url)
        got = BatchLM(cfg, BatchTable(store), poll_s=0.02, api_key="sk-wrong-key-0123456789").execute_many(asks("a"))
    assert isinstance(got[0], LMFatalError) and "401" in str(got[0])
    assert "sk-wrong" not in str(got[0]) and stub.created == 0


@pytest.mark.parametrize("dies_at", ["in_progress", "completed"])
def test_a_new_process_picks_up_the_stored_batch_instead_of_a_new_one(store, dies_at):
    def die(line: str) -> None:
        if line.endswith(dies_at):
            raise Killed()

    requests = asks("a", "b", "c")
    with BatchStub(echo, hold=dies_at == "in_progress") as stub:
        with pytest.raises(Killed):
            batch_lm(stub, store, on_status=die).execute_many(requests)
        assert store.query("SELECT state FROM batches")[0][0] == dies_at  # stored before (and while) polling
        stub.hold = False
        lines: list[str] = []
        got = batch_lm(stub, store, on_status=lines.append).execute_many(list(reversed(requests)))
    assert stub.created == 1 and [r.text for r in got] == ["re: c", "re: b", "re: a"]  # type: ignore[union-attr]
    assert "picked up from the workspace" in lines[0]
    with BatchStub(echo) as stub:  # collected: the same requests asked again make a new batch
        batch_lm(stub, store).execute_many(requests)
    assert stub.created == 1


# ---------------------------------------------------------------------- the command line


def imported(path: Path, n: int) -> None:
    with Store(path) as store:
        run = store.create_run("imp", kind="import")
        store.add_tasks(run.id, [Task(f"t{i}", f"Describe item number {i}.", (Instance("", f"out {i}"),),
                                      origin="import") for i in range(n)], origin="import")


def answered(path: Path, name: str) -> list[tuple[int, str, str | None]]:
    with Store(path) as store:
        rows = responses(store, response_set(store, store.run("imp").id, name).id)
        return [(r.instance_id, r.text, r.finish_reason) for r in rows]


def test_cli_answer_batch_gives_the_online_records_and_shares_the_cache(tmp_path, capsys):
    online_ws, batch_ws = tmp_path / "online.sqlite", tmp_path / "batch.sqlite"
    imported(online_ws, 5)
    imported(batch_ws, 5)
    with OpenAIStub(responder=answer) as online:
        code, _, err = cli_main(capsys, "answer", "-w", str(online_ws), "--lm", "openai", "--model", "m",
                                "--base-url", online.base_url, "--name", "a", "--no-progress")
    assert code == 0, err
    with BatchStub(answer) as stub:
        code, _, err = cli_main(capsys, "answer", "-w", str(batch_ws), "--lm", "openai", "--model", "m",
                                "--base-url", stub.base_url, "--name", "a", "--batch", "--batch-poll", "0.02",
                                "--no-progress")
        assert code == 0, err
        assert stub.created == 1 and len(stub.batches[0].lines) == 5
        assert "5/5 done, completed" in err
        # online through the same URL: every answer comes from the cache the batch filled
        code, _, err = cli_main(capsys, "answer", "-w", str(batch_ws), "--lm", "openai", "--model", "m",
                                "--base-url", stub.base_url, "--name", "again", "--no-progress")
        assert code == 0, err
    assert answered(batch_ws, "a") == answered(online_ws, "a") == answered(batch_ws, "again")
    assert len(answered(batch_ws, "a")) == 5 and "0 LM calls, 5 from cache" in err


def test_cli_answer_batch_killed_while_pending_resumes_without_resubmitting(tmp_path, capsys):
    ws = tmp_path / "w.sqlite"
    imported(ws, 6)
    with BatchStub(answer, hold=True) as stub:
        args = ["answer", "-w", str(ws), "--lm", "openai", "--model", "m", "--base-url", stub.base_url,
                "--name", "a", "--batch", "--batch-poll", "0.05", "--no-progress"]
        proc = subprocess.Popen([sys.executable, "-m", "selfinstruct", *args], cwd=ROOT, env=os.environ.copy(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: stub.created and stub.batches[0].polls >= 2, timeout=60, interval=0.05,
                       message="the batch being polled")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL and not answered(ws, "a")
        stub.hold = False
        code, _, err = cli_main(capsys, *args)
        assert code == 0, err
        assert stub.created == 1 and "picked up from the workspace" in err
    assert len(answered(ws, "a")) == 6
