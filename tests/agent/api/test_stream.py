"""The event broadcaster: replay, filtering, slow subscribers dropped, threads, shutdown."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from agent.api.stream import Broadcaster, Event, TooManySubscribers


def _data(event: Event | None) -> object:
    assert event is not None
    return json.loads(event.data)


def test_frame_format() -> None:
    frame = Event(7, "alert", b'{"a":"x\\ny"}').encode()
    assert frame == b'id: 7\nevent: alert\ndata: {"a":"x\\ny"}\n\n'


def test_subscribers_get_new_events_of_their_kinds_in_order() -> None:
    async def run() -> None:
        b = Broadcaster()
        b.bind(asyncio.get_running_loop())
        b.publish("alert", {"n": 0})  # before subscribing: not delivered without Last-Event-ID
        alerts = b.subscribe(["alert"])
        everything = b.subscribe(["alert", "evidence", "decision"])
        for n in range(1, 4):
            b.publish("evidence", {"n": n})
            b.publish("alert", {"n": n})
        await asyncio.sleep(0)  # let the fan-out callbacks run
        got = [_data(await b.next(alerts, 1)) for _ in range(3)]
        assert got == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert await b.next(alerts, 0.01) is None and not alerts.dropped  # a timeout
        seqs = [(await b.next(everything, 1)) for _ in range(6)]
        assert [e.seq for e in seqs if e] == [2, 3, 4, 5, 6, 7]
        assert b.published == {"alert": 4, "evidence": 3}

    asyncio.run(run())


def test_last_event_id_replays_the_ring_once() -> None:
    async def run() -> None:
        b = Broadcaster(replay=3)
        b.bind(asyncio.get_running_loop())
        for n in range(5):
            b.publish("alert", {"n": n})  # seq 1..5; the ring keeps 3..5
        sub = b.subscribe(["alert"], last_event_id=3)
        b.publish("alert", {"n": 5})  # seq 6, in the ring *and* fanned out: delivered once
        await asyncio.sleep(0)
        got = [(await b.next(sub, 1)) for _ in range(3)]
        assert [e.seq for e in got if e] == [4, 5, 6]
        assert await b.next(sub, 0.01) is None

    asyncio.run(run())


def test_a_slow_subscriber_is_dropped_and_counted() -> None:
    async def run() -> None:
        b = Broadcaster(queue_size=2)
        b.bind(asyncio.get_running_loop())
        slow = b.subscribe(["alert"])
        fast = b.subscribe(["alert"])
        for n in range(3):
            b.publish("alert", {"n": n})
            await asyncio.sleep(0)
            assert _data(await b.next(fast, 1)) == {"n": n}
        assert slow.dropped and b.dropped_subscribers == 1 and b.subscribers == 1
        assert await b.next(slow, 1) is None  # its stream ends at once
        assert not fast.dropped

    asyncio.run(run())


def test_publishing_from_other_threads_wakes_the_loop() -> None:
    async def run() -> None:
        b = Broadcaster()
        b.bind(asyncio.get_running_loop())
        sub = b.subscribe(["evidence"])
        threads = [
            threading.Thread(target=lambda i=i: b.publish("evidence", {"t": i})) for i in range(8)
        ]
        for t in threads:
            t.start()
        got = [_data(await b.next(sub, 5)) for _ in range(8)]
        for t in threads:
            t.join()
        assert sorted(g["t"] for g in got) == list(range(8))  # type: ignore[index]

    asyncio.run(run())


def test_limits_and_shutdown() -> None:
    async def run() -> None:
        b = Broadcaster(max_subscribers=1)
        b.bind(asyncio.get_running_loop())
        sub = b.subscribe(["alert"])
        with pytest.raises(TooManySubscribers, match="at most 1"):
            b.subscribe(["alert"])
        b.close()
        assert await b.next(sub, 1) is None and sub.dropped
        assert b.dropped_subscribers == 0  # shutting down is not a slow client
        with pytest.raises(TooManySubscribers, match="shutting down"):
            b.subscribe(["alert"])
        b.publish("alert", {"after": "close"})  # still fine: nobody to wake

    asyncio.run(run())
    with pytest.raises(ValueError, match="unknown event kind"):
        Broadcaster().publish("gossip", {})
