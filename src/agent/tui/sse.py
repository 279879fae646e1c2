"""A sans-IO decoder for server-sent events (`GET /api/v1/stream`).

Bytes in (in whatever chunks the socket gives), `SseEvent`s out; no sockets here,
so it is unit-tested and fuzzed on its own. It follows the WHATWG event-stream
rules the agent's stream uses: lines end in LF, CRLF or CR; a blank line ends an
event; `:` starts a comment (the agent's keep-alives); `id`, `event`, `data`
(several data lines join with LF) and `retry` fields; a field without a colon has
an empty value; one space after the colon is dropped.

Resource handling: a line longer than `max_line` bytes is never buffered whole —
it is discarded up to its end and counted in `oversized` (the agent's events are
single JSON lines far below the default limit). An event without data is not
dispatched (as browsers do). Undecodable UTF-8 is replaced, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SseDecoder", "SseEvent"]


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str  # "message" when the stream named none
    data: str
    id: str | None  # the id in force after this event (SSE's "last event ID")


class SseDecoder:
    def __init__(self, max_line: int = 4 * 1024 * 1024) -> None:
        self.max_line = max_line
        self.last_id: str | None = None
        self.retry_ms: int | None = None
        self.comments = 0
        self.oversized = 0
        self._buf = bytearray()
        self._skipping = False  # inside an oversized line: drop bytes until its end
        self._pending_cr = False  # the last chunk ended in CR: a following LF belongs to it
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Decode `chunk`; return the events it completed (in order)."""
        out: list[SseEvent] = []
        i = 0
        if self._pending_cr and chunk[:1] == b"\n":
            i = 1
        self._pending_cr = False
        n = len(chunk)
        while i < n:
            cr = chunk.find(b"\r", i)
            lf = chunk.find(b"\n", i)
            ends = [p for p in (cr, lf) if p >= 0]
            if not ends:
                self._take(chunk[i:])
                break
            end = min(ends)
            self._take(chunk[i:end])
            line = bytes(self._buf)
            skipped = self._skipping
            self._buf.clear()
            self._skipping = False
            if not skipped:
                self._line(line, out)
            i = end + 1
            if chunk[end : end + 1] == b"\r":
                if end + 1 < n:
                    if chunk[end + 1 : end + 2] == b"\n":
                        i += 1
                else:
                    self._pending_cr = True
        return out

    def _take(self, part: bytes) -> None:
        if self._skipping:
            return
        if len(self._buf) + len(part) > self.max_line:
            self._buf.clear()
            self._skipping = True
            self.oversized += 1
            return
        self._buf += part

    def _line(self, raw: bytes, out: list[SseEvent]) -> None:
        line = raw.decode("utf-8", "replace")
        if not line:
            if self._data:
                out.append(SseEvent(self._event or "message", "\n".join(self._data), self.last_id))
            self._event = ""
            self._data = []
            return
        if line.startswith(":"):
            self.comments += 1
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        # any other field name is ignored, as the specification says
