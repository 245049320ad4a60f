"""The workspace: one SQLite file (WAL) holding runs, every LM call and every decision.

This package is the only place that speaks SQL. Writes go through ``tx()``
(``BEGIN IMMEDIATE`` with a busy timeout), so the CLI, the dashboard's worker
and a second browser tab can share a file without "database is locked"
failures; a failed write rolls back whole, so the file stays consistent.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..lm.base import LMError, LMRequest, LMResponse
from ..records import Instance, Task
from ..redact import redact
from .schema import MIGRATIONS

BUSY_TIMEOUT_S = 30.0
READ_ONLY_COPY_MAX_BYTES = 512 * 1024 * 1024
LOCK_STALE_S = 600.0  # another host's lock without a heartbeat for this long is dead


class StoreError(RuntimeError):
    """A workspace cannot be read or written; the message names the file and the cause.

    ``cause`` says which, for callers that can carry on (``"disk_full"``, ``"read_only"``,
    ``"cannot_open"``, ``"damaged"``, ``"busy"``), or is None.
    """

    def __init__(self, message: str, cause: str | None = None):
        super().__init__(message)
        self.cause = cause


class RunLockedError(StoreError):
    """Another live process is writing this run."""


@dataclass(frozen=True)
class RunInfo:
    id: int
    name: str
    kind: str
    config: dict[str, Any]
    state: str
    status: str
    source_run_id: int | None
    language: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class InstructionRow:
    """An instruction as stored, with its verdict and novelty evidence."""

    id: int
    seq: int
    text: str
    origin: str
    iteration: int | None
    is_classification: bool | None
    verdict: str
    reason: str | None
    detail: str
    max_rouge: float | None
    similar: list[tuple[str, float]]
    external_id: str | None
    name: str
    source_id: int | None
    prompt_id: int | None = None
    clf_call_id: int | None = None
    inst_call_id: int | None = None


@dataclass(frozen=True)
class InstanceRow:
    id: int
    instruction_id: int
    position: int
    input: str
    output: str
    verdict: str
    reason: str | None
    detail: str


_CAUSES = (  # (words in SQLite's message, cause, what to tell people)
    (("full",), "disk_full", "the disk is full; free space and run again (nothing already stored was lost)"),
    (("readonly", "read-only"), "read_only", "the workspace is read-only; copy it somewhere writable or fix its permissions"),
    (("unable to open",), "cannot_open", "the file or its folder cannot be opened (check the path and permissions)"),
    (("not a database", "malformed"), "damaged", "the file is not a Self-Instruct Studio workspace or is damaged"),
    (("locked", "busy"), "busy", f"another process kept the workspace busy for more than {BUSY_TIMEOUT_S:.0f} s"),
)


def _explain(path: Path, e: sqlite3.Error) -> StoreError:
    """The StoreError for SQLite's error ``e``: what happened, what to do, and its ``cause``."""
    msg = str(e)
    low = msg.lower()
    for words, cause, hint in _CAUSES:
        if any(w in low for w in words):
            return StoreError(f"workspace {path}: {hint} ({msg})", cause)
    return StoreError(f"workspace {path}: {msg}")


