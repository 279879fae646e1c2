"""Threat-intelligence value types: what a feed says, before and after indexing.

An `Ioc` is one indicator read from one line of one feed, already normalised
(`normalise`): lower-case hashes and domains without a trailing dot, CIDRs in
canonical form (host bits cleared), ASNs as ``AS<number>``. The feed it came from
and the feed's threat level live in `FeedInfo`; an `Ioc` may override the level
and carry its own description (local files do: ``1.2.3.4,high,Simda CC``).
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from detection.model import ThreatLevel

__all__ = ["FeedInfo", "Ioc", "IocKind", "ParsedFeed", "classify", "normalise"]


class IocKind(enum.StrEnum):
    IP = "ip"
    CIDR = "cidr"
    DOMAIN = "domain"
    URL = "url"
    JA3 = "ja3"  # JA3 and JA3S: both are MD5s of a TLS hello, one namespace
    JARM = "jarm"
    SHA1 = "sha1"  # file or certificate SHA1
    MD5 = "md5"
    SHA256 = "sha256"
    ASN = "asn"


@dataclass(frozen=True, slots=True)
class Ioc:
    kind: IocKind
    value: str  # normalised (`normalise`)
    description: str = ""
    first_seen: float | None = None  # epoch seconds, when the feed dates the line
    threat_level: ThreatLevel | None = None  # the line's own level, over the feed's


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """The result of parsing one feed's content: indicators and counted skips."""

    iocs: list[Ioc]
    skipped: Mapping[str, int] = field(default_factory=dict)  # reason -> lines
    format: str = ""  # the format recognised: "plain", "csv", "zeek-intel", "json", …


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """Where indicators came from, as evidence names it."""

    name: str  # e.g. "feodotracker.abuse.ch/ipblocklist.csv" or "local:own_malicious_iocs.csv"
    threat_level: ThreatLevel
    tags: tuple[str, ...] = ()
    url: str = ""


_HEX = frozenset("0123456789abcdef")
_HASH_KINDS = {32: IocKind.MD5, 40: IocKind.SHA1, 64: IocKind.SHA256}


def _is_domain(text: str) -> bool:
    if len(text) > 253 or "." not in text or text[0] in ".-" or text[-1] in ".-":
        return False
    labels = text.split(".")
    if not labels[-1].isalpha() and not labels[-1].startswith("xn--"):
        return False  # the TLD is letters (or punycode): 1.2.3 is no domain
    for label in labels:
        if not label or len(label) > 63:
            return False
        if not all(c.isalnum() or c in "-_" for c in label) or not label.isascii():
            return False
    return True


def classify(text: str, hint: str = "ti") -> IocKind | None:
    """The kind of a bare indicator string, or None. `hint`: "ja3" makes a
    32-hex-digit string a JA3 rather than an MD5; "jarm" a 62-character string
    a JARM; "ssl" a 40-digit one a certificate SHA1 (same kind as file SHA1)."""
    t = text.strip().lower()
    if not t:
        return None
    if t.startswith("as") and t[2:].isascii() and t[2:].isdigit() and len(t) <= 12:
        return IocKind.ASN
    if "/" in t and "://" not in t:
        try:
            ipaddress.ip_network(t, strict=False)
        except ValueError:
            return None
        return IocKind.CIDR
    if "://" in t:
        return IocKind.URL
    if t[0].isdigit() or ":" in t:
        try:
            ipaddress.ip_address(t)
        except ValueError:
            pass
        else:
            return IocKind.IP
    if len(t) == 62 and hint == "jarm" and set(t) <= _HEX:
        return IocKind.JARM
    if len(t) in _HASH_KINDS and set(t) <= _HEX:
        if len(t) == 32 and hint == "ja3":
            return IocKind.JA3
        return _HASH_KINDS[len(t)]
    if _is_domain(t):
        return IocKind.DOMAIN
    return None


def normalise(kind: IocKind, text: str) -> str:
    """The canonical spelling used as the index key (raises ValueError if invalid)."""
    t = text.strip()
    if kind is IocKind.IP:
        return str(ipaddress.ip_address(t))
    if kind is IocKind.CIDR:
        net = ipaddress.ip_network(t, strict=False)
        if net.prefixlen == net.max_prefixlen:
            return str(net.network_address)
        return str(net)
    if kind is IocKind.DOMAIN:
        return t.lower().rstrip(".")
    if kind is IocKind.ASN:
        digits = t[2:] if t[:2].lower() == "as" else t
        return f"AS{int(digits)}"
    if kind is IocKind.URL:
        scheme, sep, rest = t.partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme.lower()}{sep}{host.lower()}{slash}{path}"
    return t.lower()
