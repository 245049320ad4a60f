"""One way to take and release a named lock in a workspace; a run's writer lock is one of them."""

from __future__ import annotations

import os
import socket
import sqlite3

import pytest

from selfinstruct.store import RunLockedError, Store
from selfinstruct.store.schema import MIGRATIONS


def test_a_named_lock_is_held_until_released(tmp_path):
    s, other = Store(tmp_path / "w.sqlite"), Store(tmp_path / "w.sqlite")
    s.acquire_lock("response set 'a' of run 'r'", "answer")
    holder = other.lock_holder("response set 'a' of run 'r'")
    assert (holder["owner"], holder["pid"], holder["alive"]) == ("answer", os.getpid(), True)
    with pytest.raises(RunLockedError, match="response set 'a' of run 'r' is already being written by this process"):
        other.acquire_lock("response set 'a' of run 'r'", "answer")
    other.acquire_lock("response set 'b' of run 'r'", "answer")  # another name is another lock
    s.release_lock("response set 'a' of run 'r'")
    assert s.lock_holder("response set 'a' of run 'r'") is None
    with other.lock("response set 'a' of run 'r'", "answer"):
        assert s.lock_holder("response set 'a' of run 'r'") is not None
    assert s.lock_holder("response set 'a' of run 'r'") is None  # the block's end releases it


def test_a_run_lock_is_the_named_lock_of_the_run(tmp_path):
    s = Store(tmp_path / "w.sqlite")
    run = s.create_run("r")
    s.acquire_run_lock(run.id, "dashboard")
    s.acquire_run_lock(run.id, "dashboard")  # its own writer takes it again on resume
    assert s.run_lock(run.id) == s.lock_holder(f"run {run.id}")
    with pytest.raises(RunLockedError, match=r"run 'r' is being written by dashboard \(pid \d+ on "):
        Store(s.path).acquire_run_lock(run.id, "cli")
    s.release_run_lock(run.id)
    assert s.run_lock(run.id) is None


def test_a_dead_holders_lock_is_taken_over(tmp_path):
    s = Store(tmp_path / "w.sqlite")
    with s.tx() as c:  # as a killed process leaves it: pid 2**22 + 1 is above Linux's pid_max
        c.execute("INSERT INTO locks(name, owner, pid, host, heartbeat) VALUES ('job', 'answer', ?, ?, 0)",
                  (2**22 + 1, socket.gethostname()))
    assert s.lock_holder("job")["alive"] is False
    with s.lock("job", "translate"):
        assert s.lock_holder("job")["owner"] == "translate"


def test_an_older_workspace_keeps_its_run_and_job_locks_as_named_locks(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.execute("INSERT INTO runs(id, name, kind, config, state, status, language, created_at, updated_at)"
                 " VALUES (1, 'r', 'generate', '{}', 'running', '', 'en', 0, 0)")
    conn.execute("INSERT INTO run_locks VALUES (1, 'cli', 7, 'elsewhere', 0)")
    conn.execute("INSERT INTO job_locks VALUES ('response set ''a'' of run ''r''', 'answer', 8, 'elsewhere', 0)")
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    s = Store(path)
    assert s.run_lock(1)["owner"] == "cli" and s.lock_holder("response set 'a' of run 'r'")["pid"] == 8
