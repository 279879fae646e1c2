"""Record sources: a file, a directory of logs, stdin, or a tool's output.

Error handling
--------------
* An input that cannot be used at all (missing, unreadable, unknown format,
  empty or binary stdin, nfdump tool absent) raises `InputError` with a
  one-line reason from the constructor — before the caller creates anything —
  so the CLI prints it and exits non-zero without leaving an output directory.
* A bad line inside a usable input is skipped, counted and logged through the
  `SkipLog`, and reading continues.
* Invalid UTF-8 is replaced (U+FFFD) and the line still parsed; the repair is
  counted as a warning.

Resource handling
-----------------
* Lines are read with a bounded ``readline(max_line_bytes + 1)``: a longer
  line is never held whole in memory; its rest is discarded chunk by chunk and
  the line counted once as ``line_too_long``.
* stdin is sniffed from its first non-blank line, read (bounded) in the
  constructor and chained back in front of the stream for parsing.
* nfdump runs as a child process; if the consumer stops early (the generator
  is closed) the child is terminated and reaped. A pcap/pcapng (also gzipped)
  is read by Zeek into a temporary directory that is removed when reading
  ends when `zeek` is on PATH, else by Starling's built-in packet engine
  (`agent.inputs.pcap`), chunk by chunk, its damage and unused packets
  counted in the `SkipLog`.
* `bytes_done` reports the position in the input (the underlying raw file's
  ``tell()``, compressed bytes for gzip) for the progress bar.

Directories: every regular, non-hidden file is sniffed (file names do not
matter). Files of an unknown format are counted (``file_unknown_format``, with
the file name in errors.log); pcap and nfdump files inside a directory are
counted as skipped (``file_pcap_skipped``, ``file_nfdump_skipped``) — analyse
them on their own. The rest are read in time order across files (a k-way merge
on each record's timestamp, which is field 0 of every record type).
"""

from __future__ import annotations

import contextlib
import gzip
import heapq
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO, cast

from agent.inputs.pcap import CaptureFile
from agent.inputs.skips import SkipLog
from agent.inputs.sniff import Format, sniff_bytes, sniff_path
from agent.inputs.zeek_scripts import usable_scripts
from detection.model import Record
from detection.parsers.argus import ArgusParser
from detection.parsers.base import LineParser, ParseError, Unsupported
from detection.parsers.nfdump import NFDUMP_ENV, NfdumpCsvParser, nfdump_argv
from detection.parsers.suricata import SuricataParser
from detection.parsers.zeek import ZeekJsonParser, ZeekTsvParser

__all__ = ["InputError", "RecordSource", "log_type_hint", "make_parser"]

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_BLANK_HEAD_LINES = 1000  # blank lines read from stdin while looking for the first line
_NFDUMP_MISSING = (
    "nfdump files are read with the nfdump tool, which is not installed "
    "(Debian/Ubuntu: apt-get install nfdump)"
)


class InputError(Exception):
    """The input cannot be read at all; the message is one line for the user."""


def log_type_hint(name: str) -> str | None:
    """'conn' for conn.log, conn.2024-01-01-00-00-00.log.gz, conn.log.labeled …"""
    base = name.split(".", 1)[0]
    return base or None


def make_parser(fmt: Format, hint: str | None = None) -> LineParser:
    if fmt is Format.ZEEK_TSV:
        return ZeekTsvParser(hint)
    if fmt is Format.ZEEK_JSON:
        return ZeekJsonParser(hint)
    if fmt is Format.SURICATA:
        return SuricataParser()
    if fmt is Format.ARGUS:
        return ArgusParser()
    if fmt is Format.NFDUMP_CSV:
        return NfdumpCsvParser()
    raise InputError(f"no line parser for format {fmt}")


_FORMAT_OPTION = {
    "zeek": (Format.ZEEK_TSV, Format.ZEEK_JSON),
    "suricata": (Format.SURICATA,),
    "argus": (Format.ARGUS,),
    "nfdump": (Format.NFDUMP, Format.NFDUMP_CSV),
    "pcap": (Format.PCAP,),
}


