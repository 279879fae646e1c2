"""Conformance: crafted captures of known flows give the records Zeek would log.

Expected values are written by hand from the packets (Zeek's conn.log
semantics: payload bytes from sequence numbers, all packets counted, history
letters upper case for the originator), never taken from the engine.
"""

from __future__ import annotations

import datetime
import hashlib
import struct
from typing import Any

import pytest

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
from detection.packets import PacketEngine, Timeouts

A, B = "10.0.0.1", "10.0.0.2"


def run(capture: bytes, **kwargs: object) -> list[Record]:
    engine = PacketEngine(seed="test", **kwargs)  # type: ignore[arg-type]
    return engine.feed(capture) + engine.finish()


def flows(records: list[Record]) -> list[Flow]:
    return [r for r in records if isinstance(r, Flow)]


def only(records: list[Record], kind: type) -> object:
    found = [r for r in records if isinstance(r, kind)]
    assert len(found) == 1, records
    return found[0]


def test_handshake_data_and_fin_exchange_is_sf(craft) -> None:  # type: ignore[no-untyped-def]
    S, A_, F, P = craft.SYN, craft.ACK, craft.FIN, craft.PSH
    pkts = [
        (1.0, craft.tcp4(A, 40000, B, 80, 1000, 0, S)),
        (1.1, craft.tcp4(B, 80, A, 40000, 5000, 1001, S | A_)),
        (1.2, craft.tcp4(A, 40000, B, 80, 1001, 5001, A_)),
        (1.3, craft.tcp4(A, 40000, B, 80, 1001, 5001, A_ | P, b"x" * 100)),
        (1.4, craft.tcp4(B, 80, A, 40000, 5001, 1101, A_)),
        (1.5, craft.tcp4(B, 80, A, 40000, 5001, 1101, A_ | P, b"y" * 200)),
        (1.6, craft.tcp4(A, 40000, B, 80, 1101, 5201, F | A_)),
        (1.7, craft.tcp4(B, 80, A, 40000, 5201, 1102, F | A_)),
        (1.8, craft.tcp4(A, 40000, B, 80, 1102, 5202, A_)),
    ]
    (f,) = flows(run(craft.pcap(pkts)))
    assert (f.saddr, f.sport, f.daddr, f.dport, f.proto) == (A, 40000, B, 80, "tcp")
    assert f.state == "SF"
    assert f.history == "ShADadFf"
    assert (f.sbytes, f.dbytes, f.spkts, f.dpkts) == (100, 200, 5, 4)
    assert f.duration == pytest.approx(0.8)
    assert f.ts == pytest.approx(1.0)
    assert f.established
    assert (f.smac, f.dmac) == ("02:00:00:00:00:01", "02:00:00:00:00:02")
    assert f.uid.startswith("C") and len(f.uid) == 18


def test_retransmitted_data_counts_once_and_marks_t(craft) -> None:  # type: ignore[no-untyped-def]
    S, A_, P = craft.SYN, craft.ACK, craft.PSH
    pkts = [
        (1.0, craft.tcp4(A, 40000, B, 80, 1000, 0, S)),
        (1.1, craft.tcp4(B, 80, A, 40000, 5000, 1001, S | A_)),
        (1.2, craft.tcp4(A, 40000, B, 80, 1001, 5001, A_ | P, b"x" * 50)),
        (1.3, craft.tcp4(A, 40000, B, 80, 1001, 5001, A_ | P, b"x" * 50)),
    ]
    (f,) = flows(run(craft.pcap(pkts)))
    assert (f.state, f.history) == ("S1", "ShDT")
    assert (f.sbytes, f.spkts, f.dpkts) == (50, 3, 1)


