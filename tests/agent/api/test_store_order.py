"""`newest_first` on Store.evidence / Store.alerts, added for the API's `order=desc`
(both backends; here because tests/agent/store belongs to the store's own suite)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.store.base import Store
from agent.store.redis_store import RedisStore
from agent.store.sqlite import SqliteStore
from detection.model import Alert, Evidence, ThreatLevel


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "redis":
        s: Store = RedisStore(
            request.getfixturevalue("redis_url"), namespace=f"t-{uuid.uuid4().hex}"
        )
    else:
        s = SqliteStore(tmp_path / "s.db")
    yield s
    s.close()


def _evidence(i: int, ts: float, source: str = "local:x") -> Evidence:
    return Evidence(
        f"type{i % 2}", "45.33.32.156", None, ThreatLevel.LOW, 0.5, ts, 0, f"e{i}", source
    )


def test_newest_first_is_the_exact_reverse(store: Store) -> None:
    # equal timestamps included: the reverse of (ts, id) is (ts desc, id desc)
    items = [_evidence(i, float(i // 3), "local:x" if i % 4 else "peer:p") for i in range(40)]
    store.add_evidence(items)
    alerts = [
        Alert(
            "45.33.32.156",
            i,
            float(i // 2),
            1.0,
            0.5,
            (f"e{i}",),
            ("t",),
            (),
            (),
            0.5,
            ThreatLevel.LOW,
            f"a{i}",
        )
        for i in range(20)
    ]
    store.add_alerts(alerts)
    for kwargs in (
        {},
        {"ip": "45.33.32.156"},
        {"type": "type1"},
        {"source": "local:"},
        {"since": 5.0},
        {"type": "type0", "ip": "45.33.32.156"},
    ):
        forward = store.evidence(**kwargs, limit=1000)  # type: ignore[arg-type]
        backward = store.evidence(**kwargs, limit=1000, newest_first=True)  # type: ignore[arg-type]
        assert forward and backward == forward[::-1], kwargs
        page = store.evidence(**kwargs, limit=3, offset=2, newest_first=True)  # type: ignore[arg-type]
        assert page == backward[2:5]
    assert store.alerts(newest_first=True, limit=1000) == store.alerts(limit=1000)[::-1]
    assert store.alerts(since=4.0, newest_first=True, limit=2) == store.alerts(since=4.0)[::-1][:2]
