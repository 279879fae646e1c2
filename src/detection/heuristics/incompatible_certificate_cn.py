"""Incompatible certificate CN: a certificate whose CN belongs to a large
organisation (Google, Microsoft, Apple, Facebook, Twitter: the domain lists in
`DetectionContext.organizations`) served from an address outside that
organisation's ranges, for a server name (SNI) that is not one of its domains.

Why: "www.google.com" presented by an unrelated host for netflix.com is a
forged or stolen certificate, i.e. an interception (adversary-in-the-middle)
or a C&C server hiding behind a famous name. MEDIUM, confidence 0.8 with an
SNI, 0.5 without one (the organisations' range lists are incomplete: CDN
caches inside ISPs serve their certificates too). Without reference data
the detector stays quiet. One evidence per (client, server, CN, window).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import (
    make_evidence,
    org_of_domain,
    org_owns_ip,
    subject_cn,
)
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import Evidence, SslRecord, ThreatLevel

__all__ = ["IncompatibleCertificateCn", "IncompatibleCertificateCnParams"]


class IncompatibleCertificateCnParams(DetectorParams):
    require_sni: bool = True  # without an SNI only the (incomplete) ranges speak


class IncompatibleCertificateCn(Detector):
    name = "incompatible_certificate_cn"
    consumes = (SslRecord,)
    Params = IncompatibleCertificateCnParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, IncompatibleCertificateCnParams)
        self.p = params
        self._seen: dict[tuple[str, str, str, int], None] = {}

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: SslRecord = record  # type: ignore[assignment]  # routed by `consumes`
        if not rec.subject or not rec.saddr or not self.context.organizations:
            return None
        if self.p.require_sni and not rec.server_name:
            return None
        cn = subject_cn(rec.subject)
        org = org_of_domain(self.context, cn)
        if org is None or org_owns_ip(self.context, org, rec.daddr):
            return None
        if rec.server_name and org_of_domain(self.context, rec.server_name) == org:
            return None
        key = (rec.saddr, rec.daddr, cn, window)
        if key in self._seen:
            return None
        self._seen[key] = None
        sni = f"for {rec.server_name[:80]}" if rec.server_name else "without SNI"
        return (
            make_evidence(
                self,
                attacker=rec.saddr,
                victim=rec.daddr,
                level=ThreatLevel.MEDIUM,
                confidence=0.8 if rec.server_name else 0.5,
                ts=rec.ts,
                window=window,
                description=(
                    f"Certificate CN {cn[:80]} ({org}) served {sni} by {rec.daddr}, "
                    f"which is not a {org} address; client {rec.saddr}"
                ),
                technique="T1557",  # Adversary-in-the-Middle
                uids=(rec.uid,),
                dport=rec.dport,
                proto="tcp",
                count=1,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for key in [k for k in self._seen if k[3] <= window]:
            del self._seen[key]
        return None
