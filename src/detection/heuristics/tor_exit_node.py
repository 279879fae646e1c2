"""Tor exit node contact: a flow to or from an address on the Tor exit list.

Traffic from a Tor exit reaching a host is anonymised access (scanning,
credential stuffing, an operator hiding behind Tor); traffic to an exit from
an endpoint means something on it relays through an address that only Tor
uses. The list comes from the user (`reference_data.tor_exit_nodes`, one
address a line, e.g. the Tor Project's bulk exit list); none is bundled, so
without it the detector is silent.

The accused side is the initiator: the host that contacts an exit, or the
exit that contacts a host; the victim is the other side. LOW, confidence
0.9 (Slips reports INFO/1.0; contacting Tor is rarely legitimate on a managed
endpoint, and exit lists go stale within days). One evidence per (source,
destination) and window, re-reported with a growing flow count at 10, 100,
1000, ….
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from detection.heuristics._connections import SteppedFlowDetector, port_text
from detection.heuristics.base import DetectionContext, DetectorParams
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["TorExitNode", "TorExitNodeParams"]


class TorExitNodeParams(DetectorParams):
    report_at: tuple[int, ...] = (10, 100, 1000)
    confidence: float = Field(0.9, ge=0.0, le=1.0)


class TorExitNode(SteppedFlowDetector):
    name = "tor_exit_node"
    consumes = (Flow,)
    Params = TorExitNodeParams
    threat_level = ThreatLevel.LOW
    technique = "T1090.003"  # Proxy: Multi-hop Proxy

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, TorExitNodeParams)
        self.confidence = params.confidence
        self._exits = self.context.tor_exit_nodes

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return bool(self._exits)  # no exit list: nothing to match

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        exits = self._exits
        if not exits:
            return None
        to_exit = flow.daddr in exits
        if (not to_exit and flow.saddr not in exits) or not flow.saddr or not flow.daddr:
            return None
        tally = self.step(flow, window, (flow.saddr, flow.daddr))
        if tally is None:
            return None
        port = port_text(flow)
        more = f" ({tally.count} flows in this window)" if tally.count > 1 else ""
        if to_exit:
            what = f"{flow.saddr} connected to Tor exit node {flow.daddr} on {port}{more}"
        else:
            what = f"Tor exit node {flow.saddr} connected to {flow.daddr} on {port}{more}"
        return self.evidence(flow, window, tally, what, self.confidence)
