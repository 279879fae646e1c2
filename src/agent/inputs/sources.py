"""Record sources: a file, a directory of logs, stdin, or a tool's output.

Error handling
--------------
* A path that cannot be used at all (missing, unreadable, unknown format,
  nfdump tool absent) raises `InputError` with a one-line reason before any
  record is produced: the CLI prints it and exits non-zero.
* A bad line inside a usable input is skipped, counted and logged through the
  `SkipLog`, and reading continues.
* Invalid UTF-8 is replaced (U+FFFD) and the line still parsed; the repair is
  counted as a warning. Lines longer than `max_line_bytes` are skipped.

Directories are read in time order across files (a k-way merge on each
record's timestamp, which is field 0 of every record type).
"""

from __future__ import annotations

import gzip
import heapq
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO

from agent.inputs.skips import SkipLog
from agent.inputs.sniff import Format, sniff_bytes, sniff_path
from detection.model import Record
from detection.parsers.argus import ArgusParser
from detection.parsers.base import LineParser, ParseError, Unsupported
from detection.parsers.nfdump import NFDUMP_ENV, NfdumpCsvParser, nfdump_argv
from detection.parsers.suricata import SuricataParser
from detection.parsers.zeek import ZeekJsonParser, ZeekTsvParser

__all__ = ["InputError", "RecordSource", "log_type_hint", "make_parser"]

_LOG_SUFFIXES = (".log", ".log.gz", ".log.labeled", ".labeled", ".json", ".json.gz", ".binetflow")


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


def _open_binary(path: Path) -> BinaryIO:
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


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
        self._plan = self._resolve()

    # -- planning: decide how to read before reading anything -------------------------

    def _resolve(self) -> list[tuple[Path | None, Format]]:
        if self.spec == "-":
            return [(None, Format.UNKNOWN)]  # sniffed when reading
        path = Path(self.spec)
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: permission denied")
        if path.is_dir():
            return self._resolve_dir(path)
        return [(path, self._sniff_checked(path))]

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
        for child in sorted(path.iterdir()):
            if not child.is_file() or child.name.startswith("."):
                continue
            if not child.name.endswith(_LOG_SUFFIXES):
                continue
            try:
                fmt, why = sniff_path(child)
            except OSError as exc:
                self.skips.skip(str(child), 0, "file_unreadable", exc.strerror or str(exc))
                continue
            if fmt in (Format.UNKNOWN, Format.PCAP, Format.NFDUMP):
                self.skips.skip(str(child), 0, "file_unknown_format", why)
                continue
            if fmt is Format.EMPTY:
                continue
            if self.requested != "auto" and fmt not in _FORMAT_OPTION.get(self.requested, ()):
                self.skips.skip(
                    str(child), 0, "file_other_format", f"{fmt}, --format {self.requested}"
                )
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
                return self._read_stdin()
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
            self.bytes_total += path.stat().st_size
            fh = _open_binary(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
        with fh:
            yield from self._parse(
                fh, path.name if self._plan_is_dir else str(path), fmt, log_type_hint(path.name)
            )

    @property
    def _plan_is_dir(self) -> bool:
        return len(self._plan) > 1 or (self.spec != "-" and Path(self.spec).is_dir())

    def _read_stdin(self) -> Iterator[Record]:
        stdin = sys.stdin.buffer
        head = stdin.peek(65536)[:65536] if hasattr(stdin, "peek") else b""
        fmt, why = sniff_bytes(head)
        self._check_requested("stdin", fmt, why)
        if fmt in (Format.EMPTY, Format.UNKNOWN, Format.PCAP, Format.NFDUMP):
            raise InputError(f"stdin: cannot analyse ({why}); give a file path for binary formats")
        self.files["-"] = str(fmt)
        yield from self._parse(stdin, "stdin", fmt, None)  # type: ignore[arg-type]

    def _parse(self, fh: BinaryIO, where: str, fmt: Format, hint: str | None) -> Iterator[Record]:
        parser = make_parser(fmt, hint)
        parse = parser.parse_line
        skips = self.skips
        max_line = self.max_line_bytes
        lineno = 0
        try:
            for raw in fh:
                lineno += 1
                if len(raw) > max_line:
                    skips.skip(where, lineno, "line_too_long", f"{len(raw)} bytes > {max_line}")
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
        if shutil.which("nfdump") is None:
            raise InputError(
                f"{path}: nfdump files are read with the nfdump tool, which is not installed "
                "(Debian/Ubuntu: apt-get install nfdump)"
            )
        self.bytes_total += path.stat().st_size
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                nfdump_argv(str(path)),
                stdout=subprocess.PIPE,
                stderr=err,
                env={**os.environ, **NFDUMP_ENV},
            )
            assert proc.stdout is not None
            with proc.stdout:
                yield from self._parse(proc.stdout, str(path), Format.NFDUMP_CSV, None)
            code = proc.wait()
            if code != 0:
                err.seek(0)
                msg = err.read().decode("utf-8", "replace").strip().splitlines()
                self.skips.skip(
                    str(path), 0, "nfdump_failed", f"exit {code}: {' '.join(msg)[:200]}"
                )

    def _read_pcap(self, path: Path) -> Iterator[Record]:
        zeek = shutil.which("zeek")
        if zeek is None:
            raise InputError(
                f"{path}: pcap input needs Zeek on PATH (https://zeek.org packages); "
                "Starling's built-in packet engine is not part of this release yet"
            )
        out = Path(tempfile.mkdtemp(prefix="starling-zeek-", dir=self.workdir))
        proc = subprocess.run(
            [zeek, "-C", "-r", str(path.resolve()), "LogAscii::use_json=F"],
            cwd=out,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise InputError(f"{path}: zeek failed: {proc.stderr.strip()[:200]}")
        inner = RecordSource(str(out), self.skips, max_line_bytes=self.max_line_bytes)
        self.files.update(inner.files)
        yield from inner
