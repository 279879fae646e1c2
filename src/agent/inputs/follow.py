"""Following a live Zeek log directory (tail -F for every log in it).

Theory of operation
-------------------
Each poll reads what was appended to every `*.log` in the directory since the
last poll. A file is tracked by its open file object, not its name, so when
Zeek rotates `conn.log` (rename, then a new `conn.log`), the remainder of the
old file is still read from the open descriptor before the new file is opened
from its start. A file that shrinks in place (copytruncate) is re-read from 0.
A line is only parsed once its newline arrived; a partial last line waits in
a buffer for the next poll.

Each file keeps its own parser, so a Zeek TSV header seen at the top of a file
configures that file only. Records of one poll are returned in time order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO

from agent.inputs.skips import SkipLog
from agent.inputs.sniff import Format, sniff_bytes
from agent.inputs.sources import InputError, log_type_hint, make_parser
from detection.model import Record
from detection.parsers.base import LineParser, ParseError, Unsupported

__all__ = ["DirectoryFollower"]

_CHUNK = 1 << 20


@dataclass
class _Tail:
    path: Path
    fh: BinaryIO
    inode: int
    parser: LineParser | None = None
    buffer: bytes = b""
    lineno: int = 0
    pending_sniff: bytes = field(default=b"")


class DirectoryFollower:
    def __init__(self, directory: Path, skips: SkipLog, *, max_line_bytes: int = 1 << 20) -> None:
        if not directory.is_dir():
            raise InputError(f"{directory}: --follow needs a directory of Zeek logs")
        self.directory = directory
        self.skips = skips
        self.max_line_bytes = max_line_bytes
        self.lines = 0
        self.bytes_read = 0
        self._tails: dict[Path, _Tail] = {}

    def poll(self) -> list[Record]:
        out: list[Record] = []
        for path in sorted(self.directory.glob("*.log")):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            tail = self._tails.get(path)
            if tail is not None and tail.inode != st.st_ino:
                self._drain(tail, out, final=True)  # rotated: finish the old file
                tail.fh.close()
                tail = None
            if tail is None:
                try:
                    fh = path.open("rb")
                except OSError as exc:
                    self.skips.skip(path.name, 0, "file_unreadable", str(exc))
                    continue
                tail = self._tails[path] = _Tail(path, fh, st.st_ino)
            elif st.st_size < tail.fh.tell():
                tail.fh.seek(0)  # truncated in place
                tail.buffer = b""
                tail.parser = None
            self._drain(tail, out, final=False)
        out.sort(key=itemgetter(0))
        return out

    def close(self) -> None:
        for tail in self._tails.values():
            tail.fh.close()
        self._tails.clear()

    def _drain(self, tail: _Tail, out: list[Record], *, final: bool) -> None:
        while True:
            chunk = tail.fh.read(_CHUNK)
            if not chunk:
                break
            self.bytes_read += len(chunk)
            data = tail.buffer + chunk
            lines = data.split(b"\n")
            tail.buffer = lines.pop()
            for raw in lines:
                self._line(tail, raw, out)
            if len(tail.buffer) > self.max_line_bytes:
                tail.lineno += 1
                self.skips.skip(tail.path.name, tail.lineno, "line_too_long", "partial line")
                tail.buffer = b""
        if final and tail.buffer:
            self._line(tail, tail.buffer, out)
            tail.buffer = b""

    def _line(self, tail: _Tail, raw: bytes, out: list[Record]) -> None:
        tail.lineno += 1
        self.lines += 1
        if len(raw) > self.max_line_bytes:
            self.skips.skip(tail.path.name, tail.lineno, "line_too_long", f"{len(raw)} bytes")
            return
        if tail.parser is None:
            if not raw.strip():
                return
            fmt, why = sniff_bytes(raw + b"\n")
            if fmt not in (Format.ZEEK_TSV, Format.ZEEK_JSON, Format.SURICATA, Format.ARGUS):
                self.skips.skip(tail.path.name, tail.lineno, "unknown_format", why)
                return
            tail.parser = make_parser(fmt, log_type_hint(tail.path.name))
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = raw.decode("utf-8", errors="replace")
            self.skips.warn("invalid_utf8_replaced")
        try:
            rec = tail.parser.parse_line(line)
        except Unsupported as exc:
            self.skips.skip_unsupported(tail.path.name, exc.reason)
            return
        except ParseError as exc:
            self.skips.skip(tail.path.name, tail.lineno, exc.reason, exc.detail)
            return
        if rec is not None:
            out.append(rec)
