from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.base import DetectionContext
from detection.heuristics.multiple_unknown_ports import (
    MultipleUnknownPorts,
    MultipleUnknownPortsParams,
)
from detection.model import Evidence, Flow, ThreatLevel

FlowFactory = Callable[..., Flow]
CONTEXT = DetectionContext(services={("tcp", 80): "http", ("tcp", 443): "https"})


def feed(det: MultipleUnknownPorts, flows: list[Flow]) -> list[Evidence]:
    return [e for f in flows for e in det.observe(f, 0) or ()]


def test_two_unknown_ports_of_one_host(flow_factory: FlowFactory) -> None:
    det = MultipleUnknownPorts(MultipleUnknownPortsParams(), CONTEXT)
    flows = [
        flow_factory("192.0.2.44", "156.87.76.4", port, established=True, uid=f"C{port}")
        for port in (1337, 1337, 337)
    ]
    (ev,) = feed(det, flows)
    assert ev.type == "connection_to_multiple_ports" and ev.threat_level is ThreatLevel.INFO
    assert (ev.attacker, ev.victim, ev.count) == ("192.0.2.44", "156.87.76.4", 2)
    assert ev.attack_technique == "T1571" and ev.uids == ("C1337", "C337")
    assert "2 unknown-service TCP ports of 156.87.76.4 (337, 1337)" in ev.description


def test_one_unknown_port_or_known_ports_do_not_trigger(flow_factory: FlowFactory) -> None:
    det = MultipleUnknownPorts(MultipleUnknownPortsParams(), CONTEXT)
    flows = [flow_factory("10.0.0.1", "198.51.100.1", p, established=True) for p in (80, 443, 1337)]
    flows.append(flow_factory("10.0.0.1", "198.51.100.1", 4444))  # not established
    flows.append(flow_factory("10.0.0.1", "198.51.100.1", 4445, established=True, proto="udp"))
    assert feed(det, flows) == []


def test_many_ports_are_log_stepped(flow_factory: FlowFactory) -> None:
    det = MultipleUnknownPorts(MultipleUnknownPortsParams(), CONTEXT)
    flows = [
        flow_factory("10.0.0.1", "198.51.100.1", 1000 + i, established=True) for i in range(5000)
    ]
    assert [e.count for e in feed(det, flows)] == [2, 10, 100, 1000]
