"""Self-signed certificate: a TLS server whose certificate chain ends in a
self-signed certificate (Zeek ssl.log `validation_status`, e.g. "self signed
certificate", "self signed certificate in certificate chain").

Why: public services use CA-issued certificates; C&C servers, phishing kits
and malware's own TLS listeners often generate their own. Lab gear and
internal services do too, so LOW with confidence 0.5 (Slips' level for
SELF_SIGNED_CERTIFICATE). The evidence is filed under the client that
connected (its profile) and names the server as victim field. One evidence
per (client, server, window), re-reported at 10, 100, … handshakes.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import make_evidence, subject_cn
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.model import Evidence, SslRecord, ThreatLevel

__all__ = ["SelfSignedCertificate", "SelfSignedCertificateParams"]


class SelfSignedCertificateParams(DetectorParams):
    status_words: tuple[str, ...] = ("self signed", "self-signed")


class SelfSignedCertificate(Detector):
    name = "self_signed_certificate"
    consumes = (SslRecord,)
    Params = SelfSignedCertificateParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, SelfSignedCertificateParams)
        self._words = tuple(w.lower() for w in params.status_words)
        self._seen: dict[tuple[str, str, int], int] = {}

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: SslRecord = record  # type: ignore[assignment]  # routed by `consumes`
        status = rec.validation_status
        if not status or not rec.saddr or not any(w in status.lower() for w in self._words):
            return None
        key = (rec.saddr, rec.daddr, window)
        n = self._seen.get(key, 0) + 1
        self._seen[key] = n
        if not report_due(n, 1, (10, 100, 1000)):
            return None
        cn = subject_cn(rec.subject) or "no CN"
        sni = f", SNI {rec.server_name[:80]}" if rec.server_name else ""
        return (
            make_evidence(
                self,
                attacker=rec.saddr,
                victim=rec.daddr,
                level=ThreatLevel.LOW,
                confidence=0.5,
                ts=rec.ts,
                window=window,
                description=(
                    f"Self-signed certificate from {rec.daddr}:{rec.dport} to {rec.saddr}: "
                    f"CN {cn[:80]}{sni} (Zeek: {status[:60]}); {n} handshake"
                    f"{'s' if n > 1 else ''} in this window"
                ),
                technique="T1587.003",  # Develop Capabilities: Digital Certificates
                uids=(rec.uid,),
                dport=rec.dport,
                proto="tcp",
                count=n,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for key in [k for k in self._seen if k[2] <= window]:
            del self._seen[key]
        return None
