"""A capture file read with Starling's built-in packet engine (no Zeek needed).

The file is read in fixed-size chunks (1 MiB) and fed to
`detection.packets.PacketEngine`; its records are yielded as they become
final, so memory is bounded by one chunk, one packet and the open
connections. A gzip-compressed capture (``.pcap.gz``) is read through
`gzip`, its progress measured in compressed bytes like the other readers.

Error handling: nothing the file contains raises. What the engine could not
use is counted into the `SkipLog` when reading ends (also when the consumer
stops early): capture-level damage (``capture_truncated``,
``capture_corrupt``, ``capture_bad_magic``, ``capture_bad_interface``) and
per-packet problems (``ip_fragment``, ``truncated_packet``, ``bad_header``,
``dns_decode_error``…) as skips, logged once per reason with the first
detail; packets of kinds Starling does not analyse (``non_ip``,
``ip_other_protocol``, ``unsupported_link_type``) as unsupported, summarised
once. A decompression error or an I/O error mid-file ends reading like a
truncated capture (``truncated_input``), keeping what was read.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from agent.inputs.skips import SkipLog
from detection.model import Record
from detection.packets import PacketEngine

__all__ = ["UNSUPPORTED_REASONS", "CaptureFile", "report"]

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
# Packets of kinds Starling does not analyse: counted, summarised once, not errors.
UNSUPPORTED_REASONS = frozenset({"non_ip", "ip_other_protocol", "unsupported_link_type"})


def report(engine: PacketEngine, skips: SkipLog, where: str) -> None:
    """Move the engine's counts into `skips` (and reset them)."""
    for reason, n in sorted(engine.stats.items()):
        if n <= 0:
            continue
        detail = engine.details.get(reason, "")
        if reason in UNSUPPORTED_REASONS:
            # SkipLog's counters are plain Counters: add n at once instead of n calls
            skips.counts[reason] += n
            skips.unsupported[(where, reason)] += n
        else:
            skips.skip(where, 0, reason, f"{n} x {detail}" if n > 1 else detail)
            skips.counts[reason] += n - 1
    engine.stats.clear()


class CaptureFile:
    """Reads one capture with the built-in engine; `packets` counts what was read."""

    def __init__(self, skips: SkipLog, where: str, *, seed: str = "", chunk: int = _CHUNK) -> None:
        self.skips = skips
        self.where = where
        self.chunk = chunk
        self.engine = PacketEngine(seed=seed or where)

    @property
    def packets(self) -> int:
        return self.engine.packets

    def records(self, raw: BinaryIO) -> Iterator[Record]:
        """Records of the capture in `raw` (an open binary file at its start).

        The caller owns `raw` (and measures progress with ``raw.tell()``).
        """
        engine = self.engine
        fh: BinaryIO = raw
        if raw.read(2) == _GZIP_MAGIC:
            raw.seek(0)
            fh = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        else:
            raw.seek(0)
        read = fh.read
        chunk = self.chunk
        try:
            try:
                while data := read(chunk):
                    records = engine.feed(data)
                    if records:
                        yield from records
            except (OSError, EOFError, zlib.error) as exc:
                self.skips.skip(self.where, engine.packets, "truncated_input", str(exc)[:200])
            yield from engine.finish()
        finally:
            report(engine, self.skips, self.where)
            if fh is not raw:
                fh.close()
