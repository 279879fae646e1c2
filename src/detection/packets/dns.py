"""DNS messages (RFC 1035; mDNS and LLMNR share the format) → what dns.log keeps.

`decode_dns(payload)` returns the transaction id, whether it is a response,
the rcode, the first question (name, type) and the answer section as Zeek
writes it: A/AAAA as addresses, CNAME/NS/PTR/MX/SRV/SOA as the target name,
TXT as ``TXT <length> <text>`` per string; other types are not listed (Zeek
writes a placeholder; no detector reads one). Names follow compression
pointers (at most `_MAX_JUMPS`, so a pointer loop is an error, not a hang);
bytes outside printable ASCII are written ``\\xNN``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from detection.packets.decode import DecodeError, ip4_str, ip6_str

__all__ = ["QTYPE_NAMES", "RCODE_NAMES", "DnsMessage", "decode_dns"]

QTYPE_NAMES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT",
    17: "RP", 18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV",
    35: "NAPTR", 37: "CERT", 39: "DNAME", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC",
    48: "DNSKEY", 50: "NSEC3", 52: "TLSA", 64: "SVCB", 65: "HTTPS", 99: "SPF", 251: "IXFR",
    252: "AXFR", 255: "*", 257: "CAA",
}  # fmt: skip
RCODE_NAMES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE",
}  # fmt: skip

_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_QQ = struct.Struct("!HH")
_MAX_JUMPS = 32
_MAX_NAME = 255
_MAX_ANSWERS = 100
_NAME_TARGET = frozenset({2, 5, 12, 39})  # NS, CNAME, PTR, DNAME: rdata is a name
_PRINTABLE = bytes(range(0x20, 0x7F)).replace(b"\\", b"")


class DnsMessage(NamedTuple):
    trans_id: int
    response: bool
    rcode: int
    query: str  # "" when the message has no question
    qtype: int
    answers: tuple[str, ...]
    ttls: tuple[float, ...]


def qtype_name(qtype: int) -> str:
    return QTYPE_NAMES.get(qtype, str(qtype))


def _label_text(raw: bytes) -> str:
    if raw.translate(None, _PRINTABLE) == b"":
        return raw.decode("ascii")
    return "".join(chr(c) if bytes((c,)) in _PRINTABLE else f"\\x{c:02x}" for c in raw)


def _name(msg: bytes, off: int) -> tuple[str, int]:
    """(dotted name, offset after the name in the original position)."""
    labels: list[str] = []
    end = -1
    jumps = 0
    size = 0
    n = len(msg)
    while True:
        if off >= n:
            raise DecodeError("name runs past the message")
        length = msg[off]
        if length == 0:
            off += 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if off + 1 >= n:
                raise DecodeError("truncated compression pointer")
            if end < 0:
                end = off + 2
            jumps += 1
            if jumps > _MAX_JUMPS:
                raise DecodeError("compression pointer loop")
            off = ((length & 0x3F) << 8) | msg[off + 1]
            continue
        if kind:
            raise DecodeError(f"unsupported label type 0x{kind:02x}")
        start = off + 1
        off = start + length
        if off > n:
            raise DecodeError("label runs past the message")
        size += length + 1
        if size > _MAX_NAME:
            raise DecodeError("name longer than 255 bytes")
        labels.append(_label_text(msg[start:off]))
    return ".".join(labels), (end if end >= 0 else off)


def _rdata(msg: bytes, rtype: int, start: int, rdlen: int) -> str | None:
    end = start + rdlen
    if rtype == 1:
        if rdlen != 4:
            raise DecodeError("A record of wrong length")
        return ip4_str(msg[start:end])
    if rtype == 28:
        if rdlen != 16:
            raise DecodeError("AAAA record of wrong length")
        return ip6_str(msg[start:end])
    if rtype in _NAME_TARGET or rtype == 6:  # SOA: the primary server's name
        return _name(msg, start)[0]
    if rtype == 15:  # MX: preference, exchange
        if rdlen < 3:
            raise DecodeError("short MX record")
        return _name(msg, start + 2)[0]
    if rtype == 33:  # SRV: priority, weight, port, target
        if rdlen < 7:
            raise DecodeError("short SRV record")
        return _name(msg, start + 6)[0]
    if rtype == 16:  # TXT: one or more <length><bytes> strings
        parts = []
        off = start
        while off < end:
            length = msg[off]
            text = msg[off + 1 : off + 1 + length]
            if off + 1 + length > end:
                raise DecodeError("TXT string runs past its record")
            parts.append(f"TXT {length} {_label_text(text)}")
            off += 1 + length
        return " ".join(parts)
    return None


def decode_dns(payload: bytes) -> DnsMessage:
    """One DNS message (UDP payload, or a TCP message without its length prefix)."""
    if len(payload) < 12:
        raise DecodeError("shorter than a DNS header")
    trans_id, flags, qd, an, _ns, _ar = _HEADER.unpack_from(payload, 0)
    if flags & 0x7800 not in (0, 0x0800, 0x1000, 0x2000, 0x2800):  # opcodes 0,1,2,4,5
        raise DecodeError(f"unknown opcode {(flags >> 11) & 0xF}")
    off = 12
    query = ""
    qtype = 0
    for i in range(qd):
        name, off = _name(payload, off)
        if off + 4 > len(payload):
            raise DecodeError("truncated question")
        if i == 0:
            query = name
            qtype = _QQ.unpack_from(payload, off)[0]
        off += 4
    answers: list[str] = []
    ttls: list[float] = []
    for _ in range(min(an, _MAX_ANSWERS)):
        _rname, off = _name(payload, off)
        if off + 10 > len(payload):
            raise DecodeError("truncated resource record")
        rtype, _rclass, ttl, rdlen = _RR.unpack_from(payload, off)
        off += 10
        if off + rdlen > len(payload):
            raise DecodeError("resource record data runs past the message")
        text = _rdata(payload, rtype, off, rdlen)
        off += rdlen
        if text is not None:
            answers.append(text)
            ttls.append(float(ttl))
    return DnsMessage(
        trans_id,
        bool(flags & 0x8000),
        flags & 0x000F,
        query,
        qtype,
        tuple(answers),
        tuple(ttls),
    )
