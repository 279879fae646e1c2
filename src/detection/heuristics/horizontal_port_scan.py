"""Horizontal port scan: one source, one port, many hosts, no answers.

Counts, per (source, port, protocol, window), the distinct destinations whose
flows were not established (TCP and UDP). Evidence when the count first
exceeds `min_hosts` (default 5), then again only when it reaches each of
`report_at` (10, 100, 1000, then every x10), so a 100k-host scan produces a
handful of evidence with growing counts. Multicast/broadcast destinations are
never scan targets (service discovery looks like that).

REJ (refused) and S0 (silent) flows are both unanswered probes; for UDP,
not established means no reply came back. A host that answers on the same
port later in the window is a server in use, not a scan target (`_scan`):
it leaves the count, and a key with more than `max_answered_ratio` (2)
answered hosts per unanswered one is a busy client with a few failures (e.g. a
desktop's 443 traffic), not a scan. That cut the evidence on the benign
Stratosphere captures from 36 to 5 (docs/detections.md).
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

__all__ = ["HorizontalPortScan", "HorizontalPortScanParams"]

_SCANNED_PROTOS = frozenset({"tcp", "udp"})


class HorizontalPortScanParams(DetectorParams):
    min_hosts: int = 5
    report_at: tuple[int, ...] = (10, 100, 1000)
    confidence_saturation: int = 10
    max_answered_ratio: float = 2.0


class HorizontalPortScan(Detector):
    name = "horizontal_port_scan"
    consumes = (Flow,)
    Params = HorizontalPortScanParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, HorizontalPortScanParams)
        self.first = params.min_hosts + 1
        self.steps = params.report_at
        self.saturation = params.confidence_saturation
        self.max_answered_ratio = params.max_answered_ratio
        self._scans: dict[tuple[str, int, str, int], ScanState] = {}

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return proto in _SCANNED_PROTOS and dport is not None

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        proto = flow.proto
        if proto not in _SCANNED_PROTOS or flow.dport is None:
            return None
        key = (flow.saddr, flow.dport, proto, window)
        state = self._scans.get(key)
        if flow.established:
            if state is not None:
                state.answer(flow.daddr)
            return None
        if is_multicast_or_broadcast(flow.daddr):
            return None
        if state is None:
            state = self._scans[key] = ScanState(flow.ts)
        if not state.add(flow.daddr, flow.uid, flow.spkts):
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
                type="horizontal_port_scan",
                attacker=flow.saddr,
                victim=None,
                threat_level=ThreatLevel.HIGH,
                confidence=scan_confidence(n, self.saturation),
                ts=flow.ts,
                timewindow=window,
                description=(
                    f"Horizontal port scan to {flow.dport}/{proto}: {n} hosts, "
                    f"{state.answered} answered, {state.pkts} packets, from {flow.saddr}"
                ),
                source=self.source,
                uids=tuple(state.uids),
                dport=flow.dport,
                proto=proto,
                count=n,
                attack_technique="T1046",  # Network Service Discovery
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for key in [k for k in self._scans if k[3] <= window]:
            del self._scans[key]
        return None
