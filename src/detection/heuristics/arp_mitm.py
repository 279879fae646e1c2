"""ARP man-in-the-middle: one MAC claiming a second IP that belongs to another MAC.

ARP spoofing makes the attacker's MAC answer for someone else's address (the
gateway's, typically) while it keeps its own. So, per window, the first
(sender MAC -> sender IP) and (sender IP -> sender MAC) bindings seen in ARP
packets are remembered; evidence when a MAC that already announced one address
claims a second address that was already announced by a different MAC.
Requiring both conditions keeps DHCP renumbering (a MAC moving to a new,
unowned address) and new devices quiet. Probes from 0.0.0.0 and
broadcast/zero MACs are ignored. The attacker is the MAC's own first address;
the victim the address it impersonates. One evidence per (MAC, claimed
address, window). State is per window and capped at `max_bindings` entries
per window (bounded memory). Threat HIGH: a working MITM reads and alters the
victim's traffic; confidence 0.6 (proxy ARP and some HA setups do this by design).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from detection.heuristics._scans_dns import NO_ADDRESS, Once, PerWindow, evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import ArpRecord, Evidence, ThreatLevel

__all__ = ["ArpMitm", "ArpMitmParams"]

_NOT_A_HOST = frozenset({"", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"})


class ArpMitmParams(DetectorParams):
    confidence: float = 0.6
    max_bindings: int = 100_000


@dataclass(slots=True)
class _Bindings:
    ip_of_mac: dict[str, str] = field(default_factory=dict)
    mac_of_ip: dict[str, str] = field(default_factory=dict)


class ArpMitm(Detector):
    name = "arp_mitm"
    consumes = (ArpRecord,)
    Params = ArpMitmParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, ArpMitmParams)
        self.p = params
        self._bindings: PerWindow[None, _Bindings] = PerWindow()
        self._reported: Once[tuple[str, str]] = Once()

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: ArpRecord = record  # type: ignore[assignment]  # only ArpRecord is routed here
        ip = rec.saddr
        mac = (rec.src_hw or rec.src_mac).lower()
        if ip in NO_ADDRESS or mac in _NOT_A_HOST:
            return None
        per_window = self._bindings.of(window)
        b = per_window.get(None)
        if b is None:
            b = per_window[None] = _Bindings()
        own_ip = b.ip_of_mac.get(mac)
        owner = b.mac_of_ip.get(ip)
        if own_ip is None:
            if len(b.ip_of_mac) < self.p.max_bindings:
                b.ip_of_mac[mac] = ip
            else:
                self.overflowed("bindings_refused")
        if owner is None:
            if len(b.mac_of_ip) < self.p.max_bindings:
                b.mac_of_ip[ip] = mac
            else:
                self.overflowed("bindings_refused")
        if own_ip is None or own_ip == ip or owner is None or owner == mac:
            return None
        if not self._reported.first((mac, ip), window):
            return None
        return evidence(
            self,
            attacker=own_ip,
            victim=ip,
            level=ThreatLevel.HIGH,
            confidence=self.p.confidence,
            ts=rec.ts,
            window=window,
            description=(
                f"ARP man-in-the-middle: MAC {mac} of {own_ip} claims {ip}, "
                f"which belongs to MAC {owner}"
            ),
            technique="T1557.002",  # ARP Cache Poisoning
            proto="arp",
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._bindings.close(window)
        self._reported.close(window)
        return None
