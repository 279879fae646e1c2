"""Weird HTTP method: a client used a request method no standard defines.

Zeek writes ``unknown_HTTP_method`` to weird.log (the method in ``addl``)
when it sees one; http.log records from any sensor are checked against
`standard_methods` too (RFC 9110, PATCH, WebDAV, CalDAV, SSDP/UPnP and
RTSP-over-HTTP verbs). Scanners and exploit kits send made-up or
server-specific verbs (``DEBUG``, ``TRACK``, random strings) to fingerprint
servers and reach code paths a normal request does not; some bots use their
own verbs as a C&C protocol. MEDIUM (Slips' WEIRD_HTTP_METHOD level),
confidence 0.7. One evidence per (client, server, method, window),
re-reported at 10, 100, … requests. ATT&CK T1595.002 (Active Scanning:
Vulnerability Scanning).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import conn_evidence, count_due, drop_closed
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import Evidence, HttpRecord, ThreatLevel, WeirdRecord

__all__ = ["WeirdHttpMethod", "WeirdHttpMethodParams"]

_MAX_KEYS = 50_000  # (client, server, method) tracked per window: bounded memory


class WeirdHttpMethodParams(DetectorParams):
    standard_methods: tuple[str, ...] = (
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH",
        "REPORT", "MKCALENDAR", "ACL", "BIND", "UNBIND", "REBIND", "ORDERPATCH",
        "MKACTIVITY", "CHECKOUT", "CHECKIN", "UNCHECKOUT", "MERGE", "LABEL", "UPDATE",
        "VERSION-CONTROL", "MKWORKSPACE", "BASELINE-CONTROL", "MKREDIRECTREF",
        "UPDATEREDIRECTREF", "BPROPFIND", "BPROPPATCH", "BCOPY", "BMOVE", "BDELETE",
        "POLL", "SUBSCRIBE", "UNSUBSCRIBE", "NOTIFY", "M-SEARCH", "PURGE", "LINK",
        "UNLINK", "DESCRIBE", "SETUP", "PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER",
        "SET_PARAMETER", "ANNOUNCE", "RECORD", "REDIRECT", "PRI",
    )  # fmt: skip
    weird_names: tuple[str, ...] = ("unknown_HTTP_method",)


class WeirdHttpMethod(Detector):
    name = "weird_http_method"
    consumes = (HttpRecord, WeirdRecord)
    Params = WeirdHttpMethodParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, WeirdHttpMethodParams)
        self._standard = frozenset(m.upper() for m in params.standard_methods)
        self._weird_names = frozenset(params.weird_names)
        self._seen: dict[tuple[str, str, str, int], int] = {}

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if type(record) is WeirdRecord:
            if record.name not in self._weird_names:
                return None
            method, how = record.addl.strip(), "Zeek weird unknown_HTTP_method"
        else:
            rec: HttpRecord = record  # type: ignore[assignment]  # routed by `consumes`
            method, how = rec.method, "http.log"
            if not method or method in self._standard or method.upper() in self._standard:
                return None
        return self._report(record, method, how, window)  # type: ignore[arg-type]

    def _report(
        self, rec: HttpRecord | WeirdRecord, method: str, how: str, window: int
    ) -> Sequence[Evidence] | None:
        if not rec.saddr or not method or method == "-":
            return None
        key = (rec.saddr, rec.daddr, method[:40], window)
        if key not in self._seen and len(self._seen) >= _MAX_KEYS:
            self.overflowed("keys_refused")
            return None
        n = count_due(self._seen, key)
        if n is None:
            return None
        requests = "1 request" if n == 1 else f"{n} requests"
        return conn_evidence(
            self,
            rec,
            window,
            level=ThreatLevel.MEDIUM,
            confidence=0.7,
            description=(
                f"Weird HTTP method {method[:40]!r} from {rec.saddr} to "
                f"{rec.daddr}:{rec.dport} ({requests} in this window, seen in {how})"
            ),
            technique="T1595.002",  # Active Scanning: Vulnerability Scanning
            count=n,
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        drop_closed(self._seen, window)
        return None
