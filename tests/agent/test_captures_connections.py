"""Must-trigger rows of the connection detectors, on repo copies of the captures,
through the real analysis (`analyze`, default configuration and reference data)."""

from __future__ import annotations

from pathlib import Path

from agent.analyze import analyze, iter_records
from agent.config import load_config
from detection.model import Evidence, Flow, ThreatLevel

DATA = Path(__file__).parents[1] / "data" / "captures"
TEST6 = DATA / "suricata" / "test6-malicious.suricata.json.gz"


def evidence_of(path: Path, tmp_path: Path) -> list[Evidence]:
    result = analyze(str(path), load_config(None), outdir=tmp_path / "out", keep_findings=True)
    assert result.exit_code == 0
    return result.evidence


def test_suricata_test6_unknown_destination_ports(tmp_path: Path) -> None:
    evs = [e for e in evidence_of(TEST6, tmp_path) if e.type == "unknown_port"]
    # 192.168.1.129 (an infected camera) talks to 122.248.252.67 on 8760/udp and
    # 9765/udp, ports no services list explains; the flows are answered.
    assert {(e.attacker, e.victim, e.dport, e.proto) for e in evs} == {
        ("192.168.1.129", "122.248.252.67", 8760, "udp"),
        ("192.168.1.129", "122.248.252.67", 9765, "udp"),
    }
    assert all(e.threat_level is ThreatLevel.MEDIUM and e.attack_technique == "T1571" for e in evs)
    # one evidence per key and window, even though the capture is out of order
    # (late flows of a decided window are not reported again)
    flows = [r for r in iter_records(str(TEST6)) if isinstance(r, Flow)]
    answered = [f for f in flows if f.daddr == "122.248.252.67" and f.established]
    keys = [(e.dport, e.timewindow) for e in evs]
    assert len(keys) == len(set(keys))
    assert keys and sum(e.count or 0 for e in evs) <= len(answered)
    uids = {f.uid for f in answered}
    assert all(e.uids and set(e.uids) <= uids for e in evs)


def test_suricata_test6_connections_to_private_ips(tmp_path: Path) -> None:
    evs = [e for e in evidence_of(TEST6, tmp_path) if e.type == "connection_to_private_ip"]
    # 192.168.1.132 sends unicast UDP (SSDP answers from port 1900) to 192.168.1.129;
    # DNS from .129 to the resolver 192.168.1.1 and broadcasts are not reported.
    assert {(e.attacker, e.victim) for e in evs} == {("192.168.1.132", "192.168.1.129")}
    assert all(e.threat_level is ThreatLevel.INFO for e in evs)
    assert all("to private IP 192.168.1.129" in e.description for e in evs)


def test_zeek_test14_multiple_reconnection_attempts(tmp_path: Path) -> None:
    evs = evidence_of(DATA / "zeek" / "test14-malicious-zeek-dir", tmp_path)
    found = [e for e in evs if e.type == "multiple_reconnection_attempts"]
    assert [(e.attacker, e.victim, e.dport, e.count) for e in found] == [
        ("10.0.2.15", "123.22.123.22", 547, 5)
    ]
    (ev,) = found
    assert ev.threat_level is ThreatLevel.MEDIUM and ev.uids == ("Cw6JBU12nYsbZElIpa",)
    assert "5 rejected connections" in ev.description


def test_zeek_test10_connection_to_multiple_unknown_ports(tmp_path: Path) -> None:
    """Slips raises CONNECTION_TO_MULTIPLE_PORTS once on test10: 1337 and 337/tcp."""
    evs = evidence_of(DATA / "zeek" / "test10-mixed-zeek-dir", tmp_path)
    found = [e for e in evs if e.type == "connection_to_multiple_ports"]
    assert [(e.attacker, e.victim, e.count) for e in found] == [("192.0.2.44", "156.87.76.4", 2)]
    ports = {(e.victim, e.dport) for e in evs if e.type == "unknown_port"}
    assert ports == {("156.87.76.4", 1337), ("156.87.76.4", 337)}
