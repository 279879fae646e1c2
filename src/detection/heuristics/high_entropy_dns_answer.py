"""High-entropy DNS TXT answer: random-looking data carried in DNS.

TXT records are where DNS tunnels and C&C channels put their payload
(encrypted or base64 text looks random: high Shannon entropy). An answer
whose entropy is at least `entropy_threshold` (5 bits per character, Slips'
value) is reported, computed over the answer as the log gives it. Multicast
DNS announcements and site-local names (.local, …) carry device descriptions
that can pass the threshold, so they are reported at LOW; unicast answers for
other names at MEDIUM. One evidence per (source, query, window); confidence 0.6.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scans_dns import Once, evidence, is_local_name, shannon_entropy
from detection.heuristics.base import (
    DetectionContext,
    Detector,
    DetectorParams,
    is_multicast_or_broadcast,
)
from detection.model import DnsRecord, Evidence, ThreatLevel

__all__ = ["HighEntropyDnsAnswer", "HighEntropyDnsAnswerParams"]


class HighEntropyDnsAnswerParams(DetectorParams):
    entropy_threshold: float = 5.0
    confidence: float = 0.6


class HighEntropyDnsAnswer(Detector):
    name = "high_entropy_dns_answer"
    consumes = (DnsRecord,)
    Params = HighEntropyDnsAnswerParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, HighEntropyDnsAnswerParams)
        self.p = params
        self._reported: Once[tuple[str, str]] = Once()

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: DnsRecord = record  # type: ignore[assignment]  # only DnsRecord is routed here
        if not rec.answers or (rec.qtype != "TXT" and not rec.answers[0].startswith("TXT ")):
            return None
        best, answer = max((shannon_entropy(a), a) for a in rec.answers)
        if best < self.p.entropy_threshold:
            return None
        if not self._reported.first((rec.saddr, rec.query), window):
            return None
        local = is_multicast_or_broadcast(rec.daddr) or is_local_name(rec.query)
        return evidence(
            self,
            attacker=rec.saddr,
            victim=None,
            level=ThreatLevel.LOW if local else ThreatLevel.MEDIUM,
            confidence=self.p.confidence,
            ts=rec.ts,
            window=window,
            description=(
                f"DNS TXT answer with high entropy ({best:.2f} bits/char, {len(answer)} chars) "
                f"for {rec.query!r}, between {rec.saddr} and {rec.daddr}: {answer[:60]!r}"
            ),
            technique="T1071.004",  # Application Layer Protocol: DNS
            uids=(rec.uid,) if rec.uid else (),
            proto=rec.proto or None,
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._reported.close(window)
        return None
