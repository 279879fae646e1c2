from __future__ import annotations

from collections.abc import Callable

from detection.allowlist import CidrIndex
from detection.heuristics.base import DetectionContext, OrgPort
from detection.heuristics.unknown_port import UnknownPort, UnknownPortParams
from detection.model import Evidence, Flow, ThreatLevel

FlowFactory = Callable[..., Flow]

CONTEXT = DetectionContext(
    services={("tcp", 80): "http", ("tcp", 443): "https", ("udp", 53): "dns"},
    org_ports=(OrgPort("teams", CidrIndex(["13.107.64.0/18"]), 3478, 3481, "udp"),),
)


def run(det: UnknownPort, flows: list[Flow]) -> list[Evidence]:
    out: list[Evidence] = []
    for f in flows:
        assert det.observe(f, int(f.ts // 3600)) is None  # decided when the window closes
    out.extend(det.close_window(2**62) or ())
    return out


def test_unknown_port_reports_established_flows_to_an_unlisted_port(
    flow_factory: FlowFactory,
) -> None:
    det = UnknownPort(UnknownPortParams(), CONTEXT)
    flows = [
        flow_factory("10.0.0.5", "198.51.100.7", 8760, proto="udp", established=True, ts=t, uid=u)
        for t, u in ((10.0, "C1"), (20.0, "C2"), (30.0, "C3"))
    ]
    (ev,) = run(det, flows)
    assert ev.type == "unknown_port" and ev.threat_level is ThreatLevel.MEDIUM
    assert (ev.attacker, ev.victim, ev.dport, ev.proto) == ("10.0.0.5", "198.51.100.7", 8760, "udp")
    assert ev.attack_technique == "T1571" and ev.count == 3 and ev.uids == ("C1", "C2", "C3")
    assert "unknown destination port 8760/udp" in ev.description
    assert "3 established connections" in ev.description
    assert ev.timewindow == 0 and ev.ts == 10.0


def test_unknown_port_quiet_on_known_unanswered_org_and_ephemeral_ports(
    flow_factory: FlowFactory,
) -> None:
    det = UnknownPort(UnknownPortParams(), CONTEXT)
    flows = [
        flow_factory("10.0.0.5", "198.51.100.7", 443, established=True),  # known service
        flow_factory("10.0.0.5", "198.51.100.7", 8760, established=False),  # not answered
        flow_factory("10.0.0.5", "13.107.64.9", 3479, proto="udp", established=True),  # org
        flow_factory("10.0.0.5", "198.51.100.7", 49152, established=True),  # ephemeral
        flow_factory("10.0.0.5", "224.0.0.251", 8760, proto="udp", established=True),
        flow_factory("10.0.0.5", "198.51.100.7", 8080, established=True)._replace(service="http"),
        flow_factory("10.0.0.5", "198.51.100.7", 8, proto="icmp", established=True),
    ]
    assert run(det, flows) == []


def test_unknown_port_ignores_peer_to_peer_sockets(flow_factory: FlowFactory) -> None:
    det = UnknownPort(UnknownPortParams(p2p_min_peers=5), CONTEXT)
    # One UDP socket (fixed source port) talking to 5 peers on random ports: P2P.
    flows = [
        flow_factory(
            "10.0.0.5", f"198.51.100.{i}", 4000 + i, proto="udp", established=True
        )._replace(sport=1701)
        for i in range(5)
    ]
    # ... and a TCP connection to one of those peers: also the P2P application.
    flows.append(flow_factory("10.0.0.5", "198.51.100.1", 5237, established=True))
    assert run(det, flows) == []
    # Four peers only: not P2P, every unknown port is reported.
    det = UnknownPort(UnknownPortParams(p2p_min_peers=5), CONTEXT)
    assert len(run(det, flows[:4])) == 4


def test_unknown_port_does_not_flood(flow_factory: FlowFactory) -> None:
    det = UnknownPort(UnknownPortParams(max_destinations_per_window=20), CONTEXT)
    flows = [
        flow_factory("10.0.0.5", f"198.51.{i // 250}.{i % 250}", 1000 + i % 40000, established=True)
        for i in range(100_000)
    ]
    evs = run(det, flows)
    assert len(evs) == 20
    # Many flows to one (destination, port): one evidence with the count.
    det = UnknownPort(UnknownPortParams(), CONTEXT)
    evs = run(det, [flow_factory("10.0.0.5", "198.51.100.7", 8760, established=True)] * 5000)
    assert [e.count for e in evs] == [5000]


def test_unknown_port_state_is_dropped_when_the_window_closes(flow_factory: FlowFactory) -> None:
    det = UnknownPort(UnknownPortParams(), CONTEXT)
    det.observe(flow_factory("10.0.0.5", "198.51.100.7", 8760, established=True), 0)
    det.observe(flow_factory("10.0.0.5", "198.51.100.7", 8760, established=True, ts=9000), 2)
    assert len(det.close_window(0) or ()) == 1
    assert len(det.close_window(0) or ()) == 0
    assert len(det.close_window(2) or ()) == 1


def test_a_servers_answer_picked_up_mid_stream_is_not_judged(flow_factory: FlowFactory) -> None:
    det = UnknownPort(UnknownPortParams(), CONTEXT)
    answer = flow_factory("173.194.112.21", "10.0.0.46", 42633, established=True)
    assert run(det, [answer._replace(sport=443)]) == []
    assert len(run(det, [answer._replace(sport=40890)])) == 1


def test_unknown_port_counts_candidates_it_refused(flow_factory: FlowFactory) -> None:
    det = UnknownPort(UnknownPortParams(max_candidates=3), CONTEXT)
    flows = [flow_factory("10.0.0.5", "198.51.100.7", 8760 + i, established=True) for i in range(5)]
    assert len(run(det, flows)) == 3
    assert det.state_overflow == {"candidates_refused": 2}
