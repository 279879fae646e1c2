"""Findings as syslog messages: RFC 5424 carrying an ArcSight CEF payload.

Theory of operation
-------------------
Formatting is pure (`cef_message`, `rfc5424`, `octet_frame`) and has an
inverse used by the tests and by anyone checking a capture (`parse_cef`,
`parse_rfc5424`, `split_frames`); the sender (`SyslogSender`) is the only
part that touches a socket.

RFC 5424 header: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG``.
PRI = facility x 8 + severity; severity follows the finding's threat level
(critical 2, high 3, medium 4, low 5, info 6). TIMESTAMP is UTC with
microseconds; HOSTNAME, APP-NAME, PROCID and MSGID are reduced to printable
US-ASCII without spaces and cut to their RFC lengths (an empty one becomes
the nil value ``-``). No structured data (``-``): everything is in the CEF
payload. MSG is sent without a BOM (RFC 5424's MSG-ANY): SIEM CEF parsers
expect the payload to start with ``CEF:``.

CEF (ArcSight "Implementing ArcSight CEF", rev. 25):
``CEF:0|Starling|Starling|<version>|<signature id>|<name>|<severity>|<extension>``.
Header fields escape ``\\`` and ``|`` and cannot hold line breaks (replaced
by spaces); extension values escape ``\\`` and ``=`` and write CR/LF as
``\\r``/``\\n``. Severity 0-10 from the threat level (info 1, low 3, medium 5,
high 8, critical 10). Extension keys are ArcSight's standard ones: ``rt``
(ms since the epoch), ``src``/``dst`` for IPv4 and ``c6a2``/``c6a3`` with
labels for IPv6 (CEF's src/dst are IPv4 only), ``dpt``, ``proto``, ``cnt``,
``externalId`` (the finding id), ``msg`` (the full description), and custom
``cs``/``cn``/``cfp`` fields with their ``…Label`` for the origin, ATT&CK
technique, time window, confidence and (alerts) evidence types and score.

Transport: UDP sends one message per datagram (RFC 5426), truncated on a
UTF-8 boundary to ``max_udp_bytes``; TCP uses octet counting
(``<length> <message>``, RFC 6587 section 3.4.1), which keeps framing intact
whatever the message holds. The TCP connection is reopened on the next
message after any failure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from typing import Literal

from detection.model import Alert, Evidence, ThreatLevel

__all__ = [
    "CEF_SEVERITY",
    "SYSLOG_SEVERITY",
    "Cef",
    "SyslogError",
    "SyslogMessage",
    "SyslogSender",
    "cef_escape_extension",
    "cef_escape_header",
    "cef_for",
    "cef_message",
    "octet_frame",
    "parse_cef",
    "parse_rfc5424",
    "rfc5424",
    "split_frames",
]

SYSLOG_SEVERITY: dict[ThreatLevel, int] = {
    ThreatLevel.CRITICAL: 2,
    ThreatLevel.HIGH: 3,
    ThreatLevel.MEDIUM: 4,
    ThreatLevel.LOW: 5,
    ThreatLevel.INFO: 6,
}
CEF_SEVERITY: dict[ThreatLevel, int] = {
    ThreatLevel.INFO: 1,
    ThreatLevel.LOW: 3,
    ThreatLevel.MEDIUM: 5,
    ThreatLevel.HIGH: 8,
    ThreatLevel.CRITICAL: 10,
}
_NAME_MAX = 512  # CEF: name is a "string (512)"
_MSG_MAX = 1023  # CEF: msg is a "string (1023)"
_KEY = re.compile(r"^[A-Za-z0-9_]+$")


class SyslogError(Exception):
    """The syslog receiver could not be reached or refused the message."""


# -- CEF ------------------------------------------------------------------------------------


def cef_escape_header(value: str) -> str:
    """A CEF header field: ``\\`` and ``|`` escaped, line breaks become spaces."""
    value = value.replace("\\", "\\\\").replace("|", "\\|")
    return value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def cef_escape_extension(value: str) -> str:
    """A CEF extension value: ``\\`` and ``=`` escaped, CR/LF written ``\\r``/``\\n``."""
    value = value.replace("\\", "\\\\").replace("=", "\\=")
    return value.replace("\r", "\\r").replace("\n", "\\n")


@dataclass(frozen=True, slots=True)
class Cef:
    """One CEF event (what `parse_cef` returns; `cef_message` renders it)."""

    vendor: str
    product: str
    version: str
    signature: str
    name: str
    severity: int
    extension: tuple[tuple[str, str], ...]

    def ext(self) -> dict[str, str]:
        return dict(self.extension)


def cef_message(event: Cef) -> str:
    for key, _ in event.extension:
        if not _KEY.match(key):
            raise ValueError(f"CEF extension key {key!r} is not alphanumeric")
    header = "|".join(
        cef_escape_header(v)
        for v in (event.vendor, event.product, event.version, event.signature, event.name)
    )
    ext = " ".join(f"{k}={cef_escape_extension(v)}" for k, v in event.extension)
    return f"CEF:0|{header}|{event.severity}|{ext}"


def _split_header(text: str) -> tuple[list[str], str]:
    """Seven '|'-separated, escaped header fields after ``CEF:``, and the raw extension."""
    fields: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text) and len(fields) < 7:
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "\\|":
            cur.append(text[i + 1])
            i += 2
            continue
        if ch == "|":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    if len(fields) < 7:
        raise ValueError("CEF header has fewer than 8 fields")
    return fields, text[i:]


_EXT_KEY = re.compile(r"(?:^| )([A-Za-z0-9_]+)=")
_UNESCAPE = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}


def _unescape_extension(raw: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in _UNESCAPE:
            out.append(_UNESCAPE[raw[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _unescaped_equals(raw: str) -> list[int]:
    """Positions of the '=' in `raw` that are not escaped."""
    found: list[int] = []
    i = 0
    while i < len(raw):
        if raw[i] == "\\":
            i += 2
            continue
        if raw[i] == "=":
            found.append(i)
        i += 1
    return found


def parse_cef(text: str) -> Cef:
    """Inverse of `cef_message` for well-formed input; ValueError otherwise."""
    if not text.startswith("CEF:0|"):
        raise ValueError("not a CEF:0 message")
    fields, raw_ext = _split_header(text[len("CEF:") :])
    _version, vendor, product, version, signature, name, severity = fields
    try:
        sev = int(severity)
    except ValueError:
        raise ValueError(f"CEF severity {severity!r} is not a number") from None
    # A key starts after a space (or at the start) and ends at an unescaped '=';
    # a value runs up to the space before the next key.
    starts: list[tuple[int, int, str]] = []  # (key start, value start, key)
    for pos in _unescaped_equals(raw_ext):
        m = re.search(r"(?:^| )([A-Za-z0-9_]+)$", raw_ext[:pos])
        if m is None:
            raise ValueError("CEF extension has an unescaped '=' outside a key")
        starts.append((m.start(1), pos + 1, m.group(1)))
    ext: list[tuple[str, str]] = []
    for n, (_kstart, vstart, key) in enumerate(starts):
        end = starts[n + 1][0] - 1 if n + 1 < len(starts) else len(raw_ext)
        ext.append((key, _unescape_extension(raw_ext[vstart:end])))
    if not starts and raw_ext.strip():
        raise ValueError("CEF extension without key=value pairs")
    return Cef(vendor, product, version, signature, name, sev, tuple(ext))


def _address_fields(value: str | None, v4_key: str, v6_key: str, label: str) -> list[
    tuple[str, str]
]:  # fmt: skip
    if not value:
        return []
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        host_key = "shost" if v4_key == "src" else "dhost"
        return [(host_key, value)]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return [(v6_key, ip.compressed), (f"{v6_key}Label", label)]
    return [(v4_key, str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip))]


def _rt(ts: float) -> str:
    return str(round(ts * 1000))


def cef_for(finding: Evidence | Alert, version: str) -> Cef:
    """The CEF event for a finding."""
    ext: list[tuple[str, str]] = [("rt", _rt(finding.ts))]
    if isinstance(finding, Evidence):
        ext += _address_fields(finding.attacker, "src", "c6a2", "Source IPv6 Address")
        ext += _address_fields(finding.victim, "dst", "c6a3", "Destination IPv6 Address")
        if finding.dport is not None:
            ext.append(("dpt", str(finding.dport)))
        if finding.proto:
            ext.append(("proto", finding.proto.upper()))
        if finding.count is not None:
            ext.append(("cnt", str(finding.count)))
        signature, name = finding.type, finding.description
        ext += [("cs1", finding.source), ("cs1Label", "origin")]
        if finding.attack_technique:
            ext += [("cs2", finding.attack_technique), ("cs2Label", "mitreTechnique")]
    else:
        ext += _address_fields(finding.profile, "src", "c6a2", "Source IPv6 Address")
        if finding.victims:
            ext += [("cs3", ",".join(finding.victims[:20])), ("cs3Label", "victims")]
        ext.append(("cnt", str(len(finding.evidence_ids))))
        signature, name = "alert", finding.description
        ext += [("cs1", finding.source), ("cs1Label", "origin")]
        ext += [("cs4", ",".join(sorted(set(finding.evidence_types)))), ("cs4Label", "evidence")]
        ext += [("cfp2", f"{finding.score:.4f}"), ("cfp2Label", "score")]
    ext += [("cn1", str(finding.timewindow)), ("cn1Label", "timewindow")]
    ext += [("cfp1", f"{finding.confidence:.4f}"), ("cfp1Label", "confidence")]
    ext += [("externalId", finding.id), ("msg", finding.description[:_MSG_MAX])]
    return Cef(
        "Starling",
        "Starling",
        version,
        signature,
        name[:_NAME_MAX],
        CEF_SEVERITY[finding.threat_level],
        tuple(ext),
    )


# -- RFC 5424 -------------------------------------------------------------------------------


def _header_field(value: str, limit: int) -> str:
    """PRINTUSASCII only (33-126), at most `limit` characters; '-' when empty."""
    cleaned = "".join(ch if 33 <= ord(ch) <= 126 else "_" for ch in value)[:limit]
    return cleaned or "-"


def _timestamp(ts: float) -> str:
    try:
        when = dt.datetime.fromtimestamp(ts, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return "-"  # RFC 5424 NILVALUE: the time is also in the CEF payload (rt)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    pri: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    structured_data: str
    msg: str

    @property
    def facility(self) -> int:
        return self.pri >> 3

    @property
    def severity(self) -> int:
        return self.pri & 7


def rfc5424(
    msg: str,
    *,
    facility: int,
    severity: int,
    ts: float,
    hostname: str,
    app_name: str,
    procid: str = "-",
    msgid: str = "-",
) -> bytes:
    """One RFC 5424 message (without transport framing)."""
    if not (0 <= facility <= 23 and 0 <= severity <= 7):
        raise ValueError(f"bad facility/severity {facility}/{severity}")
    head = " ".join(
        (
            f"<{facility * 8 + severity}>1",
            _timestamp(ts),
            _header_field(hostname, 255),
            _header_field(app_name, 48),
            _header_field(procid, 128),
            _header_field(msgid, 32),
            "-",
        )
    )
    return f"{head} {msg}".encode("utf-8", "replace")


_HEADER = re.compile(
    rb"^<(\d{1,3})>1 (\S+) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) ([\x21-\x7e]{1,128}) "
    rb"([\x21-\x7e]{1,32}) (-|\[.*?\])(?: (.*))?$",
    re.DOTALL,
)


def parse_rfc5424(data: bytes) -> SyslogMessage:
    """Inverse of `rfc5424` (no structured data); ValueError for anything else."""
    m = _HEADER.match(data)
    if m is None:
        raise ValueError("not an RFC 5424 message")
    pri = int(m.group(1))
    if pri > 191:
        raise ValueError(f"PRI {pri} out of range")
    msg = m.group(8) or b""
    if msg.startswith(b"\xef\xbb\xbf"):
        msg = msg[3:]
    ts, host, app, procid, msgid, sd = (m.group(i).decode("ascii") for i in range(2, 8))
    return SyslogMessage(pri, ts, host, app, procid, msgid, sd, msg.decode("utf-8", "replace"))


def octet_frame(message: bytes) -> bytes:
    """RFC 6587 octet counting: ``<length> <message>``."""
    return b"%d %s" % (len(message), message)


def split_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete octet-counted frames in `buffer`, and the incomplete rest."""
    frames: list[bytes] = []
    pos = 0
    while True:
        space = buffer.find(b" ", pos, pos + 11)
        if space < 0:
            if len(buffer) - pos > 10:
                raise ValueError("octet-counting frame without a length")
            break
        digits = buffer[pos:space]
        if not digits.isdigit() or digits.startswith(b"0"):
            raise ValueError(f"bad frame length {digits!r}")
        end = space + 1 + int(digits)
        if end > len(buffer):
            break
        frames.append(buffer[space + 1 : end])
        pos = end
    return frames, buffer[pos:]


