"""``generate --batch``: rounds through the Batch API stub give the data set the online scheduler
gives with the same settings, and a run killed while a batch is pending picks it up again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from batch_stub import BatchStub
from openai_stub import OpenAIStub
from selfinstruct.lm.fake import demo_answer_to
from selfinstruct.store import Store
from selfinstruct.store.check import check

from conftest import ROOT, cli_main, wait_until

SETTINGS = ("--target", "500", "--request-batch-size", "2", "--pool-lag", "2", "--iterations", "6")


def generate(ws: Path, url: str, *extra: str) -> list[str]:
    return ["generate", "-w", str(ws), "--lm", "openai", "--model", "m", "--base-url", url, *SETTINGS,
            "--no-progress", *extra]


def records(ws: Path) -> tuple[list, list]:
    with Store(ws) as store:
        run = store.default_run()
        return ([(r.iteration, r.text, r.verdict, r.reason, r.is_classification)
                 for r in store.instructions(run.id, origin="machine")],
                [(i.input, i.output, i.verdict) for i in store.instances(run_id=run.id)])


def test_three_rounds_of_batches_give_the_online_data_set(tmp_path, capsys):
    online, batched = tmp_path / "online.sqlite", tmp_path / "batch.sqlite"
    with OpenAIStub(demo_answer_to) as stub:
        code, _, err = cli_main(capsys, *generate(online, stub.base_url))
        assert code == 0, err
    with BatchStub(demo_answer_to, polls=1) as stub:
        code, _, err = cli_main(capsys, *generate(batched, stub.base_url, "--batch", "--batch-poll", "0.02"))
        assert code == 0, err
        steps = [{line["body"]["max_tokens"] for line in b.lines} for b in stub.batches]
    # 6 iterations in rounds of 2: each round's prompts, then classifications, then instances
    assert stub.created == 9 and steps == [{1024}, {3}, {300}] * 3
    instructions, instances = records(batched)
    assert (instructions, instances) == records(online) and len(instructions) > 30 and instances
    with Store(batched) as store:
        assert store.completed_iterations(store.default_run().id) == 6
        assert not any(check(store).values())
        assert store.scalar("SELECT COUNT(*) FROM batches WHERE state = 'collected'") == 9


def test_a_run_killed_while_its_batch_is_pending_picks_it_up(tmp_path, capsys):
    ws = tmp_path / "w.sqlite"
    with BatchStub(demo_answer_to, hold=True) as stub:
        args = generate(ws, stub.base_url, "--batch", "--batch-poll", "0.05")
        child = subprocess.Popen([sys.executable, "-m", "selfinstruct", *args], cwd=ROOT, env=os.environ.copy(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: stub.created and stub.batches[0].polls >= 2, timeout=60, interval=0.05,
                       message="the first batch being polled")
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        assert child.returncode == -signal.SIGKILL
        stub.hold = False
        code, _, err = cli_main(capsys, *args)
        assert code == 0, err
        prompts = [p for b in stub.batches for p in b.prompts]
    assert "picked up from the workspace" in err
    assert len(prompts) == len(set(prompts)), "a request went out in two batches"
    assert stub.created == 9
    with Store(ws) as store:
        assert store.completed_iterations(store.default_run().id) == 6
        assert not any(check(store).values())
