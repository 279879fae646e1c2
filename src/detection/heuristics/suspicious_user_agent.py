"""Suspicious HTTP user agent: a request whose User-Agent names an attack or
scripting tool, or carries an injection payload.

`suspicious` maps a case-insensitive substring to the ATT&CK technique it
indicates: Log4Shell-style ``${jndi:`` lookups (exploitation, T1190), scanner
and brute-force tools (sqlmap, nikto, masscan, hydra, …: T1595.002), and the
odd agents of known malware families that Slips lists (httpsend, chm_msdn,
tesseract: T1071.001). `suspicious_exact` holds agents too short to match as
substrings (Slips' ``pb``). HIGH, confidence 0.9. One evidence per (client,
user agent, window), re-reported at 10, 100, … requests.

Requests with no User-Agent at all are common from OS services (CryptoAPI,
updaters), so an empty agent is only reported, LOW, once a client sent
`empty_min_requests` of them to one server in a window.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import make_evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.model import Evidence, HttpRecord, ThreatLevel

__all__ = ["SuspiciousUserAgent", "SuspiciousUserAgentParams"]


class SuspiciousUserAgentParams(DetectorParams):
    # pydantic copies a field's default for each instance (no shared mutable state).
    suspicious: dict[str, str] = {  # noqa: RUF012
        "${jndi:": "T1190",
        "${": "T1190",
        "sqlmap": "T1595.002",
        "nikto": "T1595.002",
        "nmap scripting engine": "T1595.002",
        "masscan": "T1595.002",
        "zgrab": "T1595.002",
        "nuclei": "T1595.002",
        "wpscan": "T1595.002",
        "dirbuster": "T1595.002",
        "gobuster": "T1595.002",
        "acunetix": "T1595.002",
        "hydra": "T1110",
        "httpsend": "T1071.001",
        "chm_msdn": "T1071.001",
        "tesseract": "T1071.001",
    }
    suspicious_exact: tuple[str, ...] = ("pb",)
    empty_min_requests: int = 20


class SuspiciousUserAgent(Detector):
    name = "suspicious_user_agent"
    consumes = (HttpRecord,)
    Params = SuspiciousUserAgentParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, SuspiciousUserAgentParams)
        self.p = params
        self._needles = tuple((k.lower(), v) for k, v in params.suspicious.items() if k)
        self._exact = frozenset(x.lower() for x in params.suspicious_exact)
        self._verdict: dict[str, str | None] = {}  # user agent -> technique (bounded)
        self._seen: dict[tuple[str, str, str, int], int] = {}

    def _technique(self, ua: str) -> str | None:
        verdict = self._verdict.get(ua, "")
        if verdict != "":
            return verdict
        low = ua.lower().strip()
        found = "T1071.001" if low in self._exact else None
        if found is None:
            found = next((t for needle, t in self._needles if needle in low), None)
        if len(self._verdict) >= 10_000:
            self._verdict.clear()
        self._verdict[ua] = found
        return found

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: HttpRecord = record  # type: ignore[assignment]  # routed by `consumes`
        ua = rec.user_agent
        if not rec.saddr:
            return None
        if not ua or ua == "-":
            return self._empty(rec, window)
        technique = self._technique(ua)
        if technique is None:
            return None
        key = (rec.saddr, ua, "", window)
        n = self._seen.get(key, 0) + 1
        self._seen[key] = n
        if not report_due(n, 1, (10, 100, 1000)):
            return None
        return (
            make_evidence(
                self,
                attacker=rec.saddr,
                victim=rec.daddr,
                level=ThreatLevel.HIGH,
                confidence=0.9,
                ts=rec.ts,
                window=window,
                description=(
                    f"Suspicious user agent from {rec.saddr} to {rec.host or rec.daddr}: "
                    f"{ua[:120]!r} ({n} request{'s' if n > 1 else ''} in this window, "
                    f"{rec.method} {rec.uri[:80]})"
                ),
                technique=technique,
                uids=(rec.uid,),
                dport=rec.dport,
                proto="tcp",
                count=n,
            ),
        )

    def _empty(self, rec: HttpRecord, window: int) -> Sequence[Evidence] | None:
        key = (rec.saddr, "", rec.daddr, window)
        n = self._seen.get(key, 0) + 1
        self._seen[key] = n
        first = self.p.empty_min_requests
        if not report_due(n, first, (first * 10, first * 100)):
            return None
        return (
            make_evidence(
                self,
                attacker=rec.saddr,
                victim=rec.daddr,
                level=ThreatLevel.LOW,
                confidence=0.3,
                ts=rec.ts,
                window=window,
                description=(
                    f"HTTP requests without a user agent from {rec.saddr} to "
                    f"{rec.host or rec.daddr}: {n} in this window (scripted client)"
                ),
                technique="T1071.001",  # Application Layer Protocol: Web Protocols
                uids=(rec.uid,),
                dport=rec.dport,
                proto="tcp",
                count=n,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for key in [k for k in self._seen if k[3] <= window]:
            del self._seen[key]
        return None
