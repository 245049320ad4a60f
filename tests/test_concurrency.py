"""The dashboard's worker and the CLI on one workspace at once: no corruption, no "database is locked"."""

import pytest

from selfinstruct.config import RunConfig
from dashboard.jobs import JobRegistry
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from selfinstruct.store.check import check

from conftest import OUR_SEEDS, cli


@pytest.mark.slow
def test_dashboard_worker_and_cli_share_a_workspace(workspace):
    store = Store(workspace)
    run = start_run(store, "dashboard-run", load_tasks(OUR_SEEDS), RunConfig(target=200))
    tabs = JobRegistry()
    job = tabs.job(str(workspace), run.id, FakeLM(delay_s=0.02))
    job.start()
    assert tabs.get(str(workspace), run.id) is job  # a second tab finds the same job
    try:
        # The CLI cannot take over the run the dashboard is writing...
        same = cli("generate", "-w", str(workspace), "--run", "dashboard-run", "--lm", "fake")
        assert job.running
        assert same.returncode == 2 and "being written by" in same.stderr
        # ...but writes another run of the same workspace and reads everything meanwhile.
        other = cli("generate", "-w", str(workspace), "--run", "cli-run", "--lm", "fake", "--target", "120", "--seed", "7",
                    "--no-progress", env={"SELFINSTRUCT_FAKE_DELAY": "0.005"})
        assert other.returncode == 0, other.stderr
        for _ in range(3):
            for args in (("status", "-w", str(workspace)), ("stats", "-w", str(workspace), "--run", "cli-run",
                                                            "--json")):
                r = cli(*args)
                assert r.returncode == 0, r.stderr
                assert "locked" not in r.stderr
    finally:
        job.wait(120)
    assert job.snapshot().state != "failed", job.snapshot().message
    assert Store(workspace).run("dashboard-run").state == "done"
    assert Store(workspace).run("cli-run").state == "done"
    assert not any(check(Store(workspace)).values())
