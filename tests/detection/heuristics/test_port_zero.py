from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.port_zero import PortZero, PortZeroParams
from detection.model import Flow, ThreatLevel

FlowFactory = Callable[..., Flow]


def test_port_zero_reports_a_flow_to_port_0(flow_factory: FlowFactory) -> None:
    det = PortZero(PortZeroParams())
    found = det.observe(flow_factory("10.0.0.5", "198.51.100.7", 0, uid="Cz"), 4)
    assert found is not None
    (ev,) = found
    assert ev.type == "port_0_connection" and ev.threat_level is ThreatLevel.HIGH
    assert (ev.attacker, ev.victim, ev.dport, ev.proto) == ("10.0.0.5", "198.51.100.7", 0, "tcp")
    assert ev.attack_technique == "T1205" and ev.uids == ("Cz",) and ev.timewindow == 4
    assert ev.description.startswith("Connection with destination port 0/tcp from 10.0.0.5")


def test_port_zero_reports_source_port_0(flow_factory: FlowFactory) -> None:
    det = PortZero(PortZeroParams())
    flow = flow_factory("10.0.0.5", "198.51.100.7", 80, proto="udp")._replace(sport=0)
    found = det.observe(flow, 0)
    assert found is not None and "source port 0/udp" in found[0].description


def test_port_zero_quiet_otherwise(flow_factory: FlowFactory) -> None:
    det = PortZero(PortZeroParams())
    assert det.observe(flow_factory("10.0.0.5", "198.51.100.7", 1), 0) is None
    assert det.observe(flow_factory("10.0.0.5", "198.51.100.7", 0, proto="icmp"), 0) is None
    assert det.observe(flow_factory("10.0.0.5", "224.0.0.1", 0, proto="udp"), 0) is None
    assert det.observe(flow_factory("10.0.0.5", "198.51.100.7", None), 0) is None


def test_port_zero_does_not_flood(flow_factory: FlowFactory) -> None:
    det = PortZero(PortZeroParams())
    counts: list[int | None] = []
    for i in range(100_000):
        found = det.observe(flow_factory("10.0.0.5", "198.51.100.7", 0, ts=float(i)), 0)
        counts.extend(e.count for e in found or ())
    assert counts == [1, 10, 100, 1000, 10_000, 100_000]
    det.close_window(0)
    assert det.observe(flow_factory("10.0.0.5", "198.51.100.7", 0), 1) is not None
