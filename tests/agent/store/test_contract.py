"""The Store contract, run unchanged against every backend (SQLite and a real Redis).

A behaviour belongs here when the API, the CLI or the runner may rely on it
whatever backend is configured; backend-specific guarantees (WAL, a second OS
process reading a SQLite file) are the few tests at the end.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.blocking.decision import Decision
from agent.store import open_store
from agent.store.base import Store, StoreError
from agent.store.redis_store import RedisStore
from agent.store.sqlite import SqliteStore
from detection.model import Alert, Evidence, ProfileSummary, ThreatLevel
from p2p.reports import VerifiedReport
from p2p.signing import Identity
from p2p.wire import IocReport, decode, seal

Opener = Callable[[], Store]

IPS = ["10.0.0.1", "10.0.0.10", "10.0.0.2", "192.168.1.1", "fe80::1"]
TYPES = ["PortScan", "DnsTunnel", "C2Beacon"]


def ev(
    attacker: str = "10.0.0.1",
    ts: float = 1.0,
    *,
    victim: str | None = None,
    type: str = "PortScan",
    source: str = "local:portscan",
    **kw: Any,
) -> Evidence:
    return Evidence(
        type=type,
        attacker=attacker,
        victim=victim,
        threat_level=ThreatLevel.HIGH,
        confidence=0.75,
        ts=ts,
        timewindow=int(ts // 3600),
        description=f"{type} from {attacker}",
        source=source,
        uids=("C1", "C2"),
        dport=22,
        proto="tcp",
        **kw,
    )


def alert(profile: str = "10.0.0.1", ts: float = 1.0, n: int = 0) -> Alert:
    return Alert(
        profile=profile,
        timewindow=int(ts // 3600),
        ts=ts,
        score=1.2,
        threshold=1.0,
        evidence_ids=(f"e{n}", f"f{n}"),
        evidence_types=("PortScan",),
        victims=("10.0.0.9",),
        uids=("C1",),
        confidence=0.8,
        threat_level=ThreatLevel.CRITICAL,
        description="scan",
    )


def profile(ip: str = "10.0.0.1", timewindow: int = 0, flows: int = 1) -> ProfileSummary:
    return ProfileSummary(
        ip=ip,
        timewindow=timewindow,
        start=timewindow * 3600.0,
        end=timewindow * 3600.0 + 10.5,
        flows_out=flows,
        flows_in=2,
        bytes_out=300,
        bytes_in=400,
        pkts_out=5,
        pkts_in=6,
        distinct_dsts=7,
        distinct_dports=8,
        evidence=1,
        score=0.4,
        alerts=0,
    )


def by_ts_id(items: list[Evidence]) -> list[Evidence]:
    return sorted(items, key=lambda e: (e.ts, e.id))


PEERS = [
    "12D3KooWAzYxRJ5oF3JbZ4mXtqgbD5ZtDx3fxh3k7aQ2EwYr9xTz",
    "12D3KooWBvU5p1dG9bqHNhLW7k5E6nZqKx3RDZzq8nEYvW7cJmNd",
    "12D3KooWAzYxRJ5oF3JbZ4mXtqgbD5ZtDx3fxh3k7aQ2EwYr9xTzz",  # the first plus one char
]
# Not valid UTF-8, a NUL, every byte value: the envelope is opaque bytes.
ENVELOPE = b"\x93\x01\xc4\x00\xff\xfe\x00" + bytes(range(256))


def report(
    value: str = "10.0.0.1",
    received_at: float = 1.0,
    *,
    n: int = 0,
    sender: str = PEERS[0],
    **kw: Any,
) -> VerifiedReport:
    fields: dict[str, Any] = {
        "message_id": f"{n:032x}",
        "sender": sender,
        "relay": PEERS[1],
        "kind": "ip",
        "value": value,
        "score": 0.9,
        "confidence": 0.8,
        "evidence_types": ("horizontal_port_scan", "C2Beacon"),
        "window": 474_000,
        "ttl": 3600,
        "description": f"scan #{n} – ünïcode",
        "signed_at": received_at - 0.25,
        "received_at": received_at,
        "envelope": ENVELOPE + n.to_bytes(4, "big"),
    }
    return VerifiedReport(**(fields | kw))


def by_received_id(items: list[VerifiedReport]) -> list[VerifiedReport]:
    return sorted(items, key=lambda r: (r.received_at, r.message_id))


def decision(
    value: str = "10.0.0.1", created: float = 100.0, ttl: float = 60.0, **kw: Any
) -> Decision:
    fields: dict[str, Any] = {
        "value": value,
        "scope": "range" if "/" in value else "ip",
        "reason": "scan – ünïcode",
        "origin": "local-alert",
        "evidence_ids": ("e1", "e2"),
        "created": created,
        "expires": created + ttl,
    }
    return Decision(**(fields | kw))


# --- round trip, idempotency, counts, meta -------------------------------------------------


def test_empty_store(store: Store) -> None:
    assert store.counts() == {"evidence": 0, "alerts": 0, "profiles": 0, "reports": 0}
    assert store.evidence() == []
    assert store.alerts() == []
    assert store.profiles() == []
    assert store.reports() == []
    assert store.get_meta("missing") is None


def test_round_trip_equals_originals(store: Store) -> None:
    evidence = [
        ev(ts=2.5, victim="10.0.0.9", count=40, attack_technique="T1046"),
        ev("fe80::1", ts=1.25, type="DnsTunnel", source="peer:abc", profile="10.0.0.9"),
    ]
    alerts = [alert(ts=3.0), alert("10.0.0.2", ts=1.0, n=1)]
    profiles = [profile(), profile("10.0.0.2", 3)]
    store.add_evidence(evidence)
    store.add_alerts(alerts)
    store.add_profiles(profiles)
    assert store.evidence() == [evidence[1], evidence[0]]
    assert store.alerts() == [alerts[1], alerts[0]]
    assert store.profiles() == profiles
    assert store.counts() == {"evidence": 2, "alerts": 2, "profiles": 2, "reports": 0}


def test_reinsert_is_idempotent(store: Store) -> None:
    evidence = [ev(ts=float(i)) for i in range(5)]
    alerts = [alert(n=i) for i in range(3)]
    store.add_evidence(evidence + evidence[:2])  # duplicates inside one batch too
    store.add_evidence(evidence)
    store.add_alerts(alerts)
    store.add_alerts(alerts + alerts)
    store.add_evidence([])
    store.add_alerts([])
    store.add_profiles([])
    assert store.counts() == {"evidence": 5, "alerts": 3, "profiles": 0, "reports": 0}
    assert store.evidence() == evidence
    assert store.alerts() == sorted(alerts, key=lambda a: (a.ts, a.id))


def test_first_write_wins_for_an_existing_id(store: Store) -> None:
    first = ev(ts=1.0)
    again = dataclasses.replace(first, description="new")
    assert again.id == first.id
    store.add_evidence([first])
    store.add_evidence([again])
    assert store.evidence() == [first]


def test_profiles_replace_on_same_key(store: Store) -> None:
    store.add_profiles([profile(flows=1), profile("10.0.0.2", flows=1)])
    store.add_profiles([profile(flows=99)])
    assert store.profiles(ip="10.0.0.1") == [profile(flows=99)]
    assert store.counts()["profiles"] == 2


def test_meta(store: Store) -> None:
    store.set_meta("started", "2024-01-01T00:00:00Z")
    store.set_meta("version", "1")
    store.set_meta("version", "2 – ünïcode")
    assert store.get_meta("started") == "2024-01-01T00:00:00Z"
    assert store.get_meta("version") == "2 – ünïcode"
    assert store.get_meta("other") is None


# --- filters, ordering, pagination --------------------------------------------------------


@pytest.fixture
def scene(store: Store) -> list[Evidence]:
    items = [
        ev("10.0.0.1", 5.0, victim="10.0.0.2", source="local:portscan"),
        ev("10.0.0.2", 1.0, type="DnsTunnel", source="local:dns"),
        ev("10.0.0.3", 3.0, victim="10.0.0.1", type="C2Beacon", source="peer:abc"),
        ev("10.0.0.1", 3.0, source="peer:xyz"),
        ev("10.0.0.10", 3.0, source="local:portscan"),
        ev("10.0.0.1", 7.0, type="DnsTunnel", source="local:portscan2"),
    ]
    store.add_evidence(items)
    return by_ts_id(items)


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        ({}, lambda e: True),
        ({"ip": "10.0.0.1"}, lambda e: "10.0.0.1" in (e.attacker, e.victim)),
        ({"ip": "10.0.0.2"}, lambda e: "10.0.0.2" in (e.attacker, e.victim)),
        ({"ip": "10.0.0.99"}, lambda e: False),
        ({"type": "DnsTunnel"}, lambda e: e.type == "DnsTunnel"),
        ({"since": 3.0}, lambda e: e.ts >= 3.0),
        ({"since": 3.5}, lambda e: e.ts >= 3.5),
        ({"source": "local:"}, lambda e: e.source.startswith("local:")),
        ({"source": "peer:"}, lambda e: e.source.startswith("peer:")),
        ({"source": "local"}, lambda e: e.source.startswith("local")),
        ({"source": "LOCAL:"}, lambda e: False),
        ({"source": "local:portscan"}, lambda e: e.source.startswith("local:portscan")),
        ({"source": "local:portscan2"}, lambda e: e.ts == 7.0),
        (
            {"ip": "10.0.0.1", "type": "PortScan", "since": 2.0, "source": "peer:"},
            lambda e: e.attacker == "10.0.0.1" and e.ts == 3.0,
        ),
        ({"ip": "10.0.0.1", "type": "DnsTunnel"}, lambda e: e.ts == 7.0),
        ({"type": "PortScan", "source": "local:"}, lambda e: e.source == "local:portscan"),
        (
            {"type": "PortScan", "source": "local:"},
            lambda e: e.type == "PortScan" and e.source.startswith("local:"),
        ),
    ],
)
def test_evidence_filters(
    store: Store,
    scene: list[Evidence],
    filters: dict[str, object],
    keep: Callable[[Evidence], bool],
) -> None:
    expected = [e for e in scene if keep(e)]
    assert store.evidence(**filters) == expected  # type: ignore[arg-type]


def test_evidence_ordered_by_ts_then_id(store: Store) -> None:
    items = [ev(f"10.0.0.{i}", ts=float(i % 3)) for i in range(12)]
    store.add_evidence(items[::-1])
    got = store.evidence()
    assert got == by_ts_id(items)
    assert [e.ts for e in got] == sorted(e.ts for e in got)


@pytest.mark.parametrize(
    "filters",
    [{}, {"source": "peer:"}, {"ip": "10.0.0.1", "type": "DnsTunnel"}, {"since": 500.0}],
)
def test_evidence_pagination(store: Store, filters: dict[str, object]) -> None:
    # More than one 1000-id chunk, so the Redis backend's post-filter scan pages too.
    items = [
        ev(
            "10.0.0.1" if i % 3 else "10.0.0.2",
            ts=float(i // 2),
            type=TYPES[i % 2],
            source="peer:p" if i % 2 else "local:d",
        )
        for i in range(2500)
    ]
    store.add_evidence(items)
    everything = store.evidence(**filters, limit=10_000)  # type: ignore[arg-type]
    pages = [
        store.evidence(**filters, limit=700, offset=o)  # type: ignore[arg-type]
        for o in range(0, 2800, 700)
    ]
    assert [e for page in pages for e in page] == everything
    assert all(len(page) <= 700 for page in pages)
    assert store.evidence(**filters, limit=0) == []  # type: ignore[arg-type]
    assert store.evidence(**filters, offset=10_000) == []  # type: ignore[arg-type]
    assert len(everything) > 700


def test_alert_filters_and_pagination(store: Store) -> None:
    alerts = [alert(IPS[i % 3], ts=float(i % 4), n=i) for i in range(20)]
    store.add_alerts(alerts)
    ordered = sorted(alerts, key=lambda a: (a.ts, a.id))
    assert store.alerts() == ordered
    assert store.alerts(ip="10.0.0.10") == [a for a in ordered if a.profile == "10.0.0.10"]
    assert store.alerts(since=2.0) == [a for a in ordered if a.ts >= 2.0]
    assert store.alerts(ip="10.0.0.1", since=3.0) == [
        a for a in ordered if a.profile == "10.0.0.1" and a.ts >= 3.0
    ]
    assert store.alerts(limit=7, offset=7) == ordered[7:14]
    assert store.alerts(limit=0) == []


def test_profiles_ordered_by_ip_then_timewindow(store: Store) -> None:
    # Byte order on ip ("10.0.0.1" < "10.0.0.10" < "10.0.0.2"), numeric on timewindow.
    keys = [(ip, tw) for ip in IPS for tw in (10, 2, 0, 123456789)]
    store.add_profiles([profile(ip, tw) for ip, tw in reversed(keys)])
    assert [(p.ip, p.timewindow) for p in store.profiles()] == sorted(keys)
    assert [p.timewindow for p in store.profiles(ip="10.0.0.1")] == [0, 2, 10, 123456789]
    assert store.profiles(ip="10.0.0.") == []
    assert store.profiles(limit=3, offset=5) == [profile(*k) for k in sorted(keys)[5:8]]
    assert store.profiles(ip="fe80::1", limit=2, offset=1) == [
        profile("fe80::1", 2),
        profile("fe80::1", 10),
    ]


def test_timewindow_beyond_int64_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        store.add_profiles([profile(timewindow=2**63)])


def test_negative_page_arguments_are_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.evidence(limit=-1)
    with pytest.raises(ValueError, match="offset"):
        store.alerts(offset=-1)
    with pytest.raises(ValueError, match="limit"):
        store.profiles(limit=-1)
    with pytest.raises(ValueError, match="limit"):
        store.reports(limit=-1)
    with pytest.raises(ValueError, match="offset"):
        store.reports(sender=PEERS[0], value="10.0.0.1", offset=-1)


# --- peer reports -------------------------------------------------------------------------


def test_report_round_trip_is_exact(store: Store) -> None:
    items = [
        report(received_at=2.5, n=1),
        report("fe80::1", received_at=-3.0, n=2, evidence_types=(), envelope=b""),
        report("evil.example", n=3, kind="domain", description="", score=0.0, signed_at=0.0),
        report(n=4, window=2**62, ttl=1, received_at=1e12, confidence=1.0),
    ]
    store.add_reports(items)
    got = store.reports()
    assert got == by_received_id(items)
    assert store.counts() == {"evidence": 0, "alerts": 0, "profiles": 0, "reports": 4}
    for r in got:
        assert type(r.envelope) is bytes
        assert type(r.evidence_types) is tuple
        assert all(type(getattr(r, f)) is float for f in ("score", "signed_at", "received_at"))
    assert got[0].envelope == b""
    assert got[-1].envelope == ENVELOPE + (4).to_bytes(4, "big")


def test_report_integral_floats_come_back_as_floats(store: Store) -> None:
    # JSON writes 3.0 as 3.0, but a caller may pass an int where a float is declared.
    store.add_reports([report(n=1, received_at=3, signed_at=2, score=1, confidence=0)])
    [got] = store.reports()
    assert (got.received_at, got.signed_at, got.score, got.confidence) == (3.0, 2.0, 1.0, 0.0)
    assert all(type(getattr(got, f)) is float for f in ("score", "signed_at", "received_at"))


def test_real_signed_report_round_trips_and_still_verifies(store: Store) -> None:
    alice = Identity(bytes(range(32)))
    body = IocReport("ip", "46.166.151.160", 0.9, 0.8, ("horizontal_port_scan",), 474_000, 3600)
    data = seal(alice, body, now=1000.5, nonce=b"n" * 16)
    original = VerifiedReport.from_envelope(decode(data), data, relay=PEERS[1], received_at=1001.25)
    store.add_reports([original])
    [got] = store.reports(value="46.166.151.160", sender=alice.peer_id)
    assert got == original
    env = decode(got.envelope)  # the stored bytes still carry a valid signature
    assert env.message_id == got.message_id
    assert env.sender_id == got.sender == alice.peer_id


def test_report_reinsert_is_idempotent_and_first_copy_wins(store: Store) -> None:
    items = [report(received_at=float(i), n=i) for i in range(5)]
    store.add_reports(items + items[:2])  # duplicates inside one batch too
    store.add_reports(items)
    store.add_reports([])
    assert store.counts()["reports"] == 5
    assert store.reports() == items
    # Another copy of message 3: relayed by someone else, received much later. The
    # first copy stays, and so does its place in every index and in `since`.
    late = dataclasses.replace(items[3], relay=PEERS[2], received_at=99.0, envelope=b"other")
    early = dataclasses.replace(items[4], relay=PEERS[2], received_at=-1.0)
    store.add_reports([late, early])
    assert store.reports() == items
    assert store.reports(since=50.0) == []
    assert store.reports(value="10.0.0.1", since=3.0) == items[3:]
    assert store.reports(sender=PEERS[0], limit=1) == items[:1]
    assert store.counts()["reports"] == 5


@pytest.fixture
def report_scene(store: Store) -> list[VerifiedReport]:
    items = [
        report("10.0.0.1", 5.0, n=1),
        report("10.0.0.10", 1.0, n=2),  # "10.0.0.1" is a prefix of it: value is exact
        report("10.0.0.1", 3.0, n=3, sender=PEERS[1]),
        report("10.0.0.2", 3.0, n=4, sender=PEERS[2]),  # PEERS[0] is a prefix of PEERS[2]
        report("fe80::1", 3.0, n=5, sender=PEERS[1]),
        report("10.0.0.1", 7.0, n=6, sender=PEERS[2]),
        report("", 0.5, n=7),
    ]
    store.add_reports(items[::-1])
    return by_received_id(items)


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        ({}, lambda r: True),
        ({"value": "10.0.0.1"}, lambda r: r.value == "10.0.0.1"),
        ({"value": "10.0.0.10"}, lambda r: r.value == "10.0.0.10"),
        ({"value": "10.0.0."}, lambda r: False),
        ({"value": "fe80::1"}, lambda r: r.value == "fe80::1"),
        ({"value": ""}, lambda r: r.value == ""),
        ({"sender": PEERS[0]}, lambda r: r.sender == PEERS[0]),
        ({"sender": PEERS[2]}, lambda r: r.sender == PEERS[2]),
        ({"sender": PEERS[0][:-1]}, lambda r: False),
        ({"since": 3.0}, lambda r: r.received_at >= 3.0),
        ({"since": 3.5}, lambda r: r.received_at >= 3.5),
        ({"since": -1e300}, lambda r: True),
        ({"value": "10.0.0.1", "sender": PEERS[1]}, lambda r: r.message_id == f"{3:032x}"),
        ({"value": "10.0.0.1", "sender": PEERS[2], "since": 7.0}, lambda r: r.received_at == 7),
        ({"value": "10.0.0.1", "sender": PEERS[2], "since": 7.5}, lambda r: False),
        ({"sender": PEERS[1], "since": 3.0}, lambda r: r.sender == PEERS[1]),
        (
            {"value": "10.0.0.1", "since": 4.0},
            lambda r: r.value == "10.0.0.1" and r.received_at >= 4,
        ),
    ],
)
def test_report_filters(
    store: Store,
    report_scene: list[VerifiedReport],
    filters: dict[str, object],
    keep: Callable[[VerifiedReport], bool],
) -> None:
    expected = [r for r in report_scene if keep(r)]
    assert store.reports(**filters) == expected  # type: ignore[arg-type]


def test_reports_ordered_by_received_at_then_message_id(store: Store) -> None:
    items = [report(f"10.0.0.{i}", received_at=float(i % 3), n=(i * 7) % 12) for i in range(12)]
    store.add_reports(items[::-1])
    got = store.reports()
    assert got == by_received_id(items)
    assert [r.received_at for r in got] == [0.0] * 4 + [1.0] * 4 + [2.0] * 4
    assert [r.message_id for r in got[:4]] == sorted(r.message_id for r in got[:4])


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"value": "10.0.0.1"},
        {"sender": PEERS[1]},
        {"value": "10.0.0.1", "sender": PEERS[1]},
        {"since": 500.0},
        {"value": "10.0.0.2", "sender": PEERS[0], "since": 100.0},
    ],
)
def test_report_pagination(store: Store, filters: dict[str, object]) -> None:
    # More than one 1000-id chunk (Redis post-filter scan) and one 500-report script call.
    items = [
        report(
            "10.0.0.1" if i % 3 else "10.0.0.2",
            received_at=float(i // 2),
            n=i,
            sender=PEERS[i % 2],
        )
        for i in range(2500)
    ]
    store.add_reports(items)
    assert store.counts()["reports"] == 2500
    everything = store.reports(**filters, limit=10_000)  # type: ignore[arg-type]
    assert everything == [
        r
        for r in by_received_id(items)
        if r.value == filters.get("value", r.value)
        and r.sender == filters.get("sender", r.sender)
        and r.received_at >= filters.get("since", r.received_at)  # type: ignore[operator]
    ]
    pages = [
        store.reports(**filters, limit=150, offset=o)  # type: ignore[arg-type]
        for o in range(0, 2650, 150)
    ]
    assert [r for page in pages for r in page] == everything
    assert all(len(page) <= 150 for page in pages)
    assert store.reports(**filters, limit=0) == []  # type: ignore[arg-type]
    assert store.reports(**filters, offset=10_000) == []  # type: ignore[arg-type]
    assert store.reports(**filters, limit=3, offset=1) == everything[1:4]  # type: ignore[arg-type]
    assert len(everything) > 300  # several pages


@pytest.mark.parametrize("field", ["received_at", "signed_at", "score"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_report_floats_are_refused_before_any_write(
    store: Store, field: str, bad: float
) -> None:
    with pytest.raises(StoreError, match=field):
        store.add_reports([report(n=1), report(n=2, **{"signed_at": 0.0, field: bad})])
    assert store.counts()["reports"] == 0
    assert store.reports() == []


def test_unencodable_report_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        store.add_reports([report(description="lone \ud800 surrogate")])
    with pytest.raises(StoreError):
        store.add_reports([report(window=2**64)])
    assert store.counts()["reports"] == 0


# --- decisions ------------------------------------------------------------------------------


def test_decision_round_trip_and_last_write_wins(store: Store) -> None:
    first = decision(offence=3, dry_run=True)
    other = decision("2001:db8::/64", origin="peer-consensus", evidence_ids=())
    store.add_decisions([first, other])
    assert store.decisions() == sorted([first, other], key=lambda d: d.id)  # same created
    lifted = first.lift(130.5)
    store.add_decisions([lifted])  # the same id, rewritten
    assert {d.id: d for d in store.decisions()} == {first.id: lifted, other.id: other}
    assert store.counts()["evidence"] == 0  # decisions are not findings
    assert "decisions" not in store.counts()


def test_decisions_filters_order_and_pages(store: Store) -> None:
    items = [
        decision("10.0.0.1", 100.0, 60.0),  # active in [100, 160)
        decision("10.0.0.10", 50.0, 10.0),  # expired at 60; "10.0.0.1" is a prefix: exact match
        decision("10.0.0.1", 10.0, 500.0, origin="manual"),  # active, created first
        decision("10.0.0.2", 120.0, 60.0).lift(125.0),  # lifted
        decision("10.0.0.0/24", 100.0, 60.0, dry_run=True),  # dry-run still counts as active
    ]
    store.add_decisions(items[::-1])
    ordered = sorted(items, key=lambda d: (d.created, d.id))
    assert store.decisions() == ordered
    assert store.decisions(value="10.0.0.1") == [items[2], items[0]]
    at = 130.0
    assert store.decisions(active_at=at) == [d for d in ordered if d.active(at)]
    assert {d.value for d in store.decisions(active_at=at)} == {"10.0.0.1", "10.0.0.0/24"}
    assert store.decisions(active_at=160.0) == [items[2]]  # expires is exclusive
    assert store.decisions(value="10.0.0.1", active_at=9.0) == []  # not yet created
    assert (
        store.decisions(active_at=at, limit=1, offset=1)
        == [d for d in ordered if d.active(at)][1:2]
    )
    assert store.decisions(limit=0) == []
    with pytest.raises(ValueError, match="limit and offset"):
        store.decisions(offset=-1)


def test_many_decisions_in_one_batch(store: Store) -> None:
    items = [decision(f"10.1.{i // 256}.{i % 256}", float(i), 1e6) for i in range(3000)]
    store.add_decisions(items)
    assert store.decisions(active_at=5000.0, limit=10_000) == items


# --- layout versions ----------------------------------------------------------------------


_ADDED_IN = {2: ("reports",), 3: ("decisions",)}  # layout version -> tables it added


def _as_sqlite_version(path: Path, version: int) -> None:
    """Turn a current file into exactly an older layout (drop the tables added since)."""
    con = sqlite3.connect(path)
    try:
        for added, tables in _ADDED_IN.items():
            if added > version:
                for table in tables:
                    con.execute(f"DROP TABLE {table}")  # drops its indexes too
        con.execute(f"PRAGMA user_version = {version}")
        con.commit()
    finally:
        con.close()


def _sqlite_layout(path: Path) -> tuple[int, list[str]]:
    con = sqlite3.connect(path)
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        names = [n for (n,) in con.execute("SELECT name FROM sqlite_master ORDER BY name")]
    finally:
        con.close()
    return version, names


@pytest.mark.parametrize("old", [1, 2])
def test_sqlite_older_file_is_upgraded_in_place(tmp_path: Path, old: int) -> None:
    path = tmp_path / f"v{old}.db"
    with SqliteStore(path) as s:
        s.add_evidence([ev(ts=1.0)])
        s.set_meta("k", "v")
    current = _sqlite_layout(path)
    _as_sqlite_version(path, old)
    assert _sqlite_layout(path)[0] == old
    assert "decisions" not in _sqlite_layout(path)[1]
    assert ("reports" in _sqlite_layout(path)[1]) == (old == 2)
    with SqliteStore(path) as s:
        assert s.counts() == {"evidence": 1, "alerts": 0, "profiles": 0, "reports": 0}
        assert s.get_meta("k") == "v"
        s.add_reports([report()])
        assert s.reports() == [report()]
        s.add_decisions([decision()])
        assert s.decisions() == [decision()]
    assert _sqlite_layout(path) == current == (3, current[1])


def test_sqlite_concurrent_openers_upgrade_once(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    SqliteStore(path).close()
    _as_sqlite_version(path, 1)
    barrier = threading.Barrier(6)

    def open_and_write(n: int) -> None:
        barrier.wait()
        with SqliteStore(path) as s:
            s.add_reports([report(n=n)])

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(open_and_write, range(6)))  # re-raises any opener's error
    assert _sqlite_layout(path)[0] == 3
    with SqliteStore(path) as s:
        assert s.reports() == [report(n=n) for n in range(6)]


@pytest.mark.redis
@pytest.mark.parametrize("old", [b"1", b"2"])
def test_redis_older_namespace_is_upgraded_in_place(redis_url: str, old: bytes) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    with RedisStore(redis_url, namespace=namespace) as s:
        s.add_evidence([ev(ts=1.0)])
    raw = redis.Redis.from_url(redis_url)
    try:
        raw.set(f"{namespace}:schema", old)
        with RedisStore(redis_url, namespace=namespace) as s:
            assert s.counts() == {"evidence": 1, "alerts": 0, "profiles": 0, "reports": 0}
            s.add_reports([report()])
            assert s.reports() == [report()]
            s.add_decisions([decision()])
            assert s.decisions() == [decision()]
        assert raw.get(f"{namespace}:schema") == b"3"
    finally:
        raw.close()


@pytest.mark.redis
@pytest.mark.parametrize("foreign", [b"4", b"0", b"garbage"])
def test_redis_foreign_layout_is_refused(redis_url: str, foreign: bytes) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    raw = redis.Redis.from_url(redis_url)
    try:
        raw.set(f"{namespace}:schema", foreign)
        with pytest.raises(StoreError, match=f"layout version {foreign!r}"):
            RedisStore(redis_url, namespace=namespace)
        assert raw.get(f"{namespace}:schema") == foreign  # left alone
    finally:
        raw.close()


# --- property: random report batches against a reference model ---------------------------

MESSAGE_IDS = [f"{n:032x}" for n in range(6)]
reports_st = st.builds(
    VerifiedReport,
    message_id=st.sampled_from(MESSAGE_IDS) | st.text(max_size=6),
    sender=st.sampled_from(PEERS) | st.text(max_size=6),
    relay=st.sampled_from(PEERS),
    kind=st.sampled_from(["ip", "cidr", "domain"]),
    value=st.sampled_from(IPS) | st.text(max_size=6),
    score=st.floats(0.0, 1.0),
    confidence=st.floats(0.0, 1.0),
    evidence_types=st.lists(st.text(max_size=8), max_size=3).map(tuple),
    window=st.integers(-(2**63), 2**63 - 1),
    ttl=st.integers(1, 30 * 86400),
    description=st.text(max_size=20),
    signed_at=st.floats(-1e12, 1e12),
    received_at=st.sampled_from([0.0, 1.0, 2.5]) | st.floats(-1e12, 1e12),
    envelope=st.binary(max_size=40),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batches=st.lists(st.lists(reports_st, max_size=12), max_size=4), data=st.data())
def test_random_report_batches_match_reference_model(
    new_target: Callable[[], Opener], batches: list[list[VerifiedReport]], data: st.DataObject
) -> None:
    store = new_target()()
    flat = [r for batch in batches for r in batch]
    for batch in batches:
        store.add_reports(batch)
    store.add_reports(flat[::-1])  # later copies, in any order, change nothing
    first: dict[str, VerifiedReport] = {}
    for r in flat:
        first.setdefault(r.message_id, r)
    expected = by_received_id(list(first.values()))
    assert store.reports(limit=10_000) == expected
    assert store.counts()["reports"] == len(first)

    value = data.draw(
        st.none() | st.sampled_from([r.value for r in flat] or IPS) | st.text(max_size=3),
        label="value",
    )
    sender = data.draw(
        st.none() | st.sampled_from([r.sender for r in flat] or PEERS), label="sender"
    )
    since = data.draw(
        st.none()
        | st.sampled_from([r.received_at for r in flat] or [0.0])
        | st.floats(-1e12, 1e12),
        label="since",
    )
    want = [
        r
        for r in expected
        if (value is None or r.value == value)
        and (sender is None or r.sender == sender)
        and (since is None or r.received_at >= since)
    ]
    filters = {"value": value, "sender": sender, "since": since}
    assert store.reports(**filters, limit=10_000) == want  # type: ignore[arg-type]
    limit = data.draw(st.integers(0, len(want) + 1), label="limit")
    offset = data.draw(st.integers(0, len(want) + 1), label="offset")
    page = store.reports(**filters, limit=limit, offset=offset)  # type: ignore[arg-type]
    assert page == want[offset : offset + limit]


# --- property: random batches against a reference model ----------------------------------

sources = st.sampled_from(["local:portscan", "local:dns", "peer:abc", "peer:abd", "local:"]) | (
    st.sampled_from(["local:", "peer:"]).flatmap(lambda p: st.text(max_size=6).map(p.__add__))
)
evidences = st.builds(
    Evidence,
    type=st.sampled_from(TYPES),
    attacker=st.sampled_from(IPS),
    victim=st.none() | st.sampled_from(IPS),
    threat_level=st.sampled_from(ThreatLevel),
    confidence=st.floats(0.0, 1.0),
    ts=st.sampled_from([0.0, 1.0, 2.5]) | st.floats(-1e12, 1e12, allow_nan=False),
    timewindow=st.integers(-(2**40), 2**40),
    description=st.text(max_size=20),
    source=sources,
    profile=st.sampled_from(["", *IPS]),
    uids=st.lists(st.text(max_size=8), max_size=3).map(tuple),
    dport=st.none() | st.integers(0, 65535),
    proto=st.none() | st.sampled_from(["tcp", "udp"]),
    count=st.none() | st.integers(0, 2**62),
    attack_technique=st.none() | st.just("T1046"),
)


@settings(
    max_examples=60,
    deadline=None,
    # new_target is a factory: each example opens its own fresh, empty target.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batches=st.lists(st.lists(evidences, max_size=12), max_size=4), data=st.data())
def test_random_batches_match_reference_model(
    new_target: Callable[[], Opener], batches: list[list[Evidence]], data: st.DataObject
) -> None:
    store = new_target()()
    flat = [e for batch in batches for e in batch]
    for batch in batches:
        store.add_evidence(batch)
    store.add_evidence(flat)
    first: dict[str, Evidence] = {}
    for e in flat:
        first.setdefault(e.id, e)
    expected = by_ts_id(list(first.values()))
    assert store.evidence(limit=10_000) == expected
    assert store.counts()["evidence"] == len(first)

    ip = data.draw(st.none() | st.sampled_from(IPS), label="ip")
    kind = data.draw(st.none() | st.sampled_from(TYPES), label="type")
    since = data.draw(
        st.none() | st.sampled_from([e.ts for e in flat] or [0.0]) | st.floats(-1e12, 1e12),
        label="since",
    )
    source = data.draw(
        st.none()
        | st.sampled_from([e.source for e in flat] or ["peer:"]).flatmap(
            lambda s: st.integers(0, len(s)).map(lambda k: s[:k])
        )
        | sources,
        label="source",
    )
    want = [
        e
        for e in expected
        if (ip is None or ip in (e.attacker, e.victim))
        and (kind is None or e.type == kind)
        and (since is None or e.ts >= since)
        and (not source or e.source.startswith(source))
    ]
    filters = {"ip": ip, "type": kind, "since": since, "source": source}
    assert store.evidence(**filters, limit=10_000) == want  # type: ignore[arg-type]
    limit = data.draw(st.integers(0, len(want) + 1), label="limit")
    offset = data.draw(st.integers(0, len(want) + 1), label="offset")
    page = store.evidence(**filters, limit=limit, offset=offset)  # type: ignore[arg-type]
    assert page == want[offset : offset + limit]


# --- concurrency: a second reader -------------------------------------------------------


def test_second_instance_sees_committed_data(new_target: Callable[[], Opener]) -> None:
    open_ = new_target()
    writer, reader = open_(), open_()
    assert reader.counts()["evidence"] == 0
    writer.add_evidence([ev(ts=1.0), ev(ts=2.0)])
    writer.add_alerts([alert()])
    writer.add_profiles([profile()])
    writer.add_reports([report(n=1), report(n=2)])
    writer.set_meta("k", "v")
    assert reader.counts() == {"evidence": 2, "alerts": 1, "profiles": 1, "reports": 2}
    assert reader.evidence() == writer.evidence()
    assert reader.reports() == writer.reports() == [report(n=1), report(n=2)]
    assert reader.get_meta("k") == "v"
    reader.set_meta("k", "from reader")  # and the other way round
    assert writer.get_meta("k") == "from reader"


_CHILD = """
import sys
from agent.store.sqlite import SqliteStore
with SqliteStore(sys.argv[1]) as s:
    print(s.counts()["evidence"], s.get_meta("k"), [e.ts for e in s.evidence(ip=sys.argv[2])])
