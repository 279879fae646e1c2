"""Periodic beaconing: one source contacting the same destination and port
again and again at a regular interval with little jitter — how implants poll
their C&C server ("sleep 60 s, check in, repeat").

Slips needs a neural network over behaviour letters for this; a statistical
test on inter-arrival times does it with a bounded, explainable state.

Theory of operation
-------------------
Per (source, destination, port, protocol) the detector keeps the time of the
last flow and, from the second flow on, the last `history` inter-arrival
gaps. Flows closer than `merge_seconds` to the previous one belong to the same
check-in (a beacon often opens two connections) and add no gap; a gap longer
than `max_period_seconds` restarts the series. Every `min_intervals` gaps,
until it first reports, the series is tested:

* the median gap (the period) lies in [`min_period_seconds`, `max_period_seconds`];
* the median absolute deviation of the gaps (the jitter) is at most
  `max_jitter_ratio` of the period (exponential, i.e. Poisson, traffic has
  MAD/median ≈ 0.7; a 60 s beacon with ±3 s of jitter ≈ 0.03);
* at least `min_regular_share` of the gaps lie within `tolerance_ratio` of the
  period (one missed or late check-in does not break a series, many do);
* or, for implants that randomise their sleep (test-cc capture 2: every 2.3-3.8 s,
  MAD 15 % of the period), a longer series earns a looser bound: with at least
  `jittered_min_intervals` gaps, jitter up to `jittered_max_jitter_ratio` and
  `jittered_min_regular_share` regular gaps (still far from Poisson's 0.7), at a
  lower confidence. On the benign labelled captures this tier added nothing; with
  the loose bounds at 10 gaps it added a 30-s cloud poll of 11 check-ins.

A series that passes is reported once, then again at 100, 1000, … gaps while it
stays regular (growing count, no flood). Thresholds are ours, chosen on the
synthetic beacons and Poisson traffic of the tests and checked quiet on the
benign labelled captures (docs/detections.md); there is no Slips number to reuse.

Noise control: multicast/broadcast, loopback, link-local and private destinations
(a LAN is full of periodic housekeeping: printers, NAS, SSDP; `ignore_private`
false keeps the private ones), ports in `ignore_ports` (DNS, NTP,
NetBIOS, DHCP, mDNS, SSDP), and destinations inside a well-known organisation's
ranges (checked only when a series passes, so it costs nothing per flow) are
skipped.

Memory: at most `max_pairs` series (the oldest is dropped first), each with at
most `history` gaps; series idle for longer than `max_period_seconds` are
dropped when a window closes. State is kept across windows on purpose: a
15-minute beacon needs more than one hour to show.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from statistics import median

from detection.heuristics._connections import ADDRESS_KINDS, PRIVATE, PUBLIC, SPECIAL
from detection.heuristics._protocols import all_org_ranges, make_evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["Beaconing", "BeaconingParams", "periodicity"]

_PROTOS = frozenset({"tcp", "udp"})


class BeaconingParams(DetectorParams):
    min_intervals: int = 10  # gaps (so min_intervals + 1 check-ins) before a verdict
    min_period_seconds: float = 2.0
    max_period_seconds: float = 6 * 3600.0
    merge_seconds: float = 1.0
    max_jitter_ratio: float = 0.1
    tolerance_ratio: float = 0.2
    min_regular_share: float = 0.8
    jittered_min_intervals: int = 20  # a randomised sleep needs a longer series …
    jittered_max_jitter_ratio: float = 0.2  # … to be told from chance
    jittered_min_regular_share: float = 0.75
    history: int = 64
    max_pairs: int = 50_000
    ignore_private: bool = True
    ignore_ports: tuple[int, ...] = (53, 67, 68, 123, 137, 138, 1900, 5353, 5355)


def periodicity(gaps: Sequence[float], tolerance: float) -> tuple[float, float, float]:
    """(period, jitter, regular share): median gap, MAD of the gaps, and the share
    of gaps within `tolerance` x period of the period."""
    period = median(gaps)
    jitter = median(abs(g - period) for g in gaps)
    regular = sum(1 for g in gaps if abs(g - period) <= tolerance * period) / len(gaps)
    return period, jitter, regular


class _Series:
    __slots__ = ("gaps", "last", "n", "next_report", "uids")

    def __init__(self, last: float, history: int) -> None:
        self.last = last
        self.gaps: deque[float] = deque(maxlen=history)
        self.uids: deque[str] = deque(maxlen=5)
        self.n = 0  # gaps counted since the series (re)started
        self.next_report = 0  # 0: not reported yet


class Beaconing(Detector):
    name = "beaconing"
    consumes = (Flow,)
    Params = BeaconingParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, BeaconingParams)
        self.p = params
        self._ignore = frozenset(params.ignore_ports)
        self._first: dict[tuple[str, str, int | None, str], float] = {}  # seen once
        self._series: dict[tuple[str, str, int | None, str], _Series] = {}
        self._newest = 0.0
        self._org_ranges = all_org_ranges(self.context)
        # parameters read per flow, as plain attributes
        self._merge = params.merge_seconds
        self._max_period = params.max_period_seconds
        self._min_intervals = params.min_intervals
        self._ignore_private = params.ignore_private
        self._max_pairs = params.max_pairs

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        if proto not in {"tcp", "udp"} or dport in self._ignore:
            return False
        return dst_kind == PUBLIC or (dst_kind == PRIVATE and not self._ignore_private)

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # routed by `consumes`
        ts = flow.ts
        if ts > self._newest:  # noqa: PLR1730  # cheaper than max() on the per-flow path
            self._newest = ts
        proto = flow.proto
        if proto not in _PROTOS or not flow.saddr or flow.dport in self._ignore:
            return None
        kind = ADDRESS_KINDS[flow.daddr]
        if kind == SPECIAL or (kind == PRIVATE and self._ignore_private):
            return None
        key = (flow.saddr, flow.daddr, flow.dport, proto)
        series = self._series.get(key)
        if series is None:
            firsts = self._first
            first = firsts.get(key)
            if first is None:  # seen once (the common case)
                if len(firsts) >= self._max_pairs:
                    del firsts[next(iter(firsts))]
                    self.overflowed("first_contacts_evicted")
                firsts[key] = ts
                return None
            if ts - first < self._merge:
                return None
            del firsts[key]
            series = self._new_series(key, first)
        gap = ts - series.last
        if gap < self._merge:  # same check-in, or out of order
            return None
        series.last = ts
        series.uids.append(flow.uid)
        if gap > self._max_period:
            series.gaps.clear()
            series.n = 0
            return None
        series.gaps.append(gap)
        n = series.n = series.n + 1
        if series.next_report == 0:
            if n % self._min_intervals:
                return None
        elif n < series.next_report:
            return None
        return self._test(series, n, flow, window)

    def _new_series(self, key: tuple[str, str, int | None, str], first: float) -> _Series:
        if len(self._series) >= self.p.max_pairs:
            del self._series[next(iter(self._series))]
            self.overflowed("series_evicted")
        series = self._series[key] = _Series(first, self.p.history)
        return series

    def _test(
        self,
        series: _Series,
        n: int,
        flow: Flow,
        window: int,
    ) -> Sequence[Evidence] | None:
        p = self.p
        period, jitter, regular = periodicity(series.gaps, p.tolerance_ratio)
        reported = series.next_report > 0
        if reported:
            series.next_report *= 10
        if not (p.min_period_seconds <= period <= p.max_period_seconds):
            return None
        ratio = jitter / period
        bound = p.max_jitter_ratio
        if ratio > bound or regular < p.min_regular_share:
            bound = p.jittered_max_jitter_ratio
            if (
                len(series.gaps) < p.jittered_min_intervals
                or ratio > bound
                or regular < p.jittered_min_regular_share
            ):
                return None
        if not reported:
            if self._org_ranges.lookup(flow.daddr):
                series.next_report = 2**62  # a big provider's service: never report
                return None
            series.next_report = 100
            while series.next_report <= n:
                series.next_report *= 10
        # More check-ins and a steadier rhythm make a coincidence less likely.
        steadiness = 1.0 - ratio / bound  # 0 at the bound: a jittered series scores lower
        confidence = min(0.95, 0.4 + 0.3 * min(1.0, n / (5 * p.min_intervals)) + 0.25 * steadiness)
        port = f"{flow.dport}/{flow.proto}" if flow.dport is not None else flow.proto
        return (
            make_evidence(
                self,
                attacker=flow.saddr,
                victim=flow.daddr,
                level=ThreatLevel.MEDIUM,
                confidence=confidence,
                ts=flow.ts,
                window=window,
                description=(
                    f"Periodic beaconing from {flow.saddr} to {flow.daddr} {port}: "
                    f"{n + 1} check-ins every {period:.1f} s (median), jitter "
                    f"±{jitter:.1f} s ({100 * ratio:.1f}% of the period, MAD), "
                    f"{100 * regular:.0f}% of the last {len(series.gaps)} intervals within "
                    f"{100 * p.tolerance_ratio:.0f}% of the period"
                ),
                technique="T1071",  # Application Layer Protocol (C&C check-ins)
                uids=tuple(series.uids),
                dport=flow.dport,
                proto=flow.proto,
                count=n + 1,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        horizon = self._newest - self.p.max_period_seconds
        for key in [k for k, s in self._series.items() if s.last < horizon]:
            del self._series[key]
        for key in [k for k, t in self._first.items() if t < horizon]:
            del self._first[key]
        return None
