"""Device changing IP: the same MAC address seen with a new IPv4 address.

A host that changes its address can be evading a block on the old one, or
taking over another host's address; it also keeps a profile from following a
device, so an analyst wants to know. MAC-to-IP bindings come from every record
that carries both: DHCP leases (``mac`` → ``assigned_addr``), ARP (sender
hardware → sender IP) and flows whose source MAC is known (Zeek
``orig_l2_addr``, Argus/nfdump MAC columns). A flow's source MAC is the
host's own only when the host is on the sensor's segment, so flows count only
when their source is private or link-local; and a MAC seen with more than
`max_ips_per_mac` addresses is a router or NAT forwarding other hosts'
traffic, never reported again. IPv6 is not judged (privacy addresses rotate
by design). The unspecified, broadcast and multicast addresses and the
all-zero and broadcast MACs are no host's.

LOW, confidence 0.6 (Slips says MEDIUM/0.8; a new DHCP lease is the common
benign cause, so alone it should not weigh much). One evidence per (MAC, new
address): the binding table is bounded (`max_macs`, least recently seen
first out).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from detection.heuristics._connections import PUBLIC, is_private
from detection.heuristics.base import (
    HAS_SOURCE_MAC,
    DetectionContext,
    Detector,
    DetectorParams,
)
from detection.model import ArpRecord, DhcpRecord, Evidence, Flow, ThreatLevel

__all__ = ["DeviceChangingIp", "DeviceChangingIpParams"]

_NOT_A_HOST_MAC = frozenset({"", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"})


class DeviceChangingIpParams(DetectorParams):
    max_ips_per_mac: int = Field(3, ge=1)
    max_macs: int = Field(100_000, ge=1)
    confidence: float = Field(0.6, ge=0.0, le=1.0)


class _Binding:
    __slots__ = ("ip", "ips", "ts", "uid")

    def __init__(self, ip: str, ts: float, uid: str) -> None:
        self.ip = ip
        self.ts = ts
        self.uid = uid
        self.ips = {ip}


def _usable_ipv4(ip: str) -> bool:
    if not ip or ":" in ip or ip.startswith(("0.", "255.")) or ip.endswith(".255"):
        return False
    first = ip.partition(".")[0]
    return first.isascii() and first.isdigit() and not 224 <= int(first) <= 239


class DeviceChangingIp(Detector):
    name = "device_changing_ip"
    consumes = (Flow, DhcpRecord, ArpRecord)
    Params = DeviceChangingIpParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, DeviceChangingIpParams)
        self.p = params
        self._bindings: dict[str, _Binding] = {}  # mac -> current binding, LRU order
        self.needs_traits = HAS_SOURCE_MAC  # a flow without its source MAC binds nothing

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return src_kind != PUBLIC  # private, or link-local (special)

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if type(record) is Flow:
            if not record.smac:
                return None
            ip = record.saddr
            if not (is_private(ip) or ip.startswith("169.254.")):
                return None
            return self._bind(
                record.smac, ip, ts=record.ts, uid=record.uid, window=window, how="flow"
            )
        if type(record) is DhcpRecord:
            uid = record.uids[0] if record.uids else ""
            return self._bind(
                record.mac, record.assigned_addr, ts=record.ts, uid=uid, window=window, how="DHCP"
            )
        if type(record) is ArpRecord:
            mac = record.src_hw or record.src_mac
            return self._bind(mac, record.saddr, ts=record.ts, uid="", window=window, how="ARP")
        return None

    def _bind(
        self, mac: str, ip: str, *, ts: float, uid: str, window: int, how: str
    ) -> Sequence[Evidence] | None:
        binding = self._bindings.get(mac)
        if binding is not None and binding.ip == ip:
            return None  # the common case: nothing changed
        mac = mac.lower()
        if mac in _NOT_A_HOST_MAC or not _usable_ipv4(ip):
            return None
        bindings = self._bindings
        binding = bindings.pop(mac, None)
        if binding is None:
            if len(bindings) >= self.p.max_macs:
                del bindings[next(iter(bindings))]
                self.overflowed("bindings_evicted")
            bindings[mac] = _Binding(ip, ts, uid)
            return None
        bindings[mac] = binding  # most recently seen last
        if binding.ip == ip:
            return None
        old, old_ts, old_uid = binding.ip, binding.ts, binding.uid
        known = ip in binding.ips
        if len(binding.ips) <= self.p.max_ips_per_mac:
            binding.ips.add(ip)
        binding.ip, binding.ts, binding.uid = ip, ts, uid
        if known or len(binding.ips) > self.p.max_ips_per_mac:
            return None  # back to an address it had, or a router forwarding many hosts
        return (
            Evidence(
                type=self.name,
                attacker=ip,
                victim=None,
                threat_level=ThreatLevel.LOW,
                confidence=self.p.confidence,
                ts=ts,
                timewindow=window,
                description=(
                    f"Device {mac} changed its IP from {old} to {ip} "
                    f"(seen in a {how} record; {ts - old_ts:.0f} s after it last used {old})"
                ),
                source=self.source,
                uids=tuple(u for u in (old_uid, uid) if u),
                attack_technique=None,  # no ATT&CK technique: an asset fact, see the docs
            ),
        )
