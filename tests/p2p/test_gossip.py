from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2p.errors import BadSignature, MalformedMessage, RateLimited, Replayed, StaleMessage
from p2p.gossip import GossipLimits, Inbox, Outbox, TokenBucket
from p2p.signing import Identity
from p2p.wire import IocReport

ALICE = Identity(bytes(range(32)))
counter = itertools.count()


def nonces(n: int) -> bytes:
    return next(counter).to_bytes(n, "big")


def msg(now: float, who: Identity = ALICE) -> bytes:
    body = IocReport("ip", "46.166.151.160", 0.9, 0.8, ("scan",), 1, 3600)
    return Outbox(who, nonces).seal(body, now)


def test_accepts_fresh_message_and_counts_sender() -> None:
    inbox = Inbox()
    env = inbox.receive(msg(1000.0), relay="relay1", now=1001.0)
    assert env.sender_id == ALICE.peer_id
    assert inbox.accepted == 1 and inbox.received_from[ALICE.peer_id] == 1


@pytest.mark.parametrize("age", [301.0, -31.0])
def test_stale_and_future_messages_are_refused_and_charged(age: float) -> None:
    inbox = Inbox()
    with pytest.raises(StaleMessage):
        inbox.receive(msg(1000.0), relay="relay1", now=1000.0 + age)
    assert inbox.dropped == {"stale": 1}
    assert inbox.penalties["relay1"] == {"stale": 1}


def test_replay_is_refused_within_window_and_stale_after() -> None:
    inbox = Inbox()
    data = msg(1000.0)
    inbox.receive(data, relay="a", now=1000.0)
    with pytest.raises(Replayed):
        inbox.receive(data, relay="mallory", now=1100.0)
    with pytest.raises(StaleMessage):
        inbox.receive(data, relay="mallory", now=1400.0)
    assert inbox.penalties["mallory"] == {"replayed": 1, "stale": 1}


def test_decode_errors_are_charged_to_relay() -> None:
    inbox = Inbox()
    with pytest.raises(MalformedMessage):
        inbox.receive(b"\xc1junk", relay="r", now=0.0)
    data = bytearray(msg(0.0))
    data[-1] ^= 1
    with pytest.raises(BadSignature):
        inbox.receive(bytes(data), relay="r", now=0.0)
    assert inbox.penalties["r"] == {"malformed": 1, "bad_signature": 1}


def test_flood_is_rate_limited_per_sender_and_others_still_pass() -> None:
    inbox = Inbox(GossipLimits(rate=5.0, burst=10.0))
    ok = limited = 0
    for i in range(100):
        try:
            inbox.receive(msg(1000.0 + i * 0.01), relay="flooder", now=1000.0 + i * 0.01)
            ok += 1
        except RateLimited:
            limited += 1
    assert ok == 14 and limited == 86  # burst of 10 + 5/s over ~1 s
    bob = Identity(bytes(range(2, 34)))
    inbox.receive(msg(1001.0, bob), relay="honest", now=1001.0)
    assert inbox.penalties["flooder"]["rate_limited"] == 86


def test_seen_memory_is_bounded() -> None:
    inbox = Inbox(GossipLimits(seen_capacity=50, rate=1e9, burst=1e9))
    for i in range(500):
        inbox.receive(msg(float(i)), relay="r", now=float(i))
    assert len(inbox._seen) <= 50


@given(st.lists(st.floats(0, 100), max_size=50), st.floats(0.1, 50), st.floats(1, 50))
def test_token_bucket_never_exceeds_burst_plus_rate(
    times: list[float], rate: float, burst: float
) -> None:
    bucket = TokenBucket(rate, burst, burst, 0.0)
    granted = sum(bucket.take(t) for t in sorted(times))
    span = max(times, default=0.0)
    assert granted <= burst + rate * span + 1e-9
    assert 0.0 <= bucket.tokens <= burst


def test_nonces_are_forgotten_after_the_window_and_not_before() -> None:
    # the replay memory keeps a nonce exactly as long as its message could still pass
    # the time check (max_age + max_future), then lets it go: the fast path that skips
    # the purge must not keep stale nonces or drop live ones
    limits = GossipLimits(max_age=10.0, max_future=5.0, rate=1e9, burst=1e9)
    inbox = Inbox(limits)
    for i in range(30):
        inbox.receive(msg(float(i)), relay="r", now=float(i))
    # at t = 29 the horizon is 15 s: nonces recorded at t > 14 are kept, older ones gone
    assert sorted(inbox._seen.values()) == [float(i) for i in range(15, 30)]
    inbox.receive(msg(100.0), relay="r", now=100.0)
    assert list(inbox._seen.values()) == [100.0]
