"""Per-IP behavioural profiles in time windows, with bounded memory.

A profile is an IP address; its activity is cut into windows of fixed width
(default one hour), numbered `int(ts // width)` so every agent and every run
agrees on window boundaries. Only open windows are kept in memory: when the
pipeline closes a window, its counters become a `ProfileSummary` (stored, then
forgotten here). With direction "out" only flow sources get profiles; with
"all" destinations get an inbound view too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from detection.model import Flow, ProfileSummary

__all__ = ["ProfileTracker"]


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


class ProfileTracker:
    def __init__(self, direction: Literal["out", "all"] = "out") -> None:
        self.direction = direction
        self._open: dict[tuple[str, int], _Window] = {}
        self.profiles_seen: set[str] = set()

    def __len__(self) -> int:
        return len(self._open)

    def _window(self, ip: str, window: int, ts: float) -> _Window:
        key = (ip, window)
        w = self._open.get(key)
        if w is None:
            w = self._open[key] = _Window(ts, ts)
            self.profiles_seen.add(ip)
        return w

    def observe_flow(self, flow: Flow, window: int) -> None:
        ts = flow.ts
        w = self._window(flow.saddr, window, ts)
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
            d.flows_in += 1
            d.bytes_in += flow.sbytes
            d.bytes_out += flow.dbytes
            d.pkts_in += flow.spkts
            d.pkts_out += flow.dpkts
            d.end = max(d.end, ts)

    def add_evidence(self, ip: str, window: int, ts: float, score: float) -> None:
        w = self._window(ip, window, ts)
        w.evidence += 1
        w.score += score

    def add_alert(self, ip: str, window: int, ts: float) -> None:
        self._window(ip, window, ts).alerts += 1

    def close(self, upto_window: int | None = None) -> list[ProfileSummary]:
        """Summarise and forget windows <= `upto_window` (all when None)."""
        keys = [k for k in self._open if upto_window is None or k[1] <= upto_window]
        out = []
        for key in keys:
            w = self._open.pop(key)
            out.append(
                ProfileSummary(
                    ip=key[0],
                    timewindow=key[1],
                    start=w.start,
                    end=w.end,
                    flows_out=w.flows_out,
                    flows_in=w.flows_in,
                    bytes_out=w.bytes_out,
                    bytes_in=w.bytes_in,
                    pkts_out=w.pkts_out,
                    pkts_in=w.pkts_in,
                    distinct_dsts=len(w.dsts),
                    distinct_dports=len(w.dports),
                    evidence=w.evidence,
                    score=round(w.score, 6),
                    alerts=w.alerts,
                )
            )
        return out
