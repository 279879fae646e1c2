"""The allowlist: IPs, networks, domains, MACs and organisations never to alert on.

Theory of operation
-------------------
The format is Slips' ``whitelist.conf``: CSV lines ``type,value,direction,
ignore`` where type is ip | domain | organization | mac, direction is
src | dst | both and ignore is alerts | flows | both. ``;`` starts a user
comment, ``#`` a commented-out entry. As in Slips, when a value is listed
twice the later line wins. `parse_allowlist` is pure and total: a bad line
becomes a warning (line number + reason), never an exception.

Semantics. An entry with direction ``src`` matches a value only when it is the
flow's source or the evidence's attacker; ``dst`` only as the flow's
destination or the evidence's victim; ``both`` either way. Ignore type
``alerts`` suppresses evidence (`Allowlist.evidence_reason`), ``flows`` drops
flows before detection (`Allowlist.flow_reason`), ``both`` does both. An
``organization`` entry stands for that organisation's IP ranges and domains
(`OrgInfo`, parsed from Slips' ``organizations_info`` files by the caller).
A domain matches itself and every subdomain on a label boundary
(``mail.google.com`` is covered by ``google.com``; ``evilgoogle.com`` is not).
An evidence about an IP also matches domain entries through the domains that
IP was seen resolving from (the ``domains_of`` callback, fed from DNS answers).
IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``) are treated as the IPv4
address everywhere; an IPv6 zone (``%eth0``) is ignored.

Cost. `flow_reason` runs on every flow (>50k/s), so all tables are built once
per (direction, scope) in the constructor, and a side whose table is empty is
skipped without even parsing the address (the bundled allowlist has no
``flows`` entries: ~60 ns a flow). Otherwise a no-match lookup of one IP is a
per-instance LRU "probe" — parse to (version, int, canonical text) plus one
bisect in the union of every range of that family (user CIDRs and
organisation ranges), cached — and one dict lookup for exact IPs. Only an IP
inside that union walks the specific ranges (user CIDRs by prefix length,
then each organisation) to name the reason.

`CidrIndex` is the range structure: CIDRs become integer intervals per
family, sorted and merged, so membership is one `bisect` (O(log n)); the 13k
Apple ranges build in tens of milliseconds.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, Literal, TypeAlias, cast, get_args

from detection.model import Evidence

__all__ = [
    "AllowEntry",
    "Allowlist",
    "CidrIndex",
    "Direction",
    "IgnoreType",
    "IocType",
    "OrgInfo",
    "Scope",
    "Side",
    "parse_allowlist",
    "parse_ip",
    "parse_org",
]

IocType: TypeAlias = Literal["ip", "domain", "organization", "mac"]
Direction: TypeAlias = Literal["src", "dst", "both"]
IgnoreType: TypeAlias = Literal["alerts", "flows", "both"]
Side: TypeAlias = Literal["src", "dst"]
Scope: TypeAlias = Literal["alerts", "flows"]

_IOC_TYPES: Final = frozenset(get_args(IocType))
_DIRECTIONS: Final = frozenset(get_args(Direction))
_IGNORE_TYPES: Final = frozenset(get_args(IgnoreType))
_TYPE_ALIASES: Final = {"organisation": "organization"}

_IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED_V6: Final = ipaddress.IPv6Network("::ffff:0:0/96")
_BITS: Final = {4: 32, 6: 128}
_MAX_WARNING_LINE = 80

# Looser than RFC 1123 (which forbids a leading or trailing '-'): such names occur
# in real DNS and in Slips' own organisation lists ("-574.prod.oculus.com").
_DOMAIN_LABEL: Final = re.compile(r"[a-z0-9_-]{1,63}")
_ORG_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]*")
_ASN: Final = re.compile(r"(?:AS)?([0-9]{1,10})", re.IGNORECASE)
_MAC_SEP: Final = re.compile(r"[0-9a-f]{1,2}(?:[:-][0-9a-f]{1,2}){5}")
_MAC_DOTS: Final = re.compile(r"[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}")
_MAC_BARE: Final = re.compile(r"[0-9a-f]{12}")


# -- value normalisation ------------------------------------------------------------


def _normalise_network(net: _IPNetwork) -> _IPNetwork:
    """IPv4-mapped IPv6 networks become the IPv4 network they map."""
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and net.subnet_of(_MAPPED_V6):
        mapped = net.network_address.ipv4_mapped
        if mapped is not None:  # always, inside ::ffff:0:0/96
            return ipaddress.IPv4Network((int(mapped), net.prefixlen - 96))
    return net


def _parse_network(text: str) -> tuple[_IPNetwork, bool]:
    """An IP or CIDR string → (network, host bits were set). Raises ValueError."""
    text = text.strip()
    address, slash, _prefix = text.partition("/")
    pct = address.find("%")
    if pct >= 0:  # IPv6 zone: meaningless for matching
        text = address[:pct] + slash + _prefix
    net = ipaddress.ip_network(text, strict=False)
    host_bits = bool(slash) and int(ipaddress.ip_address(text.partition("/")[0])) != int(
        net.network_address
    )
    return _normalise_network(net), host_bits


def _normalise_ip_value(text: str) -> tuple[str, str | None]:
    """An allowlist ``ip`` value → (canonical IP or CIDR, optional note)."""
    try:
        net, host_bits = _parse_network(text)
    except ValueError:
        raise ValueError(f"not an IP address or CIDR: {text.strip()!r}") from None
    value = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
    note = f"host bits set in {text.strip()!r}, using {value}" if host_bits else None
    return value, note


def _normalise_domain(text: str) -> str:
    """Lower case, no trailing dot, no leading ``*.``; IDNs to punycode. Raises ValueError."""
    domain = text.strip().lower().rstrip(".")
    if domain.startswith("*."):
        domain = domain[2:]
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"not a valid domain name: {text.strip()!r}") from None
    if not domain or len(domain) > 253:
        raise ValueError(f"not a valid domain name: {text.strip()!r}")
    for label in domain.split("."):
        if not _DOMAIN_LABEL.fullmatch(label):
            raise ValueError(f"not a valid domain name: {text.strip()!r}")
    if _parse_ip(domain) is not None:
        raise ValueError(f"{text.strip()!r} is an IP address; use type ip")
    return domain


@lru_cache(maxsize=1024)
def _normalise_mac(text: str) -> str | None:
    """Any common MAC spelling → ``aa:bb:cc:dd:ee:ff``; None if it is not one."""
    mac = text.strip().lower()
    if _MAC_SEP.fullmatch(mac):
        return ":".join(part.zfill(2) for part in re.split("[:-]", mac))
    if _MAC_DOTS.fullmatch(mac):
        mac = mac.replace(".", "")
    elif not _MAC_BARE.fullmatch(mac):
        return None
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2))


def _normalise_value(ioc_type: str, text: str) -> tuple[str, str | None]:
    if ioc_type == "ip":
        return _normalise_ip_value(text)
    if ioc_type == "domain":
        return _normalise_domain(text), None
    if ioc_type == "mac":
        mac = _normalise_mac(text)
        if mac is None:
            raise ValueError(f"not a MAC address: {text.strip()!r}")
        return mac, None
    name = text.strip().lower()
    if not _ORG_NAME.fullmatch(name):
        raise ValueError(f"not an organisation name (letters, digits, - and _): {name!r}")
    return name, None


def _parse_ip_uncached(ip: str) -> tuple[int, int, str] | None:
    """An IP string → (version, integer value, canonical text); None if invalid."""
    text = ip.strip()
    if ":" not in text:
        value = _fast_v4(text)
        if value is not None:  # strict dotted quad: already canonical
            return 4, value, text
    pct = text.find("%")
    if pct >= 0:
        text = text[:pct]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped
        if mapped is not None:
            return 4, int(mapped), str(mapped)
    return addr.version, int(addr), str(addr)


# Cached: the same few thousand addresses recur in every flow, and
# `ipaddress.ip_address` costs about a microsecond.
_parse_ip = lru_cache(maxsize=4096)(_parse_ip_uncached)
parse_ip = _parse_ip_uncached  # public, uncached: for callers that memoise themselves


# -- entries ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """One allowlist line; `value` is normalised (and validated) on construction."""

    ioc_type: IocType
    value: str
    direction: Direction = "both"
    ignore: IgnoreType = "alerts"
    line: int = field(default=0, compare=False)  # source line, 0 when built in code

    def __post_init__(self) -> None:
        if self.ioc_type not in _IOC_TYPES:
            raise ValueError(f"unknown IoC type {self.ioc_type!r}")
        if self.direction not in _DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r} (src, dst or both)")
        if self.ignore not in _IGNORE_TYPES:
            raise ValueError(f"unknown ignore type {self.ignore!r} (alerts, flows or both)")
        value, _note = _normalise_value(self.ioc_type, self.value)
        object.__setattr__(self, "value", value)

    @property
    def sides(self) -> tuple[Side, ...]:
        return ("src", "dst") if self.direction == "both" else (self.direction,)

    @property
    def scopes(self) -> tuple[Scope, ...]:
        return ("alerts", "flows") if self.ignore == "both" else (self.ignore,)


def _shorten(line: str) -> str:
    return line if len(line) <= _MAX_WARNING_LINE else line[: _MAX_WARNING_LINE - 1] + "…"


def _split_csv(line: str) -> list[str]:
    """One CSV line → stripped fields without quotes. Raises csv.Error."""
    fields = next(csv.reader([line], skipinitialspace=True), [])
    fields = [f.strip().strip('"').strip() for f in fields]
    while fields and not fields[-1]:  # tolerate trailing commas
        fields.pop()
    return fields


def parse_allowlist(text: str) -> tuple[list[AllowEntry], list[str]]:
    """Slips ``whitelist.conf`` text → (entries in file order, warnings).

    Never raises on content: every unusable line yields one warning
    ``"line N: reason: 'the line'"`` and is skipped. Duplicated values are
    all returned (`Allowlist` keeps the last, as Slips does) and warned about.
    """
    entries: list[AllowEntry] = []
    warnings: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if number == 1:
            line = line.lstrip("\ufeff").strip()
        if not line or line[0] in ";#":
            continue
        try:
            fields = _split_csv(line)
        except csv.Error as exc:
            warnings.append(f"line {number}: unreadable CSV ({exc}): {_shorten(line)!r}")
            continue
        if fields and fields[0].lower() == "ioctype":
            continue  # the column header
        if len(fields) != 4:
            warnings.append(
                f"line {number}: expected 4 fields (type,value,direction,ignore), "
                f"got {len(fields)}: {_shorten(line)!r}"
            )
            continue
        ioc_type = fields[0].lower()
        ioc_type = _TYPE_ALIASES.get(ioc_type, ioc_type)
        direction, ignore = fields[2].lower(), fields[3].lower()
        try:
            # AllowEntry validates the three keywords; the casts only inform mypy.
            entry = AllowEntry(
                cast(IocType, ioc_type),
                fields[1],
                cast(Direction, direction),
                cast(IgnoreType, ignore),
                number,
            )
            _value, note = _normalise_value(ioc_type, fields[1])
        except ValueError as exc:
            warnings.append(f"line {number}: {exc}: {_shorten(line)!r}")
            continue
        if note is not None:
            warnings.append(f"line {number}: {note}")
        key = (entry.ioc_type, entry.value)
        if key in seen:
            warnings.append(
                f"line {number}: {entry.ioc_type} {entry.value} is also on line {seen[key]}; "
                "the later line wins"
            )
        seen[key] = number
        entries.append(entry)
    return entries, warnings


# -- ranges -------------------------------------------------------------------------------


def _fast_v4(address: str) -> int | None:
    """Dotted-quad → int for the plain case, None when unsure (ipaddress decides then)."""
    parts = address.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if (
            not (part.isascii() and part.isdigit())
            or len(part) > 3
            or (len(part) > 1 and part[0] == "0")
        ):
            return None
        octet = int(part)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value


def _interval(item: str | _IPNetwork) -> tuple[int, int, int]:
    """An IP, CIDR or network → (version, first, last address as ints). Raises ValueError.

    `ipaddress.ip_network` costs ~15 µs a CIDR, too much for ~25k organisation
    ranges; plain IPv4 CIDRs take a hand-rolled path and plain IPv6 ones only
    an `IPv6Address` parse. Anything unusual (netmask syntax, zones,
    IPv4-mapped, invalid) falls back to `ipaddress`, which has the final word
    on what is valid; the tests check both paths agree.
    """
    if isinstance(item, str):
        address, slash, prefix = item.strip().partition("/")
        if not slash or (prefix.isascii() and prefix.isdigit()):
            plen = int(prefix) if slash else -1
            if ":" not in address:
                value = _fast_v4(address)
                if value is not None and plen <= 32:
                    host = (1 << (32 - (32 if plen < 0 else plen))) - 1
                    return 4, value & ~host, value | host
            elif "%" not in address and plen <= 128:
                try:
                    value = int(ipaddress.IPv6Address(address))
                except ValueError:
                    value = None
                plen = 128 if plen < 0 else plen
                if value is not None and not (plen >= 96 and value >> 32 == 0xFFFF):
                    host = (1 << (128 - plen)) - 1
                    return 6, value & ~host, value | host
        net = _parse_network(item)[0]
    else:
        net = _normalise_network(item)
    start = int(net.network_address)
    return net.version, start, start + net.num_addresses - 1


def _merge(intervals: Iterable[tuple[int, int]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sorted, merged (overlapping or adjacent) intervals as parallel start/end tuples."""
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(intervals):
        if ends and start <= ends[-1] + 1:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return tuple(starts), tuple(ends)


