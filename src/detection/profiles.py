"""Per-IP behavioural profiles in time windows, with bounded memory.

A profile is an IP address; its activity is cut into windows of fixed width
(default one hour), numbered `int(ts // width)` so every agent and every run
agrees on window boundaries. Only open windows are kept in memory: when the
pipeline closes a window, its counters become a `ProfileSummary` (stored, then
forgotten here). With direction "out" only flow sources get profiles; with
"all" destinations get an inbound view too.

Late records
------------
A record for a window that is already closed (out-of-order input) re-opens
that (ip, window), and the window is summarised again when the pipeline next
closes windows. The store keeps one summary per (ip, window) and replaces it,
so the re-emitted summary must be the merged total, not just the late part.
Hence the tracker keeps the summaries of the last `late_windows` closed
windows and a re-opened window starts from its previous summary's counters.
Distinct destinations/ports cannot be merged exactly (the sets are gone): the
previous count is kept as a floor, so the merged value is a lower bound.

A late record for a window older than that (more than `late_windows` windows
before the newest closed one) is not added to any profile: its stored summary
is unknown here and would be replaced by a partial one. Such updates are
counted in `late_updates_dropped`; the record itself is still analysed by the
detectors (the pipeline drops nothing).

Counters saturate at `MAX_COUNT` (2**63 - 1) in a summary: each parsed count
is at most that, but a window's sum of them is not, and a store holds 64 bits.

Counting profiles
-----------------
`profiles_seen` is capped at `MAX_TRACKED_PROFILES` addresses. Up to the cap
`profiles_count` is exact; beyond it new addresses cannot be told from known
ones, so `profiles_count` is a lower bound and `profiles_capped` is True.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from detection.model import Flow, ProfileSummary

__all__ = ["MAX_COUNT", "MAX_TRACKED_PROFILES", "ProfileTracker"]

MAX_TRACKED_PROFILES = 1_000_000
MAX_COUNT = 2**63 - 1  # the largest counter a store holds (SQLite INTEGER, int64)


def _sat(n: int) -> int:
    return n if n <= MAX_COUNT else MAX_COUNT


@dataclass(slots=True)
class _Window:
    start: float
    end: float
    flows_out: int = 0
    flows_in: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    pkts_out: int = 0
    pkts_in: int = 0
    dsts: set[str] = field(default_factory=set)
    dports: set[int | None] = field(default_factory=set)
    evidence: int = 0
    score: float = 0.0
    alerts: int = 0
    # Floors from an earlier summary of the same (ip, window), see "Late records".
    min_dsts: int = 0
    min_dports: int = 0

    @classmethod
    def resumed(cls, s: ProfileSummary, ts: float) -> _Window:
        return cls(
            min(s.start, ts),
            max(s.end, ts),
            s.flows_out,
            s.flows_in,
            s.bytes_out,
            s.bytes_in,
            s.pkts_out,
            s.pkts_in,
            evidence=s.evidence,
            score=s.score,
            alerts=s.alerts,
            min_dsts=s.distinct_dsts,
            min_dports=s.distinct_dports,
        )


class ProfileTracker:
    def __init__(
        self,
        direction: Literal["out", "all"] = "out",
        late_windows: int = 24,
        max_profiles: int = MAX_TRACKED_PROFILES,
    ) -> None:
        self.direction = direction
        self.late_windows = late_windows
        self.max_profiles = max_profiles
        self._open: dict[tuple[str, int], _Window] = {}
        # window -> ip -> last summary emitted, for the last `late_windows` closed windows
        self._closed: dict[int, dict[str, ProfileSummary]] = {}
        self._closed_upto: int | None = None
        self.profiles_seen: set[str] = set()
        self.profiles_capped = False
        self.late_updates_dropped = 0

    def __len__(self) -> int:
        return len(self._open)

    @property
    def profiles_count(self) -> int:
        """Distinct profiles seen: exact, or a lower bound when `profiles_capped`."""
        return len(self.profiles_seen)

    def _window(self, ip: str, window: int, ts: float) -> _Window | None:
        key = (ip, window)
        w = self._open.get(key)
        if w is None:
            w = self._reopen(ip, window, ts)
            if w is None:
                return None
            self._open[key] = w
            seen = self.profiles_seen
            if len(seen) < self.max_profiles:
                seen.add(ip)
            elif ip not in seen:
                self.profiles_capped = True
        return w

    def _reopen(self, ip: str, window: int, ts: float) -> _Window | None:
        """A new `_Window`, resumed from its last summary if it was closed (see header)."""
        upto = self._closed_upto
        if upto is None or window > upto:
            return _Window(ts, ts)
        if window <= upto - self.late_windows:
            self.late_updates_dropped += 1
            return None
        previous = self._closed.get(window, {}).get(ip)
        return _Window(ts, ts) if previous is None else _Window.resumed(previous, ts)

    def observe_flow(self, flow: Flow, window: int) -> None:
        ts = flow.ts
        w = self._open.get((flow.saddr, window))  # the common case, inline
        if w is None:
            w = self._window(flow.saddr, window, ts)
        if w is not None:
            w.flows_out += 1
            w.bytes_out += flow.sbytes
            w.bytes_in += flow.dbytes
            w.pkts_out += flow.spkts
            w.pkts_in += flow.dpkts
            w.dsts.add(flow.daddr)
            w.dports.add(flow.dport)
            if ts < w.start:
                w.start = ts
            elif ts > w.end:
                w.end = ts
        if self.direction == "all":
            d = self._window(flow.daddr, window, ts)
            if d is not None:
                d.flows_in += 1
                d.bytes_in += flow.sbytes
                d.bytes_out += flow.dbytes
                d.pkts_in += flow.spkts
                d.pkts_out += flow.dpkts
                d.start = min(d.start, ts)
                d.end = max(d.end, ts)

    def add_evidence(self, ip: str, window: int, ts: float, score: float) -> None:
        w = self._window(ip, window, ts)
        if w is not None:
            w.evidence += 1
            w.score += score

    def add_alert(self, ip: str, window: int, ts: float) -> None:
        w = self._window(ip, window, ts)
        if w is not None:
            w.alerts += 1

    def close(self, upto_window: int | None = None) -> list[ProfileSummary]:
        """Summarise and forget windows <= `upto_window` (all when None)."""
        keys = [k for k in self._open if upto_window is None or k[1] <= upto_window]
        out = []
        keep = upto_window is not None and self.late_windows > 0
        for key in keys:
            w = self._open.pop(key)
            summary = ProfileSummary(
                ip=key[0],
                timewindow=key[1],
                start=w.start,
                end=w.end,
                flows_out=w.flows_out,
                flows_in=w.flows_in,
                bytes_out=_sat(w.bytes_out),
                bytes_in=_sat(w.bytes_in),
                pkts_out=_sat(w.pkts_out),
                pkts_in=_sat(w.pkts_in),
                distinct_dsts=max(len(w.dsts), w.min_dsts),
                distinct_dports=max(len(w.dports), w.min_dports),
                evidence=w.evidence,
                score=round(w.score, 6),
                alerts=w.alerts,
            )
            out.append(summary)
            if keep:
                self._closed.setdefault(key[1], {})[key[0]] = summary
        if upto_window is not None:
            if self._closed_upto is None or upto_window > self._closed_upto:
                self._closed_upto = upto_window
            oldest_kept = self._closed_upto - self.late_windows
            for window in [w for w in self._closed if w <= oldest_kept]:
                del self._closed[window]
        else:
            self._closed.clear()
        return out
