from __future__ import annotations

from detection.heuristics.zeek_scan_notice import ZeekScanNotice, ZeekScanNoticeParams
from detection.model import NoticeRecord, ThreatLevel

ADDRESS_SCAN = NoticeRecord(
    1601998373.5, "", "", "", None, "Scan::Address_Scan",
    "147.32.83.156 scanned at least 25 unique hosts on port 23/tcp in 1m14s", "remote",
    "147.32.83.156", "", None, 23,
)  # fmt: skip
PORT_SCAN = NoticeRecord(
    100.0, "", "", "", None, "Scan::Port_Scan",
    "10.0.0.1 scanned at least 15 unique ports of host 10.0.0.9 in 0m3s", "local",
    "10.0.0.1", "10.0.0.9", None,
)  # fmt: skip
ICMP = NoticeRecord(
    100.0, "", "", "", None, "ICMP::TimestampScan",
    "192.168.1.15 performed ICMP timestamp scan on 5 hosts", "", "192.168.1.15", "", 5,
)  # fmt: skip


def test_address_scan_notice() -> None:
    det = ZeekScanNotice(ZeekScanNoticeParams())
    (ev,) = det.observe(ADDRESS_SCAN, 0) or ()
    assert ev.type == "zeek_scan_notice" and ev.attacker == "147.32.83.156" and ev.victim is None
    assert ev.threat_level is ThreatLevel.HIGH and ev.confidence == 1.0
    assert ev.attack_technique == "T1046" and ev.dport == 23 and ev.proto == "tcp"
    assert ev.description == (
        "Zeek notice Scan::Address_Scan (horizontal port scan): 147.32.83.156 scanned at "
        "least 25 unique hosts on port 23/tcp in 1m14s"
    )
    # the same scan noticed again in the window is not re-reported; another port is
    assert det.observe(ADDRESS_SCAN._replace(ts=1601998400.0), 0) is None
    assert det.observe(ADDRESS_SCAN._replace(p=8080), 0)


def test_port_scan_notice_names_the_victim() -> None:
    det = ZeekScanNotice(ZeekScanNoticeParams())
    (ev,) = det.observe(PORT_SCAN, 0) or ()
    assert ev.attacker == "10.0.0.1" and ev.victim == "10.0.0.9"
    assert "(vertical port scan)" in ev.description


def test_icmp_notices_are_rereported_when_the_count_doubles() -> None:
    det = ZeekScanNotice(ZeekScanNoticeParams())
    recs = [ICMP._replace(n=n, msg=f"… on {n} hosts") for n in (5, 9, 10, 15, 19, 230, 255, 5)]
    evs = [e for r in recs for e in det.observe(r, 0) or ()]
    assert [e.count for e in evs] == [5, 10, 230]
    assert all(e.threat_level is ThreatLevel.MEDIUM and e.attack_technique == "T1018" for e in evs)
    assert evs[0].confidence == 0.2 and evs[2].confidence == 1.0


def test_other_notices_are_ignored() -> None:
    det = ZeekScanNotice(ZeekScanNoticeParams())
    quiet = [
        ADDRESS_SCAN._replace(note="SSH::Password_Guessing"),
        ADDRESS_SCAN._replace(note="SSL::Invalid_Server_Cert"),
        ADDRESS_SCAN._replace(src="", saddr=""),
    ]
    assert [e for r in quiet for e in det.observe(r, 0) or ()] == []