class Store:
    """A handle on one workspace file. Safe to share between threads of one process."""

    def __init__(self, path: str | Path, *, create: bool = True, read_only: bool = False, verify: bool = False):
        """Open (or, with ``create``, make) a workspace. A file that is some other
        program's SQLite database is refused untouched, never converted, and so is
        a path that is not a regular file (``/dev/null``), which SQLite would give a
        ``-journal`` beside it. ``verify`` runs SQLite's ``quick_check`` before
        anything is written, so a damaged file is refused as it was found.

        ``read_only`` opens an existing workspace without writing a byte (no WAL
        switch, no migration; cache writes are skipped), e.g. a file in a folder
        this user may not write, or a shipped example that must stay as it is.
        """
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        memory = str(self.path) == ":memory:"
        if not str(path).strip():
            raise StoreError("no workspace given: pass a file name such as runs/studio.sqlite")
        if not memory and self.path.is_dir():
            raise StoreError(f"workspace {self.path}: is a folder; give a file name such as {self.path / 'studio.sqlite'}")
        if not memory and (read_only or not create) and not self.path.exists():
            raise StoreError(f"workspace {self.path}: no such file; check the path "
                             "(generate and import create a new workspace)")
        if not memory and self.path.exists() and not self.path.is_file():
            raise StoreError(f"workspace {self.path}: not a regular file (a device, pipe or socket); "
                             "give a workspace file such as runs/studio.sqlite")
        try:
            if read_only:
                self.conn = self._open_read_only()
                self._refuse_foreign()
                if self.schema_version < len(MIGRATIONS):
                    self._upgrade_a_copy()
                elif self.schema_version > len(MIGRATIONS):
                    self._migrate()  # says which version wrote it
                else:
                    self.conn.execute("PRAGMA query_only = ON")
                return
            if not memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = self._connect(str(self.path))
            self._refuse_foreign()
            if verify:
                self._refuse_damaged()
            self.conn.execute("PRAGMA foreign_keys = ON")
            mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal" and str(self.path) != ":memory:":
                raise StoreError(f"workspace {self.path}: cannot switch to WAL mode (got {mode})")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.Error as e:
            raise _explain(self.path, e) from e
        except OSError as e:
            raise StoreError(f"workspace {self.path}: {e.strerror or e}") from e

    def _open_read_only(self) -> sqlite3.Connection:
        """``mode=ro``; a WAL file in a folder this user cannot write (no -shm can be
        made) is read as immutable, which SQLite allows only without a writer there."""
        uri = self.path.resolve().as_uri()
        conn = self._connect(f"{uri}?mode=ro", uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
            if os.access(self.path.parent, os.W_OK):
                raise
            return self._connect(f"{uri}?mode=ro&immutable=1", uri=True)

    def _upgrade_a_copy(self) -> None:
        """An older workspace opened read-only is read from an in-memory copy brought to
        the current schema: the file keeps every byte, and writes land nowhere."""
        size = self.path.stat().st_size
        if size > READ_ONLY_COPY_MAX_BYTES:
            raise StoreError(
                f"workspace {self.path}: schema {self.schema_version} is older than this program's "
                f"({len(MIGRATIONS)}) and the file ({size / 1e6:,.0f} MB) is too big to upgrade in "
                "memory; open it once with a command that writes (e.g. generate) to upgrade it")
        memory = self._connect(":memory:")
        self.conn.backup(memory)
        self.conn.close()
        self.conn = memory
        self._migrate()
        self.conn.execute("PRAGMA query_only = ON")

    @staticmethod
    def _connect(target: str, uri: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False, uri=uri)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        return conn

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _refuse_foreign(self) -> None:
        """Ours is empty (new), or has our ``runs`` table at a known schema version."""
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = self.schema_version
        # our migrations set user_version in the transaction that makes the tables
        if tables and ("runs" not in tables or version == 0) or (not tables and version > 0):
            listed = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            self.conn.close()
            raise StoreError(
                f"workspace {self.path}: not a Self-Instruct Studio workspace (an SQLite database "
                f"{'with tables ' + listed if tables else 'of another program'}); it was left untouched, "
                "give a new file name")

    def _refuse_damaged(self) -> None:
        """SQLite's ``quick_check`` (every page, without the slower index cross-checks) must pass."""
        try:
            problems = [r[0] for r in self.conn.execute("PRAGMA quick_check(5)") if r[0] != "ok"]
        except sqlite3.DatabaseError as e:
            problems = [str(e)]
        if problems:
            self.conn.close()
            raise StoreError(
                f"workspace {self.path}: damaged, nothing was written to it (SQLite quick_check: "
                f"{'; '.join(problems)}); restore a backup, or give a new file name", "damaged")

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StoreError(
                f"workspace {self.path}: written by a newer version (schema {version}, "
                f"this program knows {len(MIGRATIONS)}); upgrade Self-Instruct Studio"
            )
        for number in range(version + 1, len(MIGRATIONS) + 1):
            with self.tx() as c:
                # another process may have migrated while this one waited for the write lock
                if c.execute("PRAGMA user_version").fetchone()[0] >= number:
                    continue
                c.executescript_in_tx(MIGRATIONS[number - 1])
                c.execute(f"PRAGMA user_version = {number}")

    @contextlib.contextmanager
    def tx(self) -> Iterator["_Tx"]:
        """One write transaction: all of it lands, or none of it."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise _explain(self.path, e) from e
            try:
                yield _Tx(self.conn)
                self.conn.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise _explain(self.path, e) from e
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """A read; errors become StoreError naming the file."""
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise _explain(self.path, e) from e

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    # ------------------------------------------------------------------ runs
    def create_run(
        self,
        name: str,
        *,
        kind: str = "generate",
        config: dict[str, Any] | None = None,
        language: str = "en",
        source_run_id: int | None = None,
        tasks: Sequence[Task] = (),
        origin: str | None = None,
        state: str = "new",
        status: str = "",
    ) -> RunInfo:
        """Create a run, with its first tasks (seeds, imported records) in the same transaction:
        a failure leaves no run behind."""
        now = time.time()
        with self.tx() as c:
            if c.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"workspace {self.path}: a run named {name!r} already exists")
            cur = c.execute(
                "INSERT INTO runs(name, kind, config, state, status, language, source_run_id, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, kind, json.dumps(config or {}), state, status, language, source_run_id, now, now),
            )
            _insert_tasks(c, int(cur.lastrowid), tasks, origin)
        return self.run(name)

    def run(self, name_or_id: str | int) -> RunInfo:
        col = "id" if isinstance(name_or_id, int) else "name"
        rows = self.query(f"SELECT * FROM runs WHERE {col} = ?", (name_or_id,))
        if not rows:
            known = ", ".join(r.name for r in self.runs()) or "none"
            raise StoreError(f"workspace {self.path}: no run {name_or_id!r} (runs: {known})")
        return _run_info(rows[0])

    def runs(self) -> list[RunInfo]:
        return [_run_info(r) for r in self.query("SELECT * FROM runs ORDER BY id")]

    def default_run(self) -> RunInfo:
        """The newest run: what commands use when no run is named."""
        rows = self.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
        if not rows:
            raise StoreError(f"workspace {self.path}: holds no run yet")
        return _run_info(rows[0])

    def set_run_state(self, run_id: int, state: str, status: str = "") -> None:
        """``status`` is often an endpoint's error: stored without keys or URL credentials."""
        with self.tx() as c:
            c.execute(
                "UPDATE runs SET state = ?, status = ?, updated_at = ? WHERE id = ?",
                (state, redact(status), time.time(), run_id),
            )

    def set_run_config(self, run_id: int, config: dict[str, Any]) -> None:
        """Replace a run's settings; refused while another process writes the run,
        since its data would then be described by settings it was not made with."""
        with self.tx() as c:
            self._refuse_holder(c, _run_lock(run_id), self._run_label(run_id), None, reentrant=True)
            c.execute(
                "UPDATE runs SET config = ?, updated_at = ? WHERE id = ?",
                (json.dumps(config), time.time(), run_id),
            )

    # ------------------------------------------------------------------ locks
    def acquire_lock(self, name: str, owner: str, *, what: str | None = None, reentrant: bool = False) -> None:
        """Hold the lock ``name`` for this process until ``release_lock``; refused (RunLockedError,
        naming ``what``, default ``name``) while another live process holds it, and while this
        one does unless ``reentrant`` and under the same ``owner`` (taken again, it is refreshed)."""
        with self.tx() as c:
            self._refuse_holder(c, name, what or name, owner, reentrant=reentrant)
            c.execute("INSERT OR REPLACE INTO locks(name, owner, pid, host, heartbeat) VALUES (?,?,?,?,?)",
                      (name, owner, os.getpid(), socket.gethostname(), time.time()))

    def release_lock(self, name: str) -> None:
        """Give up the lock ``name`` if this process holds it."""
        with self.tx() as c:
            c.execute("DELETE FROM locks WHERE name = ? AND pid = ? AND host = ?",
                      (name, os.getpid(), socket.gethostname()))

    @contextlib.contextmanager
    def lock(self, name: str, owner: str) -> Iterator[None]:
        """Hold the lock ``name`` while the block runs (``acquire_lock``), so two jobs never pay
        for (or write) the same answers."""
        self.acquire_lock(name, owner)
        try:
            yield
        finally:
            self.release_lock(name)

    def heartbeat_lock(self, name: str) -> None:
        """Say this process still holds ``name``: another host trusts a lock only while it heartbeats."""
        with self.tx() as c:
            c.execute("UPDATE locks SET heartbeat = ? WHERE name = ? AND pid = ?", (time.time(), name, os.getpid()))

    def lock_holder(self, name: str) -> dict[str, Any] | None:
        """The lock ``name`` with ``alive``: False when its process is gone
        (a kill or crash leaves the row; the next holder takes it over)."""
        rows = self.query("SELECT * FROM locks WHERE name = ?", (name,))
        if not rows:
            return None
        lock = dict(rows[0])
        lock["alive"] = _lock_alive(lock)
        return lock

    def _refuse_holder(self, c: "_Tx", name: str, what: str, owner: str | None, *, reentrant: bool) -> None:
        """Raise RunLockedError while another live process holds ``name``; while this one does,
        unless ``reentrant`` and it holds it as ``owner`` (None: as anyone)."""
        row = c.execute("SELECT * FROM locks WHERE name = ?", (name,)).fetchone()
        if row is None:
            return
        if _held_here(row):
            if not reentrant:
                raise RunLockedError(f"workspace {self.path}: {what} is already being written by this process")
            if owner in (None, row["owner"]):
                return
        if _lock_alive(dict(row)):
            raise RunLockedError(
                f"workspace {self.path}: {what} is being written by {row['owner']} "
                f"(pid {row['pid']} on {row['host']}); stop it first or wait for it to finish")

    # a run's writer lock: the lock named for the run, taken again by its own owner on resume
    def acquire_run_lock(self, run_id: int, owner: str) -> None:
        """Claim the run for this process; refuse while another live writer holds it."""
        self.acquire_lock(_run_lock(run_id), owner, what=self._run_label(run_id), reentrant=True)

    def release_run_lock(self, run_id: int) -> None:
        self.release_lock(_run_lock(run_id))

    def heartbeat(self, run_id: int) -> None:
        self.heartbeat_lock(_run_lock(run_id))

    def run_lock(self, run_id: int) -> dict[str, Any] | None:
        """The run's writer lock (``lock_holder``)."""
        return self.lock_holder(_run_lock(run_id))

    def _run_label(self, run_id: int) -> str:
        name = self.scalar("SELECT name FROM runs WHERE id = ?", (run_id,))
        return f"run {(name if name is not None else run_id)!r}"

    # ------------------------------------------------------------------ LM calls
    def cached_response(self, cache_key: str) -> tuple[int, LMResponse] | None:
        """The stored answer to an identical earlier request, if any succeeded."""
        rows = self.query(
            "SELECT * FROM lm_calls WHERE cache_key = ? AND error IS NULL ORDER BY id LIMIT 1",
            (cache_key,),
        )
        if not rows:
            return None
        r = rows[0]
        return r["id"], LMResponse(
            text=r["text"] or "",
            finish_reason=r["finish_reason"] or "stop",
            tokens_in=r["tokens_in"],
            tokens_out=r["tokens_out"],
            latency_s=r["latency_s"],
            cached=True,
        )

    def record_call(
        self,
        run_id: int | None,
        model: str,
        request: LMRequest,
        response: LMResponse | None = None,
        error: LMError | None = None,
    ) -> int:
        """Log one LM call (answer or failure) before anyone uses its result; errors and
        faults are an endpoint's words, stored without keys or URL credentials."""
        faults = [redact(f) for f in (response.faults if response else (error.faults if error else []))]
        with self.tx() as c:
            cur = c.execute(
                "INSERT INTO lm_calls(run_id, step, cache_key, model, prompt, params, text, finish_reason,"
                " tokens_in, tokens_out, latency_s, error, faults, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    request.step,
                    request.cache_key(model),
                    model,
                    request.prompt,
                    json.dumps(request.params()),
                    response.text if response else None,
                    response.finish_reason if response else None,
                    response.tokens_in if response else 0,
                    response.tokens_out if response else 0,
                    response.latency_s if response else 0.0,
                    None if error is None else redact(f"{type(error).__name__}: {error}"),
                    json.dumps(faults),
                    time.time(),
                ),
            )
            return int(cur.lastrowid)

    def call(self, call_id: int) -> dict[str, Any]:
        rows = self.query("SELECT * FROM lm_calls WHERE id = ?", (call_id,))
        if not rows:
            raise StoreError(f"workspace {self.path}: no LM call {call_id}")
        d = dict(rows[0])
        d["params"] = json.loads(d["params"])
        d["faults"] = json.loads(d["faults"])
        return d

    def usage(self, run_id: int, steps: Sequence[str] | None = None) -> dict[str, Any]:
        """Calls, tokens, faults and errors of a run (cache hits cost nothing and add nothing),
        of every step or only of ``steps``."""
        return sum_usage(self.usage_by_step(run_id), steps)

    def usage_by_step(self, run_id: int) -> dict[str, dict[str, Any]]:
        """``usage`` of a run split by the step that made each call (``lm_calls.step``:
        instructions, classify, instances, answer, translate, judge…)."""
        rows = self.query(
            "SELECT step, COUNT(*) AS calls, COALESCE(SUM(tokens_in),0) AS tin, COALESCE(SUM(tokens_out),0) AS tout,"
            " COALESCE(SUM(error IS NOT NULL),0) AS errors, COALESCE(SUM(latency_s),0) AS secs,"
            " COALESCE(SUM(json_array_length(faults)),0) AS faults FROM lm_calls WHERE run_id = ? GROUP BY step",
            (run_id,),
        )
        return {r["step"]: {"calls": r["calls"], "tokens_in": r["tin"], "tokens_out": r["tout"],
                            "errors": r["errors"], "faults": r["faults"], "lm_seconds": r["secs"]} for r in rows}

    # ------------------------------------------------------------------ instructions
    def add_tasks(self, run_id: int, tasks: Sequence[Task], *, origin: str | None = None) -> int:
        """Append tasks (seeds or imported records) with their instances, in one transaction."""
        with self.tx() as c:
            _insert_tasks(c, run_id, tasks, origin)
        return len(tasks)

    def instructions(
        self,
        run_id: int,
        *,
        origin: str | Sequence[str] | None = None,
        verdict: str | None = None,
        iteration: int | None = None,
    ) -> list[InstructionRow]:
        sql, params = "SELECT * FROM instructions WHERE run_id = ?", [run_id]
        if origin is not None:
            origins = [origin] if isinstance(origin, str) else list(origin)
            sql += f" AND origin IN ({','.join('?' * len(origins))})"
            params += origins
        if verdict is not None:
            sql += " AND verdict = ?"
            params.append(verdict)
        if iteration is not None:
            sql += " AND iteration = ?"
            params.append(iteration)
        return [_instruction_row(r) for r in self.query(sql + " ORDER BY seq", params)]

    def instances(self, instruction_ids: Sequence[int] | None = None, *, run_id: int | None = None) -> list[InstanceRow]:
        if run_id is not None:
            rows = self.query(
                "SELECT i.* FROM instances i JOIN instructions t ON t.id = i.instruction_id"
                " WHERE t.run_id = ? ORDER BY t.seq, i.position",
                (run_id,),
            )
        else:
            ids = list(instruction_ids or [])
            rows = []
            for start in range(0, len(ids), 900):
                chunk = ids[start : start + 900]
                rows += self.query(
                    f"SELECT * FROM instances WHERE instruction_id IN ({','.join('?' * len(chunk))})"
                    " ORDER BY instruction_id, position",
                    chunk,
                )
        return [_instance_row(r) for r in rows]

    def tasks(
        self,
        run_id: int,
        *,
        origin: str | Sequence[str] | None = None,
        kept_only: bool = True,
    ) -> list[Task]:
        """Instructions with their instances as ``Task`` records (kept ones only by default)."""
        rows = self.instructions(run_id, origin=origin, verdict="keep" if kept_only else None)
        by_instr: dict[int, list[Instance]] = {r.id: [] for r in rows}
        for inst in self.instances(run_id=run_id):
            if inst.instruction_id in by_instr and (inst.verdict == "keep" or not kept_only):
                by_instr[inst.instruction_id].append(Instance(inst.input, inst.output))
        return [
            Task(
                id=r.external_id or str(r.id),
                instruction=r.text,
                instances=tuple(by_instr[r.id]),
                is_classification=r.is_classification,
                name=r.name,
                origin=r.origin,
            )
            for r in rows
        ]

    def counts(self, run_id: int) -> dict[str, Any]:
        """Sizes for status lines: seeds, candidates, kept, drop reasons, instances."""
        rows = self.query(
            "SELECT origin, verdict, reason, COUNT(*) AS n FROM instructions WHERE run_id = ?"
            " GROUP BY origin, verdict, reason",
            (run_id,),
        )
        out: dict[str, Any] = {"seeds": 0, "generated": 0, "kept": 0, "dropped": 0, "reasons": {}}
        for r in rows:
            if r["origin"] == "machine":
                out["generated"] += r["n"]
                if r["verdict"] == "keep":
                    out["kept"] += r["n"]
                else:
                    out["dropped"] += r["n"]
                    out["reasons"][r["reason"]] = out["reasons"].get(r["reason"], 0) + r["n"]
            elif r["origin"] == "seed":
                out["seeds"] += r["n"]
            else:
                out[r["origin"]] = out.get(r["origin"], 0) + r["n"]
        inst = self.query(
            "SELECT i.verdict AS v, COUNT(*) AS n FROM instances i JOIN instructions t"
            " ON t.id = i.instruction_id WHERE t.run_id = ? AND t.origin = 'machine' GROUP BY i.verdict",
            (run_id,),
        )
        out["instances_kept"] = sum(r["n"] for r in inst if r["v"] == "keep")
        out["instances_dropped"] = sum(r["n"] for r in inst if r["v"] != "keep")
        out["iterations"] = self.completed_iterations(run_id)
        return out

    # ------------------------------------------------------------------ iterations
    def completed_iterations(self, run_id: int) -> int:
        return int(self.scalar("SELECT COUNT(*) FROM iterations WHERE run_id = ?", (run_id,)) or 0)

    def prompts(self, run_id: int, iteration: int) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT * FROM prompts WHERE run_id = ? AND iteration = ? ORDER BY slot", (run_id, iteration)
        )
        return [dict(r) | {"in_context": json.loads(r["in_context"])} for r in rows]

    def prompt_count(self, run_id: int) -> int:
        """Instruction prompts of a run's completed iterations (an iteration stores its prompts
        only once it is complete): what its kept instructions came from."""
        return int(self.scalar("SELECT COUNT(*) FROM prompts WHERE run_id = ?", (run_id,)) or 0)

    def save_iteration(
        self,
        run_id: int,
        iteration: int,
        prompts: Sequence[tuple[list[dict[str, str]], int]],
        candidates: Sequence[dict[str, Any]],
    ) -> None:
        """Land one iteration whole: its prompts, candidates with verdicts, instances, and the mark
        that it is complete. Until that mark exists, a resumed run redoes the iteration."""
        with self.tx() as c:
            prompt_ids = []
            for slot, (in_context, call_id) in enumerate(prompts):
                cur = c.execute(
                    "INSERT INTO prompts(run_id, iteration, slot, in_context, call_id) VALUES (?,?,?,?,?)",
                    (run_id, iteration, slot, json.dumps(in_context), call_id),
                )
                prompt_ids.append(cur.lastrowid)
            seq = _next_seq(c, run_id)
            for cand in candidates:
                iid = c.insert_instruction(
                    run_id=run_id, seq=seq, text=cand["text"], origin="machine", iteration=iteration,
                    prompt_id=prompt_ids[cand["slot"]], is_classification=cand.get("is_classification"),
                    clf_call_id=cand.get("clf_call_id"), inst_call_id=cand.get("inst_call_id"),
                    verdict="keep" if cand["keep"] else "drop", reason=cand["reason"], detail=cand["detail"],
                    max_rouge=cand["max_rouge"], similar=cand["similar"],
                )
                seq += 1
                for pos, (inst, v) in enumerate(cand.get("instances", [])):
                    c.insert_instance(iid, pos, inst.input, inst.output, "keep" if v.keep else "drop", v.reason, v.detail)
            c.execute(
                "INSERT INTO iterations(run_id, iteration, completed_at) VALUES (?,?,?)",
                (run_id, iteration, time.time()),
            )

    # ------------------------------------------------------------------ views
    def save_view(self, run_id: int, name: str, settings: dict[str, Any]) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO views(run_id, name, settings, created_at) VALUES (?,?,?,?)"
                " ON CONFLICT(run_id, name) DO UPDATE SET settings = excluded.settings,"
                " created_at = excluded.created_at",
                (run_id, name, json.dumps(settings), time.time()),
            )

    def view(self, run_id: int, name: str) -> dict[str, Any]:
        rows = self.query("SELECT settings FROM views WHERE run_id = ? AND name = ?", (run_id, name))
        if not rows:
            known = ", ".join(self.views(run_id)) or "none"
            raise StoreError(f"workspace {self.path}: run {run_id} has no view {name!r} (views: {known})")
        return json.loads(rows[0][0])

    def views(self, run_id: int) -> list[str]:
        return [r[0] for r in self.query("SELECT name FROM views WHERE run_id = ? ORDER BY name", (run_id,))]

    # ------------------------------------------------------------------ key-value cache
    def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        keys = list(keys)
        for start in range(0, len(keys), 900):
            chunk = keys[start : start + 900]
            for r in self.query(
                f"SELECT key, value FROM kv_cache WHERE namespace = ? AND key IN ({','.join('?' * len(chunk))})",
                [namespace, *chunk],
            ):
                out[r[0]] = r[1]
        return out

    def put_many(self, namespace: str, items: dict[str, str]) -> None:
        """Cache entries; skipped on a read-only workspace or a full disk, since
        the caller already holds the values and a cache only saves time."""
        with self._cache_write():
            with self.tx() as c:
                c.executemany(
                    "INSERT OR REPLACE INTO kv_cache(namespace, key, value) VALUES (?,?,?)",
                    [(namespace, k, v) for k, v in items.items()],
                )

    @contextlib.contextmanager
    def _cache_write(self) -> Iterator[None]:
        try:
            yield
        except StoreError as e:
            if e.cause not in ("read_only", "disk_full"):
                raise

    def get_blob(self, namespace: str, key: str) -> bytes | None:
        """A binary cache entry (e.g. a similarity graph), or None."""
        rows = self.query("SELECT value FROM kv_cache WHERE namespace = ? AND key = ?", (namespace, key))
        return bytes(rows[0][0]) if rows else None

    def put_blob(self, namespace: str, key: str, value: bytes) -> None:
        """A binary cache entry; skipped, like ``put_many``, where it cannot be written."""
        with self._cache_write():
            with self.tx() as c:
                c.execute("INSERT OR REPLACE INTO kv_cache(namespace, key, value) VALUES (?,?,?)",
                          (namespace, key, sqlite3.Binary(value)))


