from __future__ import annotations

from collections.abc import Callable, Sequence

from detection.heuristics.device_changing_ip import DeviceChangingIp, DeviceChangingIpParams
from detection.model import ArpRecord, DhcpRecord, Evidence, Flow, Record, ThreatLevel

FlowFactory = Callable[..., Flow]
MAC = "68:5b:35:b1:55:93"


def feed(det: DeviceChangingIp, records: Sequence[Record]) -> list[Evidence]:
    return [e for r in records for e in det.observe(r, 0) or ()]


def dhcp(mac: str, ip: str, ts: float) -> DhcpRecord:
    return DhcpRecord(ts, ("Cd",), ip, "192.168.2.1", mac, "host", "", ip, ("ACK",))


def arp(mac: str, ip: str, ts: float) -> ArpRecord:
    return ArpRecord(ts, "request", mac, "ff:ff:ff:ff:ff:ff", ip, "192.168.2.1", mac, "")


def test_a_mac_seen_with_a_new_ip(flow_factory: FlowFactory) -> None:
    det = DeviceChangingIp(DeviceChangingIpParams())
    first = flow_factory("169.254.242.182", "192.168.2.1", 80, uid="Cold")._replace(smac=MAC)
    second = flow_factory("192.168.2.12", "8.8.8.8", 53, ts=160.0, uid="Cnew")._replace(smac=MAC)
    (ev,) = feed(det, [first, first, second, second])
    assert ev.type == "device_changing_ip" and ev.threat_level is ThreatLevel.LOW
    assert (ev.attacker, ev.victim) == ("192.168.2.12", None)
    assert ev.uids == ("Cold", "Cnew")
    assert ev.description == (
        f"Device {MAC} changed its IP from 169.254.242.182 to 192.168.2.12 "
        "(seen in a flow record; 60 s after it last used 169.254.242.182)"
    )


def test_dhcp_and_arp_bindings_count(flow_factory: FlowFactory) -> None:
    det = DeviceChangingIp(DeviceChangingIpParams())
    evs = feed(det, [dhcp(MAC, "192.168.2.12", 1.0), arp(MAC, "192.168.2.13", 2.0)])
    assert [(e.attacker, "ARP" in e.description) for e in evs] == [("192.168.2.13", True)]


def test_no_change_no_evidence(flow_factory: FlowFactory) -> None:
    det = DeviceChangingIp(DeviceChangingIpParams())
    same = flow_factory("192.168.2.12", "8.8.8.8", 53)._replace(smac=MAC)
    other_mac = flow_factory("192.168.2.13", "8.8.8.8", 53)._replace(smac="aa:bb:cc:dd:ee:ff")
    public = flow_factory("8.8.8.8", "192.168.2.12", 53)._replace(smac=MAC)  # router's MAC
    no_mac = flow_factory("192.168.2.14", "8.8.8.8", 53)
    probe = arp(MAC, "0.0.0.0", 3.0)
    assert feed(det, [same, same, other_mac, public, no_mac, probe, same]) == []


def test_a_router_mac_with_many_ips_is_not_reported_forever(flow_factory: FlowFactory) -> None:
    det = DeviceChangingIp(DeviceChangingIpParams(max_ips_per_mac=3))
    flows = [
        flow_factory(f"10.0.{i}.1", "8.8.8.8", 53, ts=float(i))._replace(smac=MAC)
        for i in range(1000)
    ]
    assert len(feed(det, flows)) == 2  # the 2nd and 3rd address; then it is a router
    # going back to an address it had is no news either
    det = DeviceChangingIp(DeviceChangingIpParams())
    a = flow_factory("10.0.0.1", "8.8.8.8", 53)._replace(smac=MAC)
    b = flow_factory("10.0.0.2", "8.8.8.8", 53)._replace(smac=MAC)
    assert len(feed(det, [a, b, a, b, a])) == 1


def test_bindings_are_bounded(flow_factory: FlowFactory) -> None:
    det = DeviceChangingIp(DeviceChangingIpParams(max_macs=10))
    flows = [
        flow_factory(f"10.0.0.{i % 250}", "8.8.8.8", 53)._replace(
            smac=f"02:00:00:00:{i // 256:02x}:{i % 256:02x}"
        )
        for i in range(1000)
    ]
    feed(det, flows)
    assert len(det._bindings) == 10
    assert det.state_overflow == {"bindings_evicted": 990}  # evicted, and said so
