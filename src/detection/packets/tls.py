"""TLS ClientHello and ServerHello (RFC 5246/8446) → SNI, version, cipher, JA3/JA3S.

The engine feeds each direction's in-order payload of a TLS-looking
connection to a `TlsSession`, which walks the records, collects handshake
records until that side's hello is complete and decodes it with
`decode_client_hello` / `decode_server_hello`.

JA3 (Salesforce, 2017) is the MD5 of
``SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats``:
decimal values, each list joined with ``-``, in the order the client sent
them, with GREASE values (RFC 8701: 0x0A0A, 0x1A1A, … 0xFAFA) left out; the
version is the ClientHello's own (legacy) version field. JA3S is the MD5 of
``SSLVersion,Cipher,SSLExtensions`` of the ServerHello. The negotiated
version is the ServerHello's supported_versions extension when present
(TLS 1.3), else its version field, named as Zeek names it (``TLSv12``…).
"""

from __future__ import annotations

import hashlib
import struct
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from detection.packets.decode import DecodeError

__all__ = [
    "ClientHello",
    "ServerHello",
    "TlsSession",
    "cipher_name",
    "decode_client_hello",
    "decode_server_hello",
    "is_grease",
    "version_name",
]

_U16 = struct.Struct("!H")
_RECORD = struct.Struct("!BHH")

VERSION_NAMES = {
    0x0002: "SSLv2", 0x0300: "SSLv3", 0x0301: "TLSv10", 0x0302: "TLSv11", 0x0303: "TLSv12",
    0x0304: "TLSv13", 0xFEFF: "DTLSv10", 0xFEFD: "DTLSv12", 0xFEFC: "DTLSv13",
}  # fmt: skip

# IANA TLS cipher suite registry, the suites seen in practice.
CIPHER_NAMES = {
    0x0004: "TLS_RSA_WITH_RC4_128_MD5", 0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA", 0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", 0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256", 0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", 0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", 0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384", 0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA", 0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}  # fmt: skip

_MAX_RECORD = 16384 + 2048  # RFC 8446 5.2: the largest TLSCiphertext fragment
_MAX_HANDSHAKE = 65536  # handshake bytes kept per direction while looking for a hello
_TLS13 = 0x0304  # from TLS 1.3 on, the server's Certificate is encrypted: not visible


class ClientHello(NamedTuple):
    version: int
    server_name: str
    ja3: str
    ja3_string: str


class ServerHello(NamedTuple):
    version: int  # negotiated (supported_versions when present)
    cipher: int
    ja3s: str
    ja3s_string: str


class Certificate(NamedTuple):
    """The leaf of a server's certificate chain, as Zeek's ssl.log shows it."""

    subject: str  # RFC 4514 order, as Zeek prints it: "CN=…,O=…,C=…"
    issuer: str
    self_signed: bool  # issued by itself: issuer == subject and its own key verifies it
    chain_length: int


def decode_certificate(body: bytes) -> Certificate:
    """A TLS ≤ 1.2 Certificate message (RFC 5246 7.4.2): a 3-byte-length list of
    3-byte-length DER certificates, the server's own first. The DER is parsed by
    `cryptography` (a parser hardened against hostile input, not ours)."""
    if len(body) < 3:
        raise DecodeError("certificate message too short")
    end = 3 + int.from_bytes(body[:3], "big")
    if end > len(body):
        raise DecodeError("certificate list longer than its message")
    ders: list[bytes] = []
    pos = 3
    while pos < end:
        if pos + 3 > end:
            raise DecodeError("truncated certificate length")
        n = int.from_bytes(body[pos : pos + 3], "big")
        pos += 3
        if n == 0 or pos + n > end:
            raise DecodeError("certificate longer than its list")
        ders.append(body[pos : pos + n])
        pos += n
    if not ders:
        return Certificate("", "", False, 0)  # a client without a certificate sends this
    try:
        leaf = x509.load_der_x509_certificate(ders[0])
        subject = leaf.subject.rfc4514_string()
        issuer = leaf.issuer.rfc4514_string()
        same_name = leaf.issuer == leaf.subject
    except (ValueError, TypeError, UnicodeError) as exc:
        raise DecodeError(f"bad certificate: {exc}") from None
    self_signed = False
    if same_name:
        try:
            leaf.verify_directly_issued_by(leaf)
            self_signed = True
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            pass  # names alike but not its own signature (or a key type not verifiable)
    return Certificate(subject, issuer, self_signed, len(ders))


def is_grease(value: int) -> bool:
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def version_name(version: int) -> str:
    return VERSION_NAMES.get(version, f"unknown-{version}")


def cipher_name(cipher: int) -> str:
    return CIPHER_NAMES.get(cipher, f"unknown-{cipher}")


def _vector(body: bytes, off: int, size_bytes: int) -> tuple[bytes, int]:
    if off + size_bytes > len(body):
        raise DecodeError("truncated length")
    length = int.from_bytes(body[off : off + size_bytes], "big")
    start = off + size_bytes
    if start + length > len(body):
        raise DecodeError("vector runs past the message")
    return body[start : start + length], start + length


def _u16s(raw: bytes) -> list[int]:
    if len(raw) % 2:
        raise DecodeError("odd-length list of 16-bit values")
    return [v for (v,) in _U16.iter_unpack(raw)]


def _extensions(body: bytes, off: int) -> list[tuple[int, bytes]]:
    if off == len(body):
        return []
    raw, _end = _vector(body, off, 2)
    out = []
    pos = 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise DecodeError("truncated extension")
        etype = _U16.unpack_from(raw, pos)[0]
        data, pos = _vector(raw, pos + 2, 2)
        out.append((etype, data))
    return out


def _server_name(data: bytes) -> str:
    names, _ = _vector(data, 0, 2)
    pos = 0
    while pos + 3 <= len(names):
        kind = names[pos]
        name, pos = _vector(names, pos + 1, 2)
        if kind == 0:
            return name.decode("ascii", "backslashreplace")
    return ""


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("ascii"), usedforsecurity=False).hexdigest()


