from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.long_connection import LongConnection, LongConnectionParams
from detection.model import Flow, ThreatLevel

FlowFactory = Callable[..., Flow]


def test_long_connection_triggers_above_threshold(flow_factory: FlowFactory) -> None:
    det = LongConnection(LongConnectionParams())
    found = det.observe(flow_factory(duration=1500.5, dport=443, uid="Cx"), 3)
    assert found is not None
    (ev,) = found
    assert ev.type == "long_connection" and ev.threat_level is ThreatLevel.LOW
    assert ev.attacker == "10.0.0.1" and ev.victim == "10.0.0.2" and ev.uids == ("Cx",)
    assert ev.timewindow == 3
    assert 0.5 <= ev.confidence <= 1.0


def test_long_connection_quiet_at_threshold(flow_factory: FlowFactory) -> None:
    det = LongConnection(LongConnectionParams())
    assert det.observe(flow_factory(duration=1500.0), 0) is None
    assert det.observe(flow_factory(duration=9000.0, daddr="224.0.0.251"), 0) is None


def test_long_connection_repeats_are_stepped(flow_factory: FlowFactory) -> None:
    det = LongConnection(LongConnectionParams(threshold_seconds=10))
    counts = []
    for i in range(120):
        found = det.observe(flow_factory(duration=20.0, ts=float(i)), 0)
        if found:
            counts.extend(e.count for e in found)
    assert counts == [1, 10, 100]