"""


def _child_read(path: Path, ip: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", _CHILD, str(path), ip],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_sqlite_second_process_reads_while_writer_is_open(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "starling.db"  # parents are created
    with SqliteStore(path) as writer:
        writer.add_evidence([ev(ts=1.0), ev("10.0.0.2", ts=2.0)])
        writer.set_meta("k", "v1")
        assert _child_read(path, "10.0.0.1") == "2 v1 [1.0]"
        # A write transaction in progress (another connection) neither blocks the
        # reader nor shows it uncommitted rows.
        con = sqlite3.connect(path, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("UPDATE meta SET value = 'uncommitted' WHERE key = 'k'")
            assert _child_read(path, "10.0.0.1") == "2 v1 [1.0]"
            con.execute("ROLLBACK")
        finally:
            con.close()
        writer.add_evidence([ev(ts=3.0)])
        assert _child_read(path, "10.0.0.1") == "3 v1 [1.0, 3.0]"


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SqliteStore(path):
        con = sqlite3.connect(path)
        try:
            assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            con.close()


# --- errors -----------------------------------------------------------------------------


def _not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an sqlite file\n" * 200)
    return path


def _foreign_schema(tmp_path: Path) -> Path:
    path = tmp_path / "future.db"
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA user_version = 99")
    finally:
        con.close()
    return path


def _under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "plain-file").write_text("")
    return tmp_path / "plain-file" / "sub" / "s.db"


@pytest.mark.parametrize(
    ("make_path", "message"),
    [
        (_under_a_file, "cannot create directory"),
        (lambda tmp: tmp, "cannot open|cannot initialise"),  # a directory
        (_not_a_database, "not a database"),
        (_foreign_schema, "schema version 99"),
    ],
)
def test_sqlite_unusable_target(
    tmp_path: Path, make_path: Callable[[Path], Path], message: str
) -> None:
    path = make_path(tmp_path)
    with pytest.raises(StoreError, match=message) as info:
        SqliteStore(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "template",
    ["redis://user:s3cr%40t@127.0.0.1:{port}/0", "redis://127.0.0.1:{port}/0?password=s3cr@t"],
)
def test_redis_unreachable_target_hides_credentials(unused_port: int, template: str) -> None:
    with pytest.raises(StoreError, match=f"redis://127.0.0.1:{unused_port}/0") as info:
        RedisStore(template.format(port=unused_port))
    assert "s3cr" not in str(info.value)
    assert "user" not in str(info.value)


@pytest.mark.redis
def test_redis_wrong_password_hides_it(redis_url: str) -> None:
    url = redis_url.replace("redis://", "redis://admin:hunter2@")
    with pytest.raises(StoreError) as info:
        RedisStore(url)
    assert "hunter2" not in str(info.value)
    assert redis_url in str(info.value)


def test_closed_store_raises(store: Store) -> None:
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.evidence()
    with pytest.raises(StoreError, match="closed"):
        store.add_evidence([ev()])
    with pytest.raises(StoreError, match="closed"):
        store.reports()
    with pytest.raises(StoreError, match="closed"):
        store.add_reports([report()])
    with pytest.raises(StoreError, match="closed"):
        store.decisions()


# --- open_store -------------------------------------------------------------------------


def test_open_store_path_is_sqlite(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "a.db")) as store:
        assert isinstance(store, SqliteStore)


@pytest.mark.redis
def test_open_store_url_is_redis(redis_url: str) -> None:
    with open_store(redis_url) as store:
        assert isinstance(store, RedisStore)
        assert store.namespace == "starling"


def test_open_store_unix_socket_is_redis(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="redis store unix://"):
        open_store(f"unix://{tmp_path}/no-such.sock")


def test_source_prefix_is_literal_and_exact(store: Store) -> None:
    # LIKE/GLOB metacharacters, the highest code point (no successor), case.
    odd = ["peer:a%_", "peer:a*?[", "peer:z\U0010ffff", "peer:z\U0010ffffb", "peer:Z", "peer:zz"]
    items = [ev(ts=float(i), source=s) for i, s in enumerate(odd)]
    store.add_evidence(items)
    for prefix in [*odd, "peer:a%", "peer:a*", "peer:z", "peer:a_"]:
        assert store.evidence(source=prefix) == [e for e in items if e.source.startswith(prefix)]