@pytest.mark.parametrize(
    ("script", "state", "history"),
    [
        # (sender, flags) with sender "o" originator / "r" responder; no payload
        ([("o", "S")], "S0", "S"),
        ([("o", "S"), ("o", "S")], "S0", "S"),  # a retransmitted SYN (same sequence)
        ([("o", "S"), ("r", "RA")], "REJ", "Sr"),
        ([("o", "S"), ("r", "SA")], "S1", "Sh"),
        ([("o", "S"), ("r", "SA"), ("o", "A")], "S1", "ShA"),
        ([("o", "S"), ("r", "SA"), ("o", "R")], "RSTO", "ShR"),
        ([("o", "S"), ("r", "SA"), ("o", "A"), ("r", "RA")], "RSTR", "ShAr"),
        ([("o", "S"), ("o", "R")], "RSTOS0", "SR"),
        ([("o", "S"), ("o", "FA")], "SH", "SF"),
        ([("r", "SA"), ("r", "FA")], "SHR", "^hf"),  # a SYN+ACK first: roles flipped
        ([("r", "SA"), ("r", "R")], "RSTRH", "^hr"),
        ([("o", "S"), ("r", "SA"), ("o", "A"), ("o", "FA")], "S2", "ShAF"),
        ([("o", "S"), ("r", "SA"), ("o", "A"), ("r", "FA")], "S3", "ShAf"),
        ([("o", "A"), ("r", "A")], "OTH", "Aa"),
        ([("o", "S"), ("r", "SA"), ("o", "A"), ("o", "FA"), ("r", "FA"), ("o", "R")], "SF",
         "ShAFfR"),  # a RST after both FINs does not make it RSTO
    ],
)  # fmt: skip
def test_conn_state_and_history(craft, script, state, history) -> None:  # type: ignore[no-untyped-def]
    bits = {"S": craft.SYN, "A": craft.ACK, "F": craft.FIN, "R": craft.RST}
    pkts = []
    seq = {"o": 1000, "r": 5000}
    for i, (who, flags) in enumerate(script):
        f = sum(bits[c] for c in flags)
        src, sport, dst, dport = (A, 40000, B, 22) if who == "o" else (B, 22, A, 40000)
        pkts.append((10.0 + i, craft.tcp4(src, sport, dst, dport, seq[who], 0, f)))
        if "F" in flags:
            seq[who] += 1
    recs = flows(run(craft.pcap(pkts)))
    assert [(r.state, r.history) for r in recs] == [(state, history)]


def test_new_syn_after_reset_starts_a_new_connection(craft) -> None:  # type: ignore[no-untyped-def]
    S, A_, R = craft.SYN, craft.ACK, craft.RST
    pkts = [
        (1.0, craft.tcp4(A, 40000, B, 23, 100, 0, S)),
        (1.1, craft.tcp4(B, 23, A, 40000, 0, 101, R | A_)),
        (2.0, craft.tcp4(A, 40000, B, 23, 900, 0, S)),
        (2.1, craft.tcp4(B, 23, A, 40000, 0, 901, R | A_)),
    ]
    recs = flows(run(craft.pcap(pkts)))
    assert [(r.ts, r.state, r.history) for r in recs] == [(1.0, "REJ", "Sr"), (2.0, "REJ", "Sr")]
    assert recs[0].uid != recs[1].uid


def test_udp_request_response(craft) -> None:  # type: ignore[no-untyped-def]
    pkts = [
        (1.0, craft.udp4(A, 40000, B, 9999, b"q" * 30)),
        (1.5, craft.udp4(B, 9999, A, 40000, b"r" * 60)),
    ]
    (f,) = flows(run(craft.pcap(pkts)))
    assert (f.proto, f.state, f.history) == ("udp", "SF", "Dd")
    assert (f.sbytes, f.dbytes, f.spkts, f.dpkts) == (30, 60, 1, 1)
    assert f.duration == pytest.approx(0.5)


