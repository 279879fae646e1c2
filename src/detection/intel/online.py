"""Online lookups, the pure half: what to ask, and what an answer means.

Theory of operation
-------------------
Feeds are matched locally on the hot path; online services (VirusTotal,
URLhaus, CIRCL hashlookup, Spamhaus' DNSBL, RDAP registration dates, Team
Cymru's IP-to-ASN zone) are asked later, rate-limited, by the agent
(`agent.intel.online`), which owns sockets and clocks. This module holds
everything about them that can be decided without I/O, so it is typed,
fuzzed and tested on recorded answers:

* `LookupRequest`: a value seen in traffic (IP, domain, URL, file hash) with
  who is involved. The side the value belongs to is the accused, the same
  rule the feed detectors follow (`threat_intel_domain`): a server's address
  or name accuses the server when its address is known, a file accuses its
  sender, a name only asked for accuses the asking host.
* `Verdict`: one service's answer, reduced to malicious / known-benign /
  unknown with a threat level and a confidence. Parsing never raises on a
  service's answer; a malformed answer is an `OnlineError` (the agent counts
  it and retries later), never a verdict.
* `evidence_for`: a verdict about a request becomes ordinary `Evidence`
  (source ``local:<type>``: the agent asked, the agent vouches), which enters
  the same decision step as local detections.
* A minimal DNS client codec (`dns_query`, `parse_dns_response`) for the two
  DNS-based services: enough for A and TXT answers, defensive against
  truncated and malicious packets (compression loops, out-of-range offsets).

Thresholds follow Slips where it has one: young domain < 60 days (LOW, 1.0),
ASN match 0.8, URLhaus 0.7 for URLs, CIRCL threat level (100 - trust)/100.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from detection.intel.model import IocKind
from detection.model import Evidence, ThreatLevel

__all__ = [
    "DnsAnswer",
    "LookupRequest",
    "OnlineError",
    "Service",
    "Verdict",
    "circl_verdict",
    "cymru_asn",
    "dns_query",
    "dnsbl_name",
    "evidence_for",
    "parse_dns_response",
    "rdap_registration",
    "registrable_domain",
    "spamhaus_verdict",
    "urlhaus_verdict",
    "virustotal_path",
    "virustotal_verdict",
    "young_domain_verdict",
]


class OnlineError(ValueError):
    """A service answered something this module cannot interpret."""


class Service(enum.StrEnum):
    VIRUSTOTAL = "virustotal"
    URLHAUS = "urlhaus"
    CIRCL = "circl"
    SPAMHAUS = "spamhaus"
    RDAP = "rdap"
    ASN = "asn"


@dataclass(frozen=True, slots=True)
class LookupRequest:
    """A value to look up, and the finding it would become."""

    kind: IocKind  # IP, DOMAIN, URL, MD5, SHA1 or SHA256
    value: str
    ts: float  # of the record that carried it
    uid: str
    attacker: str  # accused if the value is bad (module header)
    victim: str | None


@dataclass(frozen=True, slots=True)
class Verdict:
    service: Service
    kind: IocKind
    value: str
    malicious: bool = False
    known_benign: bool = False
    level: ThreatLevel = ThreatLevel.INFO
    confidence: float = 0.0
    detail: str = ""
    registered: float | None = None  # RDAP: registration time, epoch seconds
    asn: str | None = None  # Cymru: "AS15169"


# -- VirusTotal (API v3) ----------------------------------------------------------------


def virustotal_path(kind: IocKind, value: str) -> str:
    """The v3 resource path of a value (URLs are identified by unpadded base64url)."""
    if kind is IocKind.IP:
        return f"/api/v3/ip_addresses/{value}"
    if kind is IocKind.DOMAIN:
        return f"/api/v3/domains/{value}"
    if kind is IocKind.URL:
        ident = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
        return f"/api/v3/urls/{ident}"
    if kind in (IocKind.MD5, IocKind.SHA1, IocKind.SHA256):
        return f"/api/v3/files/{value}"
    raise ValueError(f"VirusTotal does not look up {kind}")


def virustotal_verdict(
    kind: IocKind, value: str, status: int, body: Any, *, min_engines: int = 3
) -> Verdict:
    """404 = unknown to VirusTotal; 200 = `last_analysis_stats` decides:
    malicious when at least `min_engines` engines say so (HIGH when a third or
    more of the engines that answered do, else MEDIUM)."""
    if status == 404:
        return Verdict(Service.VIRUSTOTAL, kind, value, detail="not known to VirusTotal")
    if status != 200:
        raise OnlineError(f"VirusTotal answered HTTP {status}")
    stats = _dig(body, "data", "attributes", "last_analysis_stats")
    if not isinstance(stats, Mapping):
        raise OnlineError("VirusTotal answer without data.attributes.last_analysis_stats")
    counts = {k: v for k, v in stats.items() if isinstance(v, int) and v >= 0}
    bad = counts.get("malicious", 0)
    suspicious = counts.get("suspicious", 0)
    answered = bad + suspicious + counts.get("harmless", 0) + counts.get("undetected", 0)
    detail = f"{bad}/{answered} engines malicious, {suspicious} suspicious"
    if bad < min_engines:
        return Verdict(Service.VIRUSTOTAL, kind, value, detail=detail)
    share = bad / answered if answered else 1.0
    level = ThreatLevel.HIGH if share >= 1 / 3 else ThreatLevel.MEDIUM
    confidence = min(1.0, 0.5 + bad / 20)
    return Verdict(Service.VIRUSTOTAL, kind, value, True, False, level, confidence, detail)


# -- URLhaus ----------------------------------------------------------------------------


def urlhaus_verdict(kind: IocKind, value: str, status: int, body: Any) -> Verdict:
    """`query_status` "ok" = listed, "no_results" = unknown; anything else
    ("invalid_url", "unknown_auth_key", …) is an error."""
    if status != 200:
        raise OnlineError(f"URLhaus answered HTTP {status}")
    if not isinstance(body, Mapping):
        raise OnlineError("URLhaus answer is not a JSON object")
    query_status = body.get("query_status")
    if query_status == "no_results":
        return Verdict(Service.URLHAUS, kind, value, detail="not listed by URLhaus")
    if query_status != "ok":
        raise OnlineError(f"URLhaus query_status {str(query_status)[:60]!r}")
    if kind is IocKind.URL:
        threat = _text(body.get("threat")) or "malicious URL"
        online = _text(body.get("url_status"))
        raw_tags = body.get("tags")  # a list of strings; anything else: no tags shown
        listed = raw_tags if isinstance(raw_tags, list) else ()
        tags = ", ".join(_text(t) for t in listed if _text(t))
        detail = f"{threat} ({online or 'status unknown'}{'; ' + tags if tags else ''})"
        level = ThreatLevel.HIGH if online == "online" else ThreatLevel.MEDIUM
        return Verdict(Service.URLHAUS, kind, value, True, False, level, 0.7, detail)
    signature = _text(body.get("signature")) or "unknown family"
    file_type = _text(body.get("file_type"))
    detail = f"malware payload: {signature}{' (' + file_type + ')' if file_type else ''}"
    return Verdict(Service.URLHAUS, kind, value, True, False, ThreatLevel.HIGH, 0.7, detail)


# -- CIRCL hashlookup -------------------------------------------------------------------


def circl_verdict(kind: IocKind, value: str, status: int, body: Any) -> Verdict:
    """404 = unknown. A known file is benign (NSRL and similar sets) unless the
    answer carries ``KnownMalicious``; then its threat level is
    (100 - hashlookup:trust)/100, as Slips computes it."""
    if status == 404:
        return Verdict(Service.CIRCL, kind, value, detail="not known to hashlookup")
    if status != 200:
        raise OnlineError(f"hashlookup answered HTTP {status}")
    if not isinstance(body, Mapping):
        raise OnlineError("hashlookup answer is not a JSON object")
    name = _text(body.get("FileName"))
    if "KnownMalicious" not in body:
        detail = f"known file{': ' + name if name else ''}"
        return Verdict(Service.CIRCL, kind, value, known_benign=True, detail=detail)
    trust = body.get("hashlookup:trust", 50)
    trust = trust if isinstance(trust, int | float) and 0 <= trust <= 100 else 50
    level = _level_of((100 - trust) / 100)
    source = _text(body.get("KnownMalicious")) or "a malware set"
    detail = f"known malicious ({source}, hashlookup trust {trust:g}){': ' + name if name else ''}"
    return Verdict(Service.CIRCL, kind, value, True, False, level, 0.7, detail)


# -- Spamhaus DNSBL ---------------------------------------------------------------------

# zen.spamhaus.org return codes. PBL (policy: dynamic end-user ranges) says
# nothing about behaviour, so it is not a finding. 127.255.255.x are errors
# (queried through a public resolver, rate limited, bad query).
_SPAMHAUS: dict[str, tuple[str, ThreatLevel] | None] = {
    "127.0.0.2": ("SBL (spam source)", ThreatLevel.MEDIUM),
    "127.0.0.3": ("SBL CSS (snowshoe spam)", ThreatLevel.LOW),
    "127.0.0.4": ("XBL (exploited host, botnet)", ThreatLevel.HIGH),
    "127.0.0.5": ("XBL (exploited host)", ThreatLevel.HIGH),
    "127.0.0.6": ("XBL (exploited host)", ThreatLevel.HIGH),
    "127.0.0.7": ("XBL (exploited host)", ThreatLevel.HIGH),
    "127.0.0.9": ("SBL DROP (hijacked network)", ThreatLevel.HIGH),
    "127.0.0.10": None,
    "127.0.0.11": None,
}


def dnsbl_name(ip: str, zone: str) -> str:
    """The DNSBL query name of an IPv4 address: reversed octets under the zone."""
    parts = ip.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(f"not an IPv4 address: {ip!r}")
    return ".".join(reversed(parts)) + "." + zone.strip(".")


def spamhaus_verdict(ip: str, answer: DnsAnswer) -> Verdict:
    """NXDOMAIN = not listed; A records name the lists (several may apply)."""
    if answer.rcode == 3:
        return Verdict(Service.SPAMHAUS, IocKind.IP, ip, detail="not listed")
    if answer.rcode != 0:
        raise OnlineError(f"DNSBL answered rcode {answer.rcode}")
    errors = [a for a in answer.addresses if a.startswith("127.255.255.")]
    if errors:
        raise OnlineError(f"DNSBL refused the query ({errors[0]})")
    listed: list[tuple[str, ThreatLevel]] = []
    for address in answer.addresses:
        meaning = _SPAMHAUS.get(address, ("listed (" + address + ")", ThreatLevel.LOW))
        if meaning is not None:
            listed.append(meaning)
    if not listed:
        detail = "policy list only (dynamic address)" if answer.addresses else "not listed"
        return Verdict(Service.SPAMHAUS, IocKind.IP, ip, detail=detail)
    level = max((lvl for _, lvl in listed), key=lambda lvl: _RANK[lvl])
    detail = "Spamhaus " + ", ".join(sorted({name for name, _ in listed}))
    return Verdict(Service.SPAMHAUS, IocKind.IP, ip, True, False, level, 0.8, detail)


# -- RDAP (registration date) and Team Cymru (ASN) --------------------------------------


def registrable_domain(name: str) -> str:
    """The name RDAP knows: the last two labels, three under a short second
    level (``example.co.uk``). Without a public-suffix list this is a
    heuristic; a wrong guess costs one unanswered lookup, not a finding."""
    labels = [label for label in name.lower().rstrip(".").split(".") if label]
    if len(labels) <= 2:
        return ".".join(labels)
    if len(labels[-2]) <= 3 and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def rdap_registration(body: Any) -> float | None:
    """The ``registration`` event of an RDAP domain object, as epoch seconds."""
    events = body.get("events") if isinstance(body, Mapping) else None
    if not isinstance(events, list):
        return None
    for event in events:
        if isinstance(event, Mapping) and event.get("eventAction") == "registration":
            when = event.get("eventDate")
            if not isinstance(when, str):
                return None
            try:
                parsed = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.timestamp()
    return None


def young_domain_verdict(domain: str, registered: float | None, now: float, days: float) -> Verdict:
    """Registered less than `days` before `now` (Slips: 60 days, LOW, 1.0)."""
    if registered is None:
        return Verdict(Service.RDAP, IocKind.DOMAIN, domain, detail="no registration date")
    age = (now - registered) / 86400
    detail = f"registered {age:.0f} days ago"
    if age >= days or age < -1:
        return Verdict(Service.RDAP, IocKind.DOMAIN, domain, detail=detail, registered=registered)
    return Verdict(
        Service.RDAP, IocKind.DOMAIN, domain, True, False, ThreatLevel.LOW, 1.0, detail, registered
    )


def cymru_asn(txt: list[str]) -> str | None:
    """``"15169 | 8.8.8.0/24 | US | arin | 1992-12-01"`` -> ``"AS15169"`` (the
    first origin when a prefix has several)."""
    for record in txt:
        first = record.split("|", 1)[0].strip().split()
        if first and first[0].isascii() and first[0].isdigit():
            return f"AS{int(first[0])}"
    return None


# -- verdict -> evidence ----------------------------------------------------------------

_EVIDENCE_TYPE = {
    Service.VIRUSTOTAL: "online_virustotal",
    Service.URLHAUS: "online_urlhaus",
    Service.CIRCL: "online_hashlookup",
    Service.SPAMHAUS: "online_dnsbl",
    Service.RDAP: "young_domain",
    Service.ASN: "threat_intel_asn",
}
_TECHNIQUE = {
    IocKind.IP: "T1071",  # Application Layer Protocol (talking to a bad server)
    IocKind.DOMAIN: "T1071",
    IocKind.URL: "T1105",  # Ingress Tool Transfer
    IocKind.MD5: "T1105",
    IocKind.SHA1: "T1105",
    IocKind.SHA256: "T1105",
}


def evidence_for(
    verdict: Verdict,
    request: LookupRequest,
    window_seconds: float,
    *,
    level: ThreatLevel | None = None,
    confidence: float | None = None,
    detail: str | None = None,
) -> Evidence | None:
    """The finding a malicious verdict makes of a request; None otherwise.
    `level`/`confidence`/`detail` override the verdict's (the ASN match takes
    them from the feed that lists the ASN)."""
    if not verdict.malicious:
        return None
    service = verdict.service
    what = _describe(request)
    reason = detail if detail is not None else verdict.detail
    if service is Service.RDAP:
        description = f"Young domain {request.value} ({reason}) {what}"
        technique = "T1583.001"  # Acquire Infrastructure: Domains
    elif service is Service.ASN:
        description = f"{request.value} belongs to blacklisted {verdict.asn} ({reason}) {what}"
        technique = "T1071"
    else:
        description = f"{service.value}: {request.kind.value} {request.value} {what}: {reason}"
        technique = _TECHNIQUE.get(request.kind, "T1071")
    kind = _EVIDENCE_TYPE[service]
    return Evidence(
        type=kind,
        attacker=request.attacker,
        victim=request.victim,
        threat_level=level if level is not None else verdict.level,
        confidence=max(0.0, min(1.0, confidence if confidence is not None else verdict.confidence)),
        ts=request.ts,
        timewindow=int(request.ts // window_seconds),
        description=description,
        source=f"local:{kind}",  # the agent's own finding, like a detector's
        uids=(request.uid,) if request.uid else (),
        attack_technique=technique,
    )


def _describe(request: LookupRequest) -> str:
    if request.victim is None:
        return f"(asked for by {request.attacker})"
    return f"(seen between {request.attacker} and {request.victim})"


# -- DNS codec ----------------------------------------------------------------------------

_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
QTYPE_A = 1
QTYPE_TXT = 16


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    rcode: int
    addresses: list[str]  # A records
    texts: list[str]  # TXT records, character-strings joined


def dns_query(name: str, qtype: int, txid: int) -> bytes:
    """A recursive query for one name."""
    labels = name.strip(".").split(".")
    out = bytearray(_HEADER.pack(txid & 0xFFFF, 0x0100, 1, 0, 0, 0))
    for label in labels:
        raw = label.encode("idna") if not label.isascii() else label.encode()
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad DNS label in {name!r}")
        out += bytes((len(raw),)) + raw
    out += b"\x00" + struct.pack("!HH", qtype, 1)
    if len(out) > 512:
        raise ValueError("DNS name too long")
    return bytes(out)


def _skip_name(data: bytes, pos: int) -> int:
    """Position after the (possibly compressed) name at `pos`."""
    while True:
        if pos >= len(data):
            raise OnlineError("truncated DNS name")
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            if pos + 2 > len(data):
                raise OnlineError("truncated DNS pointer")
            return pos + 2  # a pointer ends the name; we never follow it
        if length & 0xC0:
            raise OnlineError("bad DNS label type")
        pos += 1 + length


def parse_dns_response(data: bytes, txid: int) -> DnsAnswer:
    """Answers of a response to our query `txid`; raises `OnlineError` on any
    malformed, truncated or foreign packet."""
    if len(data) < _HEADER.size:
        raise OnlineError("DNS response shorter than its header")
    rid, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(data)
    if rid != txid or not flags & 0x8000:
        raise OnlineError("not a response to our query")
    if flags & 0x0200:
        raise OnlineError("truncated DNS response (TC)")
    pos = _HEADER.size
    for _ in range(qdcount):
        pos = _skip_name(data, pos) + 4
    addresses: list[str] = []
    texts: list[str] = []
    for _ in range(ancount):
        pos = _skip_name(data, pos)
        if pos + _RR.size > len(data):
            raise OnlineError("truncated DNS record")
        rtype, _, _, rdlength = _RR.unpack_from(data, pos)
        pos += _RR.size
        end = pos + rdlength
        if end > len(data):
            raise OnlineError("truncated DNS record data")
        if rtype == QTYPE_A and rdlength == 4:
            addresses.append(".".join(str(b) for b in data[pos:end]))
        elif rtype == QTYPE_TXT:
            parts: list[str] = []
            p = pos
            while p < end:
                n = data[p]
                if p + 1 + n > end:
                    raise OnlineError("truncated TXT string")
                parts.append(data[p + 1 : p + 1 + n].decode("utf-8", "replace"))
                p += 1 + n
            texts.append("".join(parts))
        pos = end
    return DnsAnswer(flags & 0x000F, addresses, texts)


# -- helpers ------------------------------------------------------------------------------

_RANK = {
    ThreatLevel.INFO: 0,
    ThreatLevel.LOW: 1,
    ThreatLevel.MEDIUM: 2,
    ThreatLevel.HIGH: 3,
    ThreatLevel.CRITICAL: 4,
}


def _level_of(score: float) -> ThreatLevel:
    if score >= 0.8:
        return ThreatLevel.HIGH
    if score >= 0.5:
        return ThreatLevel.MEDIUM
    if score >= 0.2:
        return ThreatLevel.LOW
    return ThreatLevel.INFO


def _dig(body: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(body, Mapping):
            return None
        body = body.get(key)
    return body


def _text(value: Any) -> str:
    return value.strip()[:200] if isinstance(value, str) else ""