class CidrIndex:
    """Membership of an IP in a union of CIDRs, in O(log n).

    Each family is a sorted tuple of disjoint integer intervals (overlapping
    and adjacent CIDRs merged); a lookup is one `bisect_right`. Immutable;
    equal when the covered address sets are equal.
    """

    __slots__ = ("_v4_ends", "_v4_starts", "_v6_ends", "_v6_starts")

    def __init__(self, networks: Iterable[str | _IPNetwork] = ()) -> None:
        """Raises ValueError for a string that is not an IP or CIDR (host bits allowed)."""
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for item in networks:
            version, start, end = _interval(item)
            (v4 if version == 4 else v6).append((start, end))
        self._v4_starts, self._v4_ends = _merge(v4)
        self._v6_starts, self._v6_ends = _merge(v6)

    @classmethod
    def _from_intervals(
        cls, v4: Iterable[tuple[int, int]], v6: Iterable[tuple[int, int]]
    ) -> CidrIndex:
        out = cls()
        out._v4_starts, out._v4_ends = _merge(v4)
        out._v6_starts, out._v6_ends = _merge(v6)
        return out

    @classmethod
    def union(cls, indexes: Iterable[CidrIndex]) -> CidrIndex:
        """One index covering every address any of `indexes` covers (no re-parsing)."""
        parts = list(indexes)
        return cls._from_intervals(
            (pair for p in parts for pair in zip(p._v4_starts, p._v4_ends, strict=True)),
            (pair for p in parts for pair in zip(p._v6_starts, p._v6_ends, strict=True)),
        )

    def contains_int(self, version: int, value: int) -> bool:
        if version == 4:
            starts, ends = self._v4_starts, self._v4_ends
        else:
            starts, ends = self._v6_starts, self._v6_ends
        i = bisect_right(starts, value) - 1
        return i >= 0 and value <= ends[i]

    def lookup(self, ip: str) -> bool:
        """Is `ip` covered? An invalid IP string is simply not covered."""
        parsed = _parse_ip(ip)
        return parsed is not None and self.contains_int(parsed[0], parsed[1])

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, str) and self.lookup(ip)

    def __len__(self) -> int:
        """Number of merged intervals (not of input CIDRs)."""
        return len(self._v4_starts) + len(self._v6_starts)

    def __bool__(self) -> bool:
        return bool(self._v4_starts or self._v6_starts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CidrIndex):
            return NotImplemented
        return (
            self._v4_starts == other._v4_starts
            and self._v4_ends == other._v4_ends
            and self._v6_starts == other._v6_starts
            and self._v6_ends == other._v6_ends
        )

    def __hash__(self) -> int:
        return hash((self._v4_starts, self._v4_ends, self._v6_starts, self._v6_ends))

    def __repr__(self) -> str:
        return f"CidrIndex(v4={len(self._v4_starts)}, v6={len(self._v6_starts)} intervals)"


