"""Jobs sent to a Batch API, as the workspace remembers them.

A batch is stored the moment the API accepts it, before anyone waits on it, so a
process killed while it is pending finds it here when the same requests are asked
again, and collects it instead of paying for them a second time.
"""

from __future__ import annotations

import time

from ..redact import redact
from .core import Store

# Batches whose results are in hand (collected), can never come (failed: refused whole), or that the
# API no longer knows (lost); any other state may still be collected.
FINISHED = ("collected", "failed", "lost")


class BatchTable:
    """The ``batches`` table of one workspace, as ``lm.batch_api.BatchLog``."""

    def __init__(self, store: Store):
        self.store = store

    def record_batch(self, batch_id: str, model: str, endpoint: str, keys_hash: str, n_requests: int,
                     state: str) -> None:
        """Remember a batch the API accepted (before it is polled)."""
        now = time.time()
        with self.store.tx() as c:
            c.execute(
                "INSERT INTO batches(batch_id, model, endpoint, keys_hash, n_requests, state, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (batch_id, model, endpoint, keys_hash, n_requests, state, now, now),
            )

    def open_batch(self, model: str, endpoint: str, keys_hash: str) -> str | None:
        """The newest batch of exactly these requests (``keys_hash``) whose results are still to collect."""
        return self.store.scalar(
            f"SELECT batch_id FROM batches WHERE model = ? AND endpoint = ? AND keys_hash = ?"
            f" AND state NOT IN ({','.join('?' * len(FINISHED))}) ORDER BY id DESC LIMIT 1",
            (model, endpoint, keys_hash, *FINISHED),
        )

    def set_batch_state(self, batch_id: str, state: str, error: str | None = None) -> None:
        """Note the API's status of a batch, or that it was collected or lost (``error``: an endpoint's
        words, stored without keys or URL credentials)."""
        with self.store.tx() as c:
            c.execute("UPDATE batches SET state = ?, error = COALESCE(?, error), updated_at = ? WHERE batch_id = ?",
                      (state, None if error is None else redact(error), time.time(), batch_id))