def test_udp_response_seen_first_is_flipped(craft) -> None:  # type: ignore[no-untyped-def]
    (f,) = flows(run(craft.pcap([(1.0, craft.udp4(B, 53, A, 40000, b"r" * 20))])))
    assert (f.saddr, f.sport, f.daddr, f.dport) == (A, 40000, B, 53)
    assert (f.state, f.history, f.spkts, f.dpkts) == ("SHR", "^d", 0, 1)
    assert (f.sbytes, f.dbytes) == (0, 0)  # Zeek gives sizes only for a non-zero duration


def test_udp_timeout_splits_flows(craft) -> None:  # type: ignore[no-untyped-def]
    pkts = [
        (1.0, craft.udp4(A, 40000, B, 9999, b"a")),
        (2.0, craft.udp4(A, 40000, B, 9999, b"a")),
        (100.0, craft.udp4(A, 40000, B, 9999, b"a")),
    ]
    recs = flows(run(craft.pcap(pkts), timeouts=Timeouts(udp=60.0)))
    assert [(r.ts, r.spkts) for r in recs] == [(1.0, 2), (100.0, 1)]


def test_icmp_echo_request_and_reply_are_one_flow(craft) -> None:  # type: ignore[no-untyped-def]
    pkts = [
        (1.0, craft.eth(craft.ip4(A, B, 1, craft.icmp(8, 0, b"p" * 56)))),
        (1.01, craft.eth(craft.ip4(B, A, 1, craft.icmp(0, 0, b"p" * 56)))),
        (1.02, craft.eth(craft.ip4(A, "10.0.0.3", 1, craft.icmp(13, 0, bytes(12))))),
    ]
    recs = flows(run(craft.pcap(pkts)))
    echo = next(r for r in recs if r.daddr == B)
    assert (echo.proto, echo.sport, echo.dport, echo.state) == ("icmp", 8, 0, "OTH")
    assert (echo.spkts, echo.dpkts, echo.sbytes, echo.dbytes) == (1, 1, 56, 56)
    stamp = next(r for r in recs if r.daddr == "10.0.0.3")
    assert (stamp.sport, stamp.dport, stamp.dpkts) == (13, 14, 0)  # type, counterpart


def test_dns_query_and_answer(craft) -> None:  # type: ignore[no-untyped-def]
    q = craft.dns(0x1234, "example.com", 1)
    r = craft.dns(
        0x1234,
        "example.com",
        1,
        response=True,
        answers=((1, 300, bytes([93, 184, 216, 34])), (16, 60, b"\x05hello")),
    )
    nx = craft.dns(0x99, "nope.example", 28, response=True, rcode=3)
    pkts = [
        (1.0, craft.udp4(A, 5555, B, 53, q)),
        (1.2, craft.udp4(B, 53, A, 5555, r)),
        (2.0, craft.udp4(A, 5556, B, 53, craft.dns(0x99, "nope.example", 28))),
        (2.1, craft.udp4(B, 53, A, 5556, nx)),
        (3.0, craft.udp4(A, 5557, B, 53, craft.dns(7, "lost.example", 16))),
    ]
    recs = run(craft.pcap(pkts))
    dns = sorted((r for r in recs if isinstance(r, DnsRecord)), key=lambda r: r.ts)
    assert [(d.query, d.qtype, d.rcode) for d in dns] == [
        ("example.com", "A", "NOERROR"),
        ("nope.example", "AAAA", "NXDOMAIN"),
        ("lost.example", "TXT", ""),
    ]
    assert dns[0].answers == ("93.184.216.34", "TXT 5 hello")
    assert dns[0].ttls == (300.0, 60.0)
    assert (dns[0].ts, dns[0].saddr, dns[0].sport, dns[0].daddr, dns[0].dport) == (
        1.0, A, 5555, B, 53,
    )  # fmt: skip
    assert {f.service for f in flows(recs)} == {"dns"}
    assert dns[0].uid == next(f.uid for f in flows(recs) if f.sport == 5555)


