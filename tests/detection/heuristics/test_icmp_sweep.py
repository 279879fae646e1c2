from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.icmp_sweep import IcmpSweep, IcmpSweepParams
from detection.model import Flow, ThreatLevel

FlowFactory = Callable[..., Flow]


def probe(flow_factory: FlowFactory, daddr: str, icmp_type: int = 8, **kw: object) -> Flow:
    """An ICMP flow as every parser gives it: type in sport, code in dport."""
    return flow_factory(daddr=daddr, dport=0, proto="icmp", **kw)._replace(sport=icmp_type)


def test_echo_sweep_triggers_above_five_hosts(flow_factory: FlowFactory) -> None:
    det = IcmpSweep(IcmpSweepParams())
    flows = [probe(flow_factory, f"10.0.1.{i}", ts=100.0 + i) for i in range(6)]
    evs = [e for f in flows for e in det.observe(f, 0) or ()]
    (ev,) = evs
    assert ev.type == "icmp_sweep" and ev.attacker == "10.0.0.1" and ev.victim is None
    assert ev.threat_level is ThreatLevel.MEDIUM and ev.attack_technique == "T1018"
    assert ev.count == 6 and len(ev.uids) == 6
    assert ev.description == (
        "ICMP echo sweep: 6 hosts probed, 0 answers, 6 packets, from 10.0.0.1"
    )


def test_quiet_at_five_hosts_and_on_replies_and_other_types(flow_factory: FlowFactory) -> None:
    det = IcmpSweep(IcmpSweepParams())
    flows = [probe(flow_factory, f"10.0.1.{i}") for i in range(5)]
    flows += [probe(flow_factory, "10.0.1.0", ts=200.0)]  # a host probed twice counts once
    flows += [probe(flow_factory, f"10.0.2.{i}", icmp_type=0) for i in range(20)]  # echo replies
    flows += [probe(flow_factory, f"10.0.3.{i}", icmp_type=3) for i in range(20)]  # unreachables
    flows += [probe(flow_factory, f"224.0.0.{i}") for i in range(20)]  # multicast
    flows += [flow_factory(daddr=f"10.0.4.{i}", dport=8) for i in range(20)]  # tcp
    assert [e for f in flows for e in det.observe(f, 0) or ()] == []


def test_kinds_are_counted_apart_and_rare_kinds_are_more_certain(
    flow_factory: FlowFactory,
) -> None:
    det = IcmpSweep(IcmpSweepParams())
    flows = [probe(flow_factory, f"10.0.1.{i}", icmp_type=13) for i in range(6)]
    flows += [probe(flow_factory, f"10.0.2.{i}", icmp_type=17) for i in range(6)]
    flows += [probe(flow_factory, f"10.0.3.{i}", icmp_type=8) for i in range(3)]
    flows += [probe(flow_factory, f"10.0.4.{i}", icmp_type=128) for i in range(3)]  # ICMPv6 echo
    evs = [e for f in flows for e in det.observe(f, 0) or ()]
    assert [e.description.split(":")[0] for e in evs] == [
        "ICMP timestamp sweep",
        "ICMP address-mask sweep",
        "ICMP echo sweep",
    ]
    assert evs[0].confidence > evs[2].confidence


def test_answers_are_counted(flow_factory: FlowFactory) -> None:
    det = IcmpSweep(IcmpSweepParams())
    flows = [probe(flow_factory, f"10.0.1.{i}", dpkts=1 if i % 2 else 0) for i in range(6)]
    (ev,) = [e for f in flows for e in det.observe(f, 0) or ()]
    assert "6 hosts probed, 3 answers" in ev.description


def test_does_not_flood_and_state_is_per_window(flow_factory: FlowFactory) -> None:
    det = IcmpSweep(IcmpSweepParams())
    flows = [
        probe(flow_factory, f"10.{i // 62500}.{i // 250 % 250}.{i % 250}") for i in range(20000)
    ]
    assert [e.count for f in flows for e in det.observe(f, 0) or ()] == [6, 10, 100, 1000, 10000]
    det.close_window(0)
    assert len(det._sweeps) == 0
