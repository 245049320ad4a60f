import multiprocessing as mp
import sqlite3

import pytest

from selfinstruct.lm.base import LMRequest, LMResponse, LMUnavailable
from selfinstruct.records import Instance, Task
from selfinstruct.store import RunLockedError, Store, StoreError
from selfinstruct.store.check import check
from selfinstruct.store.schema import MIGRATIONS


def test_new_workspace_is_migrated_to_the_latest_schema_in_wal_mode(workspace):
    s = Store(workspace)
    assert s.schema_version == len(MIGRATIONS)
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_old_workspace_moves_forward(workspace):
    conn = sqlite3.connect(workspace)
    for stmt in MIGRATIONS[0].split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO runs(name, created_at, updated_at) VALUES ('old', 0, 0)")
    conn.commit()
    conn.close()
    s = Store(workspace)
    assert s.schema_version == len(MIGRATIONS)
    assert s.run("old").name == "old"


def test_newer_workspace_is_refused(workspace):
    Store(workspace).conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="newer version"):
        Store(workspace)


def test_not_a_workspace(tmp_path):
    p = tmp_path / "x.sqlite"
    p.write_bytes(b"hello, this is not sqlite" * 100)
    with pytest.raises(StoreError, match=str(p)):
        Store(p)


def test_runs_tasks_and_counts(workspace):
    s = Store(workspace)
    run = s.create_run("r")
    s.add_tasks(run.id, [Task("a", "Say hi to me.", (Instance("", "hi"),), False)], origin="seed")
    assert s.tasks(run.id)[0].instruction == "Say hi to me."
    assert s.counts(run.id)["seeds"] == 1
    with pytest.raises(StoreError, match="already exists"):
        s.create_run("r")
    with pytest.raises(StoreError, match="no run 'zzz'"):
        s.run("zzz")


def test_call_cache_and_usage(workspace):
    s = Store(workspace)
    run = s.create_run("r")
    req = LMRequest("prompt", step="x", temperature=0.5)
    assert s.cached_response(req.cache_key("m")) is None
    s.record_call(run.id, "m", req, error=LMUnavailable("down", ["503 a", "503 b"]))
    assert s.cached_response(req.cache_key("m")) is None  # failures are not answers
    s.record_call(run.id, "m", req, response=LMResponse("out", tokens_in=3, tokens_out=2))
    call_id, resp = s.cached_response(req.cache_key("m"))
    assert resp.text == "out" and resp.cached
    assert s.cached_response(req.cache_key("other-model")) is None
    u = s.usage(run.id)
    assert (u["calls"], u["errors"], u["faults"], u["tokens_in"]) == (2, 1, 2, 3)


def test_failed_transaction_leaves_nothing(workspace):
    s = Store(workspace)
    run = s.create_run("r")
    with pytest.raises(RuntimeError):
        with s.tx() as c:
            c.insert_instruction(run_id=run.id, seq=0, text="x", origin="seed")
            raise RuntimeError("boom")
    assert s.instructions(run.id) == []


def test_disk_full_is_a_clear_error_and_keeps_the_store_consistent(workspace):
    s = Store(workspace)
    run = s.create_run("r")
    s.add_tasks(run.id, [Task("a", "Keep me safe please.", (Instance("", "ok"),), False)])
    pages = s.conn.execute("PRAGMA page_count").fetchone()[0]
    s.conn.execute(f"PRAGMA max_page_count = {pages}")
    big = [Task(str(i), "x " * 5000, (Instance("", "y" * 5000),), False) for i in range(50)]
    with pytest.raises(StoreError, match="disk is full"):
        s.add_tasks(run.id, big)
    assert [t.instruction for t in s.tasks(run.id)] == ["Keep me safe please."]
    assert not any(check(s).values())


def test_read_only_workspace_is_a_clear_error(workspace):
    s = Store(workspace)
    run = s.create_run("r")
    s.conn.execute("PRAGMA query_only = ON")
    with pytest.raises(StoreError, match="read-only"):
        s.set_run_state(run.id, "done")
    assert s.run("r").state == "new"


def test_cache_writes_are_skipped_where_they_cannot_land(workspace):
    s = Store(workspace)
    s.put_many("ns", {"a": "1"})
    s.conn.execute("PRAGMA query_only = ON")  # what a read-only file looks like to SQLite
    s.put_many("ns", {"b": "2"})
    s.put_blob("ns", "c", b"3")
    assert s.get_many("ns", ["a", "b", "c"]) == {"a": "1"}
    with pytest.raises(StoreError, match="read-only"):  # real data is never skipped
        s.create_run("r")


def test_a_migration_another_process_applied_meanwhile_is_skipped(tmp_path, monkeypatch):
    s = Store(tmp_path / "new.sqlite")  # another process built the schema...
    monkeypatch.setattr(Store, "schema_version", property(lambda self: 0))  # ...after this one looked
    s._migrate()  # no "table runs already exists"
    assert s.runs() == []


def test_one_writer_per_run(workspace):
    s = Store(workspace)
    run = s.create_run("r")
    s.acquire_run_lock(run.id, "dashboard")
    other = Store(workspace)
    # Same process, other owner: refused with a clear message.
    with pytest.raises(RunLockedError, match="being written by dashboard"):
        other.acquire_run_lock(run.id, "cli")
    s.release_run_lock(run.id)
    other.acquire_run_lock(run.id, "cli")


def _hold_lock(path, ready):
    s = Store(path)
    s.acquire_run_lock(s.run("r").id, "cli")
    ready.set()
    import time
    time.sleep(30)


def test_lock_of_a_dead_process_is_taken_over(workspace):
    s = Store(workspace)
    run = s.create_run("r")
    ready = mp.get_context("spawn").Event()
    p = mp.get_context("spawn").Process(target=_hold_lock, args=(workspace, ready))
    p.start()
    assert ready.wait(30)
    with pytest.raises(RunLockedError, match=f"pid {p.pid}"):
        s.acquire_run_lock(run.id, "dashboard")
    p.kill()
    p.join()
    s.acquire_run_lock(run.id, "dashboard")  # the holder is dead: no error


def _writer(path, n):
    s = Store(path)
    run = s.run("r")
    for i in range(n):
        s.save_view(run.id, f"v{i % 5}", {"i": i})
        s.put_many("ns", {f"k{i}": "v"})


def test_concurrent_writers_never_hit_database_is_locked(workspace):
    s = Store(workspace)
    s.create_run("r")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(workspace, 200)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(s.get_many("ns", [f"k{i}" for i in range(200)])) == 200


def test_a_read_only_open_writes_not_a_byte(tmp_path):
    import hashlib
    import shutil
    import sqlite3

    from conftest import ROOT

    path = tmp_path / "demo.sqlite"
    shutil.copy(ROOT / "demo" / "demo.sqlite", path)
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # as shipped
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    s = Store(path, read_only=True)
    run = s.default_run()
    assert s.instructions(run.id) and s.counts(run.id)["kept"] > 0
    s.put_many("ns", {"a": "1"})  # a cache write is skipped, not an error
    with pytest.raises(StoreError, match="read-only"):
        s.set_run_state(run.id, "done")
    s.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.sqlite"]
    with pytest.raises(StoreError, match="no such file"):
        Store(tmp_path / "missing.sqlite", read_only=True)