def test_http_get_and_response(craft) -> None:  # type: ignore[no-untyped-def]
    S, A_, P = craft.SYN, craft.ACK, craft.PSH
    req = b"GET /files/x.exe HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\n\r\n"
    resp = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: 1000\r\n\r\nMZ\x90\x00"
    )
    pkts = [
        (1.0, craft.tcp4(A, 40000, B, 8080, 1000, 0, S)),
        (1.1, craft.tcp4(B, 8080, A, 40000, 5000, 1001, S | A_)),
        (1.2, craft.tcp4(A, 40000, B, 8080, 1001, 5001, A_ | P, req)),
        (1.3, craft.tcp4(B, 8080, A, 40000, 5001, 1001 + len(req), A_ | P, resp)),
    ]
    recs = run(craft.pcap(pkts))
    h = only(recs, HttpRecord)
    assert isinstance(h, HttpRecord)
    assert (h.method, h.host, h.uri, h.version, h.user_agent) == (
        "GET", "example.com", "/files/x.exe", "1.1", "curl/8.0",
    )  # fmt: skip
    assert (h.status_code, h.response_body_len, h.resp_mime_types) == (
        200, 1000, ("application/x-dosexec",),
    )  # fmt: skip
    assert (h.ts, h.dport) == (1.2, 8080)
    (f,) = flows(recs)
    assert f.service == "http" and f.uid == h.uid


def _tls_exchange(craft, client_hello: bytes, server_hello: bytes) -> list[tuple[float, bytes]]:  # type: ignore[no-untyped-def]
    S, A_, P = craft.SYN, craft.ACK, craft.PSH
    ch = craft.tls_record(22, craft.handshake(1, client_hello))
    sh = craft.tls_record(22, craft.handshake(2, server_hello), 0x0303)
    sh += craft.tls_record(20, b"\x01", 0x0303)
    # the ClientHello split over two segments: the engine must join them
    half = len(ch) // 2
    return [
        (1.0, craft.tcp4(A, 40000, B, 443, 1000, 0, S)),
        (1.1, craft.tcp4(B, 443, A, 40000, 5000, 1001, S | A_)),
        (1.2, craft.tcp4(A, 40000, B, 443, 1001, 5001, A_ | P, ch[:half])),
        (1.21, craft.tcp4(A, 40000, B, 443, 1001 + half, 5001, A_ | P, ch[half:])),
        (1.3, craft.tcp4(B, 443, A, 40000, 5001, 1001 + len(ch), A_ | P, sh)),
    ]


def test_tls_client_hello_ja3_with_grease_removed(craft) -> None:  # type: ignore[no-untyped-def]
    # GREASE values (0x0A0A, 0x1A1A, 0x2A2A) must not appear in the JA3 string.
    hello = craft.client_hello(
        "example.org",
        ciphers=[0x0A0A, 0x1301, 0xC02F],
        extensions=[
            (0x2A2A, b""),
            (0, b""),
            (10, craft.u16_list([0x1A1A, 29, 23])),
            (11, b"\x01\x00"),
            (16, b"\x00\x03\x02h2"),
        ],
    )
    server = craft.server_hello(0x1301, [(43, b"\x03\x04"), (51, b"\x00\x1d\x00\x00")])
    recs = run(craft.pcap(_tls_exchange(craft, hello, server)))
    s = only(recs, SslRecord)
    assert isinstance(s, SslRecord)
    # by hand: version 0x0303 = 771; ciphers 0x1301 = 4865, 0xC02F = 49199;
    # extensions 0, 10, 11, 16; groups 29, 23; point format 0
    ja3 = "771,4865-49199,0-10-11-16,29-23,0"
    ja3s = "771,4865,43-51"
    assert s.ja3 == hashlib.md5(ja3.encode(), usedforsecurity=False).hexdigest()
    assert s.ja3s == hashlib.md5(ja3s.encode(), usedforsecurity=False).hexdigest()
    assert (s.server_name, s.version, s.cipher, s.established) == (
        "example.org", "TLSv13", "TLS_AES_128_GCM_SHA256", True,
    )  # fmt: skip
    (f,) = flows(recs)
    assert f.service == "ssl" and f.uid == s.uid


