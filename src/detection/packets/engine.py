"""The built-in packet engine: captured packets in, Zeek-shaped records out (sans-IO).

Theory of operation
-------------------
`PacketEngine.feed(chunk)` reads pcap/pcapng bytes through `CaptureReader`;
`PacketEngine.packet(ts, linktype, frame)` takes one frame (live capture).
Both return the records that became final; `finish()` ends the input and
flushes every open connection. Time is the packets' own: nothing reads a
clock, so a capture always gives the same records (uids are derived from a
seed and a counter).

Per packet: the link layer (Ethernet with 802.1Q/802.1ad tags, Linux cooked
SLL and SLL2, raw IP, BSD loopback) gives the EtherType; IPv4 and IPv6 (with
extension headers) give the transport; fragments are not reassembled but
counted (``ip_fragment``) and skipped. ARP packets become `ArpRecord`s.
TCP, UDP and ICMP packets update a connection in the flow table, keyed by
the 5-tuple in the originator's direction (ICMP: type and its counterpart,
or type and code, in the port fields as Zeek does: an echo request is
8 → 0 and its reply joins the same connection).

Connections (Zeek's semantics, see `detection.packets.tcp` for the states):
* the originator is the sender of the first packet, except when that packet
  is a TCP SYN+ACK, or a UDP datagram from a well-known service port to a
  port that is not one (a response seen first): then the roles are flipped
  and the history starts with ``^``;
* a connection ends after `Timeouts` of inactivity (TCP 300 s, UDP and ICMP
  60 s), 5 s after it was closed (both FINs) or reset, when a new SYN reuses
  the 5-tuple of a closed or reset connection, or at `finish()`;
* byte counts are payload bytes: for TCP the span of sequence numbers each
  side used (so retransmissions count once), for UDP the datagram payload,
  for ICMP the message after its 8-byte header; as in Zeek they are reported
  only when the duration is non-zero. Packet counts are all packets.

Application layer (the first bytes of each direction; no full reassembly):
DNS on UDP/TCP 53 and mDNS/LLMNR (5353, 5355), HTTP request and response
heads, TLS hellos, SSH banners and authentication guess, DHCP grouped by
transaction. The service name (``dns``, ``http``, ``ssl``, ``ssh``, ``dhcp``)
is set when a message of the protocol decoded, whatever the port.

Counting, never raising: every packet that is not used, in whole or part,
is counted in `stats` by reason, the first detail of each in `details`
(``non_ip``, ``ip_fragment``, ``ip_other_protocol``, ``truncated_packet``,
``bad_header``, ``dns_decode_error``, ``conn_table_full``…). Capture-level
problems (`CaptureReader.warnings`) are merged in.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import struct
from collections import Counter
from typing import NamedTuple

from detection.model import (
    ArpRecord,
    DhcpRecord,
    DnsRecord,
    Flow,
    HttpRecord,
    Record,
    SshRecord,
    SslRecord,
)
from detection.packets.capture import CaptureReader
from detection.packets.decode import DecodeError, ip4_str, ip6_str, mac_str
from detection.packets.dhcp import decode_arp, decode_dhcp
from detection.packets.dns import RCODE_NAMES, decode_dns, qtype_name
from detection.packets.http import (
    METHODS,
    HttpRequest,
    HttpResponse,
    decode_request,
    decode_response,
)
from detection.packets.ssh import SshSession, ssh_version
from detection.packets.tcp import (
    CLOSED,
    ESTABLISHED,
    INACTIVE,
    PARTIAL,
    RESET,
    SYN_ACK_SENT,
    SYN_SENT,
    tcp_conn_state,
)
from detection.packets.tls import TlsSession, cipher_name, version_name
from detection.parsers.zeek import zeek_established

__all__ = ["PacketEngine", "Timeouts"]

_new_tuple = tuple.__new__

# link types (tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
_RAW_TYPES = frozenset({LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6})
_VLAN = frozenset({0x8100, 0x88A8, 0x9100})

_IP4 = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBH")
_UDP = struct.Struct("!HHH")
_U16 = struct.Struct("!H")
_MASK = 0xFFFFFFFF
_HALF = 0x80000000

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10

# ICMP request/reply pairs: Zeek puts the counterpart type in the responder port
_ICMP4_PAIR = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17, 10: 9, 9: 10}
_ICMP6_PAIR = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130}

# UDP ports a server answers from (a first packet *from* one of these is a response)
_UDP_SERVER_PORTS = frozenset(
    {53, 67, 68, 69, 123, 137, 138, 161, 162, 443, 500, 514, 1812, 1813, 1900, 3478, 4500,
     5060, 5353, 5355}
)  # fmt: skip
_DNS_PORTS = frozenset({53, 5353, 5355})
_DHCP_PORTS = frozenset({67, 68})

_UNSPECIFIED = "0.0.0.0"  # noqa: S104 - an address field's "none", not a bind
_MAX_PENDING = 64  # DNS queries / HTTP requests waiting for an answer, per connection
_MAX_DHCP = 10_000  # open DHCP transactions
_B62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62_TABLE = bytes(_B62[i % 62] for i in range(256))  # uid characters, Zeek's alphabet


class Timeouts(NamedTuple):
    """Seconds of inactivity after which a connection ends (Zeek's defaults)."""

    tcp: float = 300.0
    udp: float = 60.0
    icmp: float = 60.0
    closed: float = 5.0  # after both FINs or a RST
    dhcp: float = 60.0  # an open DHCP transaction


class _End:
    """One side of a TCP connection."""

    __slots__ = ("fin_seq", "isn", "next", "rst_seq", "state", "syn_seq", "tcount", "top", "wcount")

    def __init__(self) -> None:
        self.state = INACTIVE
        self.isn = -1  # sequence number of the first payload byte; -1 until known
        self.top = 0  # highest payload offset (relative to isn) seen: the byte count
        self.syn_seq = -1
        self.fin_seq = -1
        self.rst_seq = -1
        self.tcount = 0  # retransmissions
        self.wcount = 0  # zero windows
        self.next = -1  # next in-order sequence number for the application layer


class _Conn:
    __slots__ = (
        "app", "closed_at", "dmac", "dns", "done", "hist", "http", "key", "last", "o",
        "obytes", "opkts", "orig_h", "orig_p", "proto", "r", "rbytes", "resp_h", "resp_p",
        "rpkts", "service", "smac", "start", "uid",
    )  # fmt: skip

    def __init__(  # noqa: PLR0917 - built in one place, the fields in log order
        self,
        key: tuple[bytes, int, bytes, int, int],
        uid: str,
        proto: str,
        orig_h: str,
        orig_p: int,
        resp_h: str,
        resp_p: int,
        ts: float,
        smac: str,
        dmac: str,
    ) -> None:
        self.key = key
        self.uid = uid
        self.proto = proto
        self.orig_h = orig_h
        self.orig_p = orig_p
        self.resp_h = resp_h
        self.resp_p = resp_p
        self.start = ts
        self.last = ts
        self.smac = smac
        self.dmac = dmac
        self.opkts = 0
        self.rpkts = 0
        self.obytes = 0  # UDP/ICMP payload bytes
        self.rbytes = 0
        self.hist = ""
        self.service = ""
        self.o = _End()
        self.r = _End()
        self.app: SshSession | TlsSession | None = None
        self.http: list[tuple[float, HttpRequest]] | None = None
        self.dns: dict[int, tuple[float, str, int]] | None = None
        self.closed_at = -1.0  # when the connection became closed/reset
        self.done = False


class _DhcpTx:
    __slots__ = (
        "assigned", "client", "host", "last", "mac", "requested", "server", "ts", "types",
        "uids",
    )  # fmt: skip

    def __init__(self, ts: float, mac: str) -> None:
        self.ts = ts
        self.last = ts
        self.mac = mac
        self.uids: list[str] = []
        self.client = ""
        self.server = ""
        self.host = ""
        self.requested = ""
        self.assigned = ""
        self.types: list[str] = []


def _log_step(count: int) -> bool:
    """Zeek's logarithmic history letters: recorded at the 1st, 10th, 100th… event."""
    while count % 10 == 0:
        count //= 10
    return count == 1


class PacketEngine:
    """Packets → `Flow`, `DnsRecord`, `HttpRecord`, `SslRecord`, `SshRecord`,
    `ArpRecord`, `DhcpRecord` (see the module header)."""

    def __init__(
        self,
        *,
        seed: str = "",
        timeouts: Timeouts | None = None,
        max_conns: int = 1_000_000,
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        self.max_conns = max_conns
        self.reader = CaptureReader()
        self.stats: Counter[str] = Counter()
        self.details: dict[str, str] = {}
        self.packets = 0
        self.now = 0.0
        self._seed = seed.encode()
        self._uids = itertools.count()
        self._conns: dict[tuple[bytes, int, bytes, int, int], _Conn] = {}
        self._timers: list[tuple[float, int, _Conn]] = []
        self._tick = itertools.count()
        self._dhcp: dict[tuple[int, str], _DhcpTx] = {}
        self._out: list[Record] = []

    # -- public -------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[Record]:
        """Capture-file bytes (any chunking) → records that became final."""
        packet = self.packet_into
        for ts, linktype, frame in self.reader.feed(chunk):
            packet(ts, linktype, frame)
        return self._take()

    def packet(self, ts: float, linktype: int, frame: bytes) -> list[Record]:
        """One captured frame → records that became final."""
        self.packet_into(ts, linktype, frame)
        return self._take()

    def finish(self) -> list[Record]:
        """End of input: every open connection and DHCP transaction is final."""
        self.reader.close()
        for reason, n in self.reader.warnings.items():
            self.stats[reason] += n
            self.details.setdefault(reason, self.reader.details.get(reason, ""))
        self.reader.warnings.clear()
        for conn in sorted(self._conns.values(), key=lambda c: c.start):
            self._finish(conn)
        self._conns.clear()
        self._timers.clear()
        for tx in sorted(self._dhcp.values(), key=lambda t: t.ts):
            self._emit_dhcp(tx)
        self._dhcp.clear()
        return self._take()

    def expire(self, now: float) -> list[Record]:
        """Time passed without packets (live capture): end what timed out by `now`."""
        self.now = max(self.now, now)
        self._expire(self.now)
        return self._take()

    # -- plumbing -----------------------------------------------------------------------

    def _take(self) -> list[Record]:
        out = self._out
        self._out = []
        return out

    def _count(self, reason: str, detail: str = "") -> None:
        self.stats[reason] += 1
        if detail and reason not in self.details:
            self.details[reason] = detail

    def _uid(self) -> str:
        digest = hashlib.blake2b(b"%s|%d" % (self._seed, next(self._uids)), digest_size=17)
        return "C" + digest.digest().translate(_B62_TABLE).decode("ascii")

    # -- link and network layers --------------------------------------------------------

    def packet_into(self, ts: float, linktype: int, frame: bytes) -> None:
        self.packets += 1
        if ts > self.now:
            self.now = ts
            timers = self._timers
            if timers and timers[0][0] <= ts:
                self._expire(ts)
        if linktype == LINKTYPE_ETHERNET:
            if len(frame) < 14:
                self._count("truncated_packet", "Ethernet frame shorter than its header")
                return
            etype = (frame[12] << 8) | frame[13]
            off = 14
            while etype in _VLAN:
                if len(frame) < off + 4:
                    self._count("truncated_packet", "VLAN tag cut")
                    return
                etype = (frame[off + 2] << 8) | frame[off + 3]
                off += 4
            smac = frame[6:12]
            dmac = frame[0:6]
        elif linktype == LINKTYPE_LINUX_SLL:
            if len(frame) < 16:
                self._count("truncated_packet", "SLL header cut")
                return
            etype = (frame[14] << 8) | frame[15]
            off = 16
            smac = frame[6:12] if frame[5] == 6 else b""
            dmac = b""
        elif linktype == LINKTYPE_LINUX_SLL2:
            if len(frame) < 20:
                self._count("truncated_packet", "SLL2 header cut")
                return
            etype = (frame[0] << 8) | frame[1]
            off = 20
            smac = frame[12:18] if frame[11] == 6 else b""
            dmac = b""
        elif linktype in _RAW_TYPES:
            if not frame:
                self._count("truncated_packet", "empty raw IP packet")
                return
            version = frame[0] >> 4
            etype = 0x0800 if version == 4 else 0x86DD if version == 6 else 0
            off = 0
            smac = dmac = b""
        elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if len(frame) < 5:
                self._count("truncated_packet", "loopback header cut")
                return
            version = frame[4] >> 4
            etype = 0x0800 if version == 4 else 0x86DD if version == 6 else 0
            off = 4
            smac = dmac = b""
        else:
            self._count("unsupported_link_type", f"link type {linktype}")
            return
        if etype == 0x0800:
            self._ip4(ts, frame, off, smac, dmac)
        elif etype == 0x86DD:
            self._ip6(ts, frame, off, smac, dmac)
        elif etype == 0x0806:
            self._arp(ts, frame, off, smac, dmac)
        else:
            self._count("non_ip", f"EtherType 0x{etype:04x}")

    def _ip4(self, ts: float, frame: bytes, off: int, smac: bytes, dmac: bytes) -> None:
        if len(frame) < off + 20:
            self._count("truncated_packet", "IPv4 header cut")
            return
        vihl, _tos, total, _id, frag, _ttl, proto, _sum, src, dst = _IP4.unpack_from(frame, off)
        ihl = (vihl & 0x0F) << 2
        if vihl >> 4 != 4 or ihl < 20 or total < ihl:
            self._count("bad_header", f"IPv4 version/length {vihl:#x}/{total}")
            return
        if frag & 0x3FFF:
            self._count("ip_fragment", "IP fragments are not reassembled")
            return
        l4 = off + ihl
        end = off + total
        if l4 > len(frame):
            self._count("truncated_packet", "IPv4 options cut")
            return
        # A frame captured short (snap length) is still used: lengths come from the headers.
        self._transport(ts, proto, frame, l4, end - l4, src, dst, smac, dmac, False)

    def _ip6(self, ts: float, frame: bytes, off: int, smac: bytes, dmac: bytes) -> None:
        if len(frame) < off + 40:
            self._count("truncated_packet", "IPv6 header cut")
            return
        if frame[off] >> 4 != 6:
            self._count("bad_header", "IPv6 version")
            return
        plen = _U16.unpack_from(frame, off + 4)[0]
        nxt = frame[off + 6]
        src = frame[off + 8 : off + 24]
        dst = frame[off + 24 : off + 40]
        pos = off + 40
        end = pos + plen
        while nxt in (0, 43, 60, 44, 51):
            if nxt == 44:
                self._count("ip_fragment", "IP fragments are not reassembled")
                return
            if len(frame) < pos + 2:
                self._count("truncated_packet", "IPv6 extension header cut")
                return
            cur = nxt
            nxt, hlen = frame[pos], frame[pos + 1]
            pos += (hlen + 2) * 4 if cur == 51 else (hlen + 1) * 8  # AH counts 4-byte units
        self._transport(ts, nxt, frame, pos, end - pos, src, dst, smac, dmac, True)

    def _arp(self, ts: float, frame: bytes, off: int, smac: bytes, dmac: bytes) -> None:
        try:
            msg = decode_arp(frame[off : off + 28])
        except DecodeError as exc:
            self._count("arp_decode_error", str(exc))
            return
        self._out.append(
            ArpRecord(
                ts,
                msg.operation,
                mac_str(smac),
                mac_str(dmac),
                msg.sender_ip,
                msg.target_ip,
                msg.sender_mac,
                msg.target_mac,
            )
        )

    # -- transport ----------------------------------------------------------------------

    def _transport(  # noqa: PLR0917 - hot path: plain positional values, no packet object
        self,
        ts: float,
        proto: int,
        frame: bytes,
        l4: int,
        length: int,
        src: bytes,
        dst: bytes,
        smac: bytes,
        dmac: bytes,
        v6: bool,
    ) -> None:
        if length < 0:
            self._count("bad_header", "IP payload length below its headers")
            return
        if proto == 6:
            if len(frame) < l4 + 20:
                self._count("truncated_packet", "TCP header cut")
                return
            sport, dport, seq, _ack, offb, flags, win = _TCP.unpack_from(frame, l4)
            doff = (offb >> 4) << 2
            plen = length - doff
            if doff < 20 or plen < 0:
                self._count("bad_header", f"TCP data offset {doff}")
                return
            start = l4 + doff
            payload = frame[start : start + plen] if plen else b""
            self._tcp(ts, src, dst, sport, dport, seq, flags, win, plen, payload, smac, dmac, v6)
        elif proto == 17:
            if len(frame) < l4 + 8:
                self._count("truncated_packet", "UDP header cut")
                return
            sport, dport, ulen = _UDP.unpack_from(frame, l4)
            plen = min(length, ulen) - 8 if ulen >= 8 else length - 8
            if plen < 0:
                self._count("bad_header", "UDP length below its header")
                return
            payload = frame[l4 + 8 : l4 + 8 + plen]
            self._udp(ts, src, dst, sport, dport, plen, payload, smac, dmac, v6)
        elif proto in (1, 58):
            if len(frame) < l4 + 2 or length < 8:
                self._count("truncated_packet", "ICMP header cut")
                return
            self._icmp(ts, src, dst, frame[l4], frame[l4 + 1], length - 8, smac, dmac, proto)
        else:
            self._count("ip_other_protocol", f"IP protocol {proto}")

    def _lookup(self, key: tuple[bytes, int, bytes, int, int]) -> tuple[_Conn | None, bool]:
        conns = self._conns
        conn = conns.get(key)
        if conn is not None:
            return conn, True
        src, sport, dst, dport, proto = key
        return conns.get((dst, dport, src, sport, proto)), False

    def _new(  # noqa: PLR0917 - hot path: plain positional values, no packet object
        self,
        ts: float,
        key: tuple[bytes, int, bytes, int, int],
        proto: str,
        smac: bytes,
        dmac: bytes,
        v6: bool,
        timeout: float,
    ) -> _Conn:
        conns = self._conns
        if len(conns) >= self.max_conns:
            oldest = next(iter(conns.values()))
            self._count("conn_table_full", f"more than {self.max_conns} open connections")
            self._finish(oldest)
        src, sport, dst, dport, _p = key
        to_str = ip6_str if v6 else ip4_str
        conn = _Conn(
            key,
            self._uid(),
            proto,
            to_str(src),
            sport,
            to_str(dst),
            dport,
            ts,
            mac_str(smac) if smac else "",
            mac_str(dmac) if dmac else "",
        )
        conns[key] = conn
        heapq.heappush(self._timers, (ts + timeout, next(self._tick), conn))
        return conn

    def _tcp(  # noqa: PLR0917 - hot path: plain positional values, no packet object
        self,
        ts: float,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        seq: int,
        flags: int,
        win: int,
        plen: int,
        payload: bytes,
        smac: bytes,
        dmac: bytes,
        v6: bool,
    ) -> None:
        key = (src, sport, dst, dport, 6)
        conn, is_orig = self._lookup(key)
        if conn is not None and (flags & (_SYN | _ACK)) == _SYN:
            o, r = conn.o.state, conn.r.state
            if RESET in (o, r) or (o == CLOSED and r == CLOSED):
                self._finish(conn)  # a new connection reuses the 5-tuple
                conn = None
        if conn is None:
            if flags & (_SYN | _ACK) == _SYN | _ACK:
                # a SYN+ACK seen first: its sender is the responder (Zeek's "^")
                rkey = (dst, dport, src, sport, 6)
                conn = self._new(ts, rkey, "tcp", dmac, smac, v6, self.timeouts.tcp)
                conn.hist = "^"
                is_orig = False
            else:
                conn = self._new(ts, key, "tcp", smac, dmac, v6, self.timeouts.tcp)
                is_orig = True
        conn.last = ts
        if is_orig:
            conn.opkts += 1
            end, peer = conn.o, conn.r
        else:
            conn.rpkts += 1
            end, peer = conn.r, conn.o
        hist = conn.hist
        # -- sequence space: bytes and retransmissions
        if flags & _SYN:
            if end.isn < 0 or end.state in (INACTIVE, SYN_SENT, SYN_ACK_SENT):
                end.isn = (seq + 1) & _MASK
                end.next = end.isn
        elif end.isn < 0:
            end.isn = seq
            end.next = seq
        retrans = False
        if plen:
            rel = (seq - end.isn) & _MASK
            if rel < _HALF:
                top = rel + plen
                if top > end.top:
                    end.top = top
                else:
                    retrans = True
            else:
                retrans = True
        # -- history letters (upper case: originator)
        if flags & _SYN:
            if flags & (_FIN | _RST):
                letter = "Q" if is_orig else "q"
                if letter not in hist:
                    hist += letter
            if end.syn_seq != seq:  # a repeated SYN is recorded only with a new sequence
                end.syn_seq = seq
                letter = "H" if flags & _ACK else "S"
                hist += letter if is_orig else letter.lower()
        elif flags & _FIN and flags & _RST:
            letter = "I" if is_orig else "i"
            if letter not in hist:
                hist += letter
        else:
            if flags & _FIN and end.fin_seq != seq:
                end.fin_seq = seq
                hist += "F" if is_orig else "f"
            if flags & _RST and end.rst_seq != seq:
                end.rst_seq = seq
                hist += "R" if is_orig else "r"
            if not plen and flags & _ACK and not flags & (_FIN | _RST):
                letter = "A" if is_orig else "a"
                if letter not in hist:
                    hist += letter
        if plen:
            letter = "D" if is_orig else "d"
            if letter not in hist:
                hist += letter
            if retrans:
                end.tcount += 1
                if _log_step(end.tcount):
                    hist += "T" if is_orig else "t"
        if win == 0 and not flags & (_SYN | _RST | _FIN):
            end.wcount += 1
            if _log_step(end.wcount):
                hist += "W" if is_orig else "w"
        conn.hist = hist
        # -- endpoint states
        state = end.state
        if flags & _RST:
            if not (state == CLOSED and peer.state == CLOSED):
                end.state = RESET
        elif flags & _SYN:
            if flags & _ACK:
                if not is_orig:
                    if state in (INACTIVE, SYN_SENT, SYN_ACK_SENT):
                        end.state = ESTABLISHED
                    if peer.state == SYN_SENT:
                        peer.state = ESTABLISHED
                elif state == INACTIVE:
                    end.state = SYN_ACK_SENT
            elif state == INACTIVE:
                end.state = SYN_SENT
        elif flags & _FIN:
            if state != RESET:
                end.state = CLOSED
        elif state == INACTIVE:
            end.state = PARTIAL
        elif state == SYN_ACK_SENT and peer.state == ESTABLISHED:
            end.state = ESTABLISHED
        if conn.closed_at < 0:
            o, r = conn.o.state, conn.r.state
            if RESET in (o, r) or (o == CLOSED and r == CLOSED):
                conn.closed_at = ts
                heapq.heappush(self._timers, (ts + self.timeouts.closed, next(self._tick), conn))
        # -- application layer
        if plen and (conn.app is not None or conn.http is not None or not conn.service):
            self._tcp_app(conn, end, is_orig, ts, seq, plen, payload)

    def _tcp_app(  # noqa: PLR0917 - hot path: plain positional values, no packet object
        self,
        conn: _Conn,
        end: _End,
        is_orig: bool,
        ts: float,
        seq: int,
        plen: int,
        payload: bytes,
    ) -> None:
        # In-order bytes only: a retransmission is trimmed, a gap ends the following.
        nxt = end.next
        if nxt < 0:
            return
        delta = (seq - nxt) & _MASK
        if delta:
            if delta < _HALF:  # a gap: this side is no longer followed
                end.next = -1
                return
            behind = (nxt - seq) & _MASK
            if behind >= plen:
                return  # wholly retransmitted
            payload = payload[behind:]
            plen -= behind
        if len(payload) < plen:  # captured short: we cannot follow past it
            end.next = -1
        else:
            end.next = (nxt + plen) & _MASK
        if not payload:
            return
        app = conn.app
        if app is None and conn.http is None:
            if conn.service == "-":
                return
            head = payload[:8]
            if head.startswith(b"SSH-"):
                app = conn.app = SshSession()
                conn.service = "ssh"
            elif is_orig and head[:1] == b"\x16" and head[1:2] == b"\x03":
                app = conn.app = TlsSession()
            elif is_orig and payload[:16].split(b" ", 1)[0] in METHODS:
                conn.http = []
            elif conn.orig_p == 53 or conn.resp_p == 53:
                self._dns_tcp(conn, is_orig, ts, payload)
                return
            else:
                conn.service = "-"  # not a protocol we analyse: stop looking
                return
        if conn.http is not None:
            self._http(conn, is_orig, ts, payload)
        elif type(app) is TlsSession:
            errors = app.errors
            app.data(is_orig, payload)
            if app.client_hello is not None or app.server_hello is not None:
                conn.service = "ssl"
            if app.errors > errors:
                self._count("tls_decode_error", "bytes that are not TLS records, or a bad hello")
        elif app is not None:
            app.data(is_orig, payload)

    def _http(self, conn: _Conn, is_orig: bool, ts: float, payload: bytes) -> None:
        pending = conn.http
        assert pending is not None
        if is_orig:
            if payload[:16].split(b" ", 1)[0] not in METHODS:
                return  # a body, or a continuation of the head
            try:
                req = decode_request(payload)
            except DecodeError as exc:
                self._count("http_decode_error", str(exc))
                return
            conn.service = "http"
            if len(pending) >= _MAX_PENDING:
                self._emit_http(conn, *pending.pop(0), None)
            pending.append((ts, req))
        elif payload.startswith(b"HTTP/"):
            try:
                resp = decode_response(payload)
            except DecodeError as exc:
                self._count("http_decode_error", str(exc))
                return
            if resp.status == 100 or not pending:
                return  # 100 Continue: the real answer follows
            self._emit_http(conn, *pending.pop(0), resp)

    def _emit_http(
        self, conn: _Conn, ts: float, req: HttpRequest, resp: HttpResponse | None
    ) -> None:
        status: int | None = None
        mime = ""
        body = 0
        if resp is not None:
            status, mime, body = resp.status, resp.mime, resp.body_len
        self._out.append(
            HttpRecord(
                ts,
                conn.uid,
                conn.orig_h,
                conn.orig_p,
                conn.resp_h,
                conn.resp_p,
                req.method,
                req.host,
                req.uri,
                req.version,
                req.user_agent,
                req.body_len,
                body,
                status,
                (mime,) if mime else (),
            )
        )

    def _udp(  # noqa: PLR0917 - hot path: plain positional values, no packet object
        self,
        ts: float,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        plen: int,
        payload: bytes,
        smac: bytes,
        dmac: bytes,
        v6: bool,
    ) -> None:
        key = (src, sport, dst, dport, 17)
        conn, is_orig = self._lookup(key)
        if conn is None:
            if sport in _UDP_SERVER_PORTS and dport not in _UDP_SERVER_PORTS:
                # a response seen first: the server is the responder (Zeek's "^")
                conn = self._new(
                    ts, (dst, dport, src, sport, 17), "udp", dmac, smac, v6, self.timeouts.udp
                )
                conn.hist = "^"
                is_orig = False
            else:
                conn = self._new(ts, key, "udp", smac, dmac, v6, self.timeouts.udp)
                is_orig = True
        conn.last = ts
        if is_orig:
            conn.opkts += 1
            conn.obytes += plen
            conn.o.state = ESTABLISHED
            if "D" not in conn.hist:
                conn.hist += "D"
        else:
            conn.rpkts += 1
            conn.rbytes += plen
            conn.r.state = ESTABLISHED
            if "d" not in conn.hist:
                conn.hist += "d"
        if not payload or conn.service == "-":
            return
        if conn.orig_p in _DNS_PORTS or conn.resp_p in _DNS_PORTS:
            self._dns(conn, is_orig, ts, payload, "udp")
        elif conn.resp_p in _DHCP_PORTS and conn.orig_p in _DHCP_PORTS:
            self._dhcp_packet(conn, ts, payload, src)

    def _icmp(  # noqa: PLR0917 - hot path: plain positional values, no packet object
        self,
        ts: float,
        src: bytes,
        dst: bytes,
        itype: int,
        code: int,
        plen: int,
        smac: bytes,
        dmac: bytes,
        proto: int,
    ) -> None:
        pair = _ICMP6_PAIR if proto == 58 else _ICMP4_PAIR
        other = pair.get(itype, code)
        key = (src, itype, dst, other, proto)
        conn, is_orig = self._lookup(key)
        if conn is None:
            conn = self._new(ts, key, "icmp", smac, dmac, proto == 58, self.timeouts.icmp)
            is_orig = True
        conn.last = ts
        if is_orig:
            conn.opkts += 1
            conn.obytes += plen
        else:
            conn.rpkts += 1
            conn.rbytes += plen

    # -- DNS and DHCP ---------------------------------------------------------------------

    def _dns_tcp(self, conn: _Conn, is_orig: bool, ts: float, payload: bytes) -> None:
        # DNS over TCP: each message has a 2-byte length; only whole messages in a segment
        off = 0
        while off + 2 <= len(payload):
            n = _U16.unpack_from(payload, off)[0]
            if off + 2 + n > len(payload):
                return
            self._dns(conn, is_orig, ts, payload[off + 2 : off + 2 + n], "tcp")
            off += 2 + n

    def _dns(self, conn: _Conn, is_orig: bool, ts: float, payload: bytes, proto: str) -> None:
        try:
            msg = decode_dns(payload)
        except DecodeError as exc:
            self._count("dns_decode_error", str(exc))
            return
        conn.service = "dns"
        pending = conn.dns
        if pending is None:
            pending = conn.dns = {}
        if not msg.response:
            old = pending.pop(msg.trans_id, None)
            if old is not None:
                self._emit_dns(conn, proto, old[0], old[1], old[2], "", (), ())
            if len(pending) >= _MAX_PENDING:
                tid = next(iter(pending))
                q_ts, q_name, q_type = pending.pop(tid)
                self._emit_dns(conn, proto, q_ts, q_name, q_type, "", (), ())
            pending[msg.trans_id] = (ts, msg.query, msg.qtype)
            return
        asked = pending.pop(msg.trans_id, None)
        q_ts, query, qtype = asked if asked is not None else (ts, msg.query, msg.qtype)
        if not query and msg.query:
            query, qtype = msg.query, msg.qtype
        rcode = RCODE_NAMES.get(msg.rcode, str(msg.rcode))
        self._emit_dns(conn, proto, q_ts, query, qtype, rcode, msg.answers, msg.ttls)

    def _emit_dns(  # noqa: PLR0917 - hot path: plain positional values, no packet object
        self,
        conn: _Conn,
        proto: str,
        ts: float,
        query: str,
        qtype: int,
        rcode: str,
        answers: tuple[str, ...],
        ttls: tuple[float, ...],
    ) -> None:
        self._out.append(
            DnsRecord(
                ts,
                conn.uid,
                conn.orig_h,
                conn.orig_p,
                conn.resp_h,
                conn.resp_p,
                proto,
                query,
                qtype_name(qtype) if qtype else "",
                rcode,
                answers,
                ttls,
            )
        )

    def _dhcp_packet(self, conn: _Conn, ts: float, payload: bytes, src: bytes) -> None:
        try:
            msg = decode_dhcp(payload)
        except DecodeError as exc:
            self._count("dhcp_decode_error", str(exc))
            return
        conn.service = "dhcp"
        key = (msg.xid, msg.mac)
        tx = self._dhcp.get(key)
        if tx is None:
            if len(self._dhcp) >= _MAX_DHCP:
                self._emit_dhcp(self._dhcp.pop(next(iter(self._dhcp))))
            tx = self._dhcp[key] = _DhcpTx(ts, msg.mac)
        tx.last = ts
        if conn.uid not in tx.uids:
            tx.uids.append(conn.uid)
        if msg.msg_type:
            tx.types.append(msg.msg_type)
        sender = ip4_str(src) if len(src) == 4 else ""
        if msg.op == 1:  # from the client
            if msg.ciaddr != _UNSPECIFIED:
                tx.client = msg.ciaddr
            elif sender and sender != _UNSPECIFIED and not tx.client:
                tx.client = sender
            if msg.requested_addr:
                tx.requested = msg.requested_addr
            if msg.host_name:
                tx.host = msg.host_name
        else:
            tx.server = msg.server_id or tx.server or sender
            if msg.yiaddr != _UNSPECIFIED and msg.msg_type != "NAK":
                tx.assigned = msg.yiaddr  # offered, then (ACK) assigned
                if not tx.client and msg.msg_type == "ACK":
                    tx.client = msg.yiaddr
        if msg.msg_type in ("ACK", "NAK"):
            del self._dhcp[key]
            self._emit_dhcp(tx)

    def _emit_dhcp(self, tx: _DhcpTx) -> None:
        self._out.append(
            DhcpRecord(
                tx.ts,
                tuple(tx.uids),
                tx.client,
                tx.server,
                tx.mac,
                tx.host,
                tx.requested,
                tx.assigned,
                tuple(tx.types),
            )
        )

    # -- ending connections -----------------------------------------------------------------

    def _expire(self, now: float) -> None:
        timers = self._timers
        t = self.timeouts
        while timers and timers[0][0] <= now:
            _deadline, _n, conn = heapq.heappop(timers)
            if conn.done:
                continue
            if conn.closed_at >= 0:
                due = conn.last + t.closed
            elif conn.proto == "tcp":
                due = conn.last + t.tcp
            elif conn.proto == "udp":
                due = conn.last + t.udp
            else:
                due = conn.last + t.icmp
            if due <= now:
                self._finish(conn)
            else:
                heapq.heappush(timers, (due, next(self._tick), conn))
        if self._dhcp:
            stale = [k for k, tx in self._dhcp.items() if tx.last + t.dhcp <= now]
            for k in stale:
                self._emit_dhcp(self._dhcp.pop(k))

    def _finish(self, conn: _Conn) -> None:
        if conn.done:
            return
        conn.done = True
        if self._conns.get(conn.key) is conn:
            del self._conns[conn.key]
        app = conn.app
        if type(app) is TlsSession:
            self._emit_ssl(conn, app)
        elif type(app) is SshSession and app.seen:
            self._emit_ssh(conn, app)
        if conn.http:
            for ts, req in conn.http:
                self._emit_http(conn, ts, req, None)
        if conn.dns:
            proto = conn.proto
            for q_ts, q_name, q_type in conn.dns.values():
                self._emit_dns(conn, proto, q_ts, q_name, q_type, "", (), ())
        duration = conn.last - conn.start
        proto = conn.proto
        if proto == "tcp":
            state = tcp_conn_state(conn.o.state, conn.r.state, conn.o.top, conn.r.top, conn.hist)
            sbytes, dbytes = conn.o.top, conn.r.top
        elif proto == "udp":
            o_on, r_on = conn.o.state != INACTIVE, conn.r.state != INACTIVE
            state = ("SF" if r_on else "S0") if o_on else ("SHR" if r_on else "OTH")
            sbytes, dbytes = conn.obytes, conn.rbytes
        else:
            state = "OTH"
            sbytes, dbytes = conn.obytes, conn.rbytes
        if duration <= 0.0:
            sbytes = dbytes = 0  # Zeek reports sizes only for a non-zero duration
        service = conn.service if conn.service != "-" else ""
        self._out.append(
            _new_tuple(
                Flow,
                (
                    conn.start,
                    conn.uid,
                    conn.orig_h,
                    conn.orig_p,
                    conn.resp_h,
                    conn.resp_p,
                    proto,
                    service,
                    duration,
                    sbytes,
                    dbytes,
                    conn.opkts,
                    conn.rpkts,
                    state,
                    conn.hist if proto != "icmp" else "",
                    zeek_established(state, conn.rpkts),
                    conn.smac,
                    conn.dmac,
                    None,
                    None,
                ),
            )
        )

    def _emit_ssl(self, conn: _Conn, app: TlsSession) -> None:
        ch, sh, cert = app.client_hello, app.server_hello, app.certificate
        if ch is None and sh is None:
            return
        self._out.append(
            SslRecord(
                conn.start,
                conn.uid,
                conn.orig_h,
                conn.orig_p,
                conn.resp_h,
                conn.resp_p,
                version_name(sh.version) if sh is not None else "",
                cipher_name(sh.cipher) if sh is not None else "",
                ch.server_name if ch is not None else "",
                app.established,
                cert.subject if cert is not None else "",
                cert.issuer if cert is not None else "",
                # Zeek's wording (OpenSSL's) for the one verdict a sensor without a
                # trust store can reach; anything else stays unknown ("")
                "self signed certificate" if cert is not None and cert.self_signed else "",
                ch.ja3 if ch is not None else "",
                sh.ja3s if sh is not None else "",
                (),
            )
        )

    def _emit_ssh(self, conn: _Conn, app: SshSession) -> None:
        success, attempts = app.auth()
        self._out.append(
            SshRecord(
                conn.start,
                conn.uid,
                conn.orig_h,
                conn.orig_p,
                conn.resp_h,
                conn.resp_p,
                ssh_version(app.server_banner or app.client_banner),
                success,
                attempts,
                app.client_banner,
                app.server_banner,
            )
        )
