"""`starling intel update|list|lookup` as a user runs them, end to end: a feed list
pointing at a local aiohttp server (the real feed URLs are unreachable here),
the download cache, the index, and `analyze` raising evidence from a downloaded
feed."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

CAPTURES = Path(__file__).parents[2] / "data" / "captures" / "zeek"

FEODO = b"""################################################################
# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #
################################################################
#
# "first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"
"2021-01-17 07:44:46","194.132.197.198","80","online","2026-11-26","Dridex"
"2021-01-17 07:44:46","203.0.113.50","447","online","2026-11-26","TrickBot"
# END 2 entries
"""
DOMAINS = b"# bad domains\nbad.example\nevil-tracker.example\n"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, int]]]:
    hits: dict[str, int] = {}

    async def feed(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        hits[name] = hits.get(name, 0) + 1
        if name == "broken.txt":
            return web.Response(status=500, text="down")
        body = {"ipblocklist.csv": FEODO, "domains.txt": DOMAINS}.get(name)
        if body is None:
            return web.Response(status=404)
        etag = f'"{name}-1"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        return web.Response(body=body, headers={"ETag": etag})

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/{name}", feed)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", hits
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@pytest.fixture
def config(tmp_path: Path, server: tuple[str, dict[str, int]]) -> Path:
    base, _ = server
    feeds = tmp_path / "TI_feeds.csv"
    feeds.write_text(
        "# test feeds\n"
        f"{base}/ipblocklist.csv,high, ['botnet']\n"
        f"{base}/domains.txt,medium, ['malicious']\n"
        f"{base}/broken.txt,low, ['x']\n"
        f"#{base}/paused.txt,low, ['x']\n"
    )
    cfg = tmp_path / "starling.yaml"
    cfg.write_text(
        f"intel:\n  feed_lists: [{feeds}]\n  cache_dir: {tmp_path / 'cache'}\n"
        "  update_timeout_seconds: 5\n"
    )
    return cfg


def test_update_list_lookup_and_analyze(
    config: Path, server: tuple[str, dict[str, int]], tmp_path: Path
) -> None:
    _, hits = server
    first = cli("intel", "update", "-c", str(config), "-o", "json")
    assert first.returncode == 0, first.stderr
    status = {
        f["name"].rsplit("/", 1)[-1]: f["status"] for f in orjson.loads(first.stdout)["feeds"]
    }
    assert status == {"ipblocklist.csv": "updated", "domains.txt": "updated",
                      "broken.txt": "failed", "paused.txt": "paused"}  # fmt: skip
    assert hits["broken.txt"] == 3  # retried with back-off
    # within the period nothing is downloaded again; --force asks with the ETag -> 304
    again = cli("intel", "update", "-c", str(config), "-o", "json", "--force")
    status = {
        f["name"].rsplit("/", 1)[-1]: f["status"] for f in orjson.loads(again.stdout)["feeds"]
    }
    assert status["ipblocklist.csv"] == "not_modified" and hits["ipblocklist.csv"] == 2

    listing = orjson.loads(cli("intel", "list", "-c", str(config), "-o", "json").stdout)
    counts = {f["name"].rsplit("/", 1)[-1]: f["indicators"] for f in listing["feeds"]}
    assert counts["ipblocklist.csv"] == 2 and counts["domains.txt"] == 2
    assert counts["broken.txt"] is None and listing["never_downloaded"]

    found = cli("intel", "lookup", "www.bad.example", "-c", str(config), "-o", "json")
    (match,) = orjson.loads(found.stdout)["matches"]
    assert found.returncode == 0 and match["indicator"] == "bad.example" and match["parent"]
    missing = cli("intel", "lookup", "198.51.100.99", "-c", str(config))
    assert missing.returncode == 1 and "not listed" in missing.stdout

    out = tmp_path / "out"
    run = cli("analyze", str(CAPTURES / "test9-mixed-zeek-dir"), "-o", str(out),
              "-c", str(config), "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    evidence = [orjson.loads(x) for x in (out / "alerts.json").read_bytes().splitlines()]
    intel_ip = [e for e in evidence if e.get("evidence_type", e.get("type")) == "threat_intel_ip"]
    assert intel_ip, "the Feodo-listed 194.132.197.198 in test9 must be found"
    assert all("194.132.197.198" in orjson.dumps(e).decode() for e in intel_ip)


def test_lookup_the_bundled_local_iocs(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"intel:\n  cache_dir: {tmp_path / 'cache'}\n")
    hit = cli("intel", "lookup", "sub.bncv00.no-ip.info", "-c", str(cfg), "-o", "json")
    (match,) = orjson.loads(hit.stdout)["matches"]
    assert match["feed"] == "local:own_malicious_iocs.csv" and match["threat_level"] == "critical"
    assert match["description"] == "Variant.Zusy" and match["parent"] is True
    ja3 = cli("intel", "lookup", "6734f37431670b3ab4292b8f60f29984", "-c", str(cfg))
    assert ja3.returncode == 0 and "Trickbot" in ja3.stdout
    bad = cli("intel", "lookup", "x", "-c", str(cfg), "-o", "yaml")
    assert bad.returncode == 2 and "unknown --output" in bad.stderr
