"""Feed contents into indicators: one entry point, every format on the feed lists.

Theory of operation
-------------------
`parse_feed` takes the downloaded bytes and returns a `ParsedFeed`. It does no
I/O and never raises on content: feeds are written by third parties, arrive
truncated, or turn out to be an HTML error page, and one bad feed must not stop
the updater. Every line (or JSON record) that yields nothing is counted in
`ParsedFeed.skipped` under a reason, so a feed that silently changed format is
visible as a jump in skips rather than as missing detections.

The format is recognised from the content, not the URL (URLs move, mirrors
rename files), in this order:

* ``empty``, ``binary`` (NULs or mostly undecodable bytes: a gzip, an image)
  and ``html`` (markup: an error or login page) yield nothing; the updater
  rejects them rather than replacing a good copy with nothing.
* ``json`` / ``jsonl`` (content starts with ``[`` or ``{``): the structure is
  walked generically. An object with an indicator-like key (``ip``,
  ``DomainAddress``, ``url``, ``value``, …; an object under such a key is looked
  into for ``v4``/``v6``/``value``) is a record; its other keys give the
  description, date, level, type and deletion mark (hole.cert.pl lists removed
  domains with a ``DeleteDate``; those are skipped as ``deleted``). Objects
  without such keys are containers and are walked into. A top-level array cut
  short is salvaged element by element.
* ``zeek-intel`` (a ``#fields`` header, or ``Intel::`` types): columns by name;
  the ``Intel::`` type must agree with the value's kind. Zeek writes URLs
  without a scheme; they become ``http://`` URLs.
* ``csv`` (most data lines have a comma outside an inline comment): the header
  is a first row of column names or a ``#`` comment of column names (abuse.ch
  puts it there). Columns are recognised by name (value, type, threat level,
  description, first-seen date); without a header the first field that is an
  indicator is the value. A type column must name a network or hash type:
  ``email`` or ``filename`` rows are skipped, not misread as domains.
* ``plain`` / ``hosts`` / ``netset`` otherwise: the first token of each line,
  the rest being counts or an inline ``#``/``;`` comment (which becomes the
  description); in hosts-file lines (``0.0.0.0 name``) the name is the
  indicator.

Values go through `classify` and `normalise`, so the index sees one spelling.
A /32 or /128 "CIDR" is an IP. A scheme-less ``host/path`` (Zeek URLs,
Civilsphere rows) becomes an ``http://`` URL; ``host/`` is the host. Defanged
values (``example[.]com``, ``hxxp://``) are refanged. A value appearing twice in
one feed is kept once (counted as ``duplicate``): descriptions are merged, the
earliest date and the highest level kept.

Speed: two cheap pre-checks decide the common cases without `ipaddress` (a
canonical dotted quad, an ASCII host name); they accept only strings that
`classify` would classify the same way and that are already in `normalise`'s
form (a property test holds them to that). The cyclic garbage collector is
paused while the `Ioc` objects pile up (`_GcPause`). A million-line list then
takes about 3 s on a slow 2-core VM, a third of it in building the `Ioc`
objects themselves.
"""

from __future__ import annotations

import csv
import gc
import json
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from detection.intel.model import Ioc, IocKind, ParsedFeed, classify, normalise
from detection.model import ThreatLevel

__all__ = ["MAX_LINE", "parse_feed", "parse_first_seen"]

MAX_LINE = 4096  # longer lines are skipped as "too_long"
_MAX_DESCRIPTION = 512
_MAX_DATE_CACHE = 65536
_SNIFF_LINES = 200

# --- values ---------------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
# An ASCII host name with an alphabetic (or punycode) TLD, not starting with '.'
# or '-': a subset of what classify() calls a domain. Label lengths (<= 63) and
# the total (<= 253) are checked by `_label_lengths_ok`, cheaper than in the regex.
_HOST = re.compile(r"[a-z0-9_][a-z0-9_-]*(?:\.[a-z0-9_-]+)*\.(?:[a-z]+|xn--[a-z0-9_-]+)")
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[\x21-\x2e\x30-\x7e][\x21-\x7e]*")
_LEVELS = {level.value: level for level in ThreatLevel}


