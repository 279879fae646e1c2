from __future__ import annotations

from detection.heuristics.arp_mitm import ArpMitm, ArpMitmParams
from detection.model import ArpRecord, ThreatLevel

GATEWAY = ArpRecord(
    100.0, "reply", "aa:aa:aa:aa:aa:01", "bb:bb:bb:bb:bb:02", "192.168.1.1", "192.168.1.20",
    "aa:aa:aa:aa:aa:01", "bb:bb:bb:bb:bb:02",
)  # fmt: skip
ATTACKER_OWN = GATEWAY._replace(
    ts=110.0, src_mac="cc:cc:cc:cc:cc:03", src_hw="cc:cc:cc:cc:cc:03", saddr="192.168.1.66"
)
SPOOF = ATTACKER_OWN._replace(ts=120.0, saddr="192.168.1.1")


def test_mac_claiming_the_gateway_address() -> None:
    det = ArpMitm(ArpMitmParams())
    evs = [e for r in (GATEWAY, ATTACKER_OWN, SPOOF, SPOOF) for e in det.observe(r, 0) or ()]
    (ev,) = evs
    assert ev.type == "arp_mitm" and ev.attacker == "192.168.1.66" and ev.victim == "192.168.1.1"
    assert ev.threat_level is ThreatLevel.HIGH and ev.attack_technique == "T1557.002"
    assert ev.description == (
        "ARP man-in-the-middle: MAC cc:cc:cc:cc:cc:03 of 192.168.1.66 claims 192.168.1.1, "
        "which belongs to MAC aa:aa:aa:aa:aa:01"
    )


def test_renumbering_and_new_devices_are_quiet() -> None:
    det = ArpMitm(ArpMitmParams())
    moved = ATTACKER_OWN._replace(ts=130.0, saddr="192.168.1.67")  # new, unowned address
    probe = SPOOF._replace(saddr="0.0.0.0")
    assert [e for r in (GATEWAY, ATTACKER_OWN, moved, probe) for e in det.observe(r, 0) or ()] == []
    # the gateway seen in an earlier (closed) window is forgotten
    det.close_window(0)
    assert [e for r in (ATTACKER_OWN, SPOOF) for e in det.observe(r, 1) or ()] == []