# -- organisations ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrgInfo:
    """What Slips knows about one organisation (``organizations_info/<name>_*``).

    `asns` are normalised ``"AS123"``; `as_names` are the AS-name lines the
    same file carries (``"GOOGLE, US"``), kept for a future ASN matcher.
    """

    name: str
    asns: frozenset[str]
    domains: frozenset[str]
    ranges: CidrIndex
    as_names: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = field(default=(), compare=False)


def _data_lines(text: str) -> Iterable[tuple[int, str]]:
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip().lstrip("\ufeff")
        if line and line[0] not in "#;":
            yield number, line


def parse_org(name: str, asn_text: str, domains_text: str, ranges_text: str) -> OrgInfo:
    """Parse the three organisation files; bad lines are skipped into `warnings`."""
    org = name.strip().lower()
    warnings: list[str] = []
    asns: set[str] = set()
    as_names: set[str] = set()
    for _n, line in _data_lines(asn_text):
        m = _ASN.fullmatch(line)
        if m:
            asns.add(f"AS{int(m.group(1))}")
        else:
            as_names.add(line)
    domains: set[str] = set()
    for n, line in _data_lines(domains_text):
        try:
            domains.add(_normalise_domain(line))
        except ValueError as exc:
            warnings.append(f"{org} domains line {n}: {exc}")
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    for n, line in _data_lines(ranges_text):
        try:
            version, start, end = _interval(line)
        except ValueError:
            warnings.append(f"{org} ip ranges line {n}: not a CIDR: {_shorten(line)!r}")
            continue
        (v4 if version == 4 else v6).append((start, end))
    return OrgInfo(
        name=org,
        asns=frozenset(asns),
        domains=frozenset(domains),
        ranges=CidrIndex._from_intervals(v4, v6),
        as_names=frozenset(as_names),
        warnings=tuple(warnings),
    )


