"""Storage for findings, chosen by one spec string (config `store:` / `--store`).

`open_store` is the only place that maps a spec to a backend, so the CLI, the
API and the runner agree on it: a Redis URL (``redis://``, ``rediss://``,
``unix://``) opens `RedisStore`; anything else is a filesystem path and opens
`SqliteStore`. Both raise `StoreError` when the target is unusable.
"""

from __future__ import annotations

from agent.store.base import Store, StoreError
from agent.store.redis_store import RedisStore
from agent.store.sqlite import SqliteStore

__all__ = ["RedisStore", "SqliteStore", "Store", "StoreError", "open_store"]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_store(spec: str) -> Store:
    if spec.lower().startswith(_REDIS_SCHEMES):
        return RedisStore(spec)
    return SqliteStore(spec)
