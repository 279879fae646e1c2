"""Gossip bookkeeping, sans-IO: what to accept from the mesh, and what it cost.

Theory of operation
-------------------
`Inbox.receive(data, relay=…, now=…)` runs every check on a message that came
from the mesh, in order of cost:

1. size, structure, version, signature — `wire.decode` (DecodeError);
2. time — the signed timestamp must be within [now - max_age, now + max_future]
   (StaleMessage), so old captures cannot be re-injected;
3. replay — (sender, nonce) must not have been seen within that same window
   (Replayed); beyond it, rule 2 already refuses the message, so the memory of
   nonces is bounded by the window and the rate limits;
4. rate — a token bucket per signing identity and per relaying peer
   (RateLimited), so one flooding identity cannot crowd out the others.

Every refusal is counted by reason (`dropped`) and charged to the peer that
relayed it (`penalties`; the libp2p publisher, which libp2p authenticates), and
to the signer too when the signer itself is at fault (floods). The trust layer
reads these counters; nothing here decides what a peer *is*.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from p2p.errors import RateLimited, RemoteProtocolError, Replayed, StaleMessage
from p2p.signing import Identity
from p2p.wire import MAX_ENVELOPE_BYTES, Body, Envelope, decode, seal

__all__ = ["GossipLimits", "Inbox", "Outbox", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class GossipLimits:
    max_bytes: int = MAX_ENVELOPE_BYTES
    max_age: float = 300.0  # seconds a message stays acceptable
    max_future: float = 30.0  # tolerated clock skew ahead of us
    rate: float = 10.0  # sustained messages per second per identity / relay
    burst: float = 50.0
    seen_capacity: int = 200_000
    peers_capacity: int = 10_000


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        elapsed = now - self.updated
        if elapsed > 0.0:  # (on the hot path of every message: no max()/min() calls)
            tokens = self.tokens + elapsed * self.rate
            self.tokens = tokens if tokens < self.burst else self.burst
            self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Inbox:
    limits: GossipLimits = field(default_factory=GossipLimits)
    accepted: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    penalties: dict[str, Counter[str]] = field(default_factory=dict)
    received_from: Counter[str] = field(default_factory=Counter)
    _seen: OrderedDict[tuple[bytes, bytes], float] = field(default_factory=OrderedDict)
    _buckets: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict)
    _seen_head: float = field(default=0.0, repr=False)  # time of `_seen`'s first entry

    def receive(
        self,
        data: bytes,
        *,
        relay: str,
        now: float,
        decoder: Callable[..., Envelope] = decode,
    ) -> Envelope:
        """Accept a message from the mesh or raise a `RemoteProtocolError`.

        `decoder` is `wire.decode`; simnet passes a memoised one (every copy of a
        broadcast is the same bytes, so one verification serves all recipients).
        """
        env: Envelope | None = None
        limits = self.limits
        try:
            env = decoder(data, max_bytes=limits.max_bytes)
            ts = env.ts
            if ts < now - limits.max_age or ts > now + limits.max_future:
                self._check_time(env, now)  # raises StaleMessage, with the reason
            self._check_replay(env, now)
            sender_id = env.sender_id
            # _check_rate twice, inlined (every message of the mesh comes through here)
            buckets = self._buckets
            for key in ("relay:" + relay, "sender:" + sender_id):
                bucket = buckets.get(key)
                if bucket is None:
                    self._check_rate(key, now)  # a new bucket (full: never refuses)
                    continue
                buckets.move_to_end(key)
                elapsed = now - bucket.updated  # TokenBucket.take
                if elapsed > 0.0:
                    tokens = bucket.tokens + elapsed * bucket.rate
                    bucket.tokens = tokens if tokens < bucket.burst else bucket.burst
                    bucket.updated = now
                if bucket.tokens >= 1.0:
                    bucket.tokens -= 1.0
                else:
                    raise RateLimited(f"{key} above {limits.rate}/s")
        except RemoteProtocolError as exc:
            self._charge(relay, exc.reason)
            if isinstance(exc, RateLimited) and env is not None and env.sender_id != relay:
                self._charge(env.sender_id, exc.reason)
            raise
        self.accepted += 1
        self.received_from[sender_id] += 1
        return env

    def charge(self, peer: str, reason: str) -> None:
        """Count a fault found outside the inbox (e.g. a bad opinion response)."""
        self._charge(peer, reason)

    def _charge(self, peer: str, reason: str) -> None:
        self.dropped[reason] += 1
        counter = self.penalties.get(peer)
        if counter is None:
            if len(self.penalties) >= self.limits.peers_capacity:
                self.penalties.pop(next(iter(self.penalties)))
            counter = self.penalties[peer] = Counter()
        counter[reason] += 1

    def _check_time(self, env: Envelope, now: float) -> None:
        if env.ts < now - self.limits.max_age:
            raise StaleMessage(f"signed {now - env.ts:.0f} s ago (max {self.limits.max_age:.0f})")
        if env.ts > now + self.limits.max_future:
            raise StaleMessage(f"signed {env.ts - now:.0f} s in the future")

    def _check_replay(self, env: Envelope, now: float) -> None:
        limits = self.limits
        horizon = limits.max_age + limits.max_future
        seen = self._seen
        # forget nonces whose messages are now refused as stale anyway (oldest first;
        # `_seen_head` is the time of the first entry, so the common case is one test)
        if seen and (self._seen_head <= now - horizon or len(seen) >= limits.seen_capacity):
            while seen:
                key, at = next(iter(seen.items()))
                if at > now - horizon and len(seen) < limits.seen_capacity:
                    self._seen_head = at
                    break
                seen.popitem(last=False)
        key = (env.sender, env.nonce)
        if key in seen:
            raise Replayed(f"nonce {env.nonce.hex()[:8]} of {env.sender_id[-8:]} seen before")
        if not seen:
            self._seen_head = now
        seen[key] = now

    def _check_rate(self, key: str, now: float) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.limits.peers_capacity:
                self._buckets.popitem(last=False)
            bucket = TokenBucket(self.limits.rate, self.limits.burst, self.limits.burst, now)
            self._buckets[key] = bucket
        else:
            self._buckets.move_to_end(key)
        if not bucket.take(now):
            raise RateLimited(f"{key} above {self.limits.rate}/s")


@dataclass
class Outbox:
    """Seals outgoing messages; randomness (nonces) comes from the caller."""

    identity: Identity
    random_bytes: Callable[[int], bytes]
    sent: Counter[str] = field(default_factory=Counter)

    def seal(self, body: Body, now: float) -> bytes:
        data = seal(self.identity, body, now=now, nonce=self.random_bytes(16))
        self.sent[type(body).__name__] += 1
        return data
