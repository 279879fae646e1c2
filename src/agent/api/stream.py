"""Live events for `GET /api/v1/stream` (server-sent events): alerts, evidence, decisions.

Theory of operation
-------------------
Producers run in other threads (the detection loop's `on_finding`, the blocking
service, API handlers in worker threads); subscribers are SSE handlers on the
API's asyncio loop. `publish` therefore does the cheap part in the caller's
thread: it numbers the event, encodes its JSON once, and appends it to a ring of
the last `replay` events (so a client reconnecting with `Last-Event-ID` misses
nothing that is still in the ring). Only when someone is subscribed does it wake
the loop (`call_soon_threadsafe`) to copy the event into each subscriber's queue.

Resource handling: each subscriber has a bounded queue (`queue_size`). A client
too slow to keep up fills its queue; it is then *dropped* — its stream ends, it
is counted in `dropped_subscribers`, and it may reconnect with Last-Event-ID — so
one stalled dashboard can never make the agent buffer without bound. At most
`max_subscribers` streams are open at once. `close()` (application shutdown)
ends every stream so the server can stop promptly.

Events are numbered from 1 in publication order; a subscriber skips numbers it
has already seen, so an event published while it was subscribing is delivered
once, from the ring or from the queue, never twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["EVENT_KINDS", "Broadcaster", "Event", "Subscriber", "TooManySubscribers"]

EVENT_KINDS = ("alert", "evidence", "decision")


class TooManySubscribers(RuntimeError):
    """Every stream slot is taken."""


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str
    data: bytes  # the JSON payload

    def encode(self) -> bytes:
        """The SSE frame: id, event and one data line (JSON has no raw newlines)."""
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (self.seq, self.kind.encode(), self.data)


@dataclass(eq=False)
class Subscriber:
    kinds: frozenset[str]
    queue: asyncio.Queue[Event | None]
    last_seq: int = 0
    dropped: bool = False
    pending: list[Event] = field(default_factory=list)  # replayed from the ring first


class Broadcaster:
    def __init__(
        self, *, queue_size: int = 10_000, replay: int = 2000, max_subscribers: int = 64
    ) -> None:
        self.queue_size = queue_size
        self.max_subscribers = max_subscribers
        self._ring: deque[Event] = deque(maxlen=replay)
        self._lock = threading.Lock()
        self._seq = 0
        self._subs: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.published: Counter[str] = Counter()
        self.dropped_subscribers = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the subscribers live on (the API's); set when the app starts."""
        self._loop = loop
        self._closed = False

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        """Thread-safe; never blocks on a subscriber."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        data = orjson.dumps(payload)
        with self._lock:
            self._seq += 1
            event = Event(self._seq, kind, data)
            self._ring.append(event)
            self.published[kind] += 1
            wake = bool(self._subs) and self._loop is not None and not self._closed
        if wake:
            assert self._loop is not None
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody left
                self._loop.call_soon_threadsafe(self._fanout, event)

    def _fanout(self, event: Event) -> None:
        for sub in list(self._subs):
            if event.kind not in sub.kinds:
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._drop(sub)

    def _drop(self, sub: Subscriber) -> None:
        self._subs.discard(sub)
        sub.dropped = True
        self.dropped_subscribers += 1
        # Wake the handler even if the queue is full: it checks `dropped` first.
        with contextlib.suppress(asyncio.QueueFull):
            sub.queue.put_nowait(None)

    def subscribe(self, kinds: Iterable[str], last_event_id: int | None = None) -> Subscriber:
        """Called on the loop. Events after `last_event_id` still in the ring come first."""
        if self._closed:
            raise TooManySubscribers("the agent is shutting down")
        if len(self._subs) >= self.max_subscribers:
            raise TooManySubscribers(f"at most {self.max_subscribers} streams at once")
        wanted = frozenset(kinds)
        sub = Subscriber(wanted, asyncio.Queue(maxsize=self.queue_size))
        with self._lock:
            if last_event_id is not None:
                sub.pending = [e for e in self._ring if e.seq > last_event_id and e.kind in wanted]
                sub.last_seq = last_event_id
            else:
                sub.last_seq = self._seq  # only what is published from now on
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subs.discard(sub)

    async def next(self, sub: Subscriber, timeout: float) -> Event | None:
        """The subscriber's next new event; None on timeout, when dropped or closed."""
        while True:
            if sub.dropped:
                return None
            if sub.pending:
                event: Event | None = sub.pending.pop(0)
            else:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), timeout)
                except TimeoutError:
                    return None
            if event is None:
                return None
            if event.seq > sub.last_seq:
                sub.last_seq = event.seq
                return event

    def close(self) -> None:
        """End every stream (on the loop, at application shutdown)."""
        self._closed = True
        for sub in list(self._subs):
            self._subs.discard(sub)
            sub.dropped = True
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)