class _Chained(io.RawIOBase):
    """`head` (bytes already read for sniffing), then the rest of `rest`."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        read1 = getattr(self._rest, "read1", None)
        data = read1(len(buffer)) if read1 is not None else self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _read_head(stream: BinaryIO, limit: int) -> tuple[bytes, BinaryIO]:
    """Lines up to the first non-blank one (each at most `limit` bytes), and a
    stream that yields them again followed by the rest of `stream`."""
    head = stream.readline(limit)
    blank = 0
    while head and not head.strip() and blank < _MAX_BLANK_HEAD_LINES:
        line = stream.readline(limit)
        if not line:
            break
        head += line
        blank += 1
    return head, cast(BinaryIO, io.BufferedReader(_Chained(head, stream)))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class RecordSource:
    """Iterate over the records of `spec` ('-' for stdin, a file or a directory)."""

    def __init__(
        self,
        spec: str,
        skips: SkipLog,
        *,
        fmt: str = "auto",
        max_line_bytes: int = 1 << 20,
        workdir: Path | None = None,
    ) -> None:
        self.spec = spec
        self.skips = skips
        self.requested = fmt
        self.max_line_bytes = max_line_bytes
        self.workdir = workdir
        self.lines = 0
        self.bytes_total = 0
        self.files: dict[str, str] = {}  # file -> detected format
        self._stdin: BinaryIO | None = None  # sniffed stdin, head chained back
        self._reading: list[BinaryIO] = []  # raw files being read (for bytes_done)
        self._bytes_finished = 0
        self._plan = self._resolve()
        self.bytes_total = sum(_size(p) for p, _ in self._plan if p is not None)

    @property
    def bytes_done(self) -> int:
        """Bytes of the input consumed so far (approximate: reads are buffered)."""
        done = self._bytes_finished
        for raw in self._reading:
            with contextlib.suppress(OSError, ValueError):
                done += raw.tell()
        return done

    # -- planning: decide how to read before reading anything -------------------------

    def _resolve(self) -> list[tuple[Path | None, Format]]:
        if self.spec == "-":
            return [(None, self._sniff_stdin())]
        path = Path(self.spec)
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: permission denied")
        if path.is_dir():
            return self._resolve_dir(path)
        return [(path, self._sniff_checked(path))]

    def _sniff_stdin(self) -> Format:
        stdin: BinaryIO | None = getattr(sys.stdin, "buffer", None)
        if stdin is None:
            raise InputError("stdin: not available")
        limit = self.max_line_bytes + 1
        try:
            head, stream = _read_head(stdin, limit)
            if head[:2] == _GZIP_MAGIC:
                gz: BinaryIO = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
                head, stream = _read_head(gz, limit)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"stdin: cannot read ({exc})") from None
        fmt, why = sniff_bytes(head)
        self._check_requested("stdin", fmt, why)
        if fmt in (Format.EMPTY, Format.UNKNOWN, Format.PCAP, Format.NFDUMP):
            raise InputError(f"stdin: cannot analyse ({why}); give a file path for binary formats")
        self._stdin = stream
        return fmt

    def _sniff_checked(self, path: Path) -> Format:
        try:
            fmt, why = sniff_path(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
        self._check_requested(path, fmt, why)
        if fmt is Format.EMPTY:
            raise InputError(f"{path}: {why}, nothing to analyse")
        if fmt is Format.UNKNOWN:
            raise InputError(f"{path}: unknown format ({why})")
        if fmt is Format.NFDUMP and shutil.which("nfdump") is None:
            raise InputError(f"{path}: {_NFDUMP_MISSING}")
        return fmt

    def _check_requested(self, where: Path | str, fmt: Format, why: str) -> None:
        if self.requested == "auto" or fmt in (Format.EMPTY, Format.UNKNOWN):
            return
        allowed = _FORMAT_OPTION.get(self.requested)
        if allowed is None:
            raise InputError(f"unknown --format {self.requested!r}")
        if fmt not in allowed:
            raise InputError(
                f"{where}: --format {self.requested} given but content is {fmt} ({why})"
            )

    def _resolve_dir(self, path: Path) -> list[tuple[Path | None, Format]]:
        plan: list[tuple[Path | None, Format]] = []
        skip = self.skips.skip
        for child in sorted(path.iterdir()):
            if child.name.startswith("."):
                continue
            try:
                if not child.is_file():
                    continue
                fmt, why = sniff_path(child)
            except OSError as exc:
                skip(str(child), 0, "file_unreadable", exc.strerror or str(exc))
                continue
            if fmt is Format.EMPTY:
                continue
            if fmt is Format.UNKNOWN:
                skip(str(child), 0, "file_unknown_format", why)
                continue
            if fmt in (Format.PCAP, Format.NFDUMP):
                skip(
                    str(child),
                    0,
                    f"file_{'pcap' if fmt is Format.PCAP else 'nfdump'}_skipped",
                    f"{why}: binary captures are not read from a directory; "
                    "analyse this file on its own",
                )
                continue
            if self.requested != "auto" and fmt not in _FORMAT_OPTION.get(self.requested, ()):
                skip(str(child), 0, "file_other_format", f"{fmt}, --format {self.requested}")
                continue
            plan.append((child, fmt))
        if not plan:
            raise InputError(f"{path}: no readable log files in this directory")
        return plan

    # -- reading ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Record]:
        if len(self._plan) == 1:
            path, fmt = self._plan[0]
            if path is None:
                return self._read_stdin(fmt)
            return self._read_path(path, fmt)
        streams = [self._read_path(p, f) for p, f in self._plan if p is not None]
        return heapq.merge(*streams, key=itemgetter(0))

    def _read_path(self, path: Path, fmt: Format) -> Iterator[Record]:
        self.files[str(path)] = str(fmt)
        if fmt is Format.NFDUMP:
            yield from self._read_nfdump(path)
            return
        if fmt is Format.PCAP:
            yield from self._read_pcap(path)
            return
        try:
            size = path.stat().st_size
            raw = path.open("rb")
        except OSError as exc:
            raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
        self._reading.append(raw)
        fh: BinaryIO = raw
        try:
            magic = raw.read(2)
            raw.seek(0)
            if magic == _GZIP_MAGIC:
                fh = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
            where = path.name if self._plan_is_dir else str(path)
            yield from self._parse(fh, where, fmt, log_type_hint(path.name))
        finally:
            self._reading.remove(raw)
            self._bytes_finished += size
            fh.close()
            raw.close()

    @property
    def _plan_is_dir(self) -> bool:
        return len(self._plan) > 1 or (self.spec != "-" and Path(self.spec).is_dir())

    def _read_stdin(self, fmt: Format) -> Iterator[Record]:
        assert self._stdin is not None  # set by _sniff_stdin in the constructor
        self.files["-"] = str(fmt)
        yield from self._parse(self._stdin, "stdin", fmt, None)

    def _parse(self, fh: BinaryIO, where: str, fmt: Format, hint: str | None) -> Iterator[Record]:
        parser = make_parser(fmt, hint)
        parse = parser.parse_line
        skips = self.skips
        max_line = self.max_line_bytes
        limit = max_line + 1
        readline = fh.readline
        lineno = 0
        try:
            while raw := readline(limit):
                lineno += 1
                if len(raw) > max_line:
                    size = len(raw)
                    while raw[-1:] != b"\n":  # discard the rest, one bounded chunk at a time
                        raw = readline(limit)
                        if not raw:
                            break
                        size += len(raw)
                    skips.skip(where, lineno, "line_too_long", f"{size} bytes > {max_line}")
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    line = raw.decode("utf-8", errors="replace")
                    skips.warn("invalid_utf8_replaced")
                try:
                    rec = parse(line)
                except Unsupported as exc:
                    skips.skip_unsupported(where, exc.reason)
                    continue
                except ParseError as exc:
                    skips.skip(where, lineno, exc.reason, exc.detail)
                    continue
                if rec is not None:
                    yield rec
        except (OSError, EOFError, zlib.error) as exc:
            # Truncated gzip or an I/O error mid-file: keep what was read, say why.
            skips.skip(where, lineno + 1, "truncated_input", str(exc)[:200])
        finally:
            self.lines += lineno

    def _read_nfdump(self, path: Path) -> Iterator[Record]:
        size = _size(path)
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    nfdump_argv(str(path)),
                    stdout=subprocess.PIPE,
                    stderr=err,
                    env={**os.environ, **NFDUMP_ENV},
                )
            except OSError as exc:
                raise InputError(f"{path}: {_NFDUMP_MISSING} ({exc})") from None
            assert proc.stdout is not None
            try:
                stdout = cast(BinaryIO, proc.stdout)
                yield from self._parse(stdout, str(path), Format.NFDUMP_CSV, None)
                code = proc.wait()
                if code != 0:
                    err.seek(0)
                    msg = err.read().decode("utf-8", "replace").strip().splitlines()
                    self.skips.skip(
                        str(path), 0, "nfdump_failed", f"exit {code}: {' '.join(msg)[:200]}"
                    )
            finally:
                # Stopped early (generator closed) or failed: no orphan, no zombie.
                proc.stdout.close()
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                self._bytes_finished += size

    def _read_pcap(self, path: Path) -> Iterator[Record]:
        zeek = shutil.which("zeek")
        if zeek is None:
            yield from self._read_pcap_builtin(path)
            return
        size = _size(path)
        with tempfile.TemporaryDirectory(prefix="starling-zeek-", dir=self.workdir) as tmp:
            capture = path.resolve()
            if _is_gzip(path):  # zeek reads plain captures only
                capture = Path(tmp) / "capture.pcap"
                _gunzip(path, capture)
            scripts, problems = usable_scripts(zeek)
            for _ in problems:
                self.skips.warn("zeek_script_unusable")  # (logged with its message)
            proc = subprocess.run(
                [zeek, "-C", "-r", str(capture), "LogAscii::use_json=F", *scripts],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise InputError(f"{path}: zeek failed: {proc.stderr.strip()[:200]}")
            if capture.parent == Path(tmp):
                capture.unlink()  # not to be read back as a log file
            inner = RecordSource(tmp, self.skips, max_line_bytes=self.max_line_bytes)
            try:
                yield from inner
            finally:
                self.files.update(inner.files)
                self.lines += inner.lines
        self._bytes_finished += size

    def _read_pcap_builtin(self, path: Path) -> Iterator[Record]:
        """No Zeek: Starling's own packet engine (agent.inputs.pcap)."""
        try:
            size = path.stat().st_size
            raw = path.open("rb")
        except OSError as exc:
            raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
        self._reading.append(raw)
        capture = CaptureFile(self.skips, str(path), seed=path.name)
        try:
            yield from capture.records(raw)
        finally:
            self._reading.remove(raw)
            self._bytes_finished += size
            self.lines += capture.packets
            raw.close()


def _is_gzip(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(2) == _GZIP_MAGIC
    except OSError:
        return False


def _gunzip(src: Path, dst: Path) -> None:
    try:
        with gzip.open(src, "rb") as fin, dst.open("wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{src}: cannot decompress: {exc}") from None
