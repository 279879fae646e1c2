"""DHCP (RFC 2131/2132) and ARP (RFC 826) messages.

A DHCP message is a BOOTP header (op, transaction id, client/your addresses,
client hardware address) followed by the magic cookie 99.130.83.99 and
options; the ones dhcp.log keeps are the message type (53), requested
address (50), server identifier (54) and host name (12). The engine groups
the messages of one transaction id into one `DhcpRecord`, as Zeek does.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from detection.packets.decode import DecodeError, ip4_str, mac_str

__all__ = ["MSG_TYPES", "ArpMessage", "DhcpMessage", "decode_arp", "decode_dhcp"]

MSG_TYPES = {
    1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE",
    8: "INFORM", 9: "FORCERENEW", 10: "LEASEQUERY", 11: "LEASEUNASSIGNED", 12: "LEASEUNKNOWN",
    13: "LEASEACTIVE",
}  # fmt: skip
_COOKIE = b"\x63\x82\x53\x63"
_BOOTP = struct.Struct("!BBBBIHH4s4s4s4s16s")
_ARP = struct.Struct("!HHBBH")


class DhcpMessage(NamedTuple):
    op: int  # 1 request (client), 2 reply (server)
    xid: int
    ciaddr: str
    yiaddr: str
    mac: str
    msg_type: str  # "" when option 53 is missing (plain BOOTP)
    requested_addr: str
    server_id: str
    host_name: str


class ArpMessage(NamedTuple):
    operation: str  # "request" | "reply"
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str


def decode_dhcp(payload: bytes) -> DhcpMessage:
    if len(payload) < 240:
        raise DecodeError("shorter than a BOOTP header")
    op, htype, hlen, _hops, xid, _secs, _flags, ci, yi, _si, _gi, chaddr = _BOOTP.unpack_from(
        payload, 0
    )
    if op not in (1, 2):
        raise DecodeError(f"BOOTP op {op}")
    if payload[236:240] != _COOKIE:
        raise DecodeError("no DHCP magic cookie")
    mac = mac_str(chaddr[:6]) if htype == 1 and hlen == 6 else mac_str(chaddr[: min(hlen, 16)])
    msg_type = ""
    requested = server = host = ""
    off = 240
    n = len(payload)
    while off < n:
        code = payload[off]
        if code == 255:
            break
        if code == 0:
            off += 1
            continue
        if off + 2 > n:
            raise DecodeError("truncated option")
        length = payload[off + 1]
        value = payload[off + 2 : off + 2 + length]
        if len(value) < length:
            raise DecodeError("option runs past the message")
        if code == 53 and length == 1:
            msg_type = MSG_TYPES.get(value[0], str(value[0]))
        elif code == 50 and length == 4:
            requested = ip4_str(value)
        elif code == 54 and length == 4:
            server = ip4_str(value)
        elif code == 12:
            host = value.decode("latin-1")
        off += 2 + length
    return DhcpMessage(op, xid, ip4_str(ci), ip4_str(yi), mac, msg_type, requested, server, host)


def decode_arp(payload: bytes) -> ArpMessage:
    """Ethernet/IPv4 ARP only (hardware type 1, protocol 0x0800)."""
    if len(payload) < 28:
        raise DecodeError("shorter than an Ethernet/IPv4 ARP message")
    htype, ptype, hlen, plen, oper = _ARP.unpack_from(payload, 0)
    if htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4:
        raise DecodeError(f"ARP for hardware {htype}/protocol 0x{ptype:04x}")
    if oper not in (1, 2):
        raise DecodeError(f"ARP operation {oper}")
    return ArpMessage(
        "request" if oper == 1 else "reply",
        mac_str(payload[8:14]),
        ip4_str(payload[14:18]),
        mac_str(payload[18:24]),
        ip4_str(payload[24:28]),
    )