def test_published_ja3_of_a_minimal_hello(craft) -> None:  # type: ignore[no-untyped-def]
    # A ClientHello with one cipher, no extensions: "769,47,,," (TLS 1.0, AES128-SHA).
    hello = craft.client_hello("", ciphers=[0x002F], extensions=[], version=0x0301)
    hello = hello[:-2]  # no extensions block at all
    server = craft.server_hello(0x002F, [])
    s = only(run(craft.pcap(_tls_exchange(craft, hello, server))), SslRecord)
    assert isinstance(s, SslRecord)
    assert s.ja3 == hashlib.md5(b"769,47,,,", usedforsecurity=False).hexdigest()
    assert s.version == "TLSv12" and s.server_name == ""


def test_ssh_banners_and_failed_logins(craft) -> None:  # type: ignore[no-untyped-def]
    S, A_, P = craft.SYN, craft.ACK, craft.PSH
    seq = {"o": 1001, "r": 5001}
    pkts = [
        (1.0, craft.tcp4(A, 40000, B, 2222, 1000, 0, S)),
        (1.1, craft.tcp4(B, 2222, A, 40000, 5000, 1001, S | A_)),
    ]
    t = 1.2

    def send(who: str, data: bytes) -> None:
        nonlocal t
        if who == "o":
            pkts.append((t, craft.tcp4(A, 40000, B, 2222, seq["o"], seq["r"], A_ | P, data)))
        else:
            pkts.append((t, craft.tcp4(B, 2222, A, 40000, seq["r"], seq["o"], A_ | P, data)))
        seq[who] += len(data)
        t += 0.01

    send("r", b"SSH-2.0-OpenSSH_9.6\r\n")
    send("o", b"SSH-2.0-libssh2_1.11.0\r\n")
    send("o", craft.ssh_packet(20, bytes(40)) + craft.ssh_packet(21))  # KEXINIT, NEWKEYS
    send("r", craft.ssh_packet(20, bytes(40)) + craft.ssh_packet(21))
    send("r", bytes(52))  # SERVICE_ACCEPT (encrypted)
    for _ in range(3):
        send("o", bytes(84))  # USERAUTH_REQUEST
        send("r", bytes(52))  # USERAUTH_FAILURE: same size each time
    recs = run(craft.pcap(pkts))
    s = only(recs, SshRecord)
    assert isinstance(s, SshRecord)
    assert (s.client, s.server, s.version) == ("SSH-2.0-libssh2_1.11.0", "SSH-2.0-OpenSSH_9.6", 2)
    assert (s.auth_success, s.auth_attempts) == (False, 3)
    (f,) = flows(recs)
    assert f.service == "ssh" and f.dport == 2222


def test_arp_request_and_reply(craft) -> None:  # type: ignore[no-untyped-def]
    bcast = b"\xff" * 6
    req = craft.eth(craft.arp(1, craft.MAC_A, A, bytes(6), B), 0x0806, dst=bcast)
    rep = craft.eth(craft.arp(2, craft.MAC_B, B, craft.MAC_A, A), 0x0806, src=craft.MAC_B,
                    dst=craft.MAC_A)  # fmt: skip
    recs = run(craft.pcap([(1.0, req), (1.1, rep)]))
    assert recs == [
        ArpRecord(1.0, "request", "02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", A, B,
                  "02:00:00:00:00:01", "00:00:00:00:00:00"),
        ArpRecord(1.1, "reply", "02:00:00:00:00:02", "02:00:00:00:00:01", B, A,
                  "02:00:00:00:00:02", "02:00:00:00:00:01"),
    ]  # fmt: skip


