"""HTTPS anomaly detection: each own host's TLS behaviour against its own past.

A host's TLS habits are stable: the same handful of client programs (JA3
fingerprints), a slowly growing set of servers, flows of similar size to the
servers it uses. Malware changes all three — a new TLS client, a burst of
servers never contacted before, an upload far larger than usual to a server
the host does know. Slips has a module for the same idea (its "HTTPS anomaly
detection"); this one is our own, built on robust statistics so that every
finding can be explained with four numbers (value, median, MAD, z).

Theory of operation
-------------------
Time is cut into buckets of `bucket_seconds` (an hour) from the records' own
timestamps. Per host, three features:

* **new servers** — TLS handshakes (`SslRecord`) to a server the host has
  never used, counted per hour. A server is the registered domain of the SNI
  (`site`: opening one web site pulls in ``www.``, ``static.``, ``api.`` …
  of the same domain, which are one decision of the user) or, without SNI,
  the destination address;
* **new JA3** — handshakes with a client fingerprint the host has never
  presented, counted per hour (empty JA3, e.g. Zeek without the ja3 package,
  is not a fingerprint);
* **bytes sent per flow to a known server** — for each established TLS flow
  (`Flow` on 443/tcp without another service, or any flow whose Zeek service
  names ssl), the bytes the host sent compared with its last `bytes_history`
  flows to that same destination address. Uploads only: a large download
  from a server one uses (an update, a video) is everyday traffic, a large
  upload to it is how data leaves (T1041, exfiltration over an established
  channel). "Known" means `bytes_min_flows` earlier flows, the first of them
  in an earlier hour: the last minute's flows are no baseline (a speed test
  downloads from a server, then uploads 25 MB to it seconds later).

Each feature is scored with a robust z-score against the host's own baseline:
``z = (x - median) / (1.4826 * max(MAD, floor))`` — the median and the median
absolute deviation of the last `baseline_hours` hourly counts (only hours in
which the host made TLS handshakes: an idle night is not a sample), or of the
last flows' sizes in log10 bytes (sizes are heavy-tailed; a ratio is what
matters). 1.4826 makes the MAD a standard deviation for normal data; the
floor keeps a perfectly steady baseline (MAD 0) from turning any change into
an infinite z. Only increases are scored. LOW evidence at ``z >= z_low``
(3.5, Iglewicz and Hoaglin's cut-off for the modified z-score), MEDIUM at
``z >= z_medium`` (7), and never below a feature's absolute minimum
(`new_servers_min` new servers, `new_ja3_min` new fingerprints, `bytes_min`
bytes: small deviations are not worth an analyst's time however rare).

With the default floors the thresholds read: on a host whose baseline is
"no new server, no new fingerprint, flows of a steady size", LOW at 6 new
servers in an hour (MEDIUM at 11), LOW at 1 new JA3 (MEDIUM at 2), LOW at
about 3.5x the median upload (MEDIUM at 11x) if it is at least 500 kB. A
host whose baseline is noisy (a browser contacting dozens of new sites an
hour, Chrome randomising its extension order so that its JA3 changes on
every handshake) needs a correspondingly larger change.

Warm-up: no evidence for a host until, in the hours before the current one,
it has had `warmup_hours` active hours after its first (which fills the sets:
everything is new then, so it is no sample) and `warmup_connections` TLS
handshakes (TLS flows for the byte feature, whose per-server baseline further
needs `bytes_min_flows` earlier flows to that server). Each (host, feature,
hour) is reported at most once per level: a LOW and, if the anomaly keeps
growing in the same hour, one MEDIUM.

Which hosts: with `own_hosts_only` (the default), sources with a private
address (RFC 1918, ULA) or one of `DetectionContext.own_addresses`. The
baselines describe *our* hosts; a public source seen by the sensor is a
remote party whose TLS behaviour we see only in part, and tracking every one
would spend the host cap on scanners.

State and memory (kept across windows on purpose: a baseline is hours to
days of history; `close_window` only drops what has gone idle):

* at most `max_hosts` hosts, least recently active evicted first; each keeps
  at most `max_servers_per_host` server keys and `max_ja3_per_host`
  fingerprints (least recently used evicted: a forgotten server that comes
  back counts as new again, which a host with that much churn has in its
  baseline anyway), `baseline_hours` counts per handshake feature and up to 5
  names for the description. Keys are stored as 64-bit hashes, not strings.
* at most `max_byte_series` (host, server) byte baselines, least recently
  used evicted, each a `bytes_history`-byte ring of sizes quantised to 1/20
  of a decade (12 %).
* hosts and byte baselines idle for `idle_hours` buckets are dropped when a
  window closes.

Measured with tracemalloc: about 33 MB with every cap full (1024 hosts x 256
servers and 32 fingerprints, 16,384 byte baselines, the name cache); about
2 MB for 100 hosts with 100 servers and 20 byte baselines each.

Cost: a few dict lookups and comparisons per record (2-4 us per routed TLS
flow or handshake, measured on a shared machine); statistics are recomputed only when a
host's hour closes or when a flow is large enough to be scored (`bytes_min`).
`wants_flow` keeps every non-TLS flow and flows from untracked sources away.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from statistics import median
from typing import TypeVar

from pydantic import Field, model_validator

from detection.heuristics.base import (
    ADDRESS_KINDS,
    PRIVATE,
    SPECIAL,
    DetectionContext,
    Detector,
    DetectorParams,
)
from detection.model import Evidence, Flow, SslRecord, ThreatLevel

__all__ = ["HttpsAnomaly", "HttpsAnomalyParams", "median_mad", "robust_z", "site"]

MAD_SCALE = 1.4826  # MAD -> standard deviation for normally distributed data
_STEPS_PER_DECADE = 20  # byte sizes are kept as round(20 * log10(bytes + 1)), 0..255
_SHOWN = 5  # new server names kept per host and hour for the description
_MAX_SITES = 8192  # cached server name -> site results

# Bits of `_Host.reported`: (feature, level) already reported in the current hour.
_SERVERS, _JA3, _BYTES = 0, 2, 4
_LOW, _MEDIUM = 1, 2


class HttpsAnomalyParams(DetectorParams):
    own_hosts_only: bool = True
    bucket_seconds: float = Field(3600.0, gt=0.0)
    baseline_hours: int = Field(24, ge=1)  # hourly samples per feature (median/MAD over these)
    warmup_hours: int = Field(3, ge=1)
    warmup_connections: int = Field(20, ge=1)
    z_low: float = Field(3.5, gt=0.0)
    z_medium: float = Field(7.0, gt=0.0)
    new_servers_min: int = Field(5, ge=1)
    new_servers_mad_floor: float = Field(1.0, gt=0.0)  # servers per hour
    new_ja3_min: int = Field(1, ge=1)
    new_ja3_mad_floor: float = Field(0.15, gt=0.0)  # fingerprints per hour
    bytes_min: int = Field(500_000, ge=1)
    bytes_mad_floor: float = Field(0.1, gt=0.0)  # log10(bytes): 0.1 is ±26 %
    bytes_history: int = Field(24, ge=1, le=4096)
    bytes_min_flows: int = Field(8, ge=1)
    max_hosts: int = Field(1024, ge=1)
    max_servers_per_host: int = Field(256, ge=1)
    max_ja3_per_host: int = Field(32, ge=1)
    max_byte_series: int = Field(16_384, ge=1)
    idle_hours: int = Field(168, ge=1)  # buckets without a record before a host is forgotten

    @model_validator(mode="after")
    def _ordered(self) -> HttpsAnomalyParams:
        if self.z_medium < self.z_low:
            raise ValueError("z_medium must be >= z_low")
        if self.bytes_min_flows > self.bytes_history:
            raise ValueError("bytes_min_flows must be <= bytes_history")
        if self.warmup_hours > self.baseline_hours:
            raise ValueError("warmup_hours must be <= baseline_hours (samples kept)")
        return self


def robust_z(x: float, med: float, mad: float, floor: float) -> float:
    """(x - median) / (1.4826 * max(MAD, floor))."""
    return (x - med) / (MAD_SCALE * max(mad, floor))


def site(name: str) -> str:
    """The registered domain of a server name, approximately: the last two labels,
    or three under a two-letter country code whose second level is a short generic
    label (``www.bbc.co.uk`` -> ``bbc.co.uk``, ``a.b.example.com`` -> ``example.com``).
    Addresses and single labels are returned whole. Without a public-suffix list
    some suffixes are grouped too coarsely (``github.io`` pages count as one site),
    which only makes the detector quieter."""
    name = name.lower().rstrip(".")
    if ":" in name or name.replace(".", "").isdigit():
        return name
    labels = name.split(".")
    if len(labels) <= 2:
        return name
    if len(labels[-1]) == 2 and len(labels[-2]) <= 3:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def median_mad(values: Sequence[int]) -> tuple[float, float]:
    """Median and median absolute deviation (unscaled) of a non-empty sequence."""
    med = float(median(values))
    return med, float(median([abs(v - med) for v in values]))


class _Host:
    __slots__ = (
        "bucket",
        "bytes_ready",
        "flows",
        "fresh",
        "fresh_uids",
        "handshakes",
        "hours",
        "ja3_at",
        "ja3_samples",
        "ja3_stats",
        "ja3s",
        "new_ja3",
        "new_servers",
        "reported",
        "servers",
        "srv_at",
        "srv_samples",
        "srv_stats",
        "ssl_hours",
        "ssl_now",
    )

    def __init__(self, bucket: int, history: int) -> None:
        self.bucket = bucket
        self.hours = 0  # completed buckets with TLS activity (warm-up)
        self.ssl_hours = 0  # completed buckets with handshakes (the first is no sample)
        self.ssl_now = False  # handshakes in the current bucket
        self.handshakes = 0
        self.flows = 0
        self.bytes_ready = False  # warm-up of the byte feature done
        self.servers: dict[int, None] = {}  # hash(server key), LRU order
        self.ja3s: dict[int, None] = {}  # hash(ja3), LRU order
        self.new_servers = 0  # in the current bucket
        self.new_ja3 = 0
        self.fresh: list[str] = []  # first new server names of the bucket
        self.fresh_uids: list[str] = []
        self.srv_samples: deque[int] = deque(maxlen=history)
        self.ja3_samples: deque[int] = deque(maxlen=history)
        self.srv_stats = (0.0, 0.0)  # median, MAD of srv_samples
        self.ja3_stats = (0.0, 0.0)
        # Counts at which the current bucket reaches LOW / MEDIUM (inf: warming up).
        self.srv_at = (math.inf, math.inf)
        self.ja3_at = (math.inf, math.inf)
        self.reported = 0  # bits: (feature + level) reported in the current bucket


class _Series:
    """The bytes one host sent in its last flows to one server, as a ring of
    quantised logs: round(20 * log10(bytes + 1)), at most 255 (one byte each)."""

    __slots__ = ("bucket", "first", "n", "pos", "ring")

    def __init__(self, size: int, bucket: int) -> None:
        self.ring = bytearray(size)
        self.n = 0  # values filled (<= len(ring))
        self.pos = 0  # next slot to write
        self.first = bucket  # bucket of the first flow: "known" means before this hour
        self.bucket = bucket  # last bucket seen (idle expiry)


class HttpsAnomaly(Detector):
    name = "https_anomaly"
    consumes = (SslRecord, Flow)
    Params = HttpsAnomalyParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, HttpsAnomalyParams)
        self.p = params
        self._own = self.context.own_addresses
        self._own_only = params.own_hosts_only
        self._width = params.bucket_seconds
        self._unit = "hours" if self._width == 3600.0 else f"periods of {self._width:g} s"
        self._hosts: dict[str, _Host] = {}  # LRU order: least recently active first
        self._series: dict[tuple[str, str], _Series] = {}  # LRU order
        self._sites: dict[str, str] = {}  # server name -> site (a cache, cleared when full)
        self._newest = -(2**62)  # newest bucket seen
        self._bytes_floor = params.bytes_mad_floor * _STEPS_PER_DECADE
        # parameters read per flow, as plain attributes
        self._bytes_min = params.bytes_min
        self._min_flows = params.bytes_min_flows
        self._history = params.bytes_history
        self._max_series = params.max_byte_series

    # -- routing ---------------------------------------------------------------------

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        if dst_kind == SPECIAL or (self._own_only and src_kind != PRIVATE and not self._own):
            return False
        return _is_tls(proto, dport, service)

    # -- observing -------------------------------------------------------------------

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if type(record) is Flow:
            return self._flow(record, window)
        if type(record) is SslRecord:
            return self._handshake(record, window)
        return None

    def _tracked(self, saddr: str) -> bool:
        if not saddr:
            return False
        if not self._own_only or saddr in self._hosts:
            return True
        return ADDRESS_KINDS[saddr] == PRIVATE or saddr in self._own

    def _host(self, saddr: str, ts: float) -> _Host:
        bucket = int(ts // self._width)
        self._newest = max(self._newest, bucket)
        h = self._hosts.get(saddr)
        if h is None:
            if len(self._hosts) >= self.p.max_hosts:
                del self._hosts[next(iter(self._hosts))]
                self.overflowed("hosts_evicted")
            h = self._hosts[saddr] = _Host(bucket, self.p.baseline_hours)
        elif bucket > h.bucket:  # a late record (bucket < h.bucket) counts in the current one
            self._roll(h, bucket)
            del self._hosts[saddr]  # re-inserted last: LRU by active bucket
            self._hosts[saddr] = h
        return h

    def _roll(self, h: _Host, bucket: int) -> None:
        """Close the host's current bucket: its counts become baseline samples."""
        p = self.p
        h.hours += 1
        if h.ssl_now:
            if h.ssl_hours:  # the first handshake hour (everything new) is no sample
                h.srv_samples.append(h.new_servers)
                h.ja3_samples.append(h.new_ja3)
                h.srv_stats = median_mad(h.srv_samples)
                h.ja3_stats = median_mad(h.ja3_samples)
            h.ssl_hours += 1
        h.bucket = bucket
        h.ssl_now = False
        h.new_servers = h.new_ja3 = h.reported = 0
        h.fresh = []
        h.fresh_uids = []
        # Warm-up is judged on completed hours only (the current one is being scored).
        h.bytes_ready = h.hours > p.warmup_hours and h.flows >= p.warmup_connections
        if len(h.srv_samples) >= p.warmup_hours and h.handshakes >= p.warmup_connections:
            h.srv_at = _levels(h.srv_stats, p.new_servers_mad_floor, p.new_servers_min, p)
            h.ja3_at = _levels(h.ja3_stats, p.new_ja3_mad_floor, p.new_ja3_min, p)

    def _handshake(self, rec: SslRecord, window: int) -> Sequence[Evidence] | None:
        saddr = rec.saddr
        if not self._tracked(saddr) or ADDRESS_KINDS[rec.daddr] == SPECIAL:
            return None
        h = self._host(saddr, rec.ts)
        h.ssl_now = True
        h.handshakes += 1
        found: list[Evidence] | None = None
        name = rec.server_name
        if name:
            server = self._sites.get(name)
            if server is None:
                if len(self._sites) >= _MAX_SITES:
                    self._sites.clear()
                server = self._sites[name] = site(name)
        else:
            server = rec.daddr
        key = hash(server)
        servers = h.servers
        if key in servers:
            del servers[key]  # re-inserted last: LRU
        else:
            if len(servers) >= self.p.max_servers_per_host:
                del servers[next(iter(servers))]
                self.overflowed("servers_evicted")
            h.new_servers += 1
            if len(h.fresh) < _SHOWN:
                h.fresh.append(server[:80])
            if len(h.fresh_uids) < 10:
                h.fresh_uids.append(rec.uid)
            if h.new_servers >= h.srv_at[0]:
                found = self._report_servers(h, rec, window)
        servers[key] = None
        if rec.ja3:
            key = hash(rec.ja3)
            ja3s = h.ja3s
            if key in ja3s:
                del ja3s[key]  # re-inserted last: LRU
                ja3s[key] = None
                return found
            if len(ja3s) >= self.p.max_ja3_per_host:
                del ja3s[next(iter(ja3s))]
                self.overflowed("ja3_evicted")
            ja3s[key] = None
            h.new_ja3 += 1
            if h.new_ja3 >= h.ja3_at[0]:
                more = self._report_ja3(h, rec, server, window)
                if more:
                    found = [*found, *more] if found else more
        return found

    def _flow(self, flow: Flow, window: int) -> Sequence[Evidence] | None:
        # The hot path (every routed TLS flow): fields read once, no helper calls
        # unless the host's hour changes or the flow is large enough to score.
        saddr = flow.saddr
        service = flow.service
        if (
            not flow.established
            or not ("ssl" in service or (flow.dport == 443 and flow.proto == "tcp" and not service))
            or not saddr
        ):
            return None
        h = self._hosts.get(saddr)
        if (
            h is None
            and self._own_only
            and ADDRESS_KINDS[saddr] != PRIVATE
            and saddr not in self._own
        ):
            return None
        daddr = flow.daddr
        if ADDRESS_KINDS[daddr] == SPECIAL:
            return None
        ts = flow.ts
        if h is None or ts >= (h.bucket + 1) * self._width:
            h = self._host(saddr, ts)
        h.flows += 1
        key = (saddr, daddr)
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= self._max_series:
                del self._series[next(iter(self._series))]
                self.overflowed("byte_series_evicted")
            series = self._series[key] = _Series(self._history, h.bucket)
        elif series.bucket != h.bucket:  # LRU by active bucket: moved last once an hour
            del self._series[key]
            self._series[key] = series
            series.bucket = h.bucket
        sent = flow.sbytes
        q = 0 if sent <= 0 else min(255, int(_STEPS_PER_DECADE * math.log10(sent + 1) + 0.5))
        found = None
        if (
            sent >= self._bytes_min
            and h.bytes_ready
            and series.n >= self._min_flows
            and series.first < h.bucket
        ):
            found = self._score_bytes(h, series, q, flow, window)
        pos = series.pos
        series.ring[pos] = q
        series.pos = pos + 1 if pos + 1 < self._history else 0
        if series.n < self._history:
            series.n += 1
        return found

    # -- reporting -------------------------------------------------------------------

    def _due(self, h: _Host, feature: int, x: float, at: tuple[float, float]) -> int:
        """The level bit to report for `x` in this bucket, or 0 (reported already)."""
        level = _MEDIUM if x >= at[1] else _LOW
        bit = level << feature
        if h.reported & bit or (level == _LOW and h.reported & (_MEDIUM << feature)):
            return 0
        h.reported |= bit
        return level

    def _report_servers(self, h: _Host, rec: SslRecord, window: int) -> list[Evidence] | None:
        x = h.new_servers
        level = self._due(h, _SERVERS, x, h.srv_at)
        if not level:
            return None
        med, mad = h.srv_stats
        z = robust_z(x, med, mad, self.p.new_servers_mad_floor)
        shown = ", ".join(h.fresh) + (", …" if x > len(h.fresh) else "")
        return [
            self._evidence(
                attacker=rec.saddr,
                victim=None,
                level=level,
                z=z,
                ts=rec.ts,
                window=window,
                description=(
                    f"{x} new TLS servers (domains) contacted by {rec.saddr} "
                    f"{self._period(h.bucket)} "
                    f"(baseline {self._baseline(len(h.srv_samples), med, mad, z)}): {shown}"
                ),
                technique="T1071.001",  # Application Layer Protocol: Web Protocols
                uids=h.fresh_uids,
                count=x,
                dport=None,
            )
        ]

    def _report_ja3(
        self, h: _Host, rec: SslRecord, server: str, window: int
    ) -> list[Evidence] | None:
        x = h.new_ja3
        level = self._due(h, _JA3, x, h.ja3_at)
        if not level:
            return None
        med, mad = h.ja3_stats
        z = robust_z(x, med, mad, self.p.new_ja3_mad_floor)
        baseline = self._baseline(len(h.ja3_samples), med, mad, z)
        return [
            self._evidence(
                attacker=rec.saddr,
                victim=rec.daddr,
                level=level,
                z=z,
                ts=rec.ts,
                window=window,
                description=(
                    f"{x} new JA3 client fingerprint{'s' if x > 1 else ''} from {rec.saddr} "
                    f"{self._period(h.bucket)} (baseline {baseline}; {len(h.ja3s)} "
                    f"fingerprints known): latest {rec.ja3[:32]} to {server[:80]}"
                ),
                technique="T1573",  # Encrypted Channel
                uids=(rec.uid,),
                count=x,
                dport=rec.dport,
            )
        ]

    def _score_bytes(
        self, h: _Host, series: _Series, q: int, flow: Flow, window: int
    ) -> list[Evidence] | None:
        sent = flow.sbytes
        values = series.ring[: series.n]
        med, mad = median_mad(values)
        z = robust_z(q, med, mad, self._bytes_floor)
        p = self.p
        if z < p.z_low:
            return None
        level = self._due(h, _BYTES, z, (p.z_low, p.z_medium))
        if not level:
            return None
        typical = 10 ** (med / _STEPS_PER_DECADE)
        return [
            self._evidence(
                attacker=flow.saddr,
                victim=flow.daddr,
                level=level,
                z=z,
                ts=flow.ts,
                window=window,
                description=(
                    f"{sent} bytes sent in one TLS flow from {flow.saddr} to known server "
                    f"{flow.daddr}:{flow.dport} ({flow.dbytes} received); its last "
                    f"{series.n} flows: median {typical:.0f} bytes sent, MAD "
                    f"{mad / _STEPS_PER_DECADE:.2f} in log10(bytes), z={z:.1f} "
                    f"(LOW at {p.z_low:g}, MEDIUM at {p.z_medium:g})"
                ),
                technique="T1041",  # Exfiltration Over C2 Channel
                uids=(flow.uid,),
                count=sent,
                dport=flow.dport,
            )
        ]

    def _evidence(
        self,
        *,
        attacker: str,
        victim: str | None,
        level: int,
        z: float,
        ts: float,
        window: int,
        description: str,
        technique: str,
        uids: Sequence[str],
        count: int,
        dport: int | None,
    ) -> Evidence:
        p = self.p
        if level == _MEDIUM:
            threat, confidence = ThreatLevel.MEDIUM, 0.6 + min(0.2, 0.02 * (z - p.z_medium))
        else:
            threat, confidence = ThreatLevel.LOW, 0.4 + min(0.2, 0.02 * (z - p.z_low))
        return self.new_evidence(
            attacker=attacker,
            victim=victim,
            level=threat,
            confidence=confidence,
            ts=ts,
            window=window,
            description=f"HTTPS anomaly: {description}",
            technique=technique,
            uids=tuple(uids),
            dport=dport,
            proto="tcp",
            count=count,
        )

    def _baseline(self, n: int, med: float, mad: float, z: float) -> str:
        p = self.p
        return (
            f"{n} active {self._unit}: median {med:g}, MAD {mad:g}, z={z:.1f}; "
            f"LOW at {p.z_low:g}, MEDIUM at {p.z_medium:g}"
        )

    def _period(self, bucket: int) -> str:
        start = bucket * self._width
        try:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start))
        except (OverflowError, OSError, ValueError):  # absurd timestamps: show the number
            when = f"t={start:.0f}"
        if self._width == 3600.0:
            return f"in the hour from {when}"
        return f"in the {self._width:g} s from {when}"

    # -- windows ---------------------------------------------------------------------

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        """Baselines outlive windows; only hosts and byte series idle for
        `idle_hours` buckets (of the newest record seen) are dropped."""
        horizon = self._newest - self.p.idle_hours
        # Both dicts are in order of last active bucket (entries move last when
        # their bucket advances), so the idle ones are at the front: stop at the
        # first active one instead of scanning every entry at every window.
        # (A late record can create an entry out of order; it is then dropped a
        # little later, or by the caps.)
        _drop_idle(self._hosts, horizon)
        _drop_idle(self._series, horizon)
        return None

    def footprint(self) -> dict[str, int]:
        """Sizes of the kept state (for tests and memory reports)."""
        hosts = self._hosts.values()
        return {
            "hosts": len(self._hosts),
            "servers": sum(len(h.servers) for h in hosts),
            "max_servers_per_host": max((len(h.servers) for h in hosts), default=0),
            "max_ja3_per_host": max((len(h.ja3s) for h in hosts), default=0),
            "max_samples_per_host": max((len(h.srv_samples) for h in hosts), default=0),
            "byte_series": len(self._series),
        }


def _is_tls(proto: str, dport: int | None, service: str) -> bool:
    """A TLS flow: Zeek named it ssl, or it is 443/tcp and nothing else was recognised."""
    return "ssl" in service or (dport == 443 and proto == "tcp" and not service)


def _levels(
    stats: tuple[float, float], floor: float, minimum: int, p: HttpsAnomalyParams
) -> tuple[float, float]:
    """The counts at which this bucket reaches LOW and MEDIUM (z thresholds and minimum)."""
    med, mad = stats
    scale = MAD_SCALE * max(mad, floor)
    return max(minimum, med + p.z_low * scale), max(minimum, med + p.z_medium * scale)


_K = TypeVar("_K")


def _drop_idle(table: dict[_K, _Host] | dict[_K, _Series], horizon: int) -> None:
    """Drop the entries idle since before `horizon` from the front of `table`."""
    idle: list[_K] = []
    for key, entry in table.items():
        if entry.bucket >= horizon:
            break
        idle.append(key)
    for key in idle:
        del table[key]
