"""`starling analyze --redis`: findings land in a real redis-server, readable by another process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.store.redis_store import RedisStore

CAPTURE = (
    Path(__file__).parents[1]
    / "data"
    / "captures"
    / "zeek"
    / "port-scans"
    / "vertical"
    / "conn.log"
)


@pytest.mark.redis
def test_analyze_into_redis(tmp_path: Path, redis_url: str, cli: Callable[..., Any]) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/3"
    out = tmp_path / "o"
    proc = cli("analyze", str(CAPTURE), "-o", str(out), "--json", "--redis", url)
    assert proc.returncode == 0, proc.stderr
    summary = orjson.loads(proc.stdout)
    assert summary["store"]["evidence"] == summary["evidence"] == 2
    assert not (out / "starling.db").exists()
    with RedisStore(url) as store:
        evs = store.evidence(ip="45.33.32.156")
        assert {(e.type, e.attacker) for e in evs} == {("vertical_port_scan", "192.168.1.9")}
        assert store.profiles(ip="192.168.1.9")[0].flows_out == 50


def test_unreachable_redis_is_a_clear_error(
    tmp_path: Path, unused_port: int, cli: Callable[..., Any]
) -> None:
    proc = cli(
        "analyze",
        str(CAPTURE),
        "-o",
        str(tmp_path / "o"),
        "--redis",
        f"redis://127.0.0.1:{unused_port}/0",
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"127.0.0.1:{unused_port}" in proc.stderr
    assert not (tmp_path / "o").exists()
