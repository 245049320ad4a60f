"""The string key-value cache the analysis modules keep results in (parses, scores), as they see
it: the workspace (``store.Store.get_many/put_many``) in the app, a dict in tests and one-off
commands. Its own module so analysis, diversity and scaling share it without importing each other."""

from __future__ import annotations

from typing import Protocol, Sequence


class KVCache(Protocol):
    """String key-value store grouped by namespace; the SQLite store implements it."""

    def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]: ...

    def put_many(self, namespace: str, items: dict[str, str]) -> None: ...


class DictCache:
    """In-memory ``KVCache`` for tests and for the CLI when no store is open."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, str]] = {}

    def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        space = self.data.get(namespace, {})
        return {k: space[k] for k in keys if k in space}

    def put_many(self, namespace: str, items: dict[str, str]) -> None:
        self.data.setdefault(namespace, {}).update(items)
