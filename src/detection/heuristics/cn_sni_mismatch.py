"""Certificate / server-name mismatch: the TLS server answered a client's
server name (SNI) with a certificate that is not for that name.

A legitimate server presents a certificate whose subject CN or one of its
subject-alternative names (SANs) covers the name the client asked for
(``*.example.com`` covers exactly one more label). A certificate for another
site is what an interception proxy, a C&C server behind a borrowed
certificate, or domain fronting looks like.

Theory of operation: the SANs are only in x509.log, which Zeek writes after
ssl.log (the certificate is seen after the client hello), so the two are
joined on the leaf certificate's file id (``cert_chain_fuids[0]``):

* an ssl record whose certificate was already seen is decided at once;
* otherwise it waits (per window, at most `max_pending`) for its x509
  record and is decided when that arrives;
* one still waiting when its window closes (no x509.log, or newer Zeek
  with fingerprints this parser does not join) is decided on the subject
  CN of ssl.log alone, with less confidence; without a subject it is
  dropped. Without the SANs a mismatch is normal for multi-name
  certificates (CDNs: five of seven CN-only mismatches on test15 were
  Akamai, Google video and Yahoo), so on the CN alone only a CN that is no
  host name (``whatever``, ``localhost``) or that names one of the known
  organisations (`DetectionContext.organizations`) for a server name that
  is not theirs is reported.

Not reported: names that match (wildcards included), a server name that is
an IP address, and a certificate for another name of the same registered
domain (``www.example.com`` for ``example.com``: a configuration slip, not
an attack). LOW: CDNs that serve a default certificate for unknown names
make this fire on benign traffic too; confidence 0.6 with the SAN list,
0.4 on the CN alone, +0.2 when the certificate did not validate either.
One evidence per (client, server, server name, window).
Slips' CN_URL_MISMATCH is the same idea (CN vs server name).
ATT&CK T1557 (Adversary-in-the-Middle).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import (
    conn_evidence,
    drop_closed,
    name_matches,
    org_of_domain,
    registered_domain,
    subject_cn,
)
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import Evidence, SslRecord, ThreatLevel, X509Record

__all__ = ["CnSniMismatch", "CnSniMismatchParams", "names_cover"]


class CnSniMismatchParams(DetectorParams):
    max_pending: int = 20_000  # ssl records waiting for their certificate, per window
    max_certificates: int = 20_000  # certificates remembered per window


def names_cover(sni: str, names: Sequence[str]) -> bool:
    """Is `sni` covered by the certificate `names`, or a sibling of the same domain?"""
    if any(name_matches(sni, n) for n in names):
        return True
    site = registered_domain(sni)
    return any(registered_domain(n) == site for n in names if n)


def _is_address(name: str) -> bool:
    return ":" in name or name.replace(".", "").isdigit()


class CnSniMismatch(Detector):
    name = "cn_sni_mismatch"
    consumes = (SslRecord, X509Record)
    Params = CnSniMismatchParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, CnSniMismatchParams)
        self.p = params
        self._certs: dict[tuple[str, int], tuple[str, ...]] = {}  # (fuid, window) -> names
        self._pending: dict[tuple[str, int], list[SslRecord]] = {}  # (fuid, window) -> ssl
        self._reported: dict[tuple[str, str, str, int], None] = {}

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if type(record) is X509Record:
            return self._certificate(record, window)
        rec: SslRecord = record  # type: ignore[assignment]  # routed by `consumes`
        sni = rec.server_name.lower().rstrip(".")
        if not sni or not rec.saddr or _is_address(sni):
            return None
        if not rec.cert_chain_fuids:
            return self._decide(rec, window, (subject_cn(rec.subject),), sans=False)
        leaf = rec.cert_chain_fuids[0]
        for w in (window, window - 1):
            names = self._certs.get((leaf, w))
            if names is not None:
                return self._decide(rec, window, names, sans=True)
        waiting = self._pending.get((leaf, window))
        if waiting is None:
            if len(self._pending) >= self.p.max_pending:
                self.overflowed("pending_refused")
                return None
            waiting = self._pending[(leaf, window)] = []
        if len(waiting) < 10:
            waiting.append(rec)
        return None

    def _certificate(self, cert: X509Record, window: int) -> Sequence[Evidence] | None:
        names = (subject_cn(cert.subject), *(n.lower() for n in cert.san_dns))
        if len(self._certs) < self.p.max_certificates:
            self._certs[(cert.fuid, window)] = names
        else:
            self.overflowed("certificates_refused")
        out: list[Evidence] = []
        for w in (window, window - 1):
            for rec in self._pending.pop((cert.fuid, w), ()):
                out.extend(self._decide(rec, w, names, sans=True) or ())
        return out or None

    def _decide(
        self, rec: SslRecord, window: int, names: Sequence[str], *, sans: bool
    ) -> Sequence[Evidence] | None:
        names = [n for n in dict.fromkeys(names) if n]
        sni = rec.server_name.lower().rstrip(".")
        if not names or names_cover(sni, names):
            return None
        if not sans and not self._cn_alone_is_wrong(names[0], sni):
            return None
        key = (rec.saddr, rec.daddr, sni, window)
        if key in self._reported:
            return None
        self._reported[key] = None
        status = rec.validation_status
        invalid = bool(status) and status.lower() != "ok"
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        basis = "" if sans else " (subject CN only)"
        validation = f"; validation: {status[:60]}" if status else ""
        return conn_evidence(
            self,
            rec,
            window,
            level=ThreatLevel.LOW,
            confidence=(0.6 if sans else 0.4) + (0.2 if invalid else 0.0),
            description=(
                f"TLS certificate of {rec.daddr} does not match the server name "
                f"{sni[:80]} asked for by {rec.saddr}: certificate for {shown[:200]}"
                f"{basis}{validation}"
            ),
            technique="T1557",  # Adversary-in-the-Middle
            count=1,
        )

    def _cn_alone_is_wrong(self, cn: str, sni: str) -> bool:
        """Without the SAN list a multi-name certificate (CDNs, ad networks, Google's
        video caches) mismatches its CN all the time; only a CN that is no host name at
        all, or one of a known organisation's names given for another's, is reported."""
        if "." not in cn:
            return True
        org = org_of_domain(self.context, cn)
        return org is not None and org_of_domain(self.context, sni) != org

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        out: list[Evidence] = []
        for key in sorted((k for k in self._pending if k[1] <= window), key=lambda k: k[1]):
            for rec in self._pending.pop(key):
                cn = subject_cn(rec.subject)
                out.extend(self._decide(rec, key[1], (cn,), sans=False) or ())
        drop_closed(self._certs, window)
        drop_closed(self._reported, window)
        return out or None
