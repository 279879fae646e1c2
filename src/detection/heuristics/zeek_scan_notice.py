"""Zeek's own scan notices turned into evidence.

Zeek's scan policy (``Scan::Port_Scan``: one host probing many ports of
another; ``Scan::Address_Scan``: many hosts on one port) and Slips' ICMP scan
script (``ICMP::ICMPAddressScan``, ``ICMP::TimestampScan``,
``ICMP::AddressMaskScan``) already decided there was a scan; this detector
files that decision under the scanner's profile, so a sensor that only has
notice.log (or runs Zeek's scan policy with its own thresholds) still gets
the finding. Zeek repeats a notice as the scan grows (the ICMP script every
5 hosts): per (scanner, note, victim, port, window) the first notice is
reported, then only one whose host/port count `n` reached `rereport_factor`
(2) times the last reported count. Port scans: HIGH, confidence 1 (Zeek
requires 15 ports or 25 hosts before it notices); ICMP sweeps: MEDIUM,
confidence n / `icmp_confidence_saturation` (25), at least 0.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from detection.heuristics._scans_dns import PerWindow, evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import Evidence, NoticeRecord, ThreatLevel

__all__ = ["ZeekScanNotice", "ZeekScanNoticeParams"]


class _Kind(NamedTuple):
    what: str
    icmp: bool
    technique: str


_NOTES = {
    "Scan::Port_Scan": _Kind("vertical port scan", False, "T1046"),  # Network Service Discovery
    "Scan::Address_Scan": _Kind("horizontal port scan", False, "T1046"),
    "ICMP::ICMPAddressScan": _Kind("ICMP echo sweep", True, "T1018"),  # Remote System Discovery
    "ICMP::TimestampScan": _Kind("ICMP timestamp sweep", True, "T1018"),
    "ICMP::AddressMaskScan": _Kind("ICMP address-mask sweep", True, "T1018"),
}


class ZeekScanNoticeParams(DetectorParams):
    rereport_factor: float = 2.0
    icmp_confidence_saturation: int = 25


class ZeekScanNotice(Detector):
    name = "zeek_scan_notice"
    consumes = (NoticeRecord,)
    Params = ZeekScanNoticeParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, ZeekScanNoticeParams)
        self.p = params
        # (scanner, note, victim, port) -> largest n reported so far (0: n unknown)
        self._reported: PerWindow[tuple[str, str, str, int | None], int] = PerWindow()

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: NoticeRecord = record  # type: ignore[assignment]  # only NoticeRecord is routed here
        kind = _NOTES.get(rec.note)
        attacker = rec.src or rec.saddr
        if kind is None or not attacker:
            return None
        victim = (rec.dst or rec.daddr) or None
        port = rec.p if rec.p is not None else rec.dport
        n = rec.n if rec.n is not None and rec.n > 0 else 0
        reported = self._reported.of(window)
        key = (attacker, rec.note, victim or "", port)
        last = reported.get(key)
        if last is not None and not (last and n >= last * self.p.rereport_factor):
            return None
        reported[key] = n
        if kind.icmp:
            level = ThreatLevel.MEDIUM
            confidence = max(0.2, n / self.p.icmp_confidence_saturation)
            proto: str | None = "icmp"
        else:
            level, confidence = ThreatLevel.HIGH, 1.0
            proto = "udp" if "/udp" in rec.msg else "tcp"
        return evidence(
            self,
            attacker=attacker,
            victim=victim,
            level=level,
            confidence=confidence,
            ts=rec.ts,
            window=window,
            description=f"Zeek notice {rec.note} ({kind.what}): {rec.msg or 'no message'}",
            technique=kind.technique,
            uids=(rec.uid,) if rec.uid else (),
            count=n or None,
            dport=port if not kind.icmp else None,
            proto=proto,
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._reported.close(window)
        return None
