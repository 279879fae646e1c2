"""pcap and pcapng files, read incrementally from byte chunks (sans-IO).

Theory of operation
-------------------
`CaptureReader.feed(chunk)` appends the chunk to an internal buffer and
returns every complete packet it now holds as ``(ts, linktype, data)``; the
bytes of an incomplete packet wait for the next chunk. `close()` says the
input has ended: bytes still waiting are a truncated capture. So the caller
can read a file in fixed-size chunks (memory bounded by one chunk plus one
packet) and a capture cut anywhere ends with a counted warning, never an
exception.

Formats (facts from the libpcap file format and the pcapng draft):

* pcap: a 24-byte global header whose magic gives the byte order and the
  timestamp unit (0xA1B2C3D4 microseconds, 0xA1B23C4D nanoseconds), then
  records of a 16-byte header (seconds, fraction, captured length, original
  length) and the captured bytes.
* pcapng: blocks of (type, total length, body, total length). The Section
  Header Block (0x0A0D0D0A) gives the byte order by its 0x1A2B3C4D magic and
  resets the interface list; Interface Description Blocks (1) give each
  interface's link type and timestamp resolution (option 9, ``if_tsresol``,
  default microseconds); Enhanced (6), Simple (3) and the obsolete Packet (2)
  blocks carry packets. Every other block is skipped by its length.

Damage handling: the reader stops at the first structural impossibility (a
record longer than `max_packet`, a pcapng block whose length is not a
multiple of 4 or whose trailing length differs, an unknown magic) because
neither format can be resynchronised reliably; what was read before is kept.
Each problem is counted in `warnings` by reason, with the first detail in
`details`: ``capture_bad_magic``, ``capture_corrupt`` (then reading stops),
``capture_truncated`` (input ended inside a header, record or block),
``capture_bad_interface`` (a packet naming an interface that was not
described; the packet is dropped).
"""

from __future__ import annotations

import struct
from collections import Counter

__all__ = [
    "MAX_PACKET",
    "CaptureReader",
    "Packet",
]

Packet = tuple[float, int, bytes]  # (timestamp, link type, captured bytes)

MAX_PACKET = 262_144  # libpcap's largest snapshot length
_MAX_BLOCK = 16 * 1024 * 1024  # a pcapng block larger than this is corrupt

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_BYTE_ORDER_MAGIC = 0x1A2B3C4D

_PCAP_HEADER = {e: struct.Struct(e + "HHiIII") for e in "<>"}  # after the magic
_PCAP_RECORD = {e: struct.Struct(e + "IIII") for e in "<>"}
_U16 = {e: struct.Struct(e + "H") for e in "<>"}
_U32 = {e: struct.Struct(e + "I") for e in "<>"}
_BLOCK_HEAD = {e: struct.Struct(e + "II") for e in "<>"}
_EPB = {e: struct.Struct(e + "IIIII") for e in "<>"}  # iface, ts hi, ts lo, caplen, len
_PB = {e: struct.Struct(e + "HHIIII") for e in "<>"}  # iface, drops, ts hi, ts lo, caplen, len
_IDB = {e: struct.Struct(e + "HHI") for e in "<>"}  # linktype, reserved, snaplen


