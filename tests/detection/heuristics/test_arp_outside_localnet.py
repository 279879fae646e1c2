from __future__ import annotations

from detection.heuristics.arp_outside_localnet import ArpOutsideLocalnet, ArpOutsideLocalnetParams
from detection.model import ArpRecord, ThreatLevel

BASE = ArpRecord(
    100.0, "request", "50:5b:c2:db:c3:17", "ff:ff:ff:ff:ff:ff", "192.168.1.15", "69.220.152.0",
    "50:5b:c2:db:c3:17", "00:00:00:00:00:00",
)  # fmt: skip


def test_request_for_public_address_from_private_host() -> None:
    det = ArpOutsideLocalnet(ArpOutsideLocalnetParams())
    (ev,) = det.observe(BASE, 0) or ()
    assert ev.type == "arp_outside_localnet"
    assert ev.attacker == "192.168.1.15" and ev.victim == "69.220.152.0"
    assert ev.threat_level is ThreatLevel.LOW and ev.attack_technique == "T1018"
    assert ev.description == (
        "ARP request from 192.168.1.15 (MAC 50:5b:c2:db:c3:17) for 69.220.152.0, "
        "outside its local network 192.168.0.0/16"
    )
    assert det.observe(BASE._replace(ts=101.0), 0) is None  # once per pair and window
    assert det.observe(BASE._replace(daddr="10.0.0.1"), 0)  # another private block


def test_public_sender_uses_its_slash_24() -> None:
    det = ArpOutsideLocalnet(ArpOutsideLocalnetParams())
    pub = BASE._replace(saddr="147.32.83.10")
    assert det.observe(pub._replace(daddr="147.32.83.1"), 0) is None
    assert det.observe(pub._replace(daddr="147.32.84.1"), 0)


def test_quiet_inside_local_network_and_on_non_lookups() -> None:
    det = ArpOutsideLocalnet(ArpOutsideLocalnetParams())
    quiet = [
        BASE._replace(daddr="192.168.7.1"),  # same private block
        BASE._replace(operation="reply"),
        BASE._replace(saddr="0.0.0.0"),  # probe
        BASE._replace(daddr=BASE.saddr),  # gratuitous
        BASE._replace(daddr="255.255.255.255"),
        BASE._replace(daddr="224.0.0.1"),
        BASE._replace(daddr="fe80::1"),
        BASE._replace(saddr="not an ip"),
    ]
    assert [e for r in quiet for e in det.observe(r, 0) or ()] == []
