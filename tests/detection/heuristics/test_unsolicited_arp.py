from __future__ import annotations

from detection.heuristics.unsolicited_arp import UnsolicitedArp, UnsolicitedArpParams
from detection.model import ArpRecord, ThreatLevel

REPLY = ArpRecord(
    100.0, "reply", "50:5b:c2:db:c3:17", "ff:ff:ff:ff:ff:ff", "192.168.1.15", "69.220.152.0",
    "50:50:50:50:50:50", "ff:ff:ff:ff:ff:ff",
)  # fmt: skip


def test_broadcast_reply_is_unsolicited() -> None:
    det = UnsolicitedArp(UnsolicitedArpParams())
    (ev,) = det.observe(REPLY, 0) or ()
    assert ev.type == "unsolicited_arp" and ev.attacker == "192.168.1.15" and ev.victim is None
    assert ev.threat_level is ThreatLevel.LOW and ev.attack_technique == "T1557.002"
    assert ev.description == (
        "Unsolicited ARP reply broadcast by 192.168.1.15: announces 192.168.1.15 "
        "at MAC 50:50:50:50:50:50 to every host on the link"
    )
    assert det.observe(REPLY._replace(ts=101.0), 0) is None  # once per window
    assert det.observe(REPLY, 1)


def test_unicast_reply_and_requests_are_normal() -> None:
    det = UnsolicitedArp(UnsolicitedArpParams())
    unicast = REPLY._replace(dst_mac="aa:bb:cc:dd:ee:ff", dst_hw="aa:bb:cc:dd:ee:ff")
    gratuitous_request = REPLY._replace(operation="request", daddr=REPLY.saddr)
    probe = REPLY._replace(saddr="0.0.0.0")
    assert [e for r in (unicast, gratuitous_request, probe) for e in det.observe(r, 0) or ()] == []