def _resolve(token: str, hint: str) -> tuple[IocKind, str] | None:
    """The kind and normalised value of one candidate string, or None.

    `token` is normally already stripped (the slow path strips it)."""
    if not token:
        return None
    if _IPV4.fullmatch(token):
        return IocKind.IP, token  # canonical dotted quad: what normalise() returns
    text = token.rstrip(".") if token[-1] == "." else token
    if not text:
        return None
    low = text.lower()
    if _HOST.fullmatch(low) and _label_lengths_ok(low):
        return IocKind.DOMAIN, low
    return _resolve_slow(text, hint)


def _label_lengths_ok(name: str) -> bool:
    if len(name) <= 63:
        return True
    return len(name) <= 253 and max(map(len, name.split("."))) <= 63


def _refang(text: str) -> str:
    text = text.replace("[.]", ".").replace("[:]", ":").replace("[://]", "://")
    if text[:4].lower() == "hxxp":
        text = "http" + text[4:]
    return text


def _resolve_slow(text: str, hint: str) -> tuple[IocKind, str] | None:
    if len(text) > MAX_LINE:
        return None
    if "[" in text or text[:4].lower() == "hxxp":
        text = _refang(text)
    try:
        kind = classify(text, hint)
    except ValueError:
        return None
    if kind is None:
        return _schemeless(text, hint)
    if kind is IocKind.URL and not _URL.fullmatch(text):
        return None  # no host, whitespace or non-ASCII: not a URL a sensor can match
    try:
        value = normalise(kind, text)
    except ValueError:
        return None  # e.g. "as²": classify() takes Unicode digits int() rejects
    if kind is IocKind.CIDR and "/" not in value:
        kind = IocKind.IP  # a /32 or /128
    return kind, value


def _schemeless(text: str, hint: str) -> tuple[IocKind, str] | None:
    """``host/`` is the host; ``host/path`` an http URL (Zeek writes URLs so)."""
    if "/" not in text or "://" in text:
        return None
    host, _, path = text.partition("/")
    name, colon, port = host.rpartition(":")
    has_port = bool(colon) and port.isascii() and port.isdigit()
    host_only = name if has_port else host
    if not host_only or classify(host_only, hint) not in (IocKind.DOMAIN, IocKind.IP):
        return None
    if not path.strip("/"):
        return None if has_port else _resolve(host_only, hint)
    if path.isdigit():
        return None  # a broken CIDR, not a path
    return _resolve_slow("http://" + text, hint)


def _clean_description(text: str) -> str:
    text = " ".join(text.split())
    return text[:_MAX_DESCRIPTION]


def _level(text: str) -> ThreatLevel | None:
    return _LEVELS.get(text.strip().strip("\"'").strip().lower())


