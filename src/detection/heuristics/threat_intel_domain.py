"""Threat intelligence, names: a listed domain (or a parent of it), URL or IP
seen in DNS (query, CNAME and address answers), HTTP (host, full URL) or TLS
(SNI).

Who is accused: the server when we know its address (the HTTP/TLS server, or
the address a listed name resolved to: blocking it cuts the C&C channel); the
querying host when a listed name was only asked for (no answer to block: the
evidence lands on the host that is probably infected). Threat level: the
feed's; confidence 1.0 exact, 0.7 for a parent domain (`_intel`). One evidence
per (accused, listed value) and window, re-reported at log steps.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._connections import is_ip_literal
from detection.heuristics._intel import IntelDetector, IntelParams
from detection.intel.index import IntelMatch
from detection.model import DnsRecord, Evidence, HttpRecord, SslRecord

__all__ = ["ThreatIntelDomain", "ThreatIntelDomainParams"]

_TECHNIQUE = "T1071"  # Application Layer Protocol


class ThreatIntelDomainParams(IntelParams):
    pass


class ThreatIntelDomain(IntelDetector):
    name = "threat_intel_domain"
    consumes = (DnsRecord, HttpRecord, SslRecord)
    Params = ThreatIntelDomainParams

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if self.intel.is_empty:
            return None
        kind = type(record)
        if kind is DnsRecord:
            return self._dns(record, window)  # type: ignore[arg-type]
        if kind is HttpRecord:
            return self._http(record, window)  # type: ignore[arg-type]
        return self._tls(record, window)  # type: ignore[arg-type]

    def _dns(self, rec: DnsRecord, window: int) -> Sequence[Evidence] | None:
        if not rec.query:
            return None
        intel = self.intel
        out: list[Evidence] = []
        addresses = [a for a in rec.answers if is_ip_literal(a)]
        names = [rec.query, *(a for a in rec.answers if not is_ip_literal(a))]
        for name in names:
            listed = intel.lookup_domain(name)
            if listed is None:
                continue
            via = "" if name == rec.query else f" (CNAME of {rec.query})"
            if addresses:
                for ip in addresses[:4]:
                    found = self._say(
                        listed, rec.ts, rec.uid, window, attacker=ip, victim=rec.saddr,
                        text=f"{rec.saddr} resolved blacklisted domain {listed.what}{via} to {ip}",
                    )  # fmt: skip
                    out.extend(found or ())
            else:
                found = self._say(
                    listed, rec.ts, rec.uid, window, attacker=rec.saddr, victim=None,
                    text=f"{rec.saddr} queried blacklisted domain {listed.what}{via}"
                    f" ({rec.rcode or 'no answer'})",
                )  # fmt: skip
                out.extend(found or ())
            break  # the query or its first listed CNAME: one finding per record
        for ip in addresses:
            listed = intel.lookup_ip(ip)
            if listed is not None:
                found = self._say(
                    listed, rec.ts, rec.uid, window, attacker=ip, victim=rec.saddr,
                    text=f"DNS answer for {rec.query} is blacklisted IP {listed.what}",
                )  # fmt: skip
                out.extend(found or ())
        return out or None

    def _http(self, rec: HttpRecord, window: int) -> Sequence[Evidence] | None:
        if not rec.host:
            return None
        host = rec.host.split(":", 1)[0] if rec.host.count(":") == 1 else rec.host
        listed = self.intel.lookup_url(f"http://{host}{rec.uri}")
        what = "URL"
        if listed is None and not is_ip_literal(host):
            listed = self.intel.lookup_domain(host)
            what = "domain"
        if listed is None:
            return None
        return self._say(
            listed, rec.ts, rec.uid, window, attacker=rec.daddr, victim=rec.saddr,
            text=f"{rec.saddr} requested blacklisted HTTP {what} {listed.what} from {rec.daddr}",
            dport=rec.dport,
        )  # fmt: skip

    def _tls(self, rec: SslRecord, window: int) -> Sequence[Evidence] | None:
        if not rec.server_name or is_ip_literal(rec.server_name):
            return None
        listed = self.intel.lookup_domain(rec.server_name)
        if listed is None:
            return None
        return self._say(
            listed, rec.ts, rec.uid, window, attacker=rec.daddr, victim=rec.saddr,
            text=f"{rec.saddr} opened TLS to blacklisted domain {listed.what} at {rec.daddr}",
            dport=rec.dport,
        )  # fmt: skip

    def _say(
        self,
        listed: IntelMatch,
        ts: float,
        uid: str,
        window: int,
        *,
        attacker: str,
        victim: str | None,
        text: str,
        dport: int | None = None,
    ) -> Sequence[Evidence] | None:
        if not attacker:
            return None
        return self.report(
            listed,
            key=(attacker, listed.indicator),
            attacker=attacker,
            victim=victim,
            ts=ts,
            uid=uid,
            window=window,
            description=text,
            technique=_TECHNIQUE,
            dport=dport,
            proto="tcp" if dport is not None else None,
        )
