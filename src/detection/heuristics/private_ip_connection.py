"""Connection to a private IP: one private address talking to another.

On an endpoint sensor most traffic goes to the Internet; a host opening
connections to its neighbours is context for lateral movement (file shares,
remote services, internal scanning). "Private" is RFC 1918 and IPv6 unique
local. Requests to infrastructure services are not reported: destination
port DNS (53), DHCP (67/68) or mDNS/LLMNR/NetBIOS/SSDP discovery, and
multicast or broadcast destinations. Their unicast answers to a client port
(e.g. SSDP replies from port 1900) are reported: they are flows a neighbour
started toward this host, which is what an analyst wants to see.
(Slips excludes only DNS and DHCP to the gateway; Starling cannot know the
gateway from flows alone, so it excludes those services to any private server.)

INFO as in Slips (a fact worth seeing next to stronger evidence, no score);
confidence 1.0 (the addresses say it). One evidence per (source, destination)
and window, re-reported with a growing flow count at 10, 100, 1000, ….
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._connections import (
    ADDRESS_KINDS,
    PRIVATE,
    SteppedFlowDetector,
    port_text,
)
from detection.heuristics.base import DetectionContext, DetectorParams
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["INFRASTRUCTURE_PORTS", "PrivateIpConnection", "PrivateIpConnectionParams"]

# DNS, DHCP (server and client), NetBIOS name/datagram, SSDP, mDNS, LLMNR
INFRASTRUCTURE_PORTS: tuple[int, ...] = (53, 67, 68, 137, 138, 1900, 5353, 5355)


class PrivateIpConnectionParams(DetectorParams):
    ignored_ports: tuple[int, ...] = INFRASTRUCTURE_PORTS
    report_at: tuple[int, ...] = (10, 100, 1000)


class PrivateIpConnection(SteppedFlowDetector):
    name = "connection_to_private_ip"
    consumes = (Flow,)
    Params = PrivateIpConnectionParams
    threat_level = ThreatLevel.INFO
    technique = "T1021"  # Remote Services (lateral movement)

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, PrivateIpConnectionParams)
        self._ignored = frozenset(params.ignored_ports)
        self._kinds = ADDRESS_KINDS

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return src_kind == PRIVATE and dst_kind == PRIVATE

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        kinds = self._kinds
        if kinds[flow.daddr] != PRIVATE or kinds[flow.saddr] != PRIVATE:
            return None
        if flow.dport in self._ignored or flow.saddr == flow.daddr:
            return None
        tally = self.step(flow, window, (flow.saddr, flow.daddr))
        if tally is None:
            return None
        state = "established" if flow.established else "not established"
        more = f"; {tally.count} flows between them in this window" if tally.count > 1 else ""
        return self.evidence(
            flow,
            window,
            tally,
            f"Connection from private IP {flow.saddr} to private IP {flow.daddr} "
            f"on {port_text(flow)} ({state}{more})",
            1.0,
        )