def parse_first_seen(value: object) -> float | None:
    """A date as epoch seconds (UTC), or None: epoch numbers (seconds, or
    milliseconds when larger than 1e11), ISO 8601 dates and date-times with or
    without a zone (none means UTC), ``2021-01-01 12:00:00``, ``2020/11/14``,
    ``20210101``. Values outside [1970, 2242) are None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _epoch(float(value))
    if not isinstance(value, str):
        return None
    text = value.strip().strip("\"'").strip()
    if not text or len(text) > 64 or not text.isascii():
        return None
    if text.isdigit() and len(text) != 8:
        return _epoch(float(text))
    if text.count(".") == 1 and text.replace(".", "", 1).isdigit():
        return _epoch(float(text))
    text = text.replace("/", "-")
    if text.endswith((" UTC", " GMT")):
        text = text[:-4]
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return _epoch(moment.timestamp())
    except (ValueError, OverflowError, OSError):
        return None


def _epoch(seconds: float) -> float | None:
    if seconds > 1e11:
        seconds /= 1000.0  # milliseconds
    if 0.0 <= seconds < 2.0**33:
        return seconds
    return None


# --- collecting results --------------------------------------------------------------


@dataclass(slots=True)
class _Sink:
    """Indicators in first-seen order, one per value, and skip counts."""

    iocs: list[Ioc] = field(default_factory=list)
    where: dict[str, int] = field(default_factory=dict)  # value -> position in iocs
    skipped: dict[str, int] = field(default_factory=dict)
    dates: dict[str, float | None] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def add(
        self,
        kind: IocKind,
        value: str,
        description: str = "",
        first_seen: float | None = None,
        level: ThreatLevel | None = None,
    ) -> None:
        position = self.where.get(value)
        if position is None:
            self.where[value] = len(self.iocs)
            self.iocs.append(Ioc(kind, value, description, first_seen, level))
            return
        self.skip("duplicate")
        old = self.iocs[position]
        merged_description = old.description
        if description and description not in old.description.split("; "):
            joined = f"{old.description}; {description}" if old.description else description
            merged_description = joined[:_MAX_DESCRIPTION]
        dates = [d for d in (old.first_seen, first_seen) if d is not None]
        levels = [lv for lv in (old.threat_level, level) if lv is not None]
        self.iocs[position] = Ioc(
            old.kind,
            old.value,
            merged_description,
            min(dates) if dates else None,
            max(levels, key=lambda lv: lv.weight) if levels else None,
        )

    def date(self, text: str) -> float | None:
        """`parse_first_seen` with a cache: feeds repeat the same dates."""
        try:
            return self.dates[text]
        except KeyError:
            pass
        result = parse_first_seen(text)
        if len(self.dates) < _MAX_DATE_CACHE:
            self.dates[text] = result
        return result

    def result(self, fmt: str) -> ParsedFeed:
        return ParsedFeed(self.iocs, dict(self.skipped), fmt)


# --- column and type names ------------------------------------------------------------


def _column_name(text: str) -> str:
    name = text.strip().lstrip("#").strip().strip("\"'").strip().lower()
    return name.replace(" ", "_").replace("-", "_")


_VALUE_COLUMNS = frozenset(
    {
        "indicator", "ioc", "ip", "ip_address", "ipaddress", "ip_addr", "dst_ip", "ipv4",
        "ipv6", "domain", "domainaddress", "domain_address", "domain_name", "hostname",
        "fqdn", "url", "uri", "atom_value", "value", "ja3", "ja3_md5", "ja3_hash", "ja3s",
        "jarm", "jarm_hash", "md5", "sha1", "sha256", "hash", "ip/domain/ip_range/asn",
        "ip/domain", "cidr", "network", "asn",
    }
)  # fmt: skip
_TYPE_COLUMNS = frozenset({"type", "atom_type", "indicator_type", "ioc_type"})
_LEVEL_COLUMNS = frozenset({"threat_level", "threatlevel", "level", "severity"})
_DESCRIPTION_COLUMNS = frozenset(
    {
        "description", "desc", "listingreason", "listing_reason", "malware",
        "malware_family", "family", "app", "reason", "comment", "comments", "threat",
    }
)  # fmt: skip
_DATE_COLUMNS = frozenset(
    {
        "first_seen", "first_seen_utc", "firstseen", "fseen", "listingdate", "listing_date",
        "dateadded", "date_added", "date", "added", "created", "created_at", "insertdate",
        "insert_date",
    }
)  # fmt: skip
_KNOWN_COLUMNS = _VALUE_COLUMNS | _TYPE_COLUMNS | _LEVEL_COLUMNS | _DESCRIPTION_COLUMNS
_KNOWN_COLUMNS |= _DATE_COLUMNS

_NETWORK = frozenset({IocKind.IP, IocKind.CIDR, IocKind.DOMAIN, IocKind.URL})
_ADDRESSES = frozenset({IocKind.IP, IocKind.CIDR})
_HASHES = frozenset({IocKind.MD5, IocKind.SHA1, IocKind.SHA256, IocKind.JA3})


def _type_table() -> dict[str, tuple[frozenset[IocKind], str | None]]:
    """Type-column values -> (kinds the value may have, classification hint)."""
    table: dict[str, tuple[frozenset[IocKind], str | None]] = {}
    groups: list[tuple[str, frozenset[IocKind], str | None]] = [
        (
            "ip ipv4 ipv6 ip_address ipaddress ip_addr ip_dst ip_src addr address intel::addr",
            _ADDRESSES,
            None,
        ),
        ("cidr subnet network netblock ip_range range intel::subnet", _ADDRESSES, None),
        (
            "domain hostname host fqdn domain_name intel::domain",
            frozenset({IocKind.DOMAIN, IocKind.IP, IocKind.URL}),
            None,
        ),
        ("url uri link", _NETWORK, None),
        ("intel::url", frozenset({IocKind.URL}), None),
        ("md5 sha1 sha256 hash file filehash file_hash intel::file_hash", _HASHES, "ti"),
        ("cert cert_hash certificate x509 intel::cert_hash", _HASHES, "ssl"),
        ("ja3 ja3s ja3_md5 intel::ja3 intel::ja3s", frozenset({IocKind.JA3}), "ja3"),
        ("jarm intel::jarm", frozenset({IocKind.JARM}), "jarm"),
        ("asn as", frozenset({IocKind.ASN}), None),
    ]
    for names, kinds, hint in groups:
        for name in names.split():
            table[name] = (kinds, hint)
    return table


_TYPES = _type_table()


def _column_hint(name: str, hint: str) -> str:
    if "ja3" in name:
        return "ja3"
    if "jarm" in name:
        return "jarm"
    if name == "md5":
        return "ti"
    return hint


# --- sniffing -------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\ufffd]")
_COMMENT_START = ("#", ";", "//", "!")


def _is_binary(text: str) -> bool:
    sample = text[:4096]
    if "\x00" in sample:
        return True
    bad = len(_CONTROL.findall(sample))
    return bad >= 8 and bad * 10 > len(sample)  # a stray byte or two is not a binary file


def _is_markup(head: str) -> bool:
    if head.startswith("<"):
        return True
    low = head[:2048].lower()
    return "<html" in low or "<!doctype html" in low


def _code_part(line: str) -> str:
    """The line before an inline comment (a '#' or ';' after whitespace)."""
    for i, char in enumerate(line):
        if char in "#;" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _sniff(lines: list[str]) -> str:
    data = 0
    commas = 0
    for line in lines[: _SNIFF_LINES * 4]:
        s = line.strip()
        if not s:
            continue
        if s.startswith("#fields") or "\tIntel::" in s:
            return "zeek-intel"
        if s.startswith(_COMMENT_START) or len(s) > MAX_LINE:
            continue
        data += 1
        if "," in _code_part(s):
            commas += 1
        if data >= _SNIFF_LINES:
            break
    return "csv" if data and commas * 2 > data else "plain"


# --- plain lists ----------------------------------------------------------------------

_SINKHOLES = frozenset(
    {
        "0.0.0.0",  # noqa: S104 -- a hosts-file sinkhole address, not a bind
        "127.0.0.1", "127.0.1.1", "255.255.255.255", "::", "::1", "::0",
        "0:0:0:0:0:0:0:0", "0:0:0:0:0:0:0:1", "fe80::1%lo0", "ff00::0", "ff02::1", "ff02::2",
        "ff02::3",
    }
)  # fmt: skip
_LOCAL_NAMES = frozenset(
    {
        "localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost",
        "ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters",
        "ip6-allhosts", "localhost4", "localhost6",
        "0.0.0.0",  # noqa: S104 -- "0.0.0.0 0.0.0.0" lines in hosts files
    }
)  # fmt: skip


def _inline_comment(rest: str) -> str:
    """The text of an inline comment in what follows a value, or ""."""
    if "#" not in rest and ";" not in rest:
        return ""  # the common case: a count column (ipsum) or nothing
    for i, char in enumerate(rest):
        if char in "#;" and (i == 0 or rest[i - 1] in " \t"):
            return _clean_description(rest[i + 1 :])
    return ""


def _add_host_name(name: str, description: str, hint: str, sink: _Sink) -> None:
    """One of several names on a hosts-file line (rare; the hot path takes one)."""
    if name.lower() in _LOCAL_NAMES:
        sink.skip("local_name")
        return
    resolved = _resolve(name, hint)
    if resolved is None:
        sink.skip("bad_value")
    else:
        sink.add(resolved[0], resolved[1], description)


def _parse_plain(lines: Iterable[str], hint: str, sink: _Sink) -> str:
    hosts = 0
    data = 0
    header_text: list[str] = []
    where = sink.where
    iocs = sink.iocs
    ipv4 = _IPV4.fullmatch
    host_name = _HOST.fullmatch
    ip_kind = IocKind.IP
    domain_kind = IocKind.DOMAIN
    for line in lines:
        s = line.strip()
        if not s:
            continue
        if s[0] in "#;!" or s.startswith("//"):
            if data == 0 and len(header_text) < 50:
                header_text.append(s.lower())
            continue
        data += 1
        if len(s) > MAX_LINE:
            sink.skip("too_long")
            continue
        parts = s.split(None, 1)
        token = parts[0]
        description = ""
        if len(parts) == 2:
            rest = parts[1]
            if token in _SINKHOLES and rest[0] not in "#;":
                hosts += 1
                more = rest.split(None, 1)
                token = more[0]
                rest = more[1] if len(more) == 2 else ""
                description = _inline_comment(rest) if rest else ""
                if rest and rest[0] not in "#;":  # "0.0.0.0 a.example b.example"
                    for name in (token, *_code_part(rest).split()):
                        _add_host_name(name, description, hint, sink)
                    continue
                if token.lower() in _LOCAL_NAMES:
                    sink.skip("local_name")
                    continue
            elif rest:
                description = _inline_comment(rest)
        # "1.2.3.4;" or "1.2.3.4#note" (URLs keep their fragments and parameters)
        if ("#" in token or ";" in token or "," in token) and "://" not in token:
            token = token.replace(";", "#").replace(",", "#").split("#", 1)[0]
            if not token:
                sink.skip("bad_value")
                continue
        # The hot paths, inlined: a canonical dotted quad, an ASCII host name.
        if token[-1].isdigit():
            if ipv4(token):
                kind, value = ip_kind, token
            else:
                resolved = _resolve_slow(token, hint)
                if resolved is None:
                    sink.skip("bad_value")
                    continue
                kind, value = resolved
        else:
            value = token.lower()
            if value[-1] == ".":
                value = value.rstrip(".")
            if value and host_name(value) and _label_lengths_ok(value):
                kind = domain_kind
            else:
                resolved = _resolve(token, hint)
                if resolved is None:
                    sink.skip("bad_value")
                    continue
                kind, value = resolved
        if description or value in where:
            sink.add(kind, value, description)
        else:
            where[value] = len(iocs)
            iocs.append(Ioc(kind, value))
    if data and hosts * 2 > data:
        return "hosts"
    if any("ipset" in t or "firehol" in t or "netset" in t for t in header_text):
        return "netset"
    return "plain"


# --- CSV ------------------------------------------------------------------------------


def _split_csv(line: str) -> list[str]:
    if '"' not in line:
        return [f.strip() for f in line.split(",")]
    try:
        row = next(csv.reader((line,), skipinitialspace=True))
    except (csv.Error, StopIteration):
        return [f.strip() for f in line.split(",")]
    return [f.strip() for f in row]


@dataclass(slots=True)
class _Columns:
    value: int | None = None
    value_hint: str | None = None
    kind: int | None = None
    level: int | None = None
    description: int | None = None
    date: int | None = None
    roles: frozenset[int] = frozenset()  # columns with a known non-value role


def _header(fields: list[str]) -> _Columns | None:
    """Column roles if `fields` are column names (at least one known), else None."""
    names = [_column_name(f) for f in fields]
    if not any(name in _KNOWN_COLUMNS for name in names):
        return None
    columns = _Columns()
    roles: set[int] = set()
    for i, name in enumerate(names):
        if name in _VALUE_COLUMNS and columns.value is None:
            columns.value = i
            columns.value_hint = name
        elif name in _TYPE_COLUMNS and columns.kind is None:
            columns.kind = i
        elif name in _LEVEL_COLUMNS and columns.level is None:
            columns.level = i
        elif name in _DESCRIPTION_COLUMNS and columns.description is None:
            columns.description = i
        elif name in _DATE_COLUMNS and columns.date is None:
            columns.date = i
        else:
            continue
        roles.add(i)
    columns.roles = frozenset(roles)
    return columns


def _is_header_row(fields: list[str], hint: str) -> bool:
    if not any(_column_name(f) in _KNOWN_COLUMNS for f in fields):
        return False
    return not any(f and _resolve(f.strip("\"'"), hint) for f in fields)


def _csv_row(fields: list[str], columns: _Columns | None, hint: str, sink: _Sink) -> None:
    if columns is not None and columns.value is not None:
        value = _get(fields, columns.value).strip("\"'")
        if not value:
            sink.skip("no_indicator")
            return
        value_hint = _column_hint(columns.value_hint or "", hint)
        kinds: frozenset[IocKind] | None = None
        type_name = _column_name(_get(fields, columns.kind))
        if type_name:
            entry = _TYPES.get(type_name)
            if entry is None:
                sink.skip("unsupported_type")
                return
            kinds, type_hint = entry
            value_hint = type_hint or value_hint
        resolved = _resolve(value, value_hint)
        if resolved is None:
            sink.skip("bad_value")
            return
        if kinds is not None and resolved[0] not in kinds:
            sink.skip("type_mismatch")
            return
        date = _get(fields, columns.date)
        sink.add(
            resolved[0],
            resolved[1],
            _clean_description(_get(fields, columns.description)),
            sink.date(date) if date else None,
            _level(_get(fields, columns.level)),
        )
        return
    _csv_row_guess(fields, columns, hint, sink)


def _get(fields: list[str], index: int | None) -> str:
    if index is None or index >= len(fields):
        return ""
    return fields[index]


def _csv_row_guess(fields: list[str], columns: _Columns | None, hint: str, sink: _Sink) -> None:
    """No value column: the first field that is an indicator; the others by look."""
    roles = columns.roles if columns is not None else frozenset()
    found: tuple[IocKind, str] | None = None
    at = -1
    for i, text in enumerate(fields):
        if text and i not in roles:
            found = _resolve(text, hint)
            if found is not None:
                at = i
                break
    if found is None:
        sink.skip("no_indicator")
        return
    level: ThreatLevel | None = None
    first_seen: float | None = None
    description = ""
    if columns is not None:
        description = _clean_description(_get(fields, columns.description))
        date = _get(fields, columns.date)
        first_seen = sink.date(date) if date else None
        level = _level(_get(fields, columns.level))
    for i, text in enumerate(fields):
        if i == at or i in roles or not text:
            continue
        if level is None and _level(text) is not None:
            level = _level(text)
        elif first_seen is None and any(c in text for c in "-/:") and sink.date(text):
            first_seen = sink.date(text)
        elif not description and not text.replace(".", "", 1).isdigit():
            description = _clean_description(text)
    sink.add(found[0], found[1], description, first_seen, level)


def _parse_csv(lines: Iterable[str], hint: str, sink: _Sink) -> None:
    columns: _Columns | None = None
    started = False  # a data row was seen: headers are no longer looked for
    for line in lines:
        s = line.strip()
        if not s:
            continue
        if len(s) > MAX_LINE:
            sink.skip("too_long")
            continue
        if s[0] in "#;" or s.startswith("//"):
            if not started and "," in s:
                candidate = _split_csv(s.lstrip("#;/ \t"))
                if len(candidate) >= 2 and _is_header_row(candidate, hint):
                    columns = _header(candidate) or columns
            continue
        fields = _split_csv(s)
        if not started:
            started = True
            if _is_header_row(fields, hint):
                columns = _header(fields)
                sink.skip("header")
                continue
        _csv_row(fields, columns, hint, sink)


# --- Zeek intel -----------------------------------------------------------------------

_ZEEK_EMPTY = frozenset({"", "-", "(empty)"})


def _zeek_separator(text: str) -> str:
    value = text.strip()
    if value.startswith("\\x") and len(value) == 4:
        try:
            return chr(int(value[2:], 16))
        except ValueError:
            return "\t"
    return value or "\t"


def _parse_zeek(lines: Iterable[str], hint: str, sink: _Sink) -> None:
    separator = "\t"
    names = ["indicator", "indicator_type", "meta.source"]
    split_blank = False
    for line in lines:
        s = line.rstrip("\r\n")
        if not s.strip():
            continue
        if s.startswith("#"):
            if s.startswith("#separator"):
                separator = _zeek_separator(s[len("#separator") :])
            elif s.startswith("#fields"):
                split_blank = separator not in s
                names = (s.split() if split_blank else s.split(separator))[1:]
                names = [n.strip().lower() for n in names]
            continue
        if len(s) > MAX_LINE:
            sink.skip("too_long")
            continue
        fields = s.split(None, len(names) - 1) if split_blank else s.split(separator)
        row = {name: fields[i].strip() for i, name in enumerate(names) if i < len(fields)}
        value = row.get("indicator", "")
        if value in _ZEEK_EMPTY:
            sink.skip("no_indicator")
            continue
        type_name = row.get("indicator_type", "").lower()
        kinds: frozenset[IocKind] | None = None
        value_hint = hint
        if type_name not in _ZEEK_EMPTY:
            entry = _TYPES.get(type_name)
            if entry is None:
                sink.skip("unsupported_type")
                continue
            kinds, type_hint = entry
            value_hint = type_hint or hint
            if type_name == "intel::url" and "://" not in value:
                value = "http://" + value
        resolved = _resolve(value, value_hint)
        if resolved is None:
            sink.skip("bad_value")
            continue
        if kinds is not None and resolved[0] not in kinds:
            sink.skip("type_mismatch")
            continue
        description = row.get("meta.desc", "")
        date = row.get("meta.first_seen", row.get("meta.firstseen", ""))
        level = row.get("meta.threat_level", row.get("meta.level", ""))
        sink.add(
            resolved[0],
            resolved[1],
            "" if description in _ZEEK_EMPTY else _clean_description(description),
            None if date in _ZEEK_EMPTY else sink.date(date),
            None if level in _ZEEK_EMPTY else _level(level),
        )


# --- JSON -----------------------------------------------------------------------------


def _json_key(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "").replace(" ", "")


_JSON_VALUE_KEYS = frozenset(
    {
        "ip", "ipv4", "ipv6", "ipaddress", "ipaddr", "dstip", "domain", "domainaddress",
        "domainname", "hostname", "fqdn", "url", "uri", "indicator", "ioc", "value",
        "atomvalue", "md5", "sha1", "sha256", "ja3", "ja3md5", "ja3hash", "jarm", "jarmhash",
    }
)  # fmt: skip
_JSON_LIST_KEYS = frozenset(
    {"ips", "domains", "urls", "hashes", "indicators", "iocs", "values", "md5s", "sha1s"}
)
_JSON_SUBKEYS = ("v4", "v6", "value", "address", "ip", "addr")
_JSON_DESCRIPTION_KEYS = (
    "description", "desc", "threat", "malware", "family", "listingreason", "reason", "comment",
)  # fmt: skip
_JSON_DATE_KEYS = (
    "firstseen", "firstseenutc", "fseen", "insertdate", "dateadded", "listingdate",
    "created", "createdat", "date", "added",
)  # fmt: skip
_JSON_DELETED_KEYS = ("deletedate", "deleted", "deletedat", "removed", "removedate", "removedat")
_JSON_TYPE_KEYS = ("type", "atomtype", "indicatortype", "ioctype")


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(v for v in value if isinstance(v, str) and v)
    return ""


def _json_record(record: dict[str, Any], hint: str, sink: _Sink) -> bool:
    """Handle `record` if it is an indicator record (True), else False."""
    keys = {_json_key(k): v for k, v in record.items() if isinstance(k, str)}
    candidates: list[tuple[str, str]] = []  # (text, key hint)
    is_record = False
    for key, value in keys.items():
        if key in _JSON_VALUE_KEYS:
            is_record = True
            key_hint = _column_hint(key, hint)
            if isinstance(value, str):
                candidates.append((value, key_hint))
            elif isinstance(value, dict):
                for sub in _JSON_SUBKEYS:
                    inner = value.get(sub)
                    if isinstance(inner, str):
                        candidates.append((inner, key_hint))
            elif isinstance(value, list):
                candidates.extend((v, key_hint) for v in value if isinstance(v, str))
        elif key in _JSON_LIST_KEYS and isinstance(value, list):
            is_record = True
            candidates.extend((v, hint) for v in value if isinstance(v, str))
    if not is_record:
        return False
    if any(keys.get(k) not in (None, False, "", 0) for k in _JSON_DELETED_KEYS):
        sink.skip("deleted")
        return True
    kinds: frozenset[IocKind] | None = None
    type_hint: str | None = None
    for k in _JSON_TYPE_KEYS:
        type_name = keys.get(k)
        if isinstance(type_name, str) and type_name.strip():
            entry = _TYPES.get(_column_name(type_name))
            if entry is None:
                sink.skip("unsupported_type")
                return True
            kinds, type_hint = entry
            break
    description = ""
    for k in _JSON_DESCRIPTION_KEYS:
        description = _clean_description(_json_text(keys.get(k)))
        if description:
            break
    first_seen: float | None = None
    for k in _JSON_DATE_KEYS:
        if keys.get(k) is not None:
            first_seen = parse_first_seen(keys[k])
            break
    raw_level = keys.get("threatlevel", keys.get("level"))
    level = _level(raw_level) if isinstance(raw_level, str) else None
    if not candidates:
        sink.skip("no_indicator")
        return True
    for text, key_hint in candidates:
        value = text.strip()
        if not value:
            sink.skip("no_indicator")
            continue
        if len(value) > MAX_LINE:
            sink.skip("too_long")
            continue
        resolved = _resolve(value, type_hint or key_hint)
        if resolved is None:
            sink.skip("bad_value")
        elif kinds is not None and resolved[0] not in kinds:
            sink.skip("type_mismatch")
        else:
            sink.add(resolved[0], resolved[1], description, first_seen, level)
    return True


def _walk_json(document: Any, hint: str, sink: _Sink) -> None:
    """Records anywhere in `document` (a record's own values are read by
    `_json_record`, not walked into); bare strings only from arrays that are, or
    are nested in arrays that are, the document itself."""
    stack: list[tuple[Any, bool]] = [(document, True)]
    while stack:
        node, strings_ok = stack.pop()
        if isinstance(node, dict):
            if _json_record(node, hint, sink):
                continue
            for value in reversed(list(node.values())):
                if isinstance(value, dict | list):
                    stack.append((value, False))
        elif isinstance(node, list):
            stack.extend((item, strings_ok) for item in reversed(node))
        elif strings_ok:
            value = node.strip() if isinstance(node, str) else ""
            resolved = _resolve(value, hint) if len(value) <= MAX_LINE else None
            if resolved is not None:
                sink.add(resolved[0], resolved[1])
            else:
                sink.skip("bad_value" if value else "no_indicator")


def _salvage_array(text: str, start: int) -> Iterator[Any]:
    """The complete elements of a JSON array cut short (or broken) somewhere."""
    decoder = json.JSONDecoder()
    position = start + 1
    length = len(text)
    while True:
        while position < length and text[position] in " \t\r\n,":
            position += 1
        if position >= length or text[position] == "]":
            return
        try:
            item, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            return
        yield item


def _parse_json(text: str, hint: str, sink: _Sink) -> str:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    else:
        _walk_json(document, hint, sink)
        return "json"
    lines = text.splitlines()
    if text.lstrip()[0] == "{" and len(lines) > 1:
        good = 0
        for line in lines:
            s = line.strip()
            if not s:
                continue
            if len(s) > 16 * MAX_LINE:
                sink.skip("too_long")
                continue
            try:
                record = orjson.loads(s)
            except orjson.JSONDecodeError:
                sink.skip("bad_json")
                continue
            good += 1
            _walk_json(record, hint, sink)
        if good:
            return "jsonl"
    start = text.find("[")
    if start >= 0:
        salvaged = 0
        for item in _salvage_array(text, start):
            salvaged += 1
            _walk_json([item], hint, sink)
        if salvaged:
            sink.skip("truncated")
            return "json"
    if "bad_json" not in sink.skipped:
        sink.skip("bad_json")
    return "json"


# --- entry point ----------------------------------------------------------------------


def parse_feed(data: bytes | str, hint: str = "ti") -> ParsedFeed:
    """The indicators in one feed's content, its skipped lines and its format.

    `hint` is the feed list's kind ("ti", "ja3", "ssl" or "jarm"): it decides
    what a bare 32-, 40- or 62-hex-digit string is (see `classify`); column
    names and Zeek types override it per value. Never raises on content."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    with _GC_PAUSE.paused():
        return _parse_text(text.removeprefix("\ufeff"), hint.lower())


