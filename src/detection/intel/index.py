"""The indicator index: every feed's indicators, one lookup per observed value.

Theory of operation
-------------------
Exact indicators (IPs, domains, URLs, hashes, JA3/JARM, ASNs) live in one dict
per kind, so a lookup is one hash probe, whatever the number of indicators.
Ranges (CIDRs) are intervals sorted by start with a running maximum of the ends:
a lookup is a `bisect` plus a walk back over the (few) intervals that can still
cover the address, O(log n) for the disjoint ranges real netsets hold.

Domains match themselves and every parent domain (``a.b.evil.com`` is covered by
``evil.com``), the parent match marked as such (lower confidence in evidence);
a bare public suffix never matches as a parent (`_MIN_PARENT_LABELS`).

When several feeds list the same indicator the highest threat level wins (ties:
the first feed added) and the number of feeds is kept, so evidence can say "listed
by 3 feeds". Each stored value is a small `_Source`, shared by every indicator
of a feed whose lines carry no level or description of their own (a plain
list), so a million indicators cost a million dict slots, not a million objects.

The index is built once and then only read (`freeze`), so it can be swapped
atomically when feeds update; IP results are memoised in a bounded cache because
a flow's addresses repeat far more than they change.

Parsing a million feed lines takes seconds; `snapshot`/`from_snapshot` turn a
frozen index into msgpack bytes and back in a fraction of that (columns of
values plus indexes into a table of distinct sources), so the agent can keep
the built index next to the feeds it was built from and skip the parse when
they have not changed (`agent.intel.loader`). A snapshot is a cache, not an
interchange format: anything malformed raises `ValueError` and is rebuilt.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import msgpack

from detection.allowlist import parse_ip
from detection.intel.model import FeedInfo, Ioc, IocKind, classify, normalise
from detection.model import THREAT_WEIGHTS, ThreatLevel

__all__ = ["IntelIndex", "IntelMatch"]

_MIN_PARENT_LABELS = 2  # "evil.com" may cover subdomains; "com" never does
_IP_CACHE_CAP = 200_000
_EXACT_KINDS = (
    IocKind.IP,
    IocKind.DOMAIN,
    IocKind.URL,
    IocKind.JA3,
    IocKind.JARM,
    IocKind.SHA1,
    IocKind.MD5,
    IocKind.SHA256,
    IocKind.ASN,
)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 1.5 µs here
class IntelMatch:
    """Why an observed value is known bad: which indicator of which feed (read-only
    by convention)."""

    kind: IocKind
    indicator: str  # the listed value (the CIDR, or the parent domain that matched)
    observed: str  # the value seen in traffic
    feed: FeedInfo
    threat_level: ThreatLevel
    description: str
    feeds: int  # how many feeds list the indicator
    parent: bool = False  # matched as a parent domain, or as a range covering the IP

    @property
    def what(self) -> str:
        """One phrase for descriptions: "evil.com (listed by feodo, high)"."""
        more = f", +{self.feeds - 1} more feeds" if self.feeds > 1 else ""
        about = f": {self.description}" if self.description else ""
        via = f" via {self.indicator}" if self.indicator != self.observed else ""
        return f"{self.observed}{via} (listed by {self.feed.name}{more}{about})"


@dataclass(slots=True)
class _Source:
    feed: FeedInfo
    level: ThreatLevel
    description: str
    feeds: int = 1


_SNAPSHOT_VERSION = 1


def _int_out(value: int, version: int) -> int | bytes:
    return value if version == 4 else value.to_bytes(16, "big")  # msgpack ints are 64-bit


def _int_in(value: object, version: int) -> int:
    if version == 4 and isinstance(value, int) and 0 <= value < 1 << 32:
        return value
    if version == 6 and isinstance(value, bytes) and len(value) == 16:
        return int.from_bytes(value, "big")
    raise ValueError("bad range bound in snapshot")


def _weight(level: ThreatLevel) -> float:
    return THREAT_WEIGHTS[level]


class IntelIndex:
    def __init__(self) -> None:
        self._exact: dict[IocKind, dict[str, _Source]] = {k: {} for k in _EXACT_KINDS}
        # per IP version: intervals (start, end, source, cidr text) until `freeze`
        self._ranges: dict[int, list[tuple[int, int, _Source, str]]] = {4: [], 6: []}
        self._starts: dict[int, list[int]] = {4: [], 6: []}
        self._max_ends: dict[int, list[int]] = {4: [], 6: []}
        self._benign_md5: set[str] = set()
        self._ip_cache: dict[str, IntelMatch | None] = {}
        self.per_feed: Counter[str] = Counter()
        self.dropped_old: Counter[str] = Counter()
        self._frozen = False

    # -- building ----------------------------------------------------------------------

    def add_feed(
        self,
        feed: FeedInfo,
        iocs: Iterable[Ioc],
        *,
        now: float | None = None,
        max_age: float | None = None,
    ) -> int:
        """Add a feed's indicators; returns how many were added. Indicators dated
        older than `max_age` seconds before `now` are dropped (counted)."""
        if self._frozen:
            raise RuntimeError("IntelIndex is frozen; build a new one")
        shared = _Source(feed, feed.threat_level, "")
        cutoff = None if now is None or max_age is None else now - max_age
        added = 0
        for ioc in iocs:
            if cutoff is not None and ioc.first_seen is not None and ioc.first_seen < cutoff:
                self.dropped_old[feed.name] += 1
                continue
            if ioc.description or ioc.threat_level is not None:
                src = _Source(feed, ioc.threat_level or feed.threat_level, ioc.description)
            else:
                src = shared
            if ioc.kind is IocKind.CIDR:
                net = ipaddress.ip_network(ioc.value, strict=False)
                start = int(net.network_address)
                self._ranges[net.version].append(
                    (start, start + net.num_addresses - 1, src, ioc.value)
                )
            else:
                table = self._exact[ioc.kind]
                old = table.get(ioc.value)
                if old is None:
                    table[ioc.value] = src
                else:
                    winner = src if _weight(src.level) > _weight(old.level) else old
                    table[ioc.value] = _Source(
                        winner.feed, winner.level, winner.description, old.feeds + 1
                    )
            added += 1
        self.per_feed[feed.name] += added
        return added

    def add_benign_md5(self, hashes: Iterable[str]) -> None:
        """Known false-positive file hashes: a file with one never matches."""
        self._benign_md5.update(h.strip().lower() for h in hashes)

    def freeze(self) -> IntelIndex:
        for version, ranges in self._ranges.items():
            ranges.sort(key=lambda r: (r[0], r[1]))
            self._starts[version] = [r[0] for r in ranges]
            running = -1
            max_ends = []
            for r in ranges:
                running = max(running, r[1])
                max_ends.append(running)
            self._max_ends[version] = max_ends
        self._frozen = True
        return self

    # -- sizes -------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(len(t) for t in self._exact.values()) + sum(
            len(r) for r in self._ranges.values()
        )

    @property
    def is_empty(self) -> bool:
        return len(self) == 0

    def counts(self) -> dict[str, int]:
        out = {k.value: len(t) for k, t in self._exact.items() if t}
        cidrs = sum(len(r) for r in self._ranges.values())
        if cidrs:
            out[IocKind.CIDR.value] = cidrs
        return out

    # -- snapshots ---------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The frozen index as msgpack bytes (module header)."""
        if not self._frozen:
            raise RuntimeError("only a frozen index can be snapshot")
        feeds: dict[int, int] = {}
        feed_rows: list[list[object]] = []
        sources: dict[int, int] = {}
        source_rows: list[list[object]] = []

        def source_id(src: _Source) -> int:
            sid = sources.get(id(src))
            if sid is None:
                fid = feeds.get(id(src.feed))
                if fid is None:
                    fid = feeds[id(src.feed)] = len(feed_rows)
                    f = src.feed
                    feed_rows.append([f.name, f.threat_level.value, list(f.tags), f.url])
                sid = sources[id(src)] = len(source_rows)
                source_rows.append([fid, src.level.value, src.description, src.feeds])
            return sid

        exact = {
            kind.value: [list(table), [source_id(src) for src in table.values()]]
            for kind, table in self._exact.items()
            if table
        }
        ranges = {
            str(version): [
                [_int_out(r[0], version) for r in rs],
                [_int_out(r[1], version) for r in rs],
                [source_id(r[2]) for r in rs],
                [r[3] for r in rs],
            ]
            for version, rs in self._ranges.items()
            if rs
        }
        blob: bytes = msgpack.packb(
            {
                "v": _SNAPSHOT_VERSION,
                "feeds": feed_rows,
                "sources": source_rows,
                "exact": exact,
                "ranges": ranges,
                "benign_md5": sorted(self._benign_md5),
                "per_feed": dict(self.per_feed),
                "dropped_old": dict(self.dropped_old),
            },
            use_bin_type=True,
        )
        return blob

    @classmethod
    def from_snapshot(cls, data: bytes) -> IntelIndex:
        """A frozen index from `snapshot` bytes; `ValueError` if they are not one."""
        try:
            doc = msgpack.unpackb(data, raw=False, strict_map_key=True)
            if not isinstance(doc, dict) or doc.get("v") != _SNAPSHOT_VERSION:
                raise ValueError("not an index snapshot of this version")
            feeds = [
                FeedInfo(str(name), ThreatLevel(level), tuple(map(str, tags)), str(url))
                for name, level, tags, url in doc["feeds"]
            ]
            sources = [
                _Source(feeds[fid], ThreatLevel(level), str(desc), int(n))
                for fid, level, desc, n in doc["sources"]
            ]
            index = cls()
            for kind_name, (values, sids) in doc["exact"].items():
                kind = IocKind(kind_name)
                if kind not in index._exact or len(values) != len(sids):
                    raise ValueError(f"bad column {kind_name!r}")
                index._exact[kind] = dict(zip(values, map(sources.__getitem__, sids), strict=True))
            for version_name, (starts, ends, sids, texts) in doc["ranges"].items():
                version = int(version_name)
                if version not in (4, 6):
                    raise ValueError(f"bad IP version {version_name!r}")
                index._ranges[version] = [
                    (_int_in(a, version), _int_in(b, version), sources[sid], str(text))
                    for a, b, sid, text in zip(starts, ends, sids, texts, strict=True)
                ]
            index._benign_md5 = set(map(str, doc["benign_md5"]))
            index.per_feed = Counter({str(k): int(v) for k, v in doc["per_feed"].items()})
            index.dropped_old = Counter({str(k): int(v) for k, v in doc["dropped_old"].items()})
        except ValueError:
            raise
        except (KeyError, TypeError, IndexError, AttributeError, msgpack.UnpackException) as exc:
            raise ValueError(f"corrupt index snapshot: {type(exc).__name__}: {exc}") from exc
        return index.freeze()

    def has(self, kind: IocKind) -> bool:
        if kind is IocKind.CIDR:
            return any(self._ranges.values())
        return bool(self._exact[kind])

    # -- lookups -----------------------------------------------------------------------

    def _match(
        self, kind: IocKind, key: str, observed: str, src: _Source, parent: bool = False
    ) -> IntelMatch:
        return IntelMatch(
            kind, key, observed, src.feed, src.level, src.description, src.feeds, parent
        )

    def lookup_ip(self, ip: str) -> IntelMatch | None:
        """The listing of an address (exact first, then the covering range)."""
        cache = self._ip_cache
        if ip in cache:
            return cache[ip]
        src = self._exact[IocKind.IP].get(ip)
        if src is not None:
            found: IntelMatch | None = self._match(IocKind.IP, ip, ip, src)
        else:
            found = self._lookup_range(ip)
        if len(cache) >= _IP_CACHE_CAP:
            cache.clear()
        cache[ip] = found
        return found

    def _lookup_range(self, ip: str) -> IntelMatch | None:
        parsed = parse_ip(ip)
        if parsed is None:
            return None
        version, value, _ = parsed
        starts = self._starts[version]
        i = bisect_right(starts, value) - 1
        ranges, max_ends = self._ranges[version], self._max_ends[version]
        best: tuple[int, int, _Source, str] | None = None
        while i >= 0 and max_ends[i] >= value:
            r = ranges[i]
            if r[1] >= value and (best is None or _weight(r[2].level) > _weight(best[2].level)):
                best = r
            i -= 1
        if best is None:
            return None
        return self._match(IocKind.CIDR, best[3], ip, best[2], parent=True)

    def lookup_domain(self, name: str) -> IntelMatch | None:
        """The domain or its closest listed parent."""
        host = name.strip().lower().rstrip(".")
        if not host:
            return None
        table = self._exact[IocKind.DOMAIN]
        if not table:
            return None
        src = table.get(host)
        if src is not None:
            return self._match(IocKind.DOMAIN, host, host, src)
        labels = host.split(".")
        for i in range(1, len(labels) - _MIN_PARENT_LABELS + 1):
            parent = ".".join(labels[i:])
            src = table.get(parent)
            if src is not None:
                return self._match(IocKind.DOMAIN, parent, host, src, parent=True)
        return None

    def lookup_url(self, url: str) -> IntelMatch | None:
        table = self._exact[IocKind.URL]
        if not table:
            return None
        try:
            key = normalise(IocKind.URL, url)
        except ValueError:
            return None
        src = table.get(key) or table.get(key.rstrip("/"))
        return None if src is None else self._match(IocKind.URL, key, url, src)

    def lookup_hash(self, kind: IocKind, value: str) -> IntelMatch | None:
        """JA3/JA3S, JARM, SHA1 (file or certificate), MD5, SHA256, ASN."""
        key = value.strip().lower() if kind is not IocKind.ASN else value.strip().upper()
        if not key:
            return None
        if kind is IocKind.MD5 and key in self._benign_md5:
            return None
        src = self._exact[kind].get(key)
        return None if src is None else self._match(kind, key, value, src)

    def is_benign_md5(self, value: str) -> bool:
        return value.strip().lower() in self._benign_md5

    def lookup(self, value: str) -> list[IntelMatch]:
        """Every listing of a value of any kind (the CLI's `intel lookup`)."""
        text = value.strip()
        out: list[IntelMatch] = []
        for hint in ("ti", "ja3", "jarm"):
            kind = classify(text, hint)
            if kind is None:
                continue
            found: IntelMatch | None
            if kind is IocKind.IP:
                found = self.lookup_ip(normalise(kind, text))
            elif kind is IocKind.DOMAIN:
                found = self.lookup_domain(text)
            elif kind is IocKind.URL:
                found = self.lookup_url(text)
            elif kind is IocKind.CIDR:
                src = None
                key = normalise(kind, text)
                for r in self._ranges[4] + self._ranges[6]:
                    if r[3] == key:
                        src = r[2]
                        break
                found = None if src is None else self._match(kind, key, text, src)
            else:
                found = self.lookup_hash(kind, text)
            if found is not None and found not in out:
                out.append(found)
        return out
