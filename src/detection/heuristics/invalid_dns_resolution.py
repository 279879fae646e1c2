"""Invalid DNS resolution: a public name answered with an address it cannot have.

A public domain resolved to 0.0.0.0, :: or a loopback address is sinkholed
(a blocklisting resolver, or a takedown of a malicious domain: the host tried
to reach it); resolved to a private address it points into the local network,
which is how DNS rebinding turns a browser against internal hosts. Names that
only exist inside a site (no dot, .local, .arpa, .lan, .internal, …) are
skipped: private answers are their normal case. One evidence per (source,
query, window). Threat INFO (Slips' level: sinkholing is often the local
resolver's policy); confidence `sinkhole_confidence` (0.8) or
`private_confidence` (0.5: split-horizon DNS legitimately answers public-looking
names with private addresses). `private_answers` turns the second case off.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scans_dns import Once, evidence, ip_address, is_local_name
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import DnsRecord, Evidence, ThreatLevel

__all__ = ["InvalidDnsResolution", "InvalidDnsResolutionParams"]


class InvalidDnsResolutionParams(DetectorParams):
    private_answers: bool = True
    sinkhole_confidence: float = 0.8
    private_confidence: float = 0.5


class InvalidDnsResolution(Detector):
    name = "invalid_dns_resolution"
    consumes = (DnsRecord,)
    Params = InvalidDnsResolutionParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, InvalidDnsResolutionParams)
        self.p = params
        self._reported: Once[tuple[str, str]] = Once()

    def _verdict(self, answer: str) -> str | None:
        if not (answer[:1].isdigit() or ":" in answer):
            return None  # a CNAME, TXT, … not an address
        ip = ip_address(answer)
        if ip is None:
            return None
        if ip.is_unspecified or ip.is_loopback:
            return "sinkholed"
        if self.p.private_answers and ip.is_private and not ip.is_link_local:
            return "private"
        return None

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: DnsRecord = record  # type: ignore[assignment]  # only DnsRecord is routed here
        if not rec.answers or not rec.query or is_local_name(rec.query):
            return None
        for answer in rec.answers:
            verdict = self._verdict(answer)
            if verdict is not None:
                break
        else:
            return None
        if not self._reported.first((rec.saddr, rec.query.lower()), window):
            return None
        sinkholed = verdict == "sinkholed"
        what = "a sinkhole address" if sinkholed else "a private address"
        return evidence(
            self,
            attacker=rec.saddr,
            victim=None,
            level=ThreatLevel.INFO,
            confidence=self.p.sinkhole_confidence if sinkholed else self.p.private_confidence,
            ts=rec.ts,
            window=window,
            description=(
                f"Invalid DNS resolution: public name {rec.query} resolved to {what} "
                f"({answer}) for {rec.saddr} by {rec.daddr}"
            ),
            technique="T1568",  # Dynamic Resolution
            uids=(rec.uid,) if rec.uid else (),
            proto=rec.proto or None,
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._reported.close(window)
        return None
