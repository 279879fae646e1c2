from __future__ import annotations

from collections.abc import Callable, Sequence

from detection.allowlist import CidrIndex, OrgInfo
from detection.heuristics.base import DetectionContext
from detection.heuristics.connection_without_dns import (
    ConnectionWithoutDns,
    ConnectionWithoutDnsParams,
)
from detection.model import DnsRecord, Evidence, Flow, Record, ThreatLevel

FlowFactory = Callable[..., Flow]
GOOGLE = OrgInfo("google", frozenset(), frozenset(), CidrIndex(["142.250.0.0/15"]))
CONTEXT = DetectionContext(organizations={"google": GOOGLE})


def dns(answer: str, ts: float, client: str = "10.0.0.5") -> DnsRecord:
    return DnsRecord(
        ts,
        "Cdns",
        client,
        5353,
        "10.0.0.1",
        53,
        "udp",
        "example.com",
        "A",
        "NOERROR",
        ("example.com.cdn.net", answer),
    )


def run(
    records: Sequence[Record], params: ConnectionWithoutDnsParams | None = None
) -> list[Evidence]:
    det = ConnectionWithoutDns(params or ConnectionWithoutDnsParams(), CONTEXT)
    for r in records:
        assert det.observe(r, int(r.ts // 3600)) is None
    return list(det.close_window(2**62) or ())


def test_connection_to_an_unresolved_public_address(flow_factory: FlowFactory) -> None:
    records: list[Record] = [
        dns("203.0.113.10", 1.0),
        flow_factory("10.0.0.5", "203.0.113.10", 443, established=True, ts=2.0),  # resolved
        flow_factory("10.0.0.5", "198.51.100.7", 443, established=True, ts=3.0, uid="Cx"),
        flow_factory("10.0.0.5", "198.51.100.7", 443, established=True, ts=4.0, uid="Cy"),
        flow_factory("10.0.0.6", "10.0.0.7", 1, ts=100.0),  # time moves past the grace
    ]
    (ev,) = run(records)
    assert ev.type == "connection_without_dns" and ev.threat_level is ThreatLevel.INFO
    assert (ev.attacker, ev.victim, ev.uids, ev.count) == (
        "10.0.0.5",
        "198.51.100.7",
        ("Cx", "Cy"),
        2,
    )
    assert ev.attack_technique == "T1071" and ev.confidence == 0.8
    assert ev.description == (
        "Connection from 10.0.0.5 to 198.51.100.7 on 443/tcp without a DNS resolution "
        "of 198.51.100.7 (2 connections in this window)"
    )


def test_quiet_cases(flow_factory: FlowFactory) -> None:
    late_answer: list[Record] = [
        flow_factory("10.0.0.5", "198.51.100.7", 443, established=True, ts=10.0),
        dns("198.51.100.7", 39.0),  # logged after the connection, within the grace
        flow_factory("10.0.0.6", "10.0.0.7", 1, ts=500.0),
    ]
    assert run(late_answer) == []
    others: list[Record] = [
        dns("203.0.113.10", 1.0),
        flow_factory("10.0.0.5", "10.1.2.3", 443, established=True, ts=2.0),  # private
        flow_factory("10.0.0.5", "142.250.1.1", 443, established=True, ts=2.0),  # google
        flow_factory("10.0.0.5", "198.51.100.9", 443, ts=2.0),  # not established
        flow_factory("10.0.0.5", "9.9.9.9", 53, proto="udp", established=True, ts=2.0),  # DNS
        flow_factory("10.0.0.5", "9.9.9.9", 443, established=True, ts=3.0),  # the DNS server
        flow_factory("10.0.0.6", "10.0.0.7", 1, ts=500.0),
    ]
    assert run(others) == []


def test_no_dns_in_the_input_means_no_judgement(flow_factory: FlowFactory) -> None:
    flows: list[Record] = [
        flow_factory("10.0.0.5", "198.51.100.7", 443, established=True, ts=float(t))
        for t in (1, 5000)
    ]
    assert run(flows) == []


def test_a_young_candidate_is_not_judged_at_end_of_input(flow_factory: FlowFactory) -> None:
    records: list[Record] = [
        dns("203.0.113.10", 1.0),
        flow_factory("10.0.0.5", "198.51.100.7", 443, established=True, ts=20.0),
    ]
    assert run(records) == []  # the answer might still have been logged


def test_a_host_contacting_many_raw_ips_gets_a_bounded_report(flow_factory: FlowFactory) -> None:
    records: list[Record] = [dns("203.0.113.10", 1.0)]
    records += [
        flow_factory("10.0.0.5", f"198.51.{i // 250}.{i % 250 + 1}", 443, established=True, ts=2.0)
        for i in range(5000)
    ]
    records.append(flow_factory("10.0.0.6", "10.0.0.7", 1, ts=500.0))
    evs = run(records, ConnectionWithoutDnsParams(max_reported_per_window=10))
    assert len(evs) == 11
    assert evs[-1].victim is None and evs[-1].count == 5000
    assert "4990 more public addresses" in evs[-1].description


def test_full_caps_are_counted(flow_factory: FlowFactory) -> None:
    det = ConnectionWithoutDns(ConnectionWithoutDnsParams(max_candidates=3, max_resolved=2))
    for i in range(3):  # three answers into a memory of two: the oldest is forgotten
        det.observe(dns(f"203.0.113.{i + 1}", 1.0 + i), 0)
    for i in range(5):  # five unresolved destinations, three candidates kept
        flow = flow_factory("10.0.0.5", f"198.51.7.{i + 1}", 443, established=True, ts=10.0)
        det.observe(flow, 0)
    assert det.state_overflow == {"resolved_evicted": 1, "candidates_refused": 2}
