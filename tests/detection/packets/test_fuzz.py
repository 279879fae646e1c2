"""Fuzzing: whatever bytes arrive, readers count and decoders raise only DecodeError.

(h11's invariant, STYLE.md 6.) Each decoder gets arbitrary bytes and
mutations of a valid message; the capture reader gets arbitrary bytes after
valid and invalid headers, in arbitrary chunks; the engine gets arbitrary
frames under every link type it knows.
"""

from __future__ import annotations

import contextlib
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detection.packets import CaptureReader, DecodeError, PacketEngine
from detection.packets.dhcp import decode_arp, decode_dhcp
from detection.packets.dns import decode_dns
from detection.packets.http import decode_request, decode_response
from detection.packets.ssh import SshSession
from detection.packets.tls import (
    TlsSession,
    decode_certificate,
    decode_client_hello,
    decode_server_hello,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
PCAPNG_SHB = struct.pack("<II", 0x0A0D0D0A, 28) + struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
PCAPNG_SHB += struct.pack("<I", 28)


def mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """The seed with a few bytes replaced, cut, or extended."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(seed)
        for _ in range(draw(st.integers(0, 4))):
            if data:
                i = draw(st.integers(0, len(data) - 1))
                data[i] = draw(st.integers(0, 255))
        cut = draw(st.integers(0, len(data)))
        return bytes(data[:cut]) + draw(st.binary(max_size=16))

    return build()


def decodes_or_decode_error(fn, data: bytes) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(DecodeError):
        fn(data)


DNS = (
    struct.pack("!HHHHHH", 1, 0x8180, 1, 2, 0, 0)
    + b"\x07example\x03com\x00\x00\x01\x00\x01"
    + struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4)
    + bytes(4)
    + struct.pack("!HHHIH", 0xC00C, 16, 1, 60, 3)
    + b"\x02hi"
)
HTTP_REQ = b"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: b\r\nContent-Length: 5\r\n\r\nhello"
HTTP_RESP = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>"
CLIENT_HELLO = (
    b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x04\x13\x01\x13\x02" + b"\x01\x00"
    b"\x00\x12" + b"\x00\x00\x00\x08\x00\x06\x00\x00\x03a.b" + b"\x00\x0b\x00\x02\x01\x00"
)
SERVER_HELLO = (
    b"\x03\x03" + bytes(32) + b"\x00" + b"\x13\x01\x00" + b"\x00\x06\x00\x2b\x00\x02\x03\x04"
)
DHCP = (
    struct.pack("!BBBBIHH", 1, 1, 6, 0, 7, 0, 0) + bytes(16) + bytes(6) + bytes(10) + bytes(192)
    + b"\x63\x82\x53\x63" + b"\x35\x01\x01" + b"\x32\x04\x0a\x00\x00\x01" + b"\x0c\x02hi\xff"
)  # fmt: skip
ARP = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + bytes(20)


@FUZZ
@given(st.one_of(st.binary(max_size=600), mutations(DNS)))
def test_dns_decoder(data: bytes) -> None:
    decodes_or_decode_error(decode_dns, data)


@FUZZ
@given(st.one_of(st.binary(max_size=600), mutations(HTTP_REQ), mutations(HTTP_RESP)))
def test_http_decoders(data: bytes) -> None:
    decodes_or_decode_error(decode_request, data)
    decodes_or_decode_error(decode_response, data)


@FUZZ
@given(st.one_of(st.binary(max_size=600), mutations(CLIENT_HELLO), mutations(SERVER_HELLO)))
def test_tls_hello_decoders(data: bytes) -> None:
    decodes_or_decode_error(decode_client_hello, data)
    decodes_or_decode_error(decode_server_hello, data)


def _self_signed_der() -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.derive_private_key(99, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz.example")])
    when = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(when)
        .not_valid_after(when + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


_DER = _self_signed_der()
CERTIFICATE = (len(_DER) + 3).to_bytes(3, "big") + len(_DER).to_bytes(3, "big") + _DER


@FUZZ
@given(st.one_of(st.binary(max_size=600), mutations(CERTIFICATE)))
def test_certificate_decoder(data: bytes) -> None:
    decodes_or_decode_error(decode_certificate, data)


@FUZZ
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=300)), max_size=8))
def test_tls_session_never_raises(chunks: list[tuple[bool, bytes]]) -> None:
    s = TlsSession()
    s.data(True, b"\x16\x03\x01" + struct.pack("!H", len(CLIENT_HELLO) + 4))
    for is_orig, data in chunks:
        s.data(is_orig, data)
    assert s.errors >= 0


@FUZZ
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=300)), max_size=10))
def test_ssh_session_never_raises(chunks: list[tuple[bool, bytes]]) -> None:
    s = SshSession()
    s.data(True, b"SSH-2.0-x\r\n")
    s.data(False, b"SSH-2.0-y\r\n")
    for is_orig, data in chunks:
        s.data(is_orig, data)
    success, attempts = s.auth()
    assert success in (None, True, False) and attempts >= 0


@FUZZ
@given(st.one_of(st.binary(max_size=400), mutations(DHCP), mutations(ARP)))
def test_dhcp_and_arp_decoders(data: bytes) -> None:
    decodes_or_decode_error(decode_dhcp, data)
    decodes_or_decode_error(decode_arp, data)


@FUZZ
@given(
    st.sampled_from([b"", PCAP_HEADER, PCAPNG_SHB, b"\x4d\x3c\xb2\xa1" + PCAP_HEADER[4:]]),
    st.binary(max_size=2000),
    st.lists(st.integers(1, 64), max_size=20),
)
def test_capture_reader_counts_instead_of_raising(
    header: bytes, body: bytes, cuts: list[int]
) -> None:
    data = header + body
    reader = CaptureReader()
    packets = []
    pos = 0
    for n in [*cuts, len(data)]:
        packets += reader.feed(data[pos : pos + n])
        pos += n
    reader.close()
    assert all(isinstance(ts, float) and isinstance(frame, bytes) for ts, _lt, frame in packets)
    assert reader.packets == len(packets)
    assert set(reader.warnings) <= {
        "capture_bad_magic", "capture_corrupt", "capture_truncated", "capture_bad_interface",
    }  # fmt: skip


@FUZZ
@given(
    st.sampled_from([0, 1, 12, 101, 108, 113, 228, 229, 276, 147]),
    st.lists(st.binary(max_size=200), max_size=12),
)
def test_engine_takes_any_frame(linktype: int, frames: list[bytes]) -> None:
    engine = PacketEngine()
    prefixes = {
        1: bytes(12) + b"\x08\x00",
        101: b"",
        113: bytes(14) + b"\x08\x00",
        276: b"\x08\x00" + bytes(18),
    }
    out = []
    for i, frame in enumerate(frames):
        prefix = prefixes.get(linktype, b"") if i % 2 else b""
        body = prefix + (b"\x45\x00" + frame if i % 3 == 0 else frame)
        out += engine.packet(float(i), linktype, body)
    out += engine.finish()
    assert engine.packets == len(frames)
    assert all(r.ts >= 0 for r in out)


ZEEK_STATES = {
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
}  # fmt: skip
PAYLOADS = st.one_of(
    st.just(b""),
    st.binary(max_size=60),
    mutations(b"SSH-2.0-OpenSSH_9\r\n" + b"\x00\x00\x00\x0c\x0a\x15" + bytes(10)),
    mutations(b"\x16\x03\x01\x00\x4a\x01\x00\x00\x46" + CLIENT_HELLO),
    mutations(HTTP_REQ),
    mutations(HTTP_RESP),
    mutations(struct.pack("!H", len(DNS)) + DNS),
)
SEGMENT = st.tuples(
    st.booleans(),  # from the originator?
    st.sampled_from([0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x03, 0x06, 0x05, 0x00]),
    st.integers(0, 3),  # sequence: 0 in order, else jumps
    PAYLOADS,
    st.sampled_from([22, 443, 80, 53, 8080]),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(SEGMENT, max_size=25), st.lists(st.tuples(st.booleans(), PAYLOADS), max_size=6))
def test_engine_random_conversations(craft, segments, datagrams) -> None:  # type: ignore[no-untyped-def]
    seq = {True: 1000, False: 9000}
    pkts = []
    t = 1.0
    for from_orig, flags, jump, payload, port in segments:
        s = seq[from_orig] + (0 if jump == 0 else jump * 7919 - 4000)
        if from_orig:
            frame = craft.tcp4(
                "10.0.0.1", 40000, "10.0.0.2", port, s & 0xFFFFFFFF, 0, flags, payload
            )
        else:
            frame = craft.tcp4(
                "10.0.0.2", port, "10.0.0.1", 40000, s & 0xFFFFFFFF, 0, flags, payload
            )
        seq[from_orig] += len(payload) + (1 if flags & 0x03 else 0)
        pkts.append((t, frame))
        t += 0.5
    for from_client, payload in datagrams:
        ends = (
            (("10.0.0.1", 5353), ("10.0.0.3", 53))
            if from_client
            else (("10.0.0.3", 67), ("10.0.0.1", 68))
        )
        (src, sp), (dst, dp) = ends
        pkts.append((t, craft.udp4(src, sp, dst, dp, payload)))
        t += 0.5
    engine = PacketEngine()
    recs = engine.feed(craft.pcap(pkts)) + engine.finish()
    conns = [r for r in recs if type(r).__name__ == "Flow"]
    assert {f.state for f in conns} <= ZEEK_STATES
    assert sum(f.spkts + f.dpkts for f in conns) == len(pkts)
    assert all(f.sbytes >= 0 and f.dbytes >= 0 and f.duration >= 0 for f in conns)
