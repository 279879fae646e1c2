"""Connection to a different local network: a private destination outside the
source's own network.

A host normally talks to its own LAN and to the Internet; reaching into
another private network (10.0.0.0/8 from a 192.168.1.0/24 host, or another
/24 of the same site) is how lateral movement across segments, VPN pivots
and misrouted malware look. The source's network is inferred from its own
address: its /24 for IPv4 (the common LAN size; `prefix_octets` = 3). IPv6
is not judged (no reliable prefix from one address). DNS, DHCP and discovery
traffic (a resolver in another subnet is ordinary) and multicast/broadcast
destinations are ignored, as are sources that are not private themselves
(a public host is not "on" a local network).

LOW (Slips' level for this evidence about the source), confidence 0.6: the
/24 guess is wrong for larger LANs, which is why this never weighs much. One
evidence per (source, destination network) and window, re-reported with a
growing flow count at 10, 100, 1000, ….
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from detection.heuristics._connections import (
    ADDRESS_KINDS,
    PRIVATE,
    SteppedFlowDetector,
    port_text,
)
from detection.heuristics.base import DetectionContext, DetectorParams
from detection.heuristics.private_ip_connection import INFRASTRUCTURE_PORTS
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["DifferentLocalnet", "DifferentLocalnetParams"]


class DifferentLocalnetParams(DetectorParams):
    prefix_octets: int = Field(3, ge=1, le=3)
    ignored_ports: tuple[int, ...] = INFRASTRUCTURE_PORTS
    report_at: tuple[int, ...] = (10, 100, 1000)
    confidence: float = Field(0.6, ge=0.0, le=1.0)


def _network(ip: str, octets: int) -> str:
    return ".".join(ip.split(".", octets)[:octets])


class DifferentLocalnet(SteppedFlowDetector):
    name = "different_localnet"
    consumes = (Flow,)
    Params = DifferentLocalnetParams
    threat_level = ThreatLevel.LOW
    technique = "T1021"  # Remote Services (lateral movement)

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, DifferentLocalnetParams)
        self.confidence = params.confidence
        self._ignored = frozenset(params.ignored_ports)
        self._kinds = ADDRESS_KINDS
        self._octets = params.prefix_octets

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return src_kind == PRIVATE and dst_kind == PRIVATE

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        saddr, daddr = flow.saddr, flow.daddr
        kinds = self._kinds
        if kinds[daddr] != PRIVATE or kinds[saddr] != PRIVATE or ":" in daddr or ":" in saddr:
            return None
        octets = self._octets
        src_net, dst_net = _network(saddr, octets), _network(daddr, octets)
        if src_net == dst_net or flow.dport in self._ignored or flow.sport in self._ignored:
            return None
        tally = self.step(flow, window, (saddr, dst_net))
        if tally is None:
            return None
        cidr = f"{'.0' * (4 - octets)}/{8 * octets}"
        n = tally.count
        more = f"; {n} flows to that network in this window" if n > 1 else ""
        return self.evidence(
            flow,
            window,
            tally,
            f"Connection from {saddr} (local network {src_net}{cidr}) to {daddr} on "
            f"{port_text(flow)}, in another private network {dst_net}{cidr}{more}",
            self.confidence,
        )
