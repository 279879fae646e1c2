"""Shared by the threat-intelligence detectors: one evidence per listed value,
peer and window, re-reported at log steps (never one per record), with the
feed's threat level and a confidence that says how direct the match was.

Confidence: an exact listing 1.0 (the feed names this very value); a covering
CIDR 0.9 and a parent domain 0.7 (the feed names something bigger: a hosting
range or a registrable domain whose subdomains may belong to someone else).
The attacker is the side the listing is about (the listed server, or the host
running the listed client fingerprint); the victim the other side.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from detection.heuristics._connections import WindowTallies
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.intel.index import IntelIndex, IntelMatch
from detection.model import Evidence

__all__ = ["IntelDetector", "IntelParams", "match_confidence"]


class IntelParams(DetectorParams):
    report_at: tuple[int, ...] = (10, 100, 1000)
    parent_confidence: float = 0.7  # parent-domain matches
    range_confidence: float = 0.9  # CIDR matches


def match_confidence(match: IntelMatch, params: IntelParams) -> float:
    if not match.parent:
        return 1.0
    return params.range_confidence if match.kind.value == "cidr" else params.parent_confidence


class IntelDetector(Detector):
    """Base: per-window tallies and the evidence of one match."""

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, IntelParams)
        self.p = params
        self.intel = self.context.intel
        self._tallies = WindowTallies()

    def use_intel(self, index: IntelIndex) -> None:
        self.intel = index

    def report(
        self,
        match: IntelMatch,
        *,
        key: Hashable,
        attacker: str,
        victim: str | None,
        ts: float,
        uid: str,
        window: int,
        description: str,
        technique: str,
        dport: int | None = None,
        proto: str | None = None,
    ) -> tuple[Evidence] | None:
        tally = self._tallies.add(window, key, uid)
        if not report_due(tally.count, 1, self.p.report_at):
            return None
        more = f" ({tally.count} times in this window)" if tally.count > 1 else ""
        return (
            self.new_evidence(
                attacker=attacker,
                victim=victim or None,
                level=match.threat_level,
                confidence=match_confidence(match, self.p),
                ts=ts,
                window=window,
                description=description + more,
                technique=technique,
                uids=tuple(tally.uids),
                dport=dport,
                proto=proto,
                count=tally.count,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._tallies.close(window)
        return None