def _join(values: list[int]) -> str:
    return "-".join(str(v) for v in values if not is_grease(v))


def decode_client_hello(body: bytes) -> ClientHello:
    if len(body) < 35:
        raise DecodeError("short ClientHello")
    version = _U16.unpack_from(body, 0)[0]
    _session, off = _vector(body, 34, 1)
    ciphers_raw, off = _vector(body, off, 2)
    _compression, off = _vector(body, off, 1)
    extensions = _extensions(body, off)
    sni = ""
    curves: list[int] = []
    points: list[int] = []
    for etype, data in extensions:
        if etype == 0 and not sni:
            sni = _server_name(data)
        elif etype == 10:
            curves = _u16s(_vector(data, 0, 2)[0])
        elif etype == 11:
            points = list(_vector(data, 0, 1)[0])
    text = ",".join(
        (
            str(version),
            _join(_u16s(ciphers_raw)),
            _join([e for e, _ in extensions]),
            _join(curves),
            "-".join(str(p) for p in points),
        )
    )
    return ClientHello(version, sni, _md5(text), text)


def decode_server_hello(body: bytes) -> ServerHello:
    if len(body) < 38:
        raise DecodeError("short ServerHello")
    version = _U16.unpack_from(body, 0)[0]
    _session, off = _vector(body, 34, 1)
    if off + 3 > len(body):
        raise DecodeError("truncated ServerHello")
    cipher = _U16.unpack_from(body, off)[0]
    extensions = _extensions(body, off + 3)
    negotiated = version
    for etype, data in extensions:
        if etype == 43 and len(data) == 2:
            negotiated = _U16.unpack_from(data, 0)[0]
    text = f"{version},{cipher},{'-'.join(str(e) for e, _ in extensions)}"
    return ServerHello(negotiated, cipher, _md5(text), text)


