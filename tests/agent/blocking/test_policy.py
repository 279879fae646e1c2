"""The blocking policy: origin, TTL escalation with cap and jitter, no stacking."""

from __future__ import annotations

import random

import pytest

from agent.blocking.decision import Decision, decision_from_json, decision_to_json
from agent.blocking.policy import Policy, origin_of
from agent.blocking.target import parse_target
from detection.model import Alert, ThreatLevel

T = parse_target("203.0.113.9")


def alert(types: tuple[str, ...]) -> Alert:
    return Alert(
        profile="203.0.113.9",
        timewindow=0,
        ts=10.0,
        score=2.0,
        threshold=1.0,
        evidence_ids=tuple(f"e{i}" for i in range(len(types))),
        evidence_types=types,
        victims=(),
        uids=(),
        confidence=0.9,
        threat_level=ThreatLevel.HIGH,
        description="scan",
    )


def test_origin_follows_peer_consensus_evidence() -> None:
    assert origin_of(alert(("horizontal_port_scan",))) == "local-alert"
    assert origin_of(alert(("peer_consensus",))) == "peer-consensus"
    assert origin_of(alert(("horizontal_port_scan", "peer_consensus"))) == "peer-consensus"


def decide(policy: Policy, history: list[Decision], now: float, **kw: object) -> Decision | None:
    args: dict[str, object] = {
        "origin": "local-alert",
        "reason": "scan",
        "evidence_ids": ("e1",),
        "history": history,
        "now": now,
        "rng": random.Random(7),
        "dry_run": False,
    }
    return policy.decide(T, **(args | kw))  # type: ignore[arg-type]


def test_escalation_doubles_and_caps_without_jitter() -> None:
    policy = Policy(ttl=100, factor=2, max_ttl=500, jitter=0)
    history: list[Decision] = []
    ttls = []
    now = 0.0
    for _ in range(6):
        d = decide(policy, history, now)
        assert d is not None
        ttls.append(d.ttl)
        history.append(d)
        now = d.expires + 1  # the ban expired; the attacker comes back
    assert ttls == [100, 200, 400, 500, 500, 500]
    assert [d.offence for d in history] == [1, 2, 3, 4, 5, 6]


def test_no_stacking_while_active_and_modes_are_separate() -> None:
    policy = Policy(ttl=100)
    first = decide(policy, [], 0.0)
    assert first is not None
    assert decide(policy, [first], 50.0) is None  # still active
    dry = decide(policy, [first], 50.0, dry_run=True)  # a dry-run decision is its own mode
    assert dry is not None and dry.dry_run
    manual = decide(policy, [first], 50.0, origin="manual", ttl=30.0)
    assert manual is not None and manual.ttl == 30.0 and manual.origin == "manual"


def test_lifted_and_old_decisions_are_not_offences() -> None:
    policy = Policy(ttl=100, factor=3, repeat_window=1000, jitter=0)
    lifted = Decision("203.0.113.9", "ip", "x", "local-alert", (), 0.0, 100.0).lift(10.0)
    old = Decision("203.0.113.9", "ip", "x", "local-alert", (), 0.0, 100.0)
    recent = Decision("203.0.113.9", "ip", "x", "local-alert", (), 1500.0, 1600.0)
    d = decide(policy, [lifted, old, recent], 2000.0)
    assert d is not None and d.offence == 2 and d.ttl == 300


def test_jitter_is_bounded_seeded_and_capped() -> None:
    policy = Policy(ttl=1000, factor=2, max_ttl=1500, jitter=0.2)
    rng = random.Random(1)
    first = [policy.ttl_for(1, rng) for _ in range(200)]
    assert all(800 <= t <= 1200 for t in first)
    assert len(set(first)) > 100  # spread, not one value
    assert all(t <= 1500 for t in (policy.ttl_for(5, rng) for _ in range(200)))  # cap holds
    again = random.Random(1)
    assert first == [policy.ttl_for(1, again) for _ in range(200)]  # deterministic


def test_huge_offence_counts_do_not_overflow() -> None:
    assert Policy(ttl=1, factor=10, max_ttl=3600).ttl_for(10_000, random.Random(0)) == 3600


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"ttl": 0}, "ttl"),
        ({"ttl": 10, "max_ttl": 5}, "ttl"),
        ({"ttl": 10, "factor": 0.5}, "factor"),
        ({"ttl": 10, "jitter": 1.0}, "jitter"),
    ],
)
def test_bad_policy_is_refused(kw: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Policy(**kw)


def test_decision_codec_round_trip_and_validation() -> None:
    d = Decision("10.0.0.0/24", "range", "r", "peer-consensus", ("a", "b"), 1.5, 9.0, 2, True)
    assert decision_from_json(decision_to_json(d)) == d
    assert decision_from_json(decision_to_json(d.lift(3.0))).lifted == 3.0
    with pytest.raises(ValueError, match="expires"):
        Decision("1.2.3.4", "ip", "r", "manual", (), 5.0, 5.0)
    with pytest.raises(ValueError, match="origin"):
        Decision("1.2.3.4", "ip", "r", "nobody", (), 5.0, 6.0)  # type: ignore[arg-type]
    for blob in (b"[]", b"{", b'{"value": "x"}', b'{"bogus": 1}'):
        with pytest.raises(ValueError, match="decision"):
            decision_from_json(blob)
