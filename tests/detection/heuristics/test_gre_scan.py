from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.gre_scan import GreScan, GreScanParams
from detection.model import Flow, ThreatLevel, TunnelRecord

FlowFactory = Callable[..., Flow]
TUNNEL = TunnelRecord(
    256.5, "Ce7", "10.0.2.15", 0, "115.112.11.30", 0, "Tunnel::GRE", "Tunnel::DISCOVER"
)


def discoveries(n: int) -> list[TunnelRecord]:
    return [TUNNEL._replace(uid=f"C{i}", daddr=f"115.112.11.{i}") for i in range(n)]


def test_three_gre_destinations_are_a_scan() -> None:
    det = GreScan(GreScanParams())
    (ev,) = [e for r in discoveries(3) for e in det.observe(r, 0) or ()]
    assert ev.type == "gre_scan" and ev.attacker == "10.0.2.15" and ev.victim is None
    assert ev.threat_level is ThreatLevel.MEDIUM and ev.attack_technique == "T1046"
    assert ev.count == 3 and ev.uids == ("C0", "C1", "C2")
    assert ev.description == "GRE scan: 10.0.2.15 opened GRE tunnels towards 3 hosts"


def test_one_tunnel_or_two_hosts_is_not_a_scan(flow_factory: FlowFactory) -> None:
    det = GreScan(GreScanParams())
    recs: list[object] = [*discoveries(2), *discoveries(2)]
    recs += [
        r._replace(action="Tunnel::EXPIRE", daddr=f"9.9.9.{i}")
        for i, r in enumerate(discoveries(5))
    ]
    recs += [flow_factory(daddr=f"8.8.8.{i}", proto="gre", established=True) for i in range(5)]
    assert [e for r in recs for e in det.observe(r, 0) or ()] == []


def test_unanswered_gre_flows_and_no_flood(flow_factory: FlowFactory) -> None:
    det = GreScan(GreScanParams())
    flows = [
        flow_factory(daddr=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", dport=None, proto="gre")
        for i in range(2000)
    ]
    assert [e.count for f in flows for e in det.observe(f, 0) or ()] == [3, 10, 100, 1000]
    det.close_window(0)
    assert len(det._scans) == 0
