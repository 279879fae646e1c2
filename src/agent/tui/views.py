"""What the terminal view shows, computed from the API's JSON: pure functions, no I/O.

`Model` holds the records the view knows (loaded pages plus live stream events,
deduplicated by their `id`) and answers the overview's questions: counts, the
per-minute sparkline, top attackers, flows per second between two `/metrics`
samples. The textual widgets (`agent.tui.app`) only render what this returns, so
this is tested without a terminal.

Times: evidence and alerts carry the time of the traffic (`ts`, which for a
replayed capture is the capture's clock); the sparkline counts per minute of
that time, ending at the newest record's minute. Decisions carry wall-clock
`created`/`expires`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agent.tui.promtext import Metrics

__all__ = [
    "Model",
    "TopAttacker",
    "decision_state",
    "duration",
    "num",
    "per_minute",
    "short_peer",
    "when",
]

_LEVELS = ("info", "low", "medium", "high", "critical")
MAX_KEPT = 5000  # records of each kind kept in memory (the newest)


def num(value: object, default: float = 0.0) -> float:
    """A finite number from JSON, or `default` (the agent's data is trusted, not assumed)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    except (OverflowError, OSError, ValueError):
        return f"{ts:.0f}"


def duration(seconds: float | None) -> str:
    """`1.2 s`, `3 min`, `5.0 h`, `12 d` — or `-`."""
    if seconds is None or math.isnan(seconds):
        return "-"
    s = abs(seconds)
    sign = "-" if seconds < 0 else ""
    if s < 60:
        return f"{sign}{s:.1f} s"
    if s < 3600:
        return f"{sign}{s / 60:.0f} min"
    if s < 86400:
        return f"{sign}{s / 3600:.1f} h"
    return f"{sign}{s / 86400:.0f} d"


def short_peer(peer_id: str) -> str:
    return peer_id if len(peer_id) <= 20 else f"{peer_id[:8]}…{peer_id[-8:]}"


def per_minute(timestamps: list[float], minutes: int = 60) -> list[int]:
    """Counts per minute over the `minutes` minutes ending at the newest timestamp's."""
    if not timestamps:
        return [0] * minutes
    last = math.floor(max(timestamps) / 60)
    counts = [0] * minutes
    for ts in timestamps:
        back = last - math.floor(ts / 60)
        if 0 <= back < minutes:
            counts[minutes - 1 - back] += 1
    return counts


def decision_state(d: dict[str, Any], now: float) -> str:
    if d.get("lifted") is not None:
        state = "lifted"
    elif num(d.get("expires")) <= now:
        state = "expired"
    else:
        state = "active"
    return state + (" (dry-run)" if d.get("dry_run") else "")


@dataclass(frozen=True)
class TopAttacker:
    ip: str
    alerts: int
    evidence: int
    max_level: str
    types: tuple[str, ...]
    last_ts: float


@dataclass
class Model:
    """Records by id, newest last; counts from the last `/metrics` plus what came live."""

    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    peers: dict[str, Any] | None = None
    health: dict[str, Any] | None = None
    dry_run: bool | None = None
    metrics: Metrics | None = None
    metrics_at: float | None = None  # monotonic time of `metrics`
    flows_per_second: float | None = None
    stored_alerts: int | None = None  # from /metrics at the last refresh
    stored_evidence: int | None = None
    live_alerts: int = 0  # new alert ids seen on the stream since that refresh
    live_evidence: int = 0
    _live_at: dict[str, float] = field(default_factory=dict)  # id -> when it came live

    # -- loading ------------------------------------------------------------------------

    def load(self, kind: str, items: list[dict[str, Any]], started: float | None = None) -> None:
        """Replace `kind`'s records with a freshly loaded page (any order).

        Records that came live at or after `started` (when the page was asked for)
        are kept, and win over the page's copy: they are at least as new."""
        table: dict[str, dict[str, Any]] = getattr(self, kind)
        fresh = {}
        if started is not None:
            fresh = {k: r for k, r in table.items() if self._live_at.get(k, -math.inf) >= started}
        rows = sorted(items, key=_order_key(kind))
        merged = {str(r.get("id")): r for r in rows[-MAX_KEPT:]}
        merged.update(fresh)
        setattr(self, kind, merged)
        self._live_at = {k: t for k, t in self._live_at.items() if started and t >= started}

    def add(self, kind: str, record: dict[str, Any], at: float = 0.0) -> bool:
        """A live record (alert, evidence, decision) received at `at`; True if it was new."""
        table: dict[str, dict[str, Any]] = getattr(self, kind)
        key = str(record.get("id"))
        new = key not in table
        table.pop(key, None)
        table[key] = record  # decisions come again when lifted: the newest copy wins
        self._live_at[key] = at
        if len(table) > MAX_KEPT:
            del table[next(iter(table))]
        if new and kind == "alerts":
            self.live_alerts += 1
        elif new and kind == "evidence":
            self.live_evidence += 1
        return new

    def set_metrics(self, metrics: Metrics, at: float) -> None:
        before = self.metrics.value("starling_flows_total") if self.metrics else None
        now_flows = metrics.value("starling_flows_total")
        if (
            before is not None
            and now_flows is not None
            and self.metrics_at is not None
            and at > self.metrics_at
        ):
            self.flows_per_second = max(0.0, (now_flows - before) / (at - self.metrics_at))
        self.metrics, self.metrics_at = metrics, at
        stored = metrics.by("starling_store_items", "kind")
        self.stored_alerts = int(stored["alerts"]) if "alerts" in stored else None
        self.stored_evidence = int(stored["evidence"]) if "evidence" in stored else None
        self.live_alerts = self.live_evidence = 0

    # -- questions ----------------------------------------------------------------------

    def alert_count(self) -> int:
        if self.stored_alerts is None:
            return len(self.alerts)
        return max(self.stored_alerts + self.live_alerts, len(self.alerts))

    def evidence_count(self) -> int:
        if self.stored_evidence is None:
            return len(self.evidence)
        return max(self.stored_evidence + self.live_evidence, len(self.evidence))

    def newest(self, kind: str) -> list[dict[str, Any]]:
        table: dict[str, dict[str, Any]] = getattr(self, kind)
        return sorted(table.values(), key=_order_key(kind), reverse=True)

    def sparkline(self, kind: str, minutes: int = 60) -> list[int]:
        table: dict[str, dict[str, Any]] = getattr(self, kind)
        return per_minute([num(r["ts"]) for r in table.values() if _num(r.get("ts"))], minutes)

    def top_attackers(self, n: int = 10) -> list[TopAttacker]:
        alerts: Counter[str] = Counter()
        evidence: Counter[str] = Counter()
        level: dict[str, int] = {}
        types: dict[str, set[str]] = {}
        last: dict[str, float] = {}
        for a in self.alerts.values():
            ip = str(a.get("profile"))
            alerts[ip] += 1
            last[ip] = max(last.get(ip, -math.inf), num(a.get("ts")))
        for e in self.evidence.values():
            if not e.get("attacker"):
                continue
            ip = str(e["attacker"])
            evidence[ip] += 1
            lv = str(e.get("threat_level"))
            rank = _LEVELS.index(lv) if lv in _LEVELS else -1
            level[ip] = max(level.get(ip, -1), rank)
            types.setdefault(ip, set()).add(str(e.get("type")))
            last[ip] = max(last.get(ip, -math.inf), num(e.get("ts")))
        ips = set(alerts) | set(evidence)
        ranked = sorted(ips, key=lambda ip: (alerts[ip], level.get(ip, -1), evidence[ip], ip))
        out = []
        for ip in reversed(ranked[-n:] if n else []):
            rank = level.get(ip, -1)
            out.append(
                TopAttacker(
                    ip,
                    alerts[ip],
                    evidence[ip],
                    _LEVELS[rank] if rank >= 0 else "-",
                    tuple(sorted(types.get(ip, ()))),
                    last[ip],
                )
            )
        return out

    def active_decisions(self, now: float) -> int:
        return sum(
            1 for d in self.decisions.values() if decision_state(d, now).startswith("active")
        )


def _num(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _order_key(kind: str) -> Any:
    field_name = "created" if kind == "decisions" else "ts"

    def key(r: dict[str, Any]) -> tuple[float, str]:
        v = r.get(field_name)
        return (
            num(v),
            str(r.get("id")),
        )

    return key
