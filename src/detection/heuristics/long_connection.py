"""Long connections: a flow lasting longer than the threshold (default 1500 s).

Long-lived connections are how many C&C channels and tunnels look; they are
also normal for some services, hence LOW threat. One evidence per
(source, destination, port) and window, re-reported with a growing count at
10/100/… long flows so a host with thousands of long flows does not flood.
Multicast and broadcast destinations are ignored (discovery protocols).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics.base import (
    LONG_FLOW,
    LONG_FLOW_SECONDS,
    DetectionContext,
    Detector,
    DetectorParams,
    is_multicast_or_broadcast,
    report_due,
)
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["LongConnection", "LongConnectionParams"]


class LongConnectionParams(DetectorParams):
    threshold_seconds: float = 1500.0


class LongConnection(Detector):
    name = "long_connection"
    consumes = (Flow,)
    Params = LongConnectionParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, LongConnectionParams)
        self.threshold = params.threshold_seconds
        if self.threshold >= LONG_FLOW_SECONDS:  # only flows longer than that matter
            self.needs_traits = LONG_FLOW
        # (saddr, daddr, dport, window) -> number of long flows
        self._seen: dict[tuple[str, str, int | None, int], int] = {}

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        if flow.duration <= self.threshold or is_multicast_or_broadcast(flow.daddr):
            return None
        key = (flow.saddr, flow.daddr, flow.dport, window)
        n = self._seen.get(key, 0) + 1
        self._seen[key] = n
        if not report_due(n, 1, (10, 100, 1000)):
            return None
        hours = flow.duration / 3600
        # Confidence grows with duration: 0.5 at the threshold, 1.0 at a day or more.
        confidence = min(1.0, 0.5 + 0.5 * flow.duration / 86400)
        port = f"{flow.dport}/{flow.proto}" if flow.dport is not None else flow.proto
        more = f" ({n} long flows to it in this window)" if n > 1 else ""
        return (
            Evidence(
                type="long_connection",
                attacker=flow.saddr,
                victim=flow.daddr,
                threat_level=ThreatLevel.LOW,
                confidence=confidence,
                ts=flow.ts,
                timewindow=window,
                description=(
                    f"Long connection from {flow.saddr} to {flow.daddr} {port}: "
                    f"{flow.duration:.0f} s ({hours:.1f} h), "
                    f"{flow.sbytes + flow.dbytes} bytes{more}"
                ),
                source=self.source,
                uids=(flow.uid,),
                dport=flow.dport,
                proto=flow.proto,
                count=n,
                attack_technique="T1071",  # Application Layer Protocol (long-lived C&C)
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for key in [k for k in self._seen if k[3] <= window]:
            del self._seen[key]
        return None
