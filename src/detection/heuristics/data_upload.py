"""Data upload: a host sending a lot of data to one destination.

Exfiltration shows as volume going out: one flow that sent at least
`flow_megabytes` (100 MB, Slips' number), or at least `window_megabytes`
(500 MB, Slips' ``data_exfiltration_threshold``) summed over every flow to one
destination in a window. Bytes are the originator's payload bytes (Zeek
``orig_bytes``, Argus ``SrcBytes``). Private, multicast, broadcast and
link-local destinations are ignored: backups to a NAS on the LAN are not
exfiltration. Slips checks the window sum when the window closes; Starling
reports the moment the sum crosses the threshold (earlier, same total).

MEDIUM, confidence 0.6 (cloud backups and uploads look the same; the size is
certain, the intent is not). At most one window-sum evidence per (source,
destination) and window, and large single flows re-reported at 1, 10, 100, …
such flows.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from detection.heuristics._connections import ADDRESS_KINDS, PUBLIC, WindowTallies
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["DataUpload", "DataUploadParams"]

_MB = 1_000_000


class DataUploadParams(DetectorParams):
    flow_megabytes: float = Field(100.0, ge=0.0)
    window_megabytes: float = Field(500.0, ge=0.0)
    report_at: tuple[int, ...] = (10, 100, 1000)
    confidence: float = Field(0.6, ge=0.0, le=1.0)


class DataUpload(Detector):
    name = "data_upload"
    consumes = (Flow,)
    Params = DataUploadParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, DataUploadParams)
        self.p = params
        self._flow_bytes = params.flow_megabytes * _MB
        self._window_bytes = params.window_megabytes * _MB
        # window -> saddr -> daddr -> bytes sent (nested: no key allocation per flow)
        self._sent: dict[int, dict[str, dict[str, int]]] = {}
        self._kinds = ADDRESS_KINDS
        self._big_flows = WindowTallies()  # (saddr, daddr) -> flows over flow_megabytes

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return dst_kind == PUBLIC

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        sent = flow.sbytes
        if sent <= 0 or self._kinds[flow.daddr] != PUBLIC or not flow.saddr:
            return None
        by_src = self._sent.get(window)
        if by_src is None:
            by_src = self._sent[window] = {}
        by_dst = by_src.get(flow.saddr)
        if by_dst is None:
            by_dst = by_src[flow.saddr] = {}
        before = by_dst.get(flow.daddr, 0)
        total = by_dst[flow.daddr] = before + sent
        out: list[Evidence] | None = None
        if sent >= self._flow_bytes:
            tally = self._big_flows.add(window, (flow.saddr, flow.daddr), flow.uid)
            if report_due(tally.count, 1, self.p.report_at):
                n = tally.count
                more = f" ({n} such flows to it in this window)" if n > 1 else ""
                out = [
                    self._evidence(
                        flow,
                        window,
                        f"Large upload from {flow.saddr} to {flow.daddr}: one flow sent "
                        f"{sent / _MB:.0f} MB{more}",
                        tally.uids,
                        n,
                    )
                ]
        if before < self._window_bytes <= total:
            ev = self._evidence(
                flow,
                window,
                f"Large upload from {flow.saddr} to {flow.daddr}: {total / _MB:.0f} MB sent "
                f"in this window (threshold {self.p.window_megabytes:.0f} MB)",
                [flow.uid],
                None,
            )
            out = [*(out or ()), ev]
        return out

    def _evidence(
        self, flow: Flow, window: int, description: str, uids: list[str], count: int | None
    ) -> Evidence:
        return Evidence(
            type=self.name,
            attacker=flow.saddr,
            victim=flow.daddr,
            threat_level=ThreatLevel.MEDIUM,
            confidence=self.p.confidence,
            ts=flow.ts,
            timewindow=window,
            description=description,
            source=self.source,
            uids=tuple(uids),
            dport=flow.dport,
            proto=flow.proto,
            count=count,
            attack_technique="T1048",  # Exfiltration Over Alternative Protocol
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for w in [w for w in self._sent if w <= window]:
            del self._sent[w]
        self._big_flows.close(window)
        return None