class CaptureReader:
    """Incremental reader for pcap and pcapng (see the module header)."""

    def __init__(self, *, max_packet: int = MAX_PACKET) -> None:
        self.max_packet = max_packet
        self.format = ""  # "pcap" | "pcapng" once the magic was read
        self.packets = 0
        self.stopped = False  # a fatal problem was met; further input is ignored
        self.warnings: Counter[str] = Counter()
        self.details: dict[str, str] = {}  # first detail per warning reason
        self._buf = b""
        self._offset = 0  # file offset of _buf[0], for messages
        # pcap state
        self._endian = "<"
        self._scale = 1e-6
        self._linktype = 1
        # pcapng state: one (linktype, ts scale) per described interface
        self._ifaces: list[tuple[int, float]] = []
        self._last_ts = 0.0

    # -- public ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Packet]:
        """The complete packets now available (possibly none)."""
        if self.stopped:
            return []
        self._buf = self._buf + data if self._buf else bytes(data)
        out: list[Packet] = []
        if not self.format and not self._start():
            return out
        if self.format == "pcap":
            self._pcap(out)
        else:
            self._pcapng(out)
        self.packets += len(out)
        return out

    def close(self) -> None:
        """The input ended: leftover bytes mean the capture was cut."""
        if self.stopped:
            self._buf = b""
            return
        if self._buf:
            where = "file header" if not self.format else "a packet record"
            self._warn(
                "capture_truncated",
                f"input ends inside {where} at byte {self._offset} "
                f"({len(self._buf)} bytes left over)",
            )
        elif not self.format:
            self._warn("capture_truncated", "empty capture")
        self._buf = b""

    # -- internals ------------------------------------------------------------------------

    def _warn(self, reason: str, detail: str) -> None:
        self.warnings[reason] += 1
        self.details.setdefault(reason, detail)

    def _stop(self, reason: str, detail: str) -> None:
        self._warn(reason, detail)
        self.stopped = True
        self._buf = b""

    def _consume(self, n: int) -> None:
        self._buf = self._buf[n:]
        self._offset += n

    def _start(self) -> bool:
        buf = self._buf
        if len(buf) < 4:
            return False
        magic = buf[:4]
        if magic in _PCAP_MAGIC:
            if len(buf) < 24:
                return False
            self._endian, self._scale = _PCAP_MAGIC[magic]
            _maj, _min, _zone, _sig, _snap, linktype = _PCAP_HEADER[self._endian].unpack_from(
                buf, 4
            )
            self._linktype = linktype & 0x0FFFFFFF  # upper bits: FCS length flags
            self.format = "pcap"
            self._consume(24)
            return True
        if magic == _PCAPNG_SHB:
            self.format = "pcapng"
            return True
        self._stop("capture_bad_magic", f"not a pcap/pcapng file (magic {magic.hex()})")
        return False

    def _pcap(self, out: list[Packet]) -> None:
        buf = self._buf
        n = len(buf)
        off = 0
        unpack = _PCAP_RECORD[self._endian].unpack_from
        scale = self._scale
        lt = self._linktype
        limit = self.max_packet
        append = out.append
        while off + 16 <= n:
            sec, frac, incl, _orig = unpack(buf, off)
            if incl > limit:
                self._offset += off
                self._stop(
                    "capture_corrupt",
                    f"record at byte {self._offset} claims {incl} captured bytes (> {limit})",
                )
                return
            end = off + 16 + incl
            if end > n:
                break
            append((sec + frac * scale, lt, buf[off + 16 : end]))
            off = end
        self._consume(off)

    def _pcapng(self, out: list[Packet]) -> None:
        while not self.stopped:
            buf = self._buf
            if len(buf) < 12:
                return
            if buf[:4] == _PCAPNG_SHB:
                if not self._section_header():
                    return
                continue
            e = self._endian
            btype, blen = _BLOCK_HEAD[e].unpack_from(buf, 0)
            if blen < 12 or blen % 4 or blen > _MAX_BLOCK:
                self._stop(
                    "capture_corrupt", f"pcapng block at byte {self._offset} has length {blen}"
                )
                return
            if len(buf) < blen:
                return
            if _U32[e].unpack_from(buf, blen - 4)[0] != blen:
                self._stop(
                    "capture_corrupt",
                    f"pcapng block at byte {self._offset}: trailing length differs",
                )
                return
            body = buf[8 : blen - 4]
            self._block(btype, body, out)
            self._consume(blen)

    def _section_header(self) -> bool:
        buf = self._buf
        if len(buf) < 12:
            return False
        bom = buf[8:12]
        if bom == b"\x4d\x3c\x2b\x1a":
            e = "<"
        elif bom == b"\x1a\x2b\x3c\x4d":
            e = ">"
        else:
            self._stop("capture_corrupt", f"pcapng section at byte {self._offset}: bad byte order")
            return False
        blen = _U32[e].unpack_from(buf, 4)[0]
        if blen < 28 or blen % 4 or blen > _MAX_BLOCK:
            self._stop("capture_corrupt", f"pcapng section header length {blen}")
            return False
        if len(buf) < blen:
            return False
        self._endian = e
        self._ifaces = []  # interface ids are per section
        self._consume(blen)
        return True

    def _block(self, btype: int, body: bytes, out: list[Packet]) -> None:
        e = self._endian
        if btype == 6:  # Enhanced Packet Block
            if len(body) < 20:
                self._warn("capture_corrupt", "short enhanced packet block")
                return
            iface, hi, lo, caplen, _orig = _EPB[e].unpack_from(body, 0)
            self._packet(iface, (hi << 32) | lo, body, 20, caplen, out)
        elif btype == 1:  # Interface Description Block
            if len(body) < 8:
                self._warn("capture_corrupt", "short interface description block")
                return
            linktype, _res, _snap = _IDB[e].unpack_from(body, 0)
            self._ifaces.append((linktype, _tsresol(body, 8, e)))
        elif btype == 3:  # Simple Packet Block: interface 0, no timestamp
            if len(body) < 4:
                return
            orig = _U32[e].unpack_from(body, 0)[0]
            caplen = min(orig, len(body) - 4)
            if not self._ifaces:
                self._warn("capture_bad_interface", "simple packet block before any interface")
                return
            out.append((self._last_ts, self._ifaces[0][0], body[4 : 4 + caplen]))
        elif btype == 2:  # obsolete Packet Block
            if len(body) < 20:
                self._warn("capture_corrupt", "short packet block")
                return
            iface, _drops, hi, lo, caplen, _orig = _PB[e].unpack_from(body, 0)
            self._packet(iface, (hi << 32) | lo, body, 20, caplen, out)
        # every other block type (statistics, name resolution, custom…) carries no packet

    def _packet(  # noqa: PLR0917 - internal, one call per packet block
        self, iface: int, ticks: int, body: bytes, start: int, caplen: int, out: list[Packet]
    ) -> None:
        if iface >= len(self._ifaces):
            self._warn("capture_bad_interface", f"packet on undescribed interface {iface}")
            return
        if caplen > len(body) - start or caplen > self.max_packet:
            self._warn("capture_corrupt", f"packet claims {caplen} bytes, block holds fewer")
            return
        linktype, scale = self._ifaces[iface]
        ts = ticks * scale
        self._last_ts = ts
        out.append((ts, linktype, body[start : start + caplen]))


def _tsresol(body: bytes, off: int, e: str) -> float:
    """The if_tsresol option of an IDB (seconds per tick), default 1e-6."""
    u16 = _U16[e].unpack_from
    while off + 4 <= len(body):
        code = u16(body, off)[0]
        length = u16(body, off + 2)[0]
        if code == 0:
            break
        if code == 9 and length >= 1 and off + 5 <= len(body):
            v = body[off + 4]
            exp = v & 0x7F
            if exp > 63:
                return 1e-6
            return 2.0**-exp if v & 0x80 else 10.0**-exp
        off += 4 + ((length + 3) & ~3)
    return 1e-6
