"""The SSE decoder: the agent's frames, any chunking, any bytes."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from agent.api.stream import Event
from agent.tui.sse import SseDecoder, SseEvent


def decode_all(chunks: list[bytes], **kw: int) -> tuple[list[SseEvent], SseDecoder]:
    d = SseDecoder(**kw)
    out: list[SseEvent] = []
    for c in chunks:
        out += d.feed(c)
    return out, d


def test_the_agents_own_frames_decode_to_their_json() -> None:
    frames = [
        b"retry: 3000\n: connected\n\n",
        Event(3, "alert", json.dumps({"profile": "46.166.151.160", "x": "a\nb"}).encode()).encode(),
        b": keep-alive\n\n",
        Event(4, "decision", b'{"value":"203.0.113.7"}').encode(),
    ]
    events, d = decode_all(frames)
    assert [(e.event, e.id) for e in events] == [("alert", "3"), ("decision", "4")]
    assert json.loads(events[0].data) == {"profile": "46.166.151.160", "x": "a\nb"}
    assert d.retry_ms == 3000 and d.comments == 2 and d.last_id == "4"


def test_line_endings_multiline_data_and_field_rules() -> None:
    raw = b"data:first\r\ndata: second\rid:7\nevent\n\ndata\n\nfoo: ignored\n\n"
    events, d = decode_all([raw])
    # "event" without a colon is an empty event name -> "message"; "data" alone is an empty line
    assert events == [SseEvent("message", "first\nsecond", "7"), SseEvent("message", "", "7")]
    assert d.last_id == "7"


def test_an_event_without_data_is_not_dispatched_and_an_unfinished_one_waits() -> None:
    events, _ = decode_all([b"event: alert\nid: 1\n\n", b"event: alert\ndata: {}\n"])
    assert events == []


def test_a_line_over_the_limit_is_skipped_and_counted() -> None:
    events, d = decode_all(
        [b"event: alert\ndata: " + b"x" * 50, b"y" * 50 + b"\n\n", b"data: ok\n\n"], max_line=64
    )
    assert d.oversized == 1
    assert events == [SseEvent("message", "ok", None)]  # the event name was reset by the blank


_stream = st.lists(
    st.tuples(
        st.sampled_from(["alert", "evidence", "decision"]),
        st.integers(1, 10**6),
        st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=4),
    ),
    max_size=8,
)


@given(
    _stream, st.lists(st.integers(0, 400), max_size=20), st.sampled_from([b"\n", b"\r\n", b"\r"])
)
def test_any_chunking_and_line_ending_gives_the_same_events(
    items: list[tuple[str, int, dict[str, str]]], cuts: list[int], eol: bytes
) -> None:
    raw = b"retry: 3000" + eol + b": connected" + eol + eol
    for kind, seq, payload in items:
        raw += Event(seq, kind, json.dumps(payload).encode()).encode().replace(b"\n", eol)
    points = sorted({min(c, len(raw)) for c in cuts})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    events, _ = decode_all(chunks)
    assert [(e.event, e.id, json.loads(e.data)) for e in events] == [
        (k, str(s), p) for k, s, p in items
    ]


@given(st.lists(st.binary(max_size=200), max_size=10))
def test_any_bytes_decode_without_raising(chunks: list[bytes]) -> None:
    events, d = decode_all(chunks, max_line=100)
    for e in events:
        assert isinstance(e.data, str) and isinstance(e.event, str) and e.event
    assert d.oversized >= 0
