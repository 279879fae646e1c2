"""TAXII 2.1 push against a real TAXII server: OASIS's `medallion`, memory backend.

The server runs in a subprocess started by the fixture (its own Flask app on
an ephemeral loopback port); objects are read back through TAXII GET with
urllib, independently of the client under test.
"""

from __future__ import annotations

import base64
import http.server
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.exports import stix
from agent.exports.config import ExportsConfig
from agent.exports.service import make_exporters

WRITABLE = "365fed99-08fa-fdcd-a1b3-fb247eb41d01"
READ_ONLY = "472a5f6e-4e7d-4c5c-9d6b-0a3c3c5e9b02"
USER, PASSWORD = "starling", "s3cret"
TAXII = "application/taxii+json;version=2.1"

_SERVER = """
import json, sys
from werkzeug.serving import make_server
from medallion import application_instance, register_blueprints, set_config
config = json.load(open(sys.argv[1]))
for section in ("users", "taxii", "backend"):
    set_config(application_instance, section, config)
register_blueprints(application_instance)
server = make_server("127.0.0.1", 0, application_instance, threaded=True)
print(server.port, flush=True)
server.serve_forever()
"""


def _collection(cid: str, title: str, *, can_write: bool) -> dict[str, Any]:
    return {
        "id": cid,
        "title": title,
        "can_read": True,
        "can_write": can_write,
        "media_types": ["application/stix+json;version=2.1"],
        "objects": [],
        "manifest": [],
    }


@dataclass
class Taxii:
    base: str  # server root, e.g. http://127.0.0.1:PORT/
    api_root: str  # http://127.0.0.1:PORT/api1/

    def objects(self, collection: str = WRITABLE) -> list[dict[str, Any]]:
        """Every object of a collection, through TAXII GET (following `more`/`next`)."""
        out: list[dict[str, Any]] = []
        url = f"{self.api_root}collections/{collection}/objects/?limit=100"
        next_url: str | None = url
        while next_url:
            req = urllib.request.Request(next_url, headers=_headers())
            with urllib.request.urlopen(req, timeout=10) as resp:
                envelope = json.loads(resp.read())
            out += envelope.get("objects", [])
            nxt = envelope.get("next")
            next_url = f"{url}&next={nxt}" if envelope.get("more") and nxt else None
        return out


def _headers() -> dict[str, str]:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return {"Accept": TAXII, "Authorization": f"Basic {token}"}


@pytest.fixture
def taxii_server(tmp_path: Path) -> Iterator[Taxii]:
    data = {
        "/discovery": {
            "title": "Starling test TAXII server",
            "default": "http://127.0.0.1/api1/",
            "api_roots": ["http://127.0.0.1/api1/"],
        },
        "api1": {
            "information": {
                "title": "Test API root",
                "versions": [TAXII],
                "max_content_length": 10_000_000,
            },
            "status": [],
            "collections": [
                _collection(WRITABLE, "Starling findings", can_write=True),
                _collection(READ_ONLY, "Read only", can_write=False),
            ],
        },
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(tmp_path / "data.json"),
        },
        "users": {USER: PASSWORD},
        "taxii": {"max_page_size": 100},
    }
    (tmp_path / "medallion.json").write_text(json.dumps(config))
    log = tmp_path / "medallion.log"
    with log.open("wb") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(tmp_path / "medallion.json")],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            proc.kill()
            pytest.fail(f"medallion did not start: {log.read_text()}")
        base = f"http://127.0.0.1:{int(line)}/"
        yield Taxii(base, f"{base}api1/")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _cfg(url: str, collection: str = WRITABLE, **extra: Any) -> ExportsConfig:
    taxii = {
        "enabled": True,
        "url": url,
        "collection_id": collection,
        "username": USER,
        "password": PASSWORD,
        "batch_size": 2,
        "period_seconds": 0.2,
        "backoff_seconds": 0.05,
        **extra,
    }
    return ExportsConfig.model_validate({"taxii": taxii, "identity_name": "sensor-1"})


def _expected(findings: Any) -> list[dict[str, Any]]:
    ident = stix.identity("sensor-1")
    out = [ident]
    for ev in findings.evidence:
        out += stix.evidence_objects(ev, ident, valid_seconds=24 * 3600)
    out += stix.alert_objects(
        findings.alert, ident, related=findings.evidence, valid_seconds=24 * 3600
    )
    return out


