"""Vertical port scan: one source, one host, many ports, no answers.

Counts, per (source, destination, protocol, window), the distinct destination
ports whose flows were not established (TCP and UDP). Evidence when the count
first exceeds `min_ports` (default 5), then at each of `report_at` (10, 100,
1000, then every x10). The victim is the scanned host.

REJ (refused) and S0 (silent) flows are both unanswered probes. A port that
answers later in the window is a service in use and leaves the count; a key
with more than `max_answered_ratio` (2) answered ports per unanswered one is
a client of a multi-port service, not a scan (see `_scan`).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scan import ScanState, scan_confidence
from detection.heuristics.base import (
    DetectionContext,
    Detector,
    DetectorParams,
    is_multicast_or_broadcast,
    report_due,
)
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["VerticalPortScan", "VerticalPortScanParams"]

_SCANNED_PROTOS = frozenset({"tcp", "udp"})


class VerticalPortScanParams(DetectorParams):
    min_ports: int = 5
    report_at: tuple[int, ...] = (10, 100, 1000)
    confidence_saturation: int = 10
    max_answered_ratio: float = 2.0


class VerticalPortScan(Detector):
    name = "vertical_port_scan"
    consumes = (Flow,)
    Params = VerticalPortScanParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, VerticalPortScanParams)
        self.first = params.min_ports + 1
        self.steps = params.report_at
        self.saturation = params.confidence_saturation
        self.max_answered_ratio = params.max_answered_ratio
        self._scans: dict[tuple[str, str, str, int], ScanState] = {}

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return proto in _SCANNED_PROTOS and dport is not None

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        proto = flow.proto
        if proto not in _SCANNED_PROTOS or flow.dport is None:
            return None
        key = (flow.saddr, flow.daddr, proto, window)
        state = self._scans.get(key)
        if flow.established:
            if state is not None:
                state.answer(flow.dport)
            return None
        if is_multicast_or_broadcast(flow.daddr):
            return None
        if state is None:
            state = self._scans[key] = ScanState(flow.ts)
        if not state.add(flow.dport, flow.uid, flow.spkts):
            return None
        n = len(state.targets)
        if (
            n <= state.reported
            or not report_due(n, self.first, self.steps)
            or state.mostly_answered(self.max_answered_ratio)
        ):
            return None
        state.reported = n
        return (
            Evidence(
                type="vertical_port_scan",
                attacker=flow.saddr,
                victim=flow.daddr,
                threat_level=ThreatLevel.HIGH,
                confidence=scan_confidence(n, self.saturation),
                ts=flow.ts,
                timewindow=window,
                description=(
                    f"Vertical port scan of {flow.daddr} over {proto}: {n} ports, "
                    f"{state.answered} answered, {state.pkts} packets, from {flow.saddr}"
                ),
                source=self.source,
                uids=tuple(state.uids),
                proto=proto,
                count=n,
                attack_technique="T1046",  # Network Service Discovery
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for key in [k for k in self._scans if k[3] <= window]:
            del self._scans[key]
        return None
