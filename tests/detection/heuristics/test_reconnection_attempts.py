from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.reconnection_attempts import (
    ReconnectionAttempts,
    ReconnectionAttemptsParams,
    is_rejected,
)
from detection.model import Evidence, Flow, ThreatLevel

FlowFactory = Callable[..., Flow]


def feed(det: ReconnectionAttempts, flows: list[Flow]) -> list[Evidence]:
    out: list[Evidence] = []
    for f in flows:
        out.extend(det.observe(f, 0) or ())
    return out


def rej(flow_factory: FlowFactory, n: int, dport: int = 547) -> list[Flow]:
    return [
        flow_factory("10.0.2.15", "123.22.123.22", dport, state="REJ", ts=float(i), uid=f"C{i}")
        for i in range(n)
    ]


def test_five_rejected_connections_to_one_port(flow_factory: FlowFactory) -> None:
    (ev,) = feed(ReconnectionAttempts(ReconnectionAttemptsParams()), rej(flow_factory, 5))
    assert ev.type == "multiple_reconnection_attempts" and ev.threat_level is ThreatLevel.MEDIUM
    assert (ev.attacker, ev.victim, ev.dport) == ("10.0.2.15", "123.22.123.22", 547)
    assert ev.count == 5 and ev.confidence == 0.5 and ev.attack_technique == "T1008"
    assert ev.uids == ("C0", "C1", "C2", "C3", "C4")
    assert "123.22.123.22:547/tcp: 5 rejected connections" in ev.description


def test_four_rejected_do_not_trigger(flow_factory: FlowFactory) -> None:
    det = ReconnectionAttempts(ReconnectionAttemptsParams())
    assert feed(det, rej(flow_factory, 4)) == []
    # not-rejected failures (no answer) and answered flows do not count either
    quiet = [flow_factory("10.0.2.15", "123.22.123.22", 547, state="S0")] * 10
    quiet += [flow_factory("10.0.2.15", "123.22.123.22", 547, established=True)] * 10
    assert feed(ReconnectionAttempts(ReconnectionAttemptsParams()), quiet) == []


def test_telnet_needs_four_attempts_of_any_kind(flow_factory: FlowFactory) -> None:
    det = ReconnectionAttempts(ReconnectionAttemptsParams())
    flows = [flow_factory("10.0.0.9", "203.0.113.4", 23, state="S0")] * 4
    (ev,) = feed(det, flows)
    assert ev.count == 4 and "telnet" in ev.description
    det = ReconnectionAttempts(ReconnectionAttemptsParams())
    assert feed(det, flows[:3]) == []


def test_reset_answers_of_other_formats_count_as_rejected(flow_factory: FlowFactory) -> None:
    argus = flow_factory(state="RST")._replace(dpkts=1)
    suricata = flow_factory(state="closed")._replace(dpkts=1)
    assert is_rejected(argus) and is_rejected(suricata)
    assert not is_rejected(flow_factory(state="RST"))  # nothing came back
    assert not is_rejected(flow_factory(state="REJ", proto="udp"))


def test_reconnections_do_not_flood(flow_factory: FlowFactory) -> None:
    det = ReconnectionAttempts(ReconnectionAttemptsParams())
    evs = feed(det, rej(flow_factory, 20_000))
    assert [e.count for e in evs] == [5, 10, 100, 1000, 10_000]
    assert evs[-1].confidence == 1.0