def truncate_utf8(data: bytes, limit: int) -> bytes:
    """At most `limit` bytes, never cutting a UTF-8 sequence in two."""
    if len(data) <= limit:
        return data
    cut = limit
    while cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    out = data[:cut]
    # never end on half of a CEF escape ("\\" cut after its first backslash)
    trailing = len(out) - len(out.rstrip(b"\\"))
    return out[:-1] if trailing % 2 else out


# -- the sender -----------------------------------------------------------------------------


class SyslogSender:
    """Sends formatted messages to one receiver; raises SyslogError on failure."""

    def __init__(
        self,
        host: str,
        port: int,
        protocol: Literal["udp", "tcp"],
        *,
        timeout: float = 5.0,
        max_udp_bytes: int = 2048,
    ) -> None:
        self.host = host
        self.port = port
        self.protocol = protocol
        self.timeout = timeout
        self.max_udp_bytes = max_udp_bytes
        self._sock: socket.socket | None = None
        self.truncated = 0

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        try:
            if self.protocol == "tcp":
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            else:
                info = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
                sock = socket.socket(info[0], socket.SOCK_DGRAM)
                sock.settimeout(self.timeout)
                sock.connect(info[4])  # errors (ICMP port unreachable) surface on send
        except OSError as exc:
            raise SyslogError(
                f"cannot reach {self.host}:{self.port}/{self.protocol}: {exc}"
            ) from None
        self._sock = sock
        return sock

    def send(self, message: bytes) -> None:
        sock = self._connect()
        try:
            if self.protocol == "tcp":
                sock.sendall(octet_frame(message))
            else:
                if len(message) > self.max_udp_bytes:
                    message = truncate_utf8(message, self.max_udp_bytes)
                    self.truncated += 1
                sock.send(message)
        except OSError as exc:
            self.close()
            raise SyslogError(
                f"sending to {self.host}:{self.port}/{self.protocol}: {exc}"
            ) from None

    def close(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            with contextlib.suppress(OSError):
                sock.close()


def default_hostname() -> str:
    return socket.gethostname() or os.uname().nodename