class _Tx:
    """The cursor-like object a transaction hands out, with the inserts several writers share."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, seq: Any) -> sqlite3.Cursor:
        return self._conn.executemany(sql, seq)

    def executescript_in_tx(self, script: str) -> None:
        """Run DDL statements one by one (executescript would commit the open transaction)."""
        for stmt in _split_sql(script):
            self._conn.execute(stmt)

    def insert_instruction(self, **fields: Any) -> int:
        if "is_classification" in fields and fields["is_classification"] is not None:
            fields["is_classification"] = int(bool(fields["is_classification"]))
        if "similar" in fields and not isinstance(fields["similar"], str):
            fields["similar"] = json.dumps(fields["similar"])
        cols = ",".join(fields)
        cur = self._conn.execute(
            f"INSERT INTO instructions({cols}) VALUES ({','.join('?' * len(fields))})", list(fields.values())
        )
        return int(cur.lastrowid)

    def insert_instance(
        self, instruction_id: int, position: int, input: str, output: str,
        verdict: str = "keep", reason: str | None = None, detail: str = "",
    ) -> int:
        cur = self._conn.execute(
            "INSERT INTO instances(instruction_id, position, input, output, verdict, reason, detail)"
            " VALUES (?,?,?,?,?,?,?)",
            (instruction_id, position, input, output, verdict, reason, detail),
        )
        return int(cur.lastrowid)


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (our DDL has no semicolons inside strings)."""
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _insert_tasks(c: _Tx, run_id: int, tasks: Sequence[Task], origin: str | None) -> None:
    seq = _next_seq(c, run_id)
    for task in tasks:
        iid = c.insert_instruction(
            run_id=run_id, seq=seq, text=task.instruction, origin=origin or task.origin,
            external_id=task.id, name=task.name, is_classification=task.is_classification,
        )
        for pos, inst in enumerate(task.instances):
            c.insert_instance(iid, pos, inst.input, inst.output)
        seq += 1