def test_dhcp_transaction_is_one_record(craft) -> None:  # type: ignore[no-untyped-def]
    mac = craft.MAC_A
    z, bc, srv = "0.0.0.0", "255.255.255.255", "192.168.1.1"
    msgs = [
        (1.0, z, 68, bc, 67, craft.dhcp(1, 7, mac, 1, host_name="laptop")),
        (1.1, srv, 67, bc, 68, craft.dhcp(2, 7, mac, 2, yiaddr="192.168.1.50", server_id=srv)),
        (1.2, z, 68, bc, 67, craft.dhcp(1, 7, mac, 3, requested="192.168.1.50")),
        (1.3, srv, 67, bc, 68, craft.dhcp(2, 7, mac, 5, yiaddr="192.168.1.50", server_id=srv)),
    ]
    pkts = [(ts, craft.udp4(s, sp, d, dp, m)) for ts, s, sp, d, dp, m in msgs]
    recs = run(craft.pcap(pkts))
    d = only(recs, DhcpRecord)
    assert isinstance(d, DhcpRecord)
    assert d.ts == 1.0 and d.mac == "02:00:00:00:00:01"
    assert d.msg_types == ("DISCOVER", "OFFER", "REQUEST", "ACK")
    assert (d.requested_addr, d.assigned_addr, d.server_addr, d.client_addr) == (
        "192.168.1.50", "192.168.1.50", srv, "192.168.1.50",
    )  # fmt: skip
    assert d.host_name == "laptop"
    assert set(d.uids) == {f.uid for f in flows(recs)}
    assert {f.service for f in flows(recs)} == {"dhcp"}


def _one_flow_frames(craft) -> list[tuple[float, bytes]]:  # type: ignore[no-untyped-def]
    return [
        (1.0, craft.ip4(A, B, 6, craft.tcp(40000, 80, 1000, 0, craft.SYN))),
        (1.1, craft.ip4(B, A, 6, craft.tcp(80, 40000, 5000, 1001, craft.SYN | craft.ACK))),
    ]


@pytest.mark.parametrize("link", ["ethernet", "vlan", "qinq", "sll", "sll2", "raw", "null"])
def test_link_layers_give_the_same_flow(craft, link: str) -> None:  # type: ignore[no-untyped-def]
    frames = []
    linktype = {"ethernet": 1, "vlan": 1, "qinq": 1, "sll": 113, "sll2": 276, "raw": 101,
                "null": 0}[link]  # fmt: skip
    for ts, ip in _one_flow_frames(craft):
        if link == "ethernet":
            frame = craft.eth(ip)
        elif link == "vlan":
            frame = craft.eth(craft.vlan(ip), 0x8100)
        elif link == "qinq":
            frame = craft.eth(craft.vlan(craft.vlan(ip), 0x8100), 0x88A8)
        elif link == "sll":
            frame = struct.pack("!HHH", 0, 1, 6) + craft.MAC_A + b"\0\0" + b"\x08\x00" + ip
        elif link == "sll2":
            frame = struct.pack("!HHIHBB", 0x0800, 0, 1, 1, 0, 6) + craft.MAC_A + b"\0\0" + ip
        elif link == "raw":
            frame = ip
        else:
            frame = struct.pack("<I", 2) + ip
        frames.append((ts, frame))
    (f,) = flows(run(craft.pcap(frames, linktype)))
    assert (f.saddr, f.daddr, f.dport, f.state, f.history) == (A, B, 80, "S1", "Sh")


def test_pcapng_and_nanosecond_pcap_equal_pcap(craft) -> None:  # type: ignore[no-untyped-def]
    pkts = [(ts, craft.eth(ip)) for ts, ip in _one_flow_frames(craft)]
    base = flows(run(craft.pcap(pkts)))
    for capture in (
        craft.pcapng(pkts),
        craft.pcapng(pkts, tsresol=9),
        craft.pcap(pkts, nano=True),
        craft.pcap(pkts, endian=">"),
    ):
        got = flows(run(capture))
        assert [f.state for f in got] == [f.state for f in base] == ["S1"]
        assert got[0].ts == pytest.approx(1.0)
        assert got[0].duration == pytest.approx(0.1)


