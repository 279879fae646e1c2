from __future__ import annotations

from collections.abc import Callable, Sequence

from detection.heuristics.dns_without_connection import (
    DnsWithoutConnection,
    DnsWithoutConnectionParams,
)
from detection.model import DnsRecord, Evidence, Flow, Record, ThreatLevel

FlowFactory = Callable[..., Flow]


def dns(name: str, answer: str, ts: float, qtype: str = "A") -> DnsRecord:
    return DnsRecord(
        ts, f"D{name}", "10.0.0.5", 5353, "10.0.0.1", 53, "udp", name, qtype, "NOERROR", (answer,)
    )


def run(records: Sequence[Record]) -> list[Evidence]:
    det = DnsWithoutConnection(DnsWithoutConnectionParams())
    for r in records:
        assert det.observe(r, int(r.ts // 3600)) is None
    return list(det.close_window(2**62) or ())


def test_a_resolution_nobody_used(flow_factory: FlowFactory) -> None:
    records: list[Record] = [
        dns("c2.example.net", "198.51.100.7", 10.0),
        dns("www.example.com", "203.0.113.10", 11.0),
        flow_factory("10.0.0.5", "203.0.113.10", 443, established=True, ts=12.0),
        flow_factory("10.0.0.6", "10.0.0.7", 1, ts=10.0 + 1801),  # the wait has passed
    ]
    (ev,) = run(records)
    assert ev.type == "dns_without_connection" and ev.threat_level is ThreatLevel.INFO
    assert (ev.attacker, ev.victim, ev.uids) == ("10.0.0.5", None, ("Dc2.example.net",))
    assert ev.attack_technique == "T1071.004"
    assert ev.description == (
        "10.0.0.5 resolved c2.example.net to 198.51.100.7 but no host connected to it within 30 min"
    )


def test_quiet_cases(flow_factory: FlowFactory) -> None:
    end = flow_factory("10.0.0.6", "10.0.0.7", 1, ts=5000.0)
    assert (
        run([dns("c2.example.net", "198.51.100.7", 10.0), flow_factory(ts=1000.0)]) == []
    )  # too young
    assert run([dns("c2.example.net", "198.51.100.7", 10.0)]) == []  # no flows at all
    for rec in (
        dns("4.3.2.1.in-addr.arpa", "198.51.100.7", 10.0, qtype="PTR"),
        dns("printer.local", "198.51.100.7", 10.0),
        dns("wpad.example.com", "198.51.100.7", 10.0),
        dns("intranet", "198.51.100.7", 10.0),
        dns("nas.example.com", "192.168.1.10", 10.0),  # a private answer
        dns("c2.example.net", "198.51.100.7", 10.0, qtype="TXT"),
    ):
        assert run([rec, end]) == [], rec
    # used before the DNS record arrived (logs interleave), or from another host
    earlier = dns("www.example.com", "203.0.113.10", 1.0)  # the input carries DNS from here on
    contacted_first = flow_factory("10.0.0.5", "198.51.100.7", 443, established=True, ts=10.0)
    used = flow_factory("10.0.0.5", "203.0.113.10", 443, established=True, ts=11.0)
    records = [earlier, used, contacted_first, dns("c2.example.net", "198.51.100.7", 12.0), end]
    assert run(records) == []
    via_proxy = flow_factory("10.0.0.99", "198.51.100.7", 443, established=True, ts=20.0)
    assert run([dns("c2.example.net", "198.51.100.7", 12.0), via_proxy, end]) == []


def test_many_unused_names_are_a_bounded_report(flow_factory: FlowFactory) -> None:
    records: list[Record] = [
        dns(f"n{i}.example.net", f"198.51.{i // 250}.{i % 250 + 1}", 10.0) for i in range(3000)
    ]
    records.append(flow_factory("10.0.0.6", "10.0.0.7", 1, ts=5000.0))
    evs = run(records)
    assert len(evs) == 11
    assert evs[-1].description.startswith("10.0.0.5 resolved 2990 more names")


def test_a_window_closed_early_keeps_young_queries(flow_factory: FlowFactory) -> None:
    """A time jump in another log can close a window minutes after a query: the
    query waits for its own 30 min of record time before it is judged."""
    det = DnsWithoutConnection(DnsWithoutConnectionParams())
    det.observe(dns("c2.example.net", "198.51.100.7", 10.0), 0)
    det.observe(flow_factory("10.0.0.6", "10.0.0.7", 1, ts=20.0), 0)
    assert det.close_window(0) is None
    det.observe(flow_factory("10.0.0.6", "10.0.0.7", 1, ts=2000.0), 0)
    found = det.close_window(0)
    assert found is not None and found[0].attacker == "10.0.0.5"