class _Side:
    __slots__ = ("buf", "dead", "handshake", "skip")

    def __init__(self) -> None:
        self.buf = b""  # stream bytes not yet consumed
        self.skip = 0  # bytes of a non-handshake record still to pass over
        self.handshake = b""  # bodies of handshake records, until the hello is found
        self.dead = False


class TlsSession:
    """One TLS connection fed in-order payload per side: finds the hellos, the
    server's certificate (TLS ≤ 1.2: later versions encrypt it) and whether the
    handshake completed (the server sent ChangeCipherSpec or application data
    after its ServerHello).

    Records are walked by their 5-byte headers; only handshake records are kept,
    and only until this side's hello (the server: and its Certificate) is
    decoded; other records are skipped by length, so a side costs at most one
    record of memory. A side whose bytes are not TLS records stops being followed
    (`errors` counts decode failures; a certificate that cannot be parsed is
    counted and the rest of the handshake still followed).
    """

    def __init__(self) -> None:
        self.client = _Side()
        self.server = _Side()
        self.client_hello: ClientHello | None = None
        self.server_hello: ServerHello | None = None
        self.certificate: Certificate | None = None
        self.established = False
        self.errors = 0
        self._certificate_failed = False

    @property
    def done(self) -> bool:
        return self.client.dead and self.server.dead

    def data(self, is_orig: bool, payload: bytes) -> None:
        side = self.client if is_orig else self.server
        if side.dead:
            return
        side.buf = side.buf + payload if side.buf else payload
        try:
            self._records(side, is_orig)
        except DecodeError:
            self.errors += 1
            side.dead = True
            side.buf = side.handshake = b""

    def _records(self, side: _Side, is_orig: bool) -> None:
        while not side.dead:
            buf = side.buf
            if side.skip:
                n = min(side.skip, len(buf))
                side.skip -= n
                side.buf = buf[n:]
                if side.skip:
                    return
                continue
            if len(buf) < 5:
                return
            ctype, _version, length = _RECORD.unpack_from(buf, 0)
            if not 20 <= ctype <= 24 or length > _MAX_RECORD:
                raise DecodeError(f"not a TLS record (type {ctype}, length {length})")
            hello = self.client_hello if is_orig else self.server_hello
            if ctype == 22 and self._wants_handshake(is_orig):
                if len(buf) < 5 + length:
                    return
                side.handshake += buf[5 : 5 + length]
                side.buf = buf[5 + length :]
                self._hellos(side, is_orig)
                continue
            if not is_orig and self.server_hello is not None and ctype in (20, 23):
                self.established = True
            if hello is not None and (is_orig or self.established):
                side.dead = True  # nothing more to learn from this side
                side.buf = b""
                return
            side.skip = length
            side.buf = buf[5:]

    def _wants_handshake(self, is_orig: bool) -> bool:
        if is_orig:
            return self.client_hello is None
        sh = self.server_hello
        if sh is None:
            return True
        return (
            self.certificate is None
            and not self._certificate_failed
            and not self.established
            and sh.version < _TLS13
        )

    def _hellos(self, side: _Side, is_orig: bool) -> None:
        hs = side.handshake
        pos = 0
        while pos + 4 <= len(hs):
            mtype = hs[pos]
            mlen = int.from_bytes(hs[pos + 1 : pos + 4], "big")
            if pos + 4 + mlen > len(hs):
                break
            body = hs[pos + 4 : pos + 4 + mlen]
            pos += 4 + mlen
            if is_orig and mtype == 1:
                self.client_hello = decode_client_hello(body)
            elif not is_orig and mtype == 2 and self.server_hello is None:
                self.server_hello = decode_server_hello(body)
            elif not is_orig and mtype == 11 and self.server_hello is not None:
                try:
                    self.certificate = decode_certificate(body)
                except DecodeError:
                    self.errors += 1
                    self._certificate_failed = True
            if not self._wants_handshake(is_orig):
                side.handshake = b""
                return
        side.handshake = hs[pos:]
        if len(side.handshake) > _MAX_HANDSHAKE:
            raise DecodeError("handshake message larger than followed")
