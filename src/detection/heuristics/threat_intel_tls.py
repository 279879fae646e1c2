"""Threat intelligence, TLS fingerprints: a client hello whose JA3, or a server
hello whose JA3S, a feed or the local JA3 file lists (abuse.ch SSLBL JA3,
``own_malicious_JA3.csv``).

A JA3 names the client software, so the accused is the client (the host running
Trickbot); a JA3S names the server's TLS stack answering that client, so the
accused is the server. Fingerprints collide across benign software more than
addresses do, but a listed one is an exact match: confidence 1.0, the listing's
level. JARM needs active probing of the server, which a passive sensor does
not do; JARM indicators are indexed (and answer `starling intel lookup`) but
no record carries one. One evidence per (accused, fingerprint) and window.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._intel import IntelDetector, IntelParams
from detection.intel.model import IocKind
from detection.model import Evidence, SslRecord

__all__ = ["ThreatIntelTls", "ThreatIntelTlsParams"]


class ThreatIntelTlsParams(IntelParams):
    pass


class ThreatIntelTls(IntelDetector):
    name = "threat_intel_tls"
    consumes = (SslRecord,)
    Params = ThreatIntelTlsParams

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: SslRecord = record  # type: ignore[assignment]  # routed by `consumes`
        if not self.intel.has(IocKind.JA3):
            return None
        out: list[Evidence] = []
        if rec.ja3:
            listed = self.intel.lookup_hash(IocKind.JA3, rec.ja3)
            if listed is not None and rec.saddr:
                found = self.report(
                    listed, key=(rec.saddr, "ja3", listed.indicator), attacker=rec.saddr,
                    victim=rec.daddr, ts=rec.ts, uid=rec.uid, window=window,
                    description=f"Malicious JA3 {listed.what} from {rec.saddr} to {rec.daddr}",
                    technique="T1573",  # Encrypted Channel
                    dport=rec.dport, proto="tcp",
                )  # fmt: skip
                out.extend(found or ())
        if rec.ja3s:
            listed = self.intel.lookup_hash(IocKind.JA3, rec.ja3s)
            if listed is not None and rec.daddr:
                found = self.report(
                    listed, key=(rec.daddr, "ja3s", listed.indicator), attacker=rec.daddr,
                    victim=rec.saddr, ts=rec.ts, uid=rec.uid, window=window,
                    description=f"Malicious JA3S {listed.what} served by {rec.daddr} to "
                    f"{rec.saddr}",
                    technique="T1573",
                    dport=rec.dport, proto="tcp",
                )  # fmt: skip
                out.extend(found or ())
        return out or None