def test_objects_arrive_in_the_collection(taxii_server: Taxii, findings: Any) -> None:
    exporters = make_exporters(_cfg(taxii_server.api_root), "0.1.0")
    assert exporters is not None
    for f in findings.all:
        exporters.on_finding(f)
    stats = exporters.close(20)["taxii"]
    expected = _expected(findings)
    assert [o["type"] for o in expected] == [
        "identity", "indicator", "indicator", "indicator", "sighting",
    ]  # fmt: skip
    assert stats["errors"] == 0, stats
    assert stats["sent"] == len(expected) == 5
    assert stats["pushes"] == 3  # batches of 2: 2 + 2 + 1
    got = {o["id"]: o for o in taxii_server.objects()}
    assert got == {o["id"]: o for o in expected}  # byte-for-byte what we made
    sighting = next(o for o in got.values() if o["type"] == "sighting")
    assert got[sighting["sighting_of_ref"]]["pattern"] == "[ipv4-addr:value = '203.0.113.5']"


def test_a_re_export_is_idempotent(taxii_server: Taxii, findings: Any) -> None:
    for run in range(2):
        exporters = make_exporters(_cfg(taxii_server.api_root), "0.1.0")
        assert exporters is not None
        for f in findings.all:
            exporters.on_finding(f)
        stats = exporters.close(20)["taxii"]
        assert stats["errors"] == 0
        if run == 1:  # same ids and versions: the server already holds every object
            assert stats["sent"] == 0
            assert stats["refused_by_server"] == 5
    assert len(taxii_server.objects()) == 5


def test_wrong_password_is_not_retried(taxii_server: Taxii, findings: Any) -> None:
    exporters = make_exporters(_cfg(taxii_server.api_root, password="wrong"), "0.1.0")
    assert exporters is not None
    exporters.on_finding(findings.alert)
    stats = exporters.close(20)["taxii"]
    assert stats["errors_by_reason"] == {"http_401": 1}
    assert stats.get("retries", 0) == 0
    assert stats["dropped_rejected"] == 3 and stats["sent"] == 0
    assert taxii_server.objects() == []


def test_read_only_collection_is_refused(taxii_server: Taxii, findings: Any) -> None:
    exporters = make_exporters(_cfg(taxii_server.api_root, READ_ONLY), "0.1.0")
    assert exporters is not None
    exporters.on_finding(findings.alert)
    stats = exporters.close(20)["taxii"]
    assert stats["errors_by_reason"] == {"http_403": 1}
    assert taxii_server.objects(READ_ONLY) == []


def test_the_server_checks_credentials(taxii_server: Taxii) -> None:
    """A GET without credentials is refused: the 401 above is the server's, not ours."""
    req = urllib.request.Request(
        f"{taxii_server.api_root}collections/{WRITABLE}/objects/", headers={"Accept": TAXII}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 401
    err.value.close()


@pytest.fixture
def pending_server() -> Iterator[tuple[str, list[str]]]:
    """A TAXII stand-in whose POST answers 'pending' and whose status completes later
    (medallion completes at once, so the polling path needs its own server)."""

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(202 if self.command == "POST" else 200)
            self.send_header("Content-Type", TAXII)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            seen.append(f"POST {self.path} {self.headers['Content-Type']}")
            self.rfile.read(int(self.headers["Content-Length"]))
            self._answer({"id": "s-1", "status": "pending", "total_count": 3, "pending_count": 3})

        def do_GET(self) -> None:
            seen.append(f"GET {self.path}")
            polls = sum(1 for s in seen if s.startswith("GET"))
            if polls < 2:
                self._answer({"id": "s-1", "status": "pending", "pending_count": 3})
            else:
                self._answer({"id": "s-1", "status": "complete", "success_count": 3})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/root/", seen
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_pending_status_is_followed(pending_server: Any, findings: Any) -> None:
    url, seen = pending_server
    exporters = make_exporters(_cfg(url, batch_size=10, poll_status=True), "0.1.0")
    assert exporters is not None
    exporters.on_finding(findings.alert)
    stats = exporters.close(20)["taxii"]
    assert seen == [
        f"POST /root/collections/{WRITABLE}/objects/ {TAXII}",
        "GET /root/status/s-1/",
        "GET /root/status/s-1/",
    ]
    assert stats["sent"] == 3 and stats.get("pending_on_server", 0) == 0
