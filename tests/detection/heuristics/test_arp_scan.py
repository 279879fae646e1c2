from __future__ import annotations

from detection.heuristics.arp_scan import ArpScan, ArpScanParams
from detection.model import ArpRecord, ThreatLevel

BASE = ArpRecord(
    100.0, "request", "aa:aa:aa:aa:aa:01", "ff:ff:ff:ff:ff:ff", "192.168.1.5", "192.168.1.1",
    "aa:aa:aa:aa:aa:01", "00:00:00:00:00:00",
)  # fmt: skip


def asks(n: int, *, every: float = 1.0, start: int = 0) -> list[ArpRecord]:
    return [
        BASE._replace(ts=100.0 + i * every, daddr=f"192.168.1.{10 + start + i}") for i in range(n)
    ]


def test_triggers_at_five_targets_in_thirty_seconds() -> None:
    det = ArpScan(ArpScanParams())
    (ev,) = [e for r in asks(5, every=7.0) for e in det.observe(r, 0) or ()]
    assert ev.type == "arp_scan" and ev.attacker == "192.168.1.5" and ev.victim is None
    assert ev.threat_level is ThreatLevel.LOW and ev.attack_technique == "T1018"
    assert ev.count == 5 and ev.proto == "arp"
    assert ev.description == (
        "ARP scan: 192.168.1.5 (MAC aa:aa:aa:aa:aa:01) asked for 5 different addresses, "
        "5 of them within 30 s"
    )


def test_quiet_under_threshold_slow_or_not_lookups() -> None:
    det = ArpScan(ArpScanParams())
    recs = asks(4)  # four targets
    recs += [r._replace(saddr="192.168.1.6") for r in asks(20, every=8.0)]  # slow: never 5 in 30 s
    recs += [r._replace(saddr=r.daddr, ts=r.ts + 1000) for r in asks(10)]  # gratuitous
    recs += [r._replace(saddr="0.0.0.0", ts=r.ts + 2000) for r in asks(10)]  # probes
    recs += [r._replace(operation="reply", ts=r.ts + 3000) for r in asks(10)]
    assert [e for r in recs for e in det.observe(r, 0) or ()] == []


def test_does_not_flood() -> None:
    det = ArpScan(ArpScanParams())
    recs = [
        BASE._replace(ts=100.0 + i / 100, daddr=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        for i in range(20000)
    ]
    assert [e.count for r in recs for e in det.observe(r, 0) or ()] == [5, 10, 100, 1000, 10000]
    det.close_window(0)
    assert len(det._hosts) == 0
