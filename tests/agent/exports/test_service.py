"""`Exporters`: the STIX file, failure isolation, a bounded queue, and the real pipeline."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import stix2

from agent.analyze import analyze
from agent.config import load_config
from agent.exports import stix
from agent.exports.config import ExportsConfig
from agent.exports.service import make_exporters
from agent.exports.syslog import parse_cef, parse_rfc5424

CAPTURE = Path(__file__).parents[2] / "data" / "captures" / "zeek" / "port-scans" / "horizontal"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


# -- the STIX file ----------------------------------------------------------------------------


def test_jsonl_file(tmp_path: Path, findings: Any) -> None:
    path = tmp_path / "out" / "stix.jsonl"
    cfg = ExportsConfig.model_validate({"stix": {"enabled": True, "path": str(path)}})
    exporters = make_exporters(cfg, "0.1.0")
    assert exporters is not None
    for f in findings.all:
        exporters.on_finding(f)
    stats = exporters.close(5)["stix"]
    objs = _lines(path)
    assert [o["type"] for o in objs] == [
        "identity",
        "indicator",
        "indicator",
        "indicator",
        "sighting",
    ]
    assert stats["sent"] == 4 and stats["errors"] == 0
    ident = objs[0]
    expected = stix.alert_objects(
        findings.alert, ident, related=findings.evidence, valid_seconds=86400
    )
    assert objs[3:] == expected  # the alert's evidence was remembered for it
    for o in objs:
        stix2.parse(orjson.dumps(o).decode(), allow_custom=False)


def test_evidence_below_min_threat_is_not_exported(
    tmp_path: Path, evidence_factory: Any, alert_factory: Any
) -> None:
    from detection.model import ThreatLevel

    path = tmp_path / "stix.jsonl"
    cfg = ExportsConfig.model_validate(
        {"stix": {"enabled": True, "path": str(path), "min_threat": "high"}}
    )
    low = evidence_factory(level=ThreatLevel.LOW)
    exporters = make_exporters(cfg, "0.1.0")
    assert exporters is not None
    exporters.on_finding(low)
    exporters.on_finding(alert_factory([low]))
    exporters.close(5)
    types = [o["type"] for o in _lines(path)]
    assert types == ["identity", "indicator", "sighting"]  # the alert only


def test_private_attackers_can_be_left_out(
    tmp_path: Path, evidence_factory: Any, alert_factory: Any
) -> None:
    path = tmp_path / "stix.jsonl"
    cfg = ExportsConfig.model_validate(
        {"stix": {"enabled": True, "path": str(path), "skip_private": True}}
    )
    exporters = make_exporters(cfg, "0.1.0")
    assert exporters is not None
    for attacker in ("192.168.1.9", "fd00::1", "198.51.100.7"):
        ev = evidence_factory(attacker)
        exporters.on_finding(ev)
        exporters.on_finding(alert_factory([ev]))
    exporters.close(5)
    patterns = {o["pattern"] for o in _lines(path) if o["type"] == "indicator"}
    assert patterns == {"[ipv4-addr:value = '198.51.100.7']"}


def test_bundle_file(tmp_path: Path, findings: Any, evidence_factory: Any) -> None:
    path = tmp_path / "stix.json"
    cfg = ExportsConfig.model_validate(
        {"stix": {"enabled": True, "path": str(path), "format": "bundle", "max_objects": 3}}
    )
    exporters = make_exporters(cfg, "0.1.0")
    assert exporters is not None
    for f in [*findings.all, findings.evidence[1]]:  # a repeat is kept once
        exporters.on_finding(f)
    stats = exporters.close(5)["stix"]
    parsed = stix2.parse(path.read_text(), allow_custom=False)
    ids = [o.id for o in parsed.objects]
    assert parsed.type == "bundle" and ids[0].startswith("identity--")
    ident = stix.identity("Starling")
    alert_objs = stix.alert_objects(findings.alert, ident, related=findings.evidence)
    [second] = stix.evidence_objects(findings.evidence[1], ident)
    # identity + the 3 most recently exported; the first evidence's indicator went first
    assert ids == [ident["id"], *(o["id"] for o in alert_objs), second["id"]]
    assert stats["evicted"] == 1
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


# -- failure isolation ------------------------------------------------------------------------


def test_a_failing_webhook_does_not_stop_syslog(
    webhook: Any, udp_receiver: Any, findings: Any, eventually: Any
) -> None:
    webhook.plan = [500] * 100
    cfg = ExportsConfig.model_validate(
        {
            "slack": {"enabled": True, "webhook_url": webhook.url, "min_interval_seconds": 0,
                      "retries": 1, "backoff_seconds": 0.01, "alerts_only": False},
            "syslog": {"enabled": True, "port": udp_receiver.port, "min_threat": "info"},
        }
    )  # fmt: skip
    exporters = make_exporters(cfg, "0.1.0")
    assert exporters is not None
    for f in findings.all:
        exporters.on_finding(f)
    assert eventually(lambda: len(udp_receiver.snapshot()) == 3)
    stats = exporters.close(10)
    assert stats["syslog"]["sent"] == 3 and stats["syslog"]["errors"] == 0
    assert stats["slack"]["sent"] == 0 and stats["slack"]["errors"] == 3
    assert stats["slack"]["errors_by_reason"] == {"http_500": 3}


def test_closed_ports_are_counted_and_the_file_is_still_written(
    tmp_path: Path, unused_port: int, findings: Any
) -> None:
    path = tmp_path / "stix.jsonl"
    cfg = ExportsConfig.model_validate(
        {
            "stix": {"enabled": True, "path": str(path)},
            "taxii": {"enabled": True, "url": f"http://127.0.0.1:{unused_port}/api1/",
                      "collection_id": "c", "retries": 1, "backoff_seconds": 0.01,
                      "batch_size": 1},
            "syslog": {"enabled": True, "port": unused_port, "protocol": "tcp",
                       "min_threat": "info"},
        }
    )  # fmt: skip
    exporters = make_exporters(cfg, "0.1.0")
    assert exporters is not None
    for f in findings.all:
        exporters.on_finding(f)
    stats = exporters.close(10)
    assert stats["stix"]["sent"] == 4 and len(_lines(path)) == 5
    assert stats["syslog"]["errors_by_reason"] == {"send": 3}
    assert stats["syslog"]["sent"] == 0
    assert stats["taxii"]["errors_by_reason"]["connect"] >= 1
    assert stats["taxii"]["sent"] == 0


def test_an_unwritable_path_is_an_error_not_a_crash(
    tmp_path: Path, udp_receiver: Any, findings: Any, eventually: Any
) -> None:
    cfg = ExportsConfig.model_validate(
        {
            "stix": {"enabled": True, "path": str(tmp_path)},  # a directory
            "syslog": {"enabled": True, "port": udp_receiver.port, "min_threat": "info"},
        }
    )
    exporters = make_exporters(cfg, "0.1.0")
    assert exporters is not None
    for f in findings.all:
        exporters.on_finding(f)
    assert eventually(lambda: len(udp_receiver.snapshot()) == 3)
    stats = exporters.close(5)
    assert stats["stix"]["errors_by_reason"] == {"io": 3}


def test_on_finding_survives_garbage(tmp_path: Path, findings: Any) -> None:
    cfg = ExportsConfig.model_validate({"stix": {"enabled": True, "path": str(tmp_path / "s")}})
    exporters = make_exporters(cfg, "0.1.0")
    assert exporters is not None
    exporters.on_finding("not a finding")  # type: ignore[arg-type]
    exporters.on_finding(findings.alert)
    stats = exporters.close(5)
    assert stats["internal_errors"] == 1
    assert stats["stix"]["sent"] == 2


@pytest.fixture
def silent_server() -> Iterator[tuple[int, threading.Event]]:
    """An HTTP 'server' that accepts connections and never answers until released."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    release = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not release.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield server.getsockname()[1], release
    release.set()
    t.join(5)
    for c in held:
        c.close()
    server.close()


