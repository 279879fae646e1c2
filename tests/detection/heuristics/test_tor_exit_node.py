from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.base import DetectionContext
from detection.heuristics.tor_exit_node import TorExitNode, TorExitNodeParams
from detection.model import Flow, ThreatLevel

FlowFactory = Callable[..., Flow]
CONTEXT = DetectionContext(tor_exit_nodes=frozenset({"185.220.101.4"}))


def test_contact_with_a_tor_exit(flow_factory: FlowFactory) -> None:
    det = TorExitNode(TorExitNodeParams(), CONTEXT)
    found = det.observe(flow_factory("10.0.0.5", "185.220.101.4", 443, uid="Ct"), 1)
    assert found is not None
    (ev,) = found
    assert ev.type == "tor_exit_node" and ev.threat_level is ThreatLevel.LOW
    assert (ev.attacker, ev.victim, ev.uids) == ("10.0.0.5", "185.220.101.4", ("Ct",))
    assert ev.attack_technique == "T1090.003"
    assert ev.description == "10.0.0.5 connected to Tor exit node 185.220.101.4 on 443/tcp"
    inbound = det.observe(flow_factory("185.220.101.4", "10.0.0.5", 22), 1)
    assert inbound is not None
    assert (inbound[0].attacker, inbound[0].victim) == ("185.220.101.4", "10.0.0.5")
    assert inbound[0].description.startswith("Tor exit node 185.220.101.4 connected to 10.0.0.5")


def test_no_list_or_not_listed_is_quiet(flow_factory: FlowFactory) -> None:
    assert TorExitNode(TorExitNodeParams()).observe(flow_factory(daddr="185.220.101.4"), 0) is None
    det = TorExitNode(TorExitNodeParams(), CONTEXT)
    assert det.observe(flow_factory("10.0.0.5", "185.220.101.5", 443), 0) is None


def test_tor_does_not_flood(flow_factory: FlowFactory) -> None:
    det = TorExitNode(TorExitNodeParams(), CONTEXT)
    counts = [
        e.count
        for _ in range(2000)
        for e in det.observe(flow_factory("10.0.0.5", "185.220.101.4", 443), 0) or ()
    ]
    assert counts == [1, 10, 100, 1000]
