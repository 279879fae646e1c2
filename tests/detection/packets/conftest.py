"""Packet and capture builders for the engine tests (struct only, by the RFCs)."""

from __future__ import annotations

import socket
import struct

import pytest

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Craft:
    """Frames, pcap and pcapng files built field by field."""

    FIN, SYN, RST, PSH, ACK = FIN, SYN, RST, PSH, ACK
    MAC_A = bytes.fromhex("020000000001")
    MAC_B = bytes.fromhex("020000000002")

    # -- layers ----------------------------------------------------------------------

    @staticmethod
    def eth(payload: bytes, etype: int = 0x0800, src: bytes = MAC_A, dst: bytes = MAC_B) -> bytes:
        return dst + src + struct.pack("!H", etype) + payload

    @staticmethod
    def vlan(payload: bytes, etype: int = 0x0800, vid: int = 10) -> bytes:
        return struct.pack("!HH", vid, etype) + payload

    @staticmethod
    def ip4(src: str, dst: str, proto: int, payload: bytes, *, frag: int = 0) -> bytes:
        header = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(payload),
            1,
            frag,
            64,
            proto,
            0,
            socket.inet_aton(src),
            socket.inet_aton(dst),
        )
        csum = _sum16(header)
        return header[:10] + struct.pack("!H", csum) + header[12:] + payload

    @staticmethod
    def ip6(src: str, dst: str, nxt: int, payload: bytes, ext: bytes = b"") -> bytes:
        first = nxt
        if ext:  # one hop-by-hop options header in front of the transport
            first = 0
            payload = bytes([nxt]) + ext[1:] + payload
        return (
            struct.pack("!IHBB", 6 << 28, len(payload), first, 64)
            + socket.inet_pton(socket.AF_INET6, src)
            + socket.inet_pton(socket.AF_INET6, dst)
            + payload
        )

    @staticmethod
    def tcp(
        sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes = b"", win: int = 65535
    ) -> bytes:
        return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, win, 0, 0) + data

    @staticmethod
    def udp(sport: int, dport: int, data: bytes) -> bytes:
        return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data

    @staticmethod
    def icmp(itype: int, code: int, data: bytes = b"") -> bytes:
        return struct.pack("!BBHI", itype, code, 0, 0x12340001) + data

    @staticmethod
    def arp(op: int, sha: bytes, spa: str, tha: bytes, tpa: str) -> bytes:
        return (
            struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
            + sha
            + socket.inet_aton(spa)
            + tha
            + socket.inet_aton(tpa)
        )

    # -- convenience: one Ethernet/IPv4 frame -----------------------------------------

    def tcp4(
        self,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        data: bytes = b"",
    ) -> bytes:
        return self.eth(self.ip4(src, dst, 6, self.tcp(sport, dport, seq, ack, flags, data)))

    def udp4(self, src: str, sport: int, dst: str, dport: int, data: bytes) -> bytes:
        return self.eth(self.ip4(src, dst, 17, self.udp(sport, dport, data)))

    # -- application messages ------------------------------------------------------------

    @staticmethod
    def dns_name(name: str) -> bytes:
        out = b""
        for label in name.split("."):
            out += bytes([len(label)]) + label.encode()
        return out + b"\0"

    def dns(
        self,
        trans_id: int,
        name: str,
        qtype: int = 1,
        *,
        response: bool = False,
        rcode: int = 0,
        answers: tuple[tuple[int, int, bytes], ...] = (),
    ) -> bytes:
        """answers: (type, ttl, rdata); each answer's name points at the question."""
        flags = (0x8180 if response else 0x0100) | rcode
        msg = struct.pack("!HHHHHH", trans_id, flags, 1, len(answers), 0, 0)
        msg += self.dns_name(name) + struct.pack("!HH", qtype, 1)
        for rtype, ttl, rdata in answers:
            msg += struct.pack("!HHHIH", 0xC00C, rtype, 1, ttl, len(rdata)) + rdata
        return msg

    @staticmethod
    def tls_record(ctype: int, body: bytes, version: int = 0x0301) -> bytes:
        return struct.pack("!BHH", ctype, version, len(body)) + body

    @staticmethod
    def handshake(mtype: int, body: bytes) -> bytes:
        return bytes([mtype]) + len(body).to_bytes(3, "big") + body

    @staticmethod
    def ext(etype: int, data: bytes) -> bytes:
        return struct.pack("!HH", etype, len(data)) + data

    def client_hello(
        self,
        sni: str,
        ciphers: list[int],
        extensions: list[tuple[int, bytes]],
        version: int = 0x0303,
    ) -> bytes:
        """A ClientHello body; extensions given in order, SNI rendered for type 0."""
        body = struct.pack("!H", version) + bytes(32) + b"\x00"
        body += struct.pack("!H", 2 * len(ciphers)) + b"".join(
            struct.pack("!H", c) for c in ciphers
        )
        body += b"\x01\x00"
        exts = b""
        for etype, data in extensions:
            body_ = data
            if etype == 0:
                name = sni.encode()
                entry = b"\x00" + struct.pack("!H", len(name)) + name
                body_ = struct.pack("!H", len(entry)) + entry
            exts += self.ext(etype, body_)
        return body + struct.pack("!H", len(exts)) + exts

    def server_hello(self, cipher: int, extensions: list[tuple[int, bytes]]) -> bytes:
        body = struct.pack("!H", 0x0303) + bytes(32) + b"\x00" + struct.pack("!HB", cipher, 0)
        exts = b"".join(self.ext(t, d) for t, d in extensions)
        return body + struct.pack("!H", len(exts)) + exts

    @staticmethod
    def u16_list(values: list[int]) -> bytes:
        return struct.pack("!H", 2 * len(values)) + b"".join(struct.pack("!H", v) for v in values)

    @staticmethod
    def ssh_packet(msg: int, payload: bytes = b"") -> bytes:
        body = bytes([msg]) + payload
        pad = 8 - (5 + len(body)) % 8
        pad = pad + 8 if pad < 4 else pad
        return struct.pack("!IB", 1 + len(body) + pad, pad) + body + bytes(pad)

    @staticmethod
    def dhcp(
        op: int,
        xid: int,
        mac: bytes,
        msg_type: int,
        *,
        yiaddr: str = "0.0.0.0",
        requested: str = "",
        server_id: str = "",
        host_name: str = "",
    ) -> bytes:
        msg = struct.pack("!BBBBIHH", op, 1, 6, 0, xid, 0, 0)
        msg += bytes(4) + socket.inet_aton(yiaddr) + bytes(8)
        msg += mac + bytes(10) + bytes(64) + bytes(128) + b"\x63\x82\x53\x63"
        msg += bytes([53, 1, msg_type])
        if requested:
            msg += bytes([50, 4]) + socket.inet_aton(requested)
        if server_id:
            msg += bytes([54, 4]) + socket.inet_aton(server_id)
        if host_name:
            msg += bytes([12, len(host_name)]) + host_name.encode()
        return msg + b"\xff"

    # -- capture files ---------------------------------------------------------------------

    @staticmethod
    def pcap(
        packets: list[tuple[float, bytes]],
        linktype: int = 1,
        *,
        nano: bool = False,
        endian: str = "<",
        snaplen: int = 65535,
    ) -> bytes:
        magic = 0xA1B23C4D if nano else 0xA1B2C3D4
        out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
        for ts, frame in packets:
            sec = int(ts)
            frac = round((ts - sec) * (1e9 if nano else 1e6))
            cap = frame[:snaplen]
            out += struct.pack(endian + "IIII", sec, frac, len(cap), len(frame)) + cap
        return out

    @staticmethod
    def pcapng(packets: list[tuple[float, bytes]], linktype: int = 1, *, tsresol: int = 6) -> bytes:
        def block(btype: int, body: bytes) -> bytes:
            body += bytes(-len(body) % 4)
            n = len(body) + 12
            return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

        shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
        opts = struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
        idb = block(1, struct.pack("<HHI", linktype, 0, 65535) + opts)
        out = shb + idb
        for ts, frame in packets:
            ticks = round(ts * 10**tsresol)
            out += block(
                6,
                struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
                + frame,
            )
        return out


@pytest.fixture
def craft() -> Craft:
    return Craft()