def _next_seq(c: _Tx, run_id: int) -> int:
    return int(c.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM instructions WHERE run_id = ?", (run_id,)).fetchone()[0])


def sum_usage(by_step: dict[str, dict[str, Any]], steps: Sequence[str] | None = None) -> dict[str, Any]:
    """``Store.usage_by_step`` summed over ``steps`` (all when None): callers that need several
    sums of one run read the table once."""
    total: dict[str, Any] = {"calls": 0, "tokens_in": 0, "tokens_out": 0, "errors": 0, "faults": 0,
                             "lm_seconds": 0.0}
    for step, usage in by_step.items():
        if steps is None or step in steps:
            for k in total:
                total[k] += usage[k]
    return total


def _run_lock(run_id: int) -> str:
    return f"run {run_id}"


def _held_here(lock: sqlite3.Row) -> bool:
    """Whether this process holds the lock ``lock``."""
    return lock["host"] == socket.gethostname() and lock["pid"] == os.getpid()


def _lock_alive(lock: dict[str, Any]) -> bool:
    """A lock of this host is alive while its process is; another host's while it heartbeats."""
    if lock["host"] == socket.gethostname():
        return _pid_alive(lock["pid"])
    return time.time() - lock["heartbeat"] < LOCK_STALE_S


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_info(r: sqlite3.Row) -> RunInfo:
    return RunInfo(
        id=r["id"], name=r["name"], kind=r["kind"], config=json.loads(r["config"]), state=r["state"],
        status=r["status"], source_run_id=r["source_run_id"], language=r["language"],
        created_at=r["created_at"], updated_at=r["updated_at"],
    )


def _instruction_row(r: sqlite3.Row) -> InstructionRow:
    clf = r["is_classification"]
    return InstructionRow(
        id=r["id"], seq=r["seq"], text=r["text"], origin=r["origin"], iteration=r["iteration"],
        is_classification=None if clf is None else bool(clf), verdict=r["verdict"], reason=r["reason"],
        detail=r["detail"], max_rouge=r["max_rouge"],
        similar=[(t, s) for t, s in json.loads(r["similar"])], external_id=r["external_id"],
        name=r["name"], source_id=r["source_id"], prompt_id=r["prompt_id"], clf_call_id=r["clf_call_id"],
        inst_call_id=r["inst_call_id"],
    )


def _instance_row(r: sqlite3.Row) -> InstanceRow:
    return InstanceRow(
        id=r["id"], instruction_id=r["instruction_id"], position=r["position"], input=r["input"],
        output=r["output"], verdict=r["verdict"], reason=r["reason"], detail=r["detail"],
    )
