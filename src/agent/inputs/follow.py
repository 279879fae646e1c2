"""Following a live Zeek log directory (tail -F for every log in it).

Theory of operation
-------------------
Each poll reads what was appended to every `*.log` in the directory since the
last poll. A file is tracked by its identity — (st_dev, st_ino) — and its open
file object, never by its name:

* a name whose inode is already tailed is the same file, even under a new
  name: Zeek's rotation renames `conn.log` to `conn.<date>.log`, which still
  matches `*.log`, and reading simply continues on the open descriptor (the
  rotated file is not re-read from offset 0);
* only an inode not tailed yet is opened, from its start (the new `conn.log`);
* a tailed inode that no longer appears under any `*.log` name (deleted, or
  rotated to a name that does not match) is drained one last time, then
  closed and forgotten, so descriptors do not leak;
* a tailed file whose link count dropped to 0 is gone even if a new file got
  the same inode number: it is drained and closed, and the new file is opened.

A file that shrinks in place (copytruncate) is re-read from 0. A line is only
parsed once its newline arrived; a partial last line waits in a buffer for the
next poll. A line longer than `max_line_bytes` is discarded up to its newline
and counted once as `line_too_long`.

Each file keeps its own parser, so a Zeek TSV header seen at the top of a file
configures that file only. Records of one poll are returned in time order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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

_FileId = tuple[int, int]  # (st_dev, st_ino)


@dataclass
class _Tail:
    path: Path  # the name it was last seen under (for errors.log)
    fh: BinaryIO
    parser: LineParser | None = None
    buffer: bytes = b""
    lineno: int = 0
    discarding: bool = False  # inside a too-long line, until its newline


class DirectoryFollower:
    def __init__(self, directory: Path, skips: SkipLog, *, max_line_bytes: int = 1 << 20) -> None:
        if not directory.is_dir():
            raise InputError(f"{directory}: --follow needs a directory of Zeek logs")
        self.directory = directory
        self.skips = skips
        self.max_line_bytes = max_line_bytes
        self.lines = 0
        self.bytes_read = 0
        self._tails: dict[_FileId, _Tail] = {}

    @property
    def open_tails(self) -> int:
        return len(self._tails)

    def poll(self) -> list[Record]:
        out: list[Record] = []
        present: set[_FileId] = set()
        for path in sorted(self.directory.glob("*.log")):
            try:
                st = path.stat()
            except OSError:
                continue  # vanished between listing and stat
            key = (st.st_dev, st.st_ino)
            tail = self._tails.get(key)
            if tail is not None and _unlinked(tail):
                # The inode number was reused by a new file: the old one is gone.
                self._drop(key, out)
                tail = None
            if tail is None:
                tail = self._open(path)
                if tail is None:
                    continue
                key = _file_id(tail.fh)
                if key in self._tails:  # replaced between stat and open: already tailed
                    tail.fh.close()
                    tail = self._tails[key]
                else:
                    self._tails[key] = tail
            elif st.st_size < tail.fh.tell():
                tail.fh.seek(0)  # truncated in place
                tail.buffer = b""
                tail.parser = None
                tail.discarding = False
            tail.path = path
            present.add(key)
            self._drain(tail, out, final=False)
        for key in [k for k in self._tails if k not in present]:
            self._drop(key, out)  # deleted or renamed out of *.log: finish it, close it
        out.sort(key=itemgetter(0))
        return out

    def close(self) -> None:
        for tail in self._tails.values():
            tail.fh.close()
        self._tails.clear()

    def _open(self, path: Path) -> _Tail | None:
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.skips.skip(path.name, 0, "file_unreadable", str(exc))
            return None
        return _Tail(path, fh)

    def _drop(self, key: _FileId, out: list[Record]) -> None:
        tail = self._tails.pop(key)
        try:
            self._drain(tail, out, final=True)
        finally:
            tail.fh.close()

    def _drain(self, tail: _Tail, out: list[Record], *, final: bool) -> None:
        max_line = self.max_line_bytes
        while True:
            chunk = tail.fh.read(_CHUNK)
            if not chunk:
                break
            self.bytes_read += len(chunk)
            if tail.discarding:
                end = chunk.find(b"\n")
                if end < 0:
                    continue
                tail.discarding = False
                chunk = chunk[end + 1 :]
            data = tail.buffer + chunk
            lines = data.split(b"\n")
            tail.buffer = lines.pop()
            for raw in lines:
                self._line(tail, raw, out)
            if len(tail.buffer) > max_line:
                tail.lineno += 1
                self.lines += 1
                self.skips.skip(
                    tail.path.name, tail.lineno, "line_too_long", f"more than {max_line} bytes"
                )
                tail.buffer = b""
                tail.discarding = True
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


def _file_id(fh: BinaryIO) -> _FileId:
    st = os.fstat(fh.fileno())
    return (st.st_dev, st.st_ino)


def _unlinked(tail: _Tail) -> bool:
    try:
        return os.fstat(tail.fh.fileno()).st_nlink == 0
    except OSError:
        return True
