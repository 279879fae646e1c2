from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.different_localnet import DifferentLocalnet, DifferentLocalnetParams
from detection.model import Flow, ThreatLevel

FlowFactory = Callable[..., Flow]


def test_private_destination_outside_the_sources_24(flow_factory: FlowFactory) -> None:
    det = DifferentLocalnet(DifferentLocalnetParams())
    found = det.observe(flow_factory("192.168.1.5", "10.0.0.3", 445, uid="Cd"), 2)
    assert found is not None
    (ev,) = found
    assert ev.type == "different_localnet" and ev.threat_level is ThreatLevel.LOW
    assert (ev.attacker, ev.victim) == ("192.168.1.5", "10.0.0.3")
    assert ev.attack_technique == "T1021" and ev.uids == ("Cd",) and ev.timewindow == 2
    assert "(local network 192.168.1.0/24)" in ev.description
    assert "in another private network 10.0.0.0/24" in ev.description


def test_same_network_public_and_infrastructure_are_quiet(flow_factory: FlowFactory) -> None:
    det = DifferentLocalnet(DifferentLocalnetParams())
    for flow in (
        flow_factory("192.168.1.5", "192.168.1.200", 445),  # same /24
        flow_factory("192.168.1.5", "8.8.8.8", 443),  # public
        flow_factory("192.168.1.5", "10.0.0.53", 53, proto="udp"),  # DNS in another subnet
        flow_factory("147.32.83.1", "10.0.0.3", 22),  # public source
        flow_factory("10.0.0.5", "10.0.1.255", 80),  # broadcast
        flow_factory("fd00::1", "fd01::1", 80),  # IPv6 not judged
    ):
        assert det.observe(flow, 0) is None, flow
    wide = DifferentLocalnet(DifferentLocalnetParams(prefix_octets=2))
    assert wide.observe(flow_factory("10.0.0.5", "10.0.7.9", 445), 0) is None
    assert wide.observe(flow_factory("10.0.0.5", "10.1.7.9", 445), 0) is not None


def test_a_sweep_of_another_network_is_one_stepped_evidence(flow_factory: FlowFactory) -> None:
    det = DifferentLocalnet(DifferentLocalnetParams())
    counts = [
        e.count
        for i in range(250)
        for e in det.observe(flow_factory("192.168.1.5", f"10.0.0.{i}", 445), 0) or ()
    ]
    assert counts == [1, 10, 100]