class _GcPause:
    """Pause the cyclic garbage collector while feeds are parsed.

    A feed builds up to millions of long-lived `Ioc` objects, and each burst of
    allocations makes the collector traverse them all again: about a quarter of
    the parse time of a 1M-line list. Parsing creates no reference cycles, so
    nothing is lost by collecting later. Parses may run in several threads at
    once (the updater uses worker threads): a lock and a depth count make the
    first parse in switch the collector off and the last one out restore the
    state found by the first, so overlapping parses can never leave it off."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._restore = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._restore = gc.isenabled()
                gc.disable()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._restore:
                    gc.enable()


_GC_PAUSE = _GcPause()


def _parse_text(text: str, hint: str) -> ParsedFeed:
    sink = _Sink()
    head = text[:8192].lstrip()
    if not head:
        return sink.result("empty")
    if _is_binary(text):
        sink.skip("binary", max(1, text.count("\n")))
        return sink.result("binary")
    if _is_markup(head):
        sink.skip("html", max(1, text.count("\n")))
        return sink.result("html")
    if head[0] in "[{":
        return sink.result(_parse_json(text, hint, sink))
    lines = text.splitlines()
    fmt = _sniff(lines)
    if fmt == "zeek-intel":
        _parse_zeek(lines, hint, sink)
    elif fmt == "csv":
        _parse_csv(lines, hint, sink)
    else:
        fmt = _parse_plain(lines, hint, sink)
    return sink.result(fmt)
