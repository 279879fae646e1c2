from __future__ import annotations

from detection.heuristics.dns_arpa_scan import DnsArpaScan, DnsArpaScanParams
from detection.model import DnsRecord, ThreatLevel

BASE = DnsRecord(100.0, "D1", "10.0.0.5", 5555, "10.0.0.53", 53, "udp", "", "PTR", "NOERROR")


def ptrs(n: int, *, every: float = 0.1, saddr: str = "10.0.0.5") -> list[DnsRecord]:
    return [
        BASE._replace(
            ts=100.0 + i * every,
            uid=f"D{i}",
            saddr=saddr,
            query=f"{i % 256}.{i // 256}.0.10.in-addr.arpa",
        )
        for i in range(n)
    ]


def test_ten_reverse_lookups_in_two_seconds() -> None:
    det = DnsArpaScan(DnsArpaScanParams())
    (ev,) = [e for r in ptrs(10, every=0.2) for e in det.observe(r, 0) or ()]
    assert ev.type == "dns_arpa_scan" and ev.attacker == "10.0.0.5" and ev.victim is None
    assert ev.threat_level is ThreatLevel.MEDIUM and ev.attack_technique == "T1018"
    assert ev.count == 10 and len(ev.uids) == 10
    assert ev.description == (
        "Reverse-DNS scan: 10.0.0.5 looked up the names of 10 addresses (PTR queries), "
        "10 of them within 2 s"
    )


def test_quiet_under_threshold_slow_repeated_or_multicast() -> None:
    det = DnsArpaScan(DnsArpaScanParams())
    recs = ptrs(9)
    recs += ptrs(30, every=0.5, saddr="10.0.0.6")  # 10 within 4.5 s: too slow
    recs += ptrs(1, saddr="10.0.0.7") * 20  # one name over and over
    recs += [r._replace(saddr="10.0.0.8", daddr="224.0.0.251") for r in ptrs(20)]  # mDNS
    recs += [r._replace(saddr="10.0.0.9", query=f"h{r.uid}.example.com") for r in ptrs(20)]
    assert [e for r in recs for e in det.observe(r, 0) or ()] == []


def test_ipv6_reverse_names_and_no_flood() -> None:
    det = DnsArpaScan(DnsArpaScanParams())
    recs = [r._replace(query=r.query.replace("in-addr", "ip6")) for r in ptrs(5000, every=0.01)]
    assert [e.count for r in recs for e in det.observe(r, 0) or ()] == [10, 100, 1000]
    det.close_window(0)
    assert len(det._hosts) == 0
