from __future__ import annotations

from detection.heuristics.dhcp_scan import DhcpScan, DhcpScanParams
from detection.model import DhcpRecord, ThreatLevel

BASE = DhcpRecord(
    100.0, ("C1",), "192.168.1.30", "192.168.1.1", "24:4b:fe:1c:48:a4", "", "", "", ("REQUEST",)
)


def requests(n: int, client: str = "192.168.1.30") -> list[DhcpRecord]:
    return [
        BASE._replace(client_addr=client, requested_addr=f"192.168.1.{100 + i}", uids=(f"C{i}",))
        for i in range(n)
    ]


def test_triggers_at_four_addresses() -> None:
    det = DhcpScan(DhcpScanParams())
    (ev,) = [e for r in requests(4) for e in det.observe(r, 0) or ()]
    assert ev.type == "dhcp_scan" and ev.attacker == "192.168.1.30"
    assert ev.victim == "192.168.1.1" and ev.count == 4
    assert ev.threat_level is ThreatLevel.MEDIUM and ev.attack_technique == "T1018"
    assert ev.uids == ("C0", "C1", "C2", "C3")
    assert ev.description == (
        "DHCP scan: 192.168.1.30 (MAC 24:4b:fe:1c:48:a4) requested 4 different addresses "
        "from DHCP server 192.168.1.1"
    )


def test_quiet_at_three_addresses_and_on_repeats() -> None:
    det = DhcpScan(DhcpScanParams())
    recs = requests(3) + requests(3)  # renewals of the same addresses
    recs += [r._replace(client_addr="") for r in requests(10)]  # no client: not attributable
    recs += [BASE._replace(requested_addr="")] * 10  # no address requested
    recs += requests(3, client="192.168.1.31")
    assert [e for r in recs for e in det.observe(r, 0) or ()] == []


def test_does_not_flood_and_forgets_closed_windows() -> None:
    det = DhcpScan(DhcpScanParams())
    recs = [
        BASE._replace(requested_addr=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        for i in range(20000)
    ]
    assert [e.count for r in recs for e in det.observe(r, 0) or ()] == [4, 10, 100, 1000, 10000]
    det.close_window(0)
    assert [e for r in requests(3) for e in det.observe(r, 1) or ()] == []