# -- the allowlist ------------------------------------------------------------------------


def _no_domains(ip: str) -> tuple[str, ...]:
    return ()


_Probe: TypeAlias = tuple[int, int, str, bool]


@dataclass(slots=True)
class _Table:
    """Everything that can match for one (side, scope)."""

    ips: dict[str, str] = field(default_factory=dict)  # canonical IP -> reason
    nets: dict[tuple[int, int, int], str] = field(default_factory=dict)  # (ver, net, plen)
    prefixes: dict[int, tuple[int, ...]] = field(default_factory=dict)  # ver -> plens, longest 1st
    org_ranges: list[tuple[CidrIndex, str]] = field(default_factory=list)
    domains: dict[str, str] = field(default_factory=dict)  # domain -> reason
    macs: dict[str, str] = field(default_factory=dict)  # mac -> reason
    # Plain flags, set by `freeze` once filled: properties would cost ~100 ns a flow.
    has_ip: bool = False
    empty: bool = True

    def freeze(self) -> _Table:
        for version in (4, 6):
            plens = {plen for (v, _n, plen) in self.nets if v == version}
            self.prefixes[version] = tuple(sorted(plens, reverse=True))
        self.has_ip = bool(self.ips or self.nets or self.org_ranges)
        self.empty = not (self.has_ip or self.domains or self.macs)
        return self