def test_a_hanging_webhook_never_blocks_detection(
    silent_server: tuple[int, threading.Event], udp_receiver: Any, findings: Any, eventually: Any
) -> None:
    port, release = silent_server
    cfg = ExportsConfig.model_validate(
        {
            "queue_size": 5,
            "slack": {"enabled": True, "webhook_url": f"http://127.0.0.1:{port}/hook",
                      "timeout_seconds": 30, "retries": 0, "min_interval_seconds": 0},
            "syslog": {"enabled": True, "port": udp_receiver.port, "alerts_only": True},
        }
    )  # fmt: skip
    exporters = make_exporters(cfg, "0.1.0")
    assert exporters is not None
    # 50 alerts while the webhook holds the first request: if on_finding waited for
    # Slack, this thread could not finish before the server is released.
    caller = threading.Thread(
        target=lambda: [exporters.on_finding(findings.alert) for _ in range(50)], daemon=True
    )
    caller.start()
    caller.join(20)
    assert not caller.is_alive()
    assert not release.is_set()
    # syslog has its own queue (5 deep too): it keeps delivering; overflow is counted
    assert eventually(lambda: len(udp_receiver.snapshot()) >= 1)
    stats = exporters.stats()
    assert stats["slack"]["dropped_queue_full"] >= 50 - 5 - 1
    assert stats["slack"]["queued"] + stats["slack"]["dropped_queue_full"] == 50
    # close gives up on the stuck exporter (after its deadline and a short grace)
    final = exporters.close(0.5)
    assert final["slack"]["abandoned"] + final["slack"]["pending"] >= 4
    assert final["syslog"]["errors"] == 0


