"""`/metrics`: the Prometheus text exposition format (version 0.0.4), written by hand.

Every family has `# HELP` and `# TYPE`; names start with `starling_`; counters
end in `_total`. Labels are only ever bounded, non-identifying names — an
evidence type, a drop reason, a decision origin, a store kind, an HTTP status
class — never an address or a peer ID: one series per attacker would both leak
what the agent saw to whoever scrapes it and explode the scraper's memory. As a
last line of defence `_label` refuses (replaces with "invalid") any label value
that parses as an IP address.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agent.api.feed import FeedSnapshot

__all__ = ["CONTENT_TYPE", "MetricsInput", "P2PCounts", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class P2PCounts:
    known: int
    connected: int
    accepted: int
    dropped: dict[str, int]  # by reason; "graylisted" = accepted, then refused as a liar's
    published: int
    publish_dropped: int
    events: dict[str, int]  # PeerService.counts


@dataclass
class MetricsInput:
    version: str
    uptime: float
    feed: FeedSnapshot
    store_items: Mapping[str, int]
    active_decisions: Mapping[str, int]  # by origin
    now: float
    blocking: Mapping[str, int] | None = None  # BlockingService.counts
    dry_run: bool | None = None
    p2p: P2PCounts | None = None
    intel: Mapping[str, int] | None = None  # indicators by kind
    stream_subscribers: int = 0
    stream_dropped: int = 0
    stream_published: Mapping[str, int] = field(default_factory=dict)
    requests: Mapping[str, int] = field(default_factory=dict)  # by status class
    rate_limited: int = 0


def _label(value: object) -> str:
    text = str(value)
    try:
        ipaddress.ip_address(text.split("%", maxsplit=1)[0])
        text = "invalid"
    except ValueError:
        pass
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[Mapping[str, object], float]],
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if labels:
                inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
                self.lines.append(f"{name}{{{inner}}} {_num(value)}")
            else:
                self.lines.append(f"{name} {_num(value)}")

    def one(self, name: str, kind: str, help_text: str, value: float) -> None:
        self.family(name, kind, help_text, [({}, value)])

    def by(
        self, name: str, kind: str, help_text: str, label: str, values: Mapping[str, int]
    ) -> None:
        self.family(name, kind, help_text, [({label: k}, v) for k, v in sorted(values.items())])


def render(m: MetricsInput) -> str:
    o = _Out()
    feed = m.feed
    o.one("starling_up", "gauge", "1 while the agent runs", 1)
    o.family("starling_info", "gauge", "agent version", [({"version": m.version}, 1)])
    o.one("starling_uptime_seconds", "gauge", "seconds since the agent started", m.uptime)
    # detection
    if feed.records is not None:
        o.one("starling_records_total", "counter", "records analysed", feed.records)
    if feed.flows is not None:
        o.one("starling_flows_total", "counter", "flows analysed", feed.flows or 0)
    if feed.newest_record_ts is not None:
        lag = max(0.0, m.now - feed.newest_record_ts)
        o.one(
            "starling_processing_lag_seconds",
            "gauge",
            "wall clock minus the timestamp of the newest record analysed",
            lag,
        )
    if feed.last_batch_at is not None:
        o.one(
            "starling_last_batch_age_seconds",
            "gauge",
            "seconds since the detection loop last analysed a batch",
            max(0.0, m.now - feed.last_batch_at),
        )
    o.by(
        "starling_evidence_total",
        "counter",
        "evidence produced since start, by type",
        "type",
        feed.evidence_by_type,
    )
    o.one("starling_alerts_total", "counter", "alerts raised since start", feed.alerts)
    o.by(
        "starling_lines_skipped_total",
        "counter",
        "input lines not analysed since start (malformed, unsupported, ...), by reason",
        "reason",
        feed.lines_skipped,
    )
    o.family(
        "starling_detector_state_overflow_total",
        "counter",
        "state a detector's memory cap made it evict or refuse since start "
        "(it saw less than the traffic), by detector and state",
        [
            ({"detector": detector, "state": what}, n)
            for detector, by in sorted(feed.state_overflow.items())
            for what, n in sorted(by.items())
        ],
    )
    o.by(
        "starling_detector_errors_total",
        "counter",
        "exceptions a detector raised since start (each isolated: the record went on "
        "to the other detectors), by detector",
        "detector",
        feed.detector_errors,
    )
    o.by(
        "starling_alert_evidence_types_total",
        "counter",
        "alerts raised since start, by each evidence type they contain",
        "type",
        feed.alert_evidence_types,
    )
    o.by("starling_store_items", "gauge", "records in the store", "kind", m.store_items)
    # blocking
    o.by(
        "starling_decisions_total",
        "counter",
        "blocking decisions taken since start, by origin",
        "origin",
        feed.decisions_by_origin,
    )
    o.one("starling_decisions_lifted_total", "counter", "decisions lifted since start", feed.lifted)
    o.by(
        "starling_decisions_active",
        "gauge",
        "active decisions (dry-run included), by origin",
        "origin",
        m.active_decisions,
    )
    if m.dry_run is not None:
        o.one(
            "starling_blocking_dry_run",
            "gauge",
            "1 while automatic bans are only recorded",
            m.dry_run,
        )
    if m.blocking is not None:
        o.by(
            "starling_blocking_events_total",
            "counter",
            "blocking service events, by event",
            "event",
            m.blocking,
        )
    # threat intelligence
    if m.intel is not None:
        o.by(
            "starling_intel_indicators",
            "gauge",
            "threat-intelligence indicators loaded, by kind",
            "kind",
            m.intel,
        )
    # p2p
    if m.p2p is not None:
        _p2p(o, m.p2p)
    # the API itself
    o.by(
        "starling_api_requests_total",
        "counter",
        "API requests answered, by status class",
        "code",
        m.requests,
    )
    o.one(
        "starling_api_rate_limited_total",
        "counter",
        "API requests refused with 429",
        m.rate_limited,
    )
    o.one("starling_stream_subscribers", "gauge", "open event streams", m.stream_subscribers)
    o.one(
        "starling_stream_dropped_subscribers_total",
        "counter",
        "event streams closed because the client was too slow",
        m.stream_dropped,
    )
    o.by(
        "starling_stream_events_total",
        "counter",
        "events published to the stream, by kind",
        "kind",
        m.stream_published,
    )
    return "\n".join(o.lines) + "\n"


def _p2p(o: _Out, p: P2PCounts) -> None:
    o.family(
        "starling_peers",
        "gauge",
        "peers, by state",
        [({"state": "connected"}, p.connected), ({"state": "known"}, p.known)],
    )
    o.one("starling_p2p_peers_connected", "gauge", "connected peers", p.connected)
    inbox_drops = sum(v for k, v in p.dropped.items() if k != "graylisted")
    o.one(
        "starling_p2p_messages_in_total",
        "counter",
        "gossip messages received",
        p.accepted + inbox_drops,
    )
    o.one(
        "starling_p2p_messages_accepted_total",
        "counter",
        "gossip messages that passed the checks",
        p.accepted,
    )
    o.by(
        "starling_p2p_messages_dropped_total",
        "counter",
        "gossip messages dropped, by reason",
        "reason",
        p.dropped,
    )
    o.one("starling_p2p_messages_out_total", "counter", "messages published", p.published)
    o.one(
        "starling_p2p_published_total", "counter", "messages published (same as _out_)", p.published
    )
    o.one(
        "starling_p2p_publish_dropped_total",
        "counter",
        "outgoing messages dropped (queue full)",
        p.publish_dropped,
    )
    o.by(
        "starling_p2p_events_total",
        "counter",
        "peering events (reports received, confirmations, contradictions, disputes...)",
        "event",
        p.events,
    )
