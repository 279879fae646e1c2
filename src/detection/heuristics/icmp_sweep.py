"""ICMP sweep: one source sending the same ICMP probe to many hosts.

Three probes are host discovery: echo request (ICMP type 8, ICMPv6 128), timestamp
request (13) and address-mask request (17). Every parser puts the ICMP type in
`Flow.sport` and the code in `Flow.dport` (Zeek's convention; Argus' ``0xCCTT``
and nfdump's ``type*256+code`` are translated), so this works on every format.

Counts, per (source, probe kind, window), the distinct destinations probed
(answered or not: a sweep finds the live hosts by their answers).
Multicast/broadcast destinations are ignored (one packet, many hosts, by design).
Evidence when the count first exceeds `min_hosts` (5, as Slips' port scans and
Zeek's ICMP scan notices which report every 5 hosts), then at `report_at`
(10, 100, 1000, then every x10). Timestamp and address-mask requests have no
everyday use, so they are reported with higher confidence than echo sweeps
(`rare_kind_confidence_bonus`). Threat MEDIUM (Slips' ICMP scan level).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scan import ScanState, scan_confidence
from detection.heuristics._scans_dns import PerWindow, evidence
from detection.heuristics.base import (
    DetectionContext,
    Detector,
    DetectorParams,
    is_multicast_or_broadcast,
    report_due,
)
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["IcmpSweep", "IcmpSweepParams"]

_ICMP_PROTOS = frozenset({"icmp", "ipv6-icmp", "icmp6"})
# ICMP type -> sweep kind
_KINDS = {8: "echo", 128: "echo", 13: "timestamp", 17: "address-mask"}


class IcmpSweepParams(DetectorParams):
    min_hosts: int = 5
    report_at: tuple[int, ...] = (10, 100, 1000)
    confidence_saturation: int = 25
    rare_kind_confidence_bonus: float = 0.3


class IcmpSweep(Detector):
    name = "icmp_sweep"
    consumes = (Flow,)
    Params = IcmpSweepParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, IcmpSweepParams)
        self.p = params
        self.first = params.min_hosts + 1
        self._sweeps: PerWindow[tuple[str, str], ScanState] = PerWindow()

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return proto in _ICMP_PROTOS

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        if flow.proto not in _ICMP_PROTOS:
            return None
        kind = _KINDS.get(flow.sport or 0)  # 0 (echo reply) and None are no probe
        if kind is None or is_multicast_or_broadcast(flow.daddr):
            return None
        sweeps = self._sweeps.of(window)
        key = (flow.saddr, kind)
        state = sweeps.get(key)
        if state is None:
            state = sweeps[key] = ScanState(flow.ts)
        if flow.dpkts > 0:
            state.answered += 1
        if not state.add(flow.daddr, flow.uid, flow.spkts):
            return None
        n = len(state.targets)
        if not report_due(n, self.first, self.p.report_at):
            return None
        confidence = scan_confidence(n, self.p.confidence_saturation)
        if kind != "echo":
            confidence += self.p.rare_kind_confidence_bonus
        return evidence(
            self,
            attacker=flow.saddr,
            victim=None,
            level=ThreatLevel.MEDIUM,
            confidence=confidence,
            ts=flow.ts,
            window=window,
            description=(
                f"ICMP {kind} sweep: {n} hosts probed, {state.answered} answers, "
                f"{state.pkts} packets, from {flow.saddr}"
            ),
            technique="T1018",  # Remote System Discovery
            uids=tuple(state.uids),
            count=n,
            proto=flow.proto,
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._sweeps.close(window)
        return None