def test_an_exporter_that_cannot_start_is_left_out(
    tmp_path: Path, udp_receiver: Any, findings: Any, eventually: Any
) -> None:
    cfg = ExportsConfig.model_validate(
        {
            "taxii": {"enabled": True, "url": "https://127.0.0.1:1/api1/", "collection_id": "c",
                      "ca_file": str(tmp_path / "missing.pem")},
            "syslog": {"enabled": True, "port": udp_receiver.port, "alerts_only": True},
        }
    )  # fmt: skip
    exporters = make_exporters(cfg, "0.1.0")
    assert exporters is not None
    assert exporters.names == ["syslog"]
    exporters.on_finding(findings.alert)
    assert eventually(lambda: len(udp_receiver.snapshot()) == 1)
    stats = exporters.close(5)
    assert stats["taxii"]["failed"].startswith("FileNotFoundError")
    assert stats["syslog"]["sent"] == 1


# -- with the real pipeline -----------------------------------------------------------------


def test_analyze_feeds_the_exporters(tmp_path: Path, udp_receiver: Any, eventually: Any) -> None:
    config = load_config(None, {"alerts.threshold": 0.5})
    path = tmp_path / "stix.jsonl"
    cfg = ExportsConfig.model_validate(
        {
            "stix": {"enabled": True, "path": str(path), "min_threat": "info"},
            "syslog": {"enabled": True, "port": udp_receiver.port, "min_threat": "info"},
        }
    )
    exporters = make_exporters(cfg, "0.1.0")
    assert exporters is not None
    result = analyze(
        str(CAPTURE / "conn.log"),
        config,
        outdir=tmp_path / "run",
        keep_findings=True,
        on_finding=exporters.on_finding,
    )
    stats = exporters.close(10)
    findings = [*result.evidence, *result.alerts]
    assert result.alerts, "the lowered threshold should raise an alert"
    assert eventually(lambda: len(udp_receiver.snapshot()) == len(findings))
    received = {
        parse_cef(parse_rfc5424(m).msg).ext()["externalId"] for m in udp_receiver.snapshot()
    }
    assert received == {f.id for f in findings}
    objs = _lines(path)
    sightings = [o for o in objs if o["type"] == "sighting"]
    assert len(sightings) == len(result.alerts)
    assert {o["external_references"][0]["external_id"] for o in sightings} == {
        a.id for a in result.alerts
    }
    # the alerts' evidence was seen first, so their techniques made it to the indicator
    alert_ind = {o["id"]: o for o in objs}[sightings[0]["sighting_of_ref"]]
    assert any(r["source_name"] == "mitre-attack" for r in alert_ind["external_references"])
    assert stats["stix"]["errors"] == 0 and stats["syslog"]["errors"] == 0
