"""Connection to port 0: a TCP or UDP flow whose source or destination port is 0.

Port 0 is reserved; no service listens on it. Traffic to or from it is crafted:
OS fingerprinting, scanners probing stacks, or covert channels hiding in
malformed packets. As in Slips, only TCP and UDP count (ICMP, IGMP and ARP
flows carry no real ports) and multicast/broadcast destinations are ignored.
HIGH, confidence 0.8 (Slips' numbers: such traffic is almost never benign).

One evidence per (source, destination, protocol) and window, re-reported with a
growing flow count at 10, 100, 1000, … (`report_at`), so a flood of port-0
packets yields a handful of evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from detection.heuristics._connections import SteppedFlowDetector
from detection.heuristics.base import (
    PORT_ZERO,
    DetectionContext,
    DetectorParams,
    is_multicast_or_broadcast,
)
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["PortZero", "PortZeroParams"]

_PROTOS = frozenset({"tcp", "udp"})


class PortZeroParams(DetectorParams):
    report_at: tuple[int, ...] = (10, 100, 1000)
    confidence: float = Field(0.8, ge=0.0, le=1.0)


class PortZero(SteppedFlowDetector):
    name = "port_0_connection"
    consumes = (Flow,)
    Params = PortZeroParams
    threat_level = ThreatLevel.HIGH
    technique = "T1205"  # Traffic Signaling (crafted packets)

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, PortZeroParams)
        self.confidence = params.confidence
        self.needs_traits = PORT_ZERO  # a flow from or to port 0

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        if (flow.dport != 0 and flow.sport != 0) or flow.proto not in _PROTOS:
            return None
        if is_multicast_or_broadcast(flow.daddr) or not flow.saddr:
            return None
        tally = self.step(flow, window, (flow.saddr, flow.daddr, flow.proto))
        if tally is None:
            return None
        side = "destination" if flow.dport == 0 else "source"
        more = f" ({tally.count} such flows in this window)" if tally.count > 1 else ""
        return self.evidence(
            flow,
            window,
            tally,
            f"Connection with {side} port 0/{flow.proto} from {flow.saddr}:{flow.sport} "
            f"to {flow.daddr}:{flow.dport}{more}",
            self.confidence,
        )
