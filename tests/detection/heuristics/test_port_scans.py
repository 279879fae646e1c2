from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.base import report_due
from detection.heuristics.horizontal_port_scan import HorizontalPortScan, HorizontalPortScanParams
from detection.heuristics.vertical_port_scan import VerticalPortScan, VerticalPortScanParams
from detection.model import Evidence, Flow, ThreatLevel

FlowFactory = Callable[..., Flow]


def run(
    det: HorizontalPortScan | VerticalPortScan, flows: list[Flow], window: int = 0
) -> list[Evidence]:
    out: list[Evidence] = []
    for f in flows:
        found = det.observe(f, window)
        if found:
            out.extend(found)
    return out


def test_report_due_steps() -> None:
    due = [n for n in range(1, 20001) if report_due(n, 6, (10, 100, 1000))]
    assert due == [6, 10, 100, 1000, 10000]


def test_horizontal_triggers_above_five_hosts(flow_factory: FlowFactory) -> None:
    det = HorizontalPortScan(HorizontalPortScanParams())
    flows = [flow_factory(daddr=f"10.0.1.{i}", dport=81) for i in range(6)]
    (ev,) = run(det, flows)
    assert ev.type == "horizontal_port_scan"
    assert ev.attacker == "10.0.0.1" and ev.victim is None
    assert ev.dport == 81 and ev.proto == "tcp" and ev.count == 6
    assert ev.threat_level is ThreatLevel.HIGH
    assert ev.attack_technique == "T1046"
    assert len(ev.uids) == 6
    assert "81/tcp: 6 hosts, 0 answered" in ev.description


def test_horizontal_quiet_at_five_hosts(flow_factory: FlowFactory) -> None:
    det = HorizontalPortScan(HorizontalPortScanParams())
    flows = [flow_factory(daddr=f"10.0.1.{i}", dport=81) for i in range(5)]
    flows += [flow_factory(daddr="10.0.1.0", dport=81, ts=200.0)]  # repeated host
    assert run(det, flows) == []


def test_horizontal_ignores_established_and_multicast(flow_factory: FlowFactory) -> None:
    det = HorizontalPortScan(HorizontalPortScanParams())
    flows = [flow_factory(daddr=f"10.0.1.{i}", dport=81, established=True) for i in range(20)]
    flows += [flow_factory(daddr=f"239.0.0.{i}", dport=81, proto="udp") for i in range(20)]
    flows += [flow_factory(daddr=f"10.0.2.{i}", dport=None, proto="icmp") for i in range(20)]
    assert run(det, flows) == []


def test_horizontal_does_not_flood(flow_factory: FlowFactory) -> None:
    det = HorizontalPortScan(HorizontalPortScanParams())
    flows = [
        flow_factory(daddr=f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}", dport=22)
        for i in range(100_000)
    ]
    evs = run(det, flows)
    assert [e.count for e in evs] == [6, 10, 100, 1000, 10000, 100000]


def test_horizontal_state_is_per_window(flow_factory: FlowFactory) -> None:
    det = HorizontalPortScan(HorizontalPortScanParams())
    assert run(det, [flow_factory(daddr=f"10.0.1.{i}") for i in range(3)], window=0) == []
    assert run(det, [flow_factory(daddr=f"10.0.1.{i}") for i in range(3, 6)], window=1) == []
    det.close_window(0)
    assert not det._scans.keys() - {("10.0.0.1", 80, "tcp", 1)}


def test_vertical_triggers_above_five_ports(flow_factory: FlowFactory) -> None:
    det = VerticalPortScan(VerticalPortScanParams())
    flows = [flow_factory(daddr="45.33.32.156", dport=p) for p in range(20, 26)]
    (ev,) = run(det, flows)
    assert ev.type == "vertical_port_scan"
    assert ev.attacker == "10.0.0.1" and ev.victim == "45.33.32.156" and ev.count == 6


def test_vertical_quiet_at_five_ports_and_on_answers(flow_factory: FlowFactory) -> None:
    det = VerticalPortScan(VerticalPortScanParams())
    flows = [flow_factory(daddr="45.33.32.156", dport=p) for p in range(20, 25)]
    flows += [
        flow_factory(daddr="45.33.32.156", dport=p, established=True) for p in range(100, 200)
    ]
    assert run(det, flows) == []


def test_vertical_threshold_from_config(flow_factory: FlowFactory) -> None:
    det = VerticalPortScan(VerticalPortScanParams(min_ports=2))
    flows = [flow_factory(daddr="45.33.32.156", dport=p) for p in range(3)]
    assert [e.count for e in run(det, flows)] == [3]


