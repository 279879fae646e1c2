from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.private_ip_connection import (
    PrivateIpConnection,
    PrivateIpConnectionParams,
)
from detection.model import Flow, ThreatLevel

FlowFactory = Callable[..., Flow]


def test_private_to_private_is_reported(flow_factory: FlowFactory) -> None:
    det = PrivateIpConnection(PrivateIpConnectionParams())
    found = det.observe(flow_factory("192.168.1.132", "192.168.1.129", 445, uid="Cp"), 7)
    assert found is not None
    (ev,) = found
    assert ev.type == "connection_to_private_ip" and ev.threat_level is ThreatLevel.INFO
    assert (ev.attacker, ev.victim, ev.timewindow) == ("192.168.1.132", "192.168.1.129", 7)
    assert ev.attack_technique == "T1021" and ev.uids == ("Cp",)
    assert ev.description == (
        "Connection from private IP 192.168.1.132 to private IP 192.168.1.129 "
        "on 445/tcp (not established)"
    )


def test_private_ip_quiet_cases(flow_factory: FlowFactory) -> None:
    det = PrivateIpConnection(PrivateIpConnectionParams())
    for flow in (
        flow_factory("192.168.1.5", "8.8.8.8", 53),  # public destination
        flow_factory("8.8.8.8", "192.168.1.5", 443),  # public source
        flow_factory("192.168.1.5", "192.168.1.1", 53, proto="udp"),  # DNS to the resolver
        flow_factory("192.168.1.5", "192.168.1.255", 137, proto="udp"),  # broadcast
        flow_factory("192.168.1.5", "239.255.255.250", 1900, proto="udp"),  # SSDP
        flow_factory("172.32.0.1", "172.15.0.1", 80),  # outside 172.16/12
    ):
        assert det.observe(flow, 0) is None, flow
    assert det.observe(flow_factory("172.16.0.1", "172.31.0.1", 80), 0) is not None
    assert det.observe(flow_factory("fd00::1", "fd00::2", 80), 0) is not None


def test_private_ip_does_not_flood(flow_factory: FlowFactory) -> None:
    det = PrivateIpConnection(PrivateIpConnectionParams())
    counts = [
        e.count
        for i in range(1500)
        for e in det.observe(flow_factory("10.0.0.1", "10.0.0.2", 1000 + i), 0) or ()
    ]
    assert counts == [1, 10, 100, 1000]
