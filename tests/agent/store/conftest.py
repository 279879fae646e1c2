"""Fixtures for the store contract: fresh targets of every backend, and a real redis-server.

`new_target()` returns an opener for a fresh, empty storage target (a new
SQLite file, or a new Redis namespace on the session's server); each call of
the opener is a new Store instance on that same target, which is how tests
get a second reader. Every store opened this way is closed at teardown.

The Redis backend is tested against a real server, never a fake: a missing
binary is a failure (CI installs it), not a skip.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator

import pytest

from agent.store.base import Store
from agent.store.redis_store import RedisStore
from agent.store.sqlite import SqliteStore

Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def new_target(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], Opener]]:
    # tmp_path_factory rather than tmp_path: hypothesis calls new_target once per example.
    url = request.getfixturevalue("redis_url") if backend == "redis" else None
    opened: list[Store] = []
    counter = itertools.count()

    def new() -> Opener:
        path = tmp_path_factory.mktemp("store") / f"store{next(counter)}.db"
        namespace = f"test-{uuid.uuid4().hex}"

        def open_() -> Store:
            store = SqliteStore(path) if url is None else RedisStore(url, namespace=namespace)
            opened.append(store)
            return store

        return open_

    yield new
    for store in opened:
        store.close()


@pytest.fixture
def store(new_target: Callable[[], Opener]) -> Store:
    return new_target()()