def test_horizontal_udp_scan_counts_unanswered_udp(flow_factory: FlowFactory) -> None:
    det = HorizontalPortScan(HorizontalPortScanParams())
    answered = [
        flow_factory(daddr=f"10.0.2.{i}", dport=161, proto="udp", established=True)
        for i in range(3)
    ]
    silent = [flow_factory(daddr=f"10.0.1.{i}", dport=161, proto="udp") for i in range(6)]
    # answers are counted once the key has a scan state (after its first unanswered probe)
    (ev,) = run(det, silent[:1] + answered + silent[1:])
    assert ev.proto == "udp" and ev.dport == 161 and ev.count == 6
    assert "161/udp: 6 hosts, 3 answered" in ev.description


def test_horizontal_tcp_and_udp_are_separate_scans(flow_factory: FlowFactory) -> None:
    det = HorizontalPortScan(HorizontalPortScanParams())
    flows = [flow_factory(daddr=f"10.0.1.{i}", dport=53, proto="udp") for i in range(5)]
    flows += [flow_factory(daddr=f"10.0.2.{i}", dport=53, proto="tcp") for i in range(5)]
    assert run(det, flows) == []


def test_vertical_udp_scan(flow_factory: FlowFactory) -> None:
    det = VerticalPortScan(VerticalPortScanParams())
    flows = [flow_factory(daddr="45.33.32.156", dport=p, proto="udp") for p in range(100, 106)]
    (ev,) = run(det, flows)
    assert ev.proto == "udp" and ev.victim == "45.33.32.156" and ev.count == 6
    assert "over udp: 6 ports, 0 answered" in ev.description


def test_vertical_tcp_and_udp_are_separate_scans(flow_factory: FlowFactory) -> None:
    det = VerticalPortScan(VerticalPortScanParams())
    flows = [flow_factory(daddr="45.33.32.156", dport=p, proto="udp") for p in range(5)]
    flows += [flow_factory(daddr="45.33.32.156", dport=p, proto="tcp") for p in range(5, 10)]
    assert run(det, flows) == []


def test_rejected_flows_count_as_unanswered(flow_factory: FlowFactory) -> None:
    """REJ (an RST answer) and S0 (no answer) are both probes that found no service."""
    det = VerticalPortScan(VerticalPortScanParams())
    flows = [flow_factory(daddr="45.33.32.156", dport=p, state="REJ", dpkts=1) for p in range(3)]
    flows += [flow_factory(daddr="45.33.32.156", dport=p, state="S0") for p in range(3, 6)]
    (ev,) = run(det, flows)
    assert ev.count == 6 and ev.proto == "tcp"


def test_a_host_that_answers_later_is_not_a_scan_target(flow_factory: FlowFactory) -> None:
    det = HorizontalPortScan(HorizontalPortScanParams())
    flows = [flow_factory(daddr=f"10.0.1.{i}", dport=443) for i in range(5)]
    flows += [flow_factory(daddr="10.0.1.0", dport=443, established=True)]  # a live server
    flows += [flow_factory(daddr="10.0.1.0", dport=443, ts=300.0)]  # its later failure
    flows += [flow_factory(daddr="10.0.1.5", dport=443)]  # 5 never-answering hosts
    assert run(det, flows) == []
    (ev,) = run(det, [flow_factory(daddr="10.0.1.6", dport=443)])
    assert ev.count == 6 and "6 hosts, 1 answered" in ev.description


def test_busy_client_with_a_few_failures_is_not_a_scan(flow_factory: FlowFactory) -> None:
    """Answered hosts outnumber the unanswered ones more than max_answered_ratio:1."""
    det = HorizontalPortScan(HorizontalPortScanParams())
    flows = [flow_factory(daddr="10.0.9.9", dport=443)]
    flows += [flow_factory(daddr=f"10.0.2.{i}", dport=443, established=True) for i in range(13)]
    flows += [flow_factory(daddr=f"10.0.1.{i}", dport=443) for i in range(5)]
    assert run(det, flows) == []  # 13 answered > 2 x 6 unanswered at the 6th host
    # unanswered hosts keep coming: at 10, 13 <= 2 x 10, and it is reported
    flows = [flow_factory(daddr=f"10.0.3.{i}", dport=443) for i in range(4)]
    assert [e.count for e in run(det, flows)] == [10]
