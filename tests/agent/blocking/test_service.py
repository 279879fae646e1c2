"""The blocking step, scripted: alerts and operator commands in, decisions and bans out.

The memory backend is the kernel's twin; the store is a real SQLite file.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.blocking.guard import Guard
from agent.blocking.memory import MemoryBlocker
from agent.blocking.policy import Policy
from agent.blocking.service import BlockingService, Refused, RestoreResult
from agent.blocking.target import BadTarget
from agent.store.sqlite import SqliteStore
from detection.model import Alert, Evidence, ThreatLevel

ATTACKER = "203.0.113.9"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "s.db") as s:
        yield s


def service(
    store: SqliteStore, clock: Clock, *, dry_run: bool = False, blocker: MemoryBlocker | None = None
) -> BlockingService:
    return BlockingService(
        blocker or MemoryBlocker(clock=clock),
        store,
        Guard([("192.0.2.1", "default gateway")]),
        Policy(ttl=100, factor=2, max_ttl=1000, jitter=0.1),
        dry_run=dry_run,
        clock=clock,
        rng=random.Random(3),
    )


def alert(profile: str = ATTACKER, types: tuple[str, ...] = ("horizontal_port_scan",)) -> Alert:
    return Alert(
        profile=profile,
        timewindow=0,
        ts=1.0,
        score=20.0,
        threshold=15.0,
        evidence_ids=("ev-1", "ev-2"),
        evidence_types=types,
        victims=(),
        uids=(),
        confidence=0.9,
        threat_level=ThreatLevel.HIGH,
        description=f"{profile} scanned",
    )


def banned(svc: BlockingService) -> set[str]:
    return {b.value for b in svc.blocker.list()}


def test_local_and_peer_alerts_go_through_one_policy(store: SqliteStore, clock: Clock) -> None:
    svc = service(store, clock)
    local = svc.on_finding(alert())
    assert local is not None and local.origin == "local-alert"
    assert local.evidence_ids == ("ev-1", "ev-2") and 90 <= local.ttl <= 110
    assert banned(svc) == {ATTACKER}
    peer = svc.on_finding(alert("198.51.100.7", ("peer_consensus",)))
    assert peer is not None and peer.origin == "peer-consensus"
    assert banned(svc) == {ATTACKER, "198.51.100.7"}
    assert store.decisions(active_at=clock.now) == sorted([local, peer], key=lambda d: d.id)
    assert svc.counts["blocked_local-alert"] == svc.counts["blocked_peer-consensus"] == 1


def test_evidence_is_not_a_decision_and_repeats_do_not_stack(
    store: SqliteStore, clock: Clock
) -> None:
    svc = service(store, clock)
    ev = Evidence(
        type="horizontal_port_scan",
        attacker=ATTACKER,
        victim=None,
        threat_level=ThreatLevel.HIGH,
        confidence=1.0,
        ts=1.0,
        timewindow=0,
        description="d",
        source="local:horizontal_port_scan",
    )
    assert svc.on_finding(ev) is None
    assert svc.on_finding(alert()) is not None
    assert svc.on_finding(alert()) is None  # still banned
    assert svc.counts["already_active"] == 1
    clock.now += 500  # expired (kernel and store agree)
    assert banned(svc) == set()
    again = svc.on_finding(alert())
    assert again is not None and again.offence == 2 and 180 <= again.ttl <= 220


def test_dry_run_stores_and_logs_but_applies_nothing(
    store: SqliteStore, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    svc = service(store, clock, dry_run=True)
    assert svc.start() == RestoreResult(0, 0, 0)  # nothing restored into a dry-run
    d = svc.on_finding(alert())
    assert d is not None and d.dry_run
    assert banned(svc) == set()
    assert "dry-run: would block 203.0.113.9" in caplog.text
    manual = svc.add("198.51.100.7", ttl=50, reason="op", now=clock.now)  # manual: applied
    assert not manual.dry_run and banned(svc) == {"198.51.100.7"}
    noted = svc.add("198.51.100.8", ttl=50, reason="op", now=clock.now, dry_run=True)
    assert noted.dry_run and banned(svc) == {"198.51.100.7"}
    assert {d.value for d in store.decisions(active_at=clock.now)} == {
        ATTACKER,
        "198.51.100.7",
        "198.51.100.8",
    }
    # A restarted, enabled agent restores real decisions only.
    blocker = MemoryBlocker(clock=clock)
    service(store, clock, blocker=blocker).start()
    assert set(blocker.bans) == {"198.51.100.7"}


def test_refusals_are_logged_counted_and_never_stored(
    store: SqliteStore, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    svc = service(store, clock)
    assert svc.on_finding(alert("192.0.2.1")) is None
    assert svc.on_finding(alert("::ffff:127.0.0.1")) is None
    with pytest.raises(
        Refused, match=r"refusing to block 192\.0\.2\.0/30: default gateway 192\.0\.2\.1"
    ):
        svc.add("192.0.2.0/30", ttl=10, reason="op", now=clock.now)
    with pytest.raises(BadTarget):
        svc.add("nope", ttl=10, reason="op", now=clock.now)
    assert svc.counts["refused"] == 3
    assert store.decisions() == [] and banned(svc) == set()
    assert "refused to block 127.0.0.1 (local-alert): loopback" in caplog.text


def test_manual_add_supersedes_remove_and_flush_lift(store: SqliteStore, clock: Clock) -> None:
    svc = service(store, clock)
    auto = svc.on_finding(alert())
    assert auto is not None
    manual = svc.add(ATTACKER, ttl=5000, reason="op", now=clock.now)
    assert manual.ttl == 5000
    assert store.decisions(active_at=clock.now) == [manual]  # the automatic one was lifted
    lifted = svc.remove("::ffff:" + ATTACKER, clock.now)
    assert [d.id for d in lifted] == [manual.id] and banned(svc) == set()
    svc.add("198.51.100.0/24", ttl=60, reason="op", now=clock.now)
    svc.add("2001:db8::5", ttl=60, reason="op", now=clock.now)
    assert len(svc.flush(clock.now)) == 2
    assert store.decisions(active_at=clock.now) == [] and banned(svc) == set()
    assert all(d.lifted is not None for d in store.decisions())


def test_restore_reapplies_active_bans_in_one_batch(store: SqliteStore, clock: Clock) -> None:
    first = service(store, clock)
    for i in range(50):
        first.add(f"198.51.100.{i}", ttl=100 + i, reason="op", now=clock.now)
    first.on_finding(alert())
    store.add_decisions([d.lift(clock.now) for d in store.decisions(value="198.51.100.0")])
    clock.now += 60
    # A new process: a fresh kernel twin, the same store; one value is now protected.
    blocker = MemoryBlocker(clock=clock)
    restarted = BlockingService(
        blocker,
        store,
        Guard([("198.51.100.1", "Starling peer")]),
        Policy(ttl=100),
        dry_run=False,
        clock=clock,
    )
    result = restarted.start()
    assert (result.applied, result.refused, result.failed) == (49, 1, 0)
    assert blocker.batches == 1
    assert "198.51.100.0" not in blocker.bans and "198.51.100.1" not in blocker.bans
    left = {b.value: b.expires_in for b in blocker.list()}
    assert left["198.51.100.49"] == pytest.approx(149 - 60, abs=1)  # remaining time only


def test_a_refused_batch_is_retried_one_by_one(store: SqliteStore, clock: Clock) -> None:
    first = service(store, clock)
    for value in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        first.add(value, ttl=100, reason="op", now=clock.now)
    blocker = MemoryBlocker(clock=clock, fail_on=frozenset({"198.51.100.2"}))
    result = service(store, clock, blocker=blocker).restore()
    assert (result.applied, result.failed) == (2, 1)
    assert set(blocker.bans) == {"198.51.100.1", "198.51.100.3"}