_KEYS: Final[tuple[tuple[Side, Scope], ...]] = (
    ("src", "alerts"),
    ("src", "flows"),
    ("dst", "alerts"),
    ("dst", "flows"),
)


class Allowlist:
    """Answers "is this flow / evidence allowlisted, and why?" in a few set lookups.

    Built from parsed entries and the `OrgInfo` of organisations (only those
    named by an ``organization`` entry are used; `missing_orgs` lists the
    named ones with no data). Every ``match_*`` returns a short reason whose
    first word is the kind (``allowlist`` or ``organization``), else None.
    """

    def __init__(
        self, entries: Iterable[AllowEntry] = (), orgs: Mapping[str, OrgInfo] | None = None
    ) -> None:
        latest: dict[tuple[str, str], AllowEntry] = {}
        for entry in entries:  # later lines win, as in Slips
            latest.pop((entry.ioc_type, entry.value), None)
            latest[(entry.ioc_type, entry.value)] = entry
        self._entries = tuple(latest.values())
        self._orgs: dict[str, OrgInfo] = {k.lower(): v for k, v in (orgs or {}).items()}
        self._tables: dict[tuple[Side, Scope], _Table] = {key: _Table() for key in _KEYS}
        missing: set[str] = set()
        range_parts: list[CidrIndex] = []
        user_nets: list[_IPNetwork] = []

        org_entries = [e for e in self._entries if e.ioc_type == "organization"]
        for entry in org_entries:
            info = self._orgs.get(entry.value)
            if info is None:
                missing.add(entry.value)
                continue
            range_reason = f"organization {entry.value} (ip range)"
            domain_reason = f"organization {entry.value} (domain)"
            if info.ranges:
                range_parts.append(info.ranges)
            for table in self._tables_for(entry):
                if info.ranges:
                    table.org_ranges.append((info.ranges, range_reason))
                for domain in info.domains:
                    table.domains.setdefault(domain, domain_reason)

        for entry in self._entries:
            reason = f"allowlist {entry.ioc_type} {entry.value} ({entry.direction})"
            if entry.ioc_type == "ip":
                net = _parse_network(entry.value)[0]
                if net.prefixlen == net.max_prefixlen:
                    for table in self._tables_for(entry):
                        table.ips[entry.value] = reason
                else:
                    user_nets.append(net)
                    key = (net.version, int(net.network_address), net.prefixlen)
                    for table in self._tables_for(entry):
                        table.nets[key] = reason
            elif entry.ioc_type == "domain":
                for table in self._tables_for(entry):
                    table.domains[entry.value] = reason  # a user entry beats an org domain
            elif entry.ioc_type == "mac":
                for table in self._tables_for(entry):
                    table.macs[entry.value] = reason

        for table in self._tables.values():
            table.freeze()
        self._ranges = CidrIndex.union([CidrIndex(user_nets), *range_parts])
        self._missing_orgs = frozenset(missing)
        self._empty = all(t.empty for t in self._tables.values())
        # Per-instance cache of IP → (version, int, canonical, inside any range):
        # a repeat no-match lookup is then one cache hit and one dict miss.
        self._probe: Callable[[str], _Probe | None] = lru_cache(maxsize=16384)(self._probe_ip)
        src_flows, dst_flows = self._tables["src", "flows"], self._tables["dst", "flows"]
        self._src_flows = None if src_flows.empty else src_flows
        self._dst_flows = None if dst_flows.empty else dst_flows
        self._alerts_active = not (
            self._tables["src", "alerts"].empty and self._tables["dst", "alerts"].empty
        )

    def _tables_for(self, entry: AllowEntry) -> list[_Table]:
        return [self._tables[side, scope] for side in entry.sides for scope in entry.scopes]

    # -- introspection ---------------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        """True when nothing can ever match: the pipeline skips the allowlist."""
        return self._empty

    @property
    def entries(self) -> tuple[AllowEntry, ...]:
        """Effective entries (the last line per value), in file order."""
        return self._entries

    @property
    def orgs(self) -> Mapping[str, OrgInfo]:
        return self._orgs

    @property
    def missing_orgs(self) -> frozenset[str]:
        """Organisations named by an entry but absent from `orgs` (they match nothing)."""
        return self._missing_orgs

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Allowlist({len(self._entries)} entries, orgs={sorted(self._orgs)})"

    # -- matching ----------------------------------------------------------------------

    def match_ip(self, ip: str, direction: Side, scope: Scope) -> str | None:
        table = self._tables[direction, scope]
        return self._ip_reason(table, ip) if table.has_ip else None

    def match_domain(self, domain: str, direction: Side, scope: Scope) -> str | None:
        table = self._tables[direction, scope]
        return self._domain_reason(table, domain) if table.domains else None

    def match_mac(self, mac: str, direction: Side, scope: Scope) -> str | None:
        table = self._tables[direction, scope]
        if not table.macs:
            return None
        norm = _normalise_mac(mac)
        return table.macs.get(norm) if norm is not None else None

    def evidence_reason(
        self, ev: Evidence, domains_of: Callable[[str], Iterable[str]] = _no_domains
    ) -> str | None:
        """Why `ev` must be suppressed (scope ``alerts``), or None.

        The attacker is checked as ``src``, the victim (if any) as ``dst``; an IP
        is also checked through the domains it resolved from (`domains_of`).
        """
        if not self._alerts_active:
            return None
        reason = self._party_reason(ev.attacker, "src", "alerts", domains_of)
        if reason is not None:
            return f"{reason} for attacker {ev.attacker}"
        if ev.victim:
            reason = self._party_reason(ev.victim, "dst", "alerts", domains_of)
            if reason is not None:
                return f"{reason} for victim {ev.victim}"
        return None

    def flow_reason(
        self,
        saddr: str,
        daddr: str,
        smac: str = "",
        dmac: str = "",
        *,
        domains_of: Callable[[str], Iterable[str]] = _no_domains,
    ) -> str | None:
        """Why this flow must be dropped before detection (scope ``flows``), or None.

        Domain entries apply to flows only through `domains_of` (no DNS, no match).
        """
        src = self._src_flows
        if src is not None:
            reason = self._addr_reason(src, saddr, smac, domains_of)
            if reason is not None:
                return f"{reason} for src {saddr}"
        dst = self._dst_flows
        if dst is not None:
            reason = self._addr_reason(dst, daddr, dmac, domains_of)
            if reason is not None:
                return f"{reason} for dst {daddr}"
        return None

    # -- internals ---------------------------------------------------------------------

    def _probe_ip(self, ip: str) -> _Probe | None:
        parsed = _parse_ip_uncached(ip)
        if parsed is None:
            return None
        version, value, canonical = parsed
        return version, value, canonical, self._ranges.contains_int(version, value)

    def _ip_reason(self, table: _Table, ip: str) -> str | None:
        probe = self._probe(ip)
        if probe is None:
            return None
        reason = table.ips.get(probe[2])
        if reason is None and probe[3]:
            reason = self._range_reason(table, probe)
        return reason

    @staticmethod
    def _range_reason(table: _Table, probe: _Probe) -> str | None:
        """The IP is inside some range: find which of this table's, if any."""
        version, value, _canonical, _in_ranges = probe
        bits = _BITS[version]
        for plen in table.prefixes[version]:
            shift = bits - plen
            reason = table.nets.get((version, value >> shift << shift, plen))
            if reason is not None:
                return reason
        for ranges, org_reason in table.org_ranges:
            if ranges.contains_int(version, value):
                return org_reason
        return None

    @staticmethod
    def _domain_reason(table: _Table, domain: str) -> str | None:
        name = domain.strip().lower().rstrip(".")
        while name:
            reason = table.domains.get(name)
            if reason is not None:
                return reason
            dot = name.find(".")
            if dot < 0:
                return None
            name = name[dot + 1 :]
        return None

    def _resolved_reason(
        self, table: _Table, ip: str, domains_of: Callable[[str], Iterable[str]]
    ) -> str | None:
        for domain in domains_of(ip):
            reason = self._domain_reason(table, domain)
            if reason is not None:
                return f"{reason} via {domain}"
        return None

    def _addr_reason(
        self, table: _Table, ip: str, mac: str, domains_of: Callable[[str], Iterable[str]]
    ) -> str | None:
        """One side of a flow. Hot path: inlined by hand, every step guarded by a flag."""
        reason = None
        if table.has_ip:
            probe = self._probe(ip)
            if probe is not None:
                reason = table.ips.get(probe[2])
                if reason is None and probe[3]:
                    reason = self._range_reason(table, probe)
        if reason is None and mac and table.macs:
            norm = _normalise_mac(mac)
            reason = table.macs.get(norm) if norm is not None else None
        if reason is None and table.domains and domains_of is not _no_domains:
            reason = self._resolved_reason(table, ip, domains_of)
        return reason

    def _party_reason(
        self, value: str, side: Side, scope: Scope, domains_of: Callable[[str], Iterable[str]]
    ) -> str | None:
        """An evidence attacker/victim: usually an IP, sometimes a domain or a MAC."""
        table = self._tables[side, scope]
        if table.empty:
            return None
        probe = self._probe(value)
        if probe is not None:
            reason = table.ips.get(probe[2])
            if reason is None and probe[3]:
                reason = self._range_reason(table, probe)
            if reason is None and table.domains and domains_of is not _no_domains:
                reason = self._resolved_reason(table, value, domains_of)
            return reason
        if table.macs:
            norm = _normalise_mac(value)
            reason = table.macs.get(norm) if norm is not None else None
            if reason is not None:
                return reason
        return self._domain_reason(table, value) if table.domains else None