def test_ipv6_with_extension_header(craft) -> None:  # type: ignore[no-untyped-def]
    a6, b6 = "2001:db8::1", "2001:db8::2"
    hop = bytes([0, 0]) + bytes(6)  # hop-by-hop, 8 bytes (next header filled by the builder)
    pkts = [
        (1.0, craft.eth(craft.ip6(a6, b6, 6, craft.tcp(40000, 443, 1, 0, craft.SYN), hop), 0x86DD)),
        (1.1, craft.eth(craft.ip6(b6, a6, 17, craft.udp(53, 40000, b"")), 0x86DD)),
    ]
    recs = flows(run(craft.pcap(pkts)))
    assert {(f.saddr, f.daddr, f.proto, f.state) for f in recs} == {
        (a6, b6, "tcp", "S0"), (a6, b6, "udp", "SHR"),
    }  # fmt: skip


def test_chunking_does_not_change_records(craft) -> None:  # type: ignore[no-untyped-def]
    S, A_ = craft.SYN, craft.ACK
    pkts = [(1.0 + i, craft.tcp4(A, 40000 + i, B, 80, 1000, 0, S)) for i in range(5)] + [
        (9.0, craft.tcp4(B, 80, A, 40000, 1, 1001, S | A_))
    ]
    capture = craft.pcap(pkts)
    whole = run(capture)
    engine = PacketEngine(seed="test")
    parts: list[Record] = []
    for i in range(len(capture)):
        parts += engine.feed(capture[i : i + 1])
    parts += engine.finish()
    assert parts == whole
    assert engine.stats == {}


def test_fragments_and_other_protocols_are_counted(craft) -> None:  # type: ignore[no-untyped-def]
    pkts = [
        (1.0, craft.eth(craft.ip4(A, B, 17, craft.udp(1, 2, b"x"), frag=0x2000))),  # MF
        (1.1, craft.eth(craft.ip4(A, B, 47, b"gre!"))),
        (1.2, craft.eth(b"\x00" * 30, 0x88CC)),  # LLDP
        (1.3, craft.eth(b"\x45")),  # cut IPv4 header
    ]
    engine = PacketEngine()
    recs = engine.feed(craft.pcap(pkts)) + engine.finish()
    assert recs == []
    assert engine.stats == {
        "ip_fragment": 1, "ip_other_protocol": 1, "non_ip": 1, "truncated_packet": 1,
    }  # fmt: skip


def test_uids_are_deterministic_per_seed(craft) -> None:  # type: ignore[no-untyped-def]
    capture = craft.pcap([(1.0, craft.tcp4(A, 1, B, 2, 1, 0, craft.SYN))])
    assert flows(run(capture))[0].uid == flows(run(capture))[0].uid
    other = PacketEngine(seed="other")
    assert (other.feed(capture) + other.finish())[0].uid != flows(run(capture))[0].uid  # type: ignore[union-attr]


# -- server certificates (TLS <= 1.2) ----------------------------------------------------


