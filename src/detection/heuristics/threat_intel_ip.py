"""Threat intelligence, addresses: a flow to or from an IP that a feed or a local
IoC file lists (exactly, or inside a listed CIDR).

The listed side is the attacker (the C&C server our host talks to, or the
scanner that reaches us), the other side the victim. Threat level: the feed's
(or the IoC line's own); confidence 1.0 exact, 0.9 by range (`_intel`). One
evidence per (listed address, peer) and window, re-reported at 10, 100, 1000
flows. Cost: two memoised lookups per flow, and none at all when no feed lists
an address (`wants_flow`).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._intel import IntelDetector, IntelParams
from detection.heuristics.base import DetectionContext, DetectorParams
from detection.intel.index import IntelIndex, IntelMatch
from detection.intel.model import IocKind
from detection.model import Evidence, Flow

__all__ = ["ThreatIntelIp", "ThreatIntelIpParams"]


class ThreatIntelIpParams(IntelParams):
    pass


_MEMO_CAP = 65_536  # addresses whose listing is remembered here (cleared when full)


class ThreatIntelIp(IntelDetector):
    name = "threat_intel_ip"
    consumes = (Flow,)
    Params = ThreatIntelIpParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        # address -> its listing in `self.intel` (None: not listed). The index memoises
        # too, but two plain dict reads per flow cost less than two method calls.
        self._listed: dict[str, IntelMatch | None] = {}

    def use_intel(self, index: IntelIndex) -> None:
        super().use_intel(index)
        self._listed = {}

    def _lookup(self, ip: str) -> IntelMatch | None:
        listed = self._listed
        if len(listed) >= _MEMO_CAP:
            listed.clear()
        found = listed[ip] = self.intel.lookup_ip(ip)
        return found

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return self.intel.has(IocKind.IP) or self.intel.has(IocKind.CIDR)

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        memo = self._listed
        daddr, saddr = flow.daddr, flow.saddr
        listed = memo[daddr] if daddr in memo else self._lookup(daddr)
        if listed is not None:
            attacker, victim, role = flow.daddr, flow.saddr, "to"
        else:
            listed = memo[saddr] if saddr in memo else self._lookup(saddr)
            if listed is None:
                return None
            attacker, victim, role = flow.saddr, flow.daddr, "from"
        port = f"{flow.dport}/{flow.proto}" if flow.dport is not None else flow.proto
        if role == "to":
            what = f"{flow.saddr} connected to blacklisted IP {listed.what} on {port}"
        else:
            what = f"Blacklisted IP {listed.what} connected to {flow.daddr} on {port}"
        return self.report(
            listed,
            key=(attacker, victim),
            attacker=attacker,
            victim=victim,
            ts=flow.ts,
            uid=flow.uid,
            window=window,
            description=what,
            technique="T1071",  # Application Layer Protocol (talking to known-bad infrastructure)
            dport=flow.dport,
            proto=flow.proto,
        )