def _cert(subject_cn: str, issuer_cn: str, subject_key: Any, signing_key: Any) -> bytes:
    """A DER certificate, built with `cryptography` (fixed dates: deterministic)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CZ"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example s.r.o."),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    cert = (
        x509.CertificateBuilder()
        .subject_name(name(subject_cn))
        .issuer_name(name(issuer_cn))
        .public_key(subject_key.public_key())
        .serial_number(7)
        .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2034, 1, 1, tzinfo=datetime.UTC))
        .sign(signing_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def _certificate_message(*ders: bytes) -> bytes:
    chain = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    return len(chain).to_bytes(3, "big") + chain


def _tls12_with_certificate(craft, body: bytes, split: bool) -> list[tuple[float, bytes]]:  # type: ignore[no-untyped-def]
    S, A_, P = craft.SYN, craft.ACK, craft.PSH
    ch = craft.tls_record(
        22, craft.handshake(1, craft.client_hello("intranet.example", [0xC02F], [(0, b"")]))
    )
    flight = craft.tls_record(22, craft.handshake(2, craft.server_hello(0xC02F, [])), 0x0303)
    flight += craft.tls_record(22, craft.handshake(11, body), 0x0303)
    flight += craft.tls_record(22, craft.handshake(14, b""), 0x0303)  # ServerHelloDone
    flight += craft.tls_record(20, b"\x01", 0x0303)
    cut = len(flight) // 3 if split else len(flight)
    pkts = [
        (1.0, craft.tcp4(A, 40001, B, 443, 1000, 0, S)),
        (1.1, craft.tcp4(B, 443, A, 40001, 5000, 1001, S | A_)),
        (1.2, craft.tcp4(A, 40001, B, 443, 1001, 5001, A_ | P, ch)),
        (1.3, craft.tcp4(B, 443, A, 40001, 5001, 1001 + len(ch), A_ | P, flight[:cut])),
    ]
    if split:  # the certificate spans segments, as real chains do
        pkts.append(
            (1.31, craft.tcp4(B, 443, A, 40001, 5001 + cut, 1001 + len(ch), A_ | P, flight[cut:]))
        )
    return pkts


def test_a_self_signed_server_certificate_is_read_as_zeek_shows_it(craft) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.derive_private_key(1234567, ec.SECP256R1())
    der = _cert("intranet.example", "intranet.example", key, key)
    recs = run(craft.pcap(_tls12_with_certificate(craft, _certificate_message(der), True)))
    s = only(recs, SslRecord)
    assert isinstance(s, SslRecord)
    assert s.subject == "CN=intranet.example,O=Example s.r.o.,C=CZ"  # RFC 4514 order, as Zeek
    assert s.issuer == s.subject
    assert s.validation_status == "self signed certificate"
    assert s.established and s.server_name == "intranet.example" and s.version == "TLSv12"


def test_a_ca_issued_chain_is_not_called_self_signed(craft) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import ec

    ca = ec.derive_private_key(1111, ec.SECP256R1())
    leaf_key = ec.derive_private_key(2222, ec.SECP256R1())
    leaf = _cert("www.example", "Example CA", leaf_key, ca)
    root = _cert("Example CA", "Example CA", ca, ca)
    body = _certificate_message(leaf, root)
    s = only(run(craft.pcap(_tls12_with_certificate(craft, body, False))), SslRecord)
    assert isinstance(s, SslRecord)
    assert (s.subject, s.issuer, s.validation_status) == (
        "CN=www.example,O=Example s.r.o.,C=CZ", "CN=Example CA,O=Example s.r.o.,C=CZ", "",
    )  # fmt: skip
    # same names, but signed by another key: not self-signed (a forged look-alike)
    fake = _cert("Example CA", "Example CA", leaf_key, ca)
    pkts = _tls12_with_certificate(craft, _certificate_message(fake), False)
    s = only(run(craft.pcap(pkts)), SslRecord)
    assert isinstance(s, SslRecord)
    assert s.subject == s.issuer and s.validation_status == ""


def test_a_garbled_certificate_is_counted_and_the_handshake_still_followed(craft) -> None:  # type: ignore[no-untyped-def]
    body = _certificate_message(b"\x30\x82\x01\x00" + b"\x00" * 40)  # DER that is not X.509
    engine_recs = run(craft.pcap(_tls12_with_certificate(craft, body, False)))
    s = only(engine_recs, SslRecord)
    assert isinstance(s, SslRecord)
    assert s.subject == "" and s.validation_status == ""
    assert s.established  # the ChangeCipherSpec after it was still seen
