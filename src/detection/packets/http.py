"""HTTP/1.x request and response heads, from the first bytes of a segment.

The engine hands every originator segment that starts with a method token to
`decode_request` and every responder segment that starts with ``HTTP/`` to
`decode_response`; only what the segment holds is read (no reassembly past
it). A response's MIME type comes, as Zeek's does, from the body's first
bytes when they are recognisable (`sniff_mime`: executables, archives,
documents, images, HTML), else from its Content-Type header.
"""

from __future__ import annotations

from typing import NamedTuple

from detection.packets.decode import DecodeError

__all__ = [
    "METHODS",
    "HttpRequest",
    "HttpResponse",
    "decode_request",
    "decode_response",
    "sniff_mime",
]

METHODS = frozenset(
    b"GET POST HEAD PUT DELETE OPTIONS CONNECT TRACE PATCH PROPFIND PROPPATCH MKCOL COPY "
    b"MOVE LOCK UNLOCK SEARCH REPORT SUBSCRIBE UNSUBSCRIBE NOTIFY M-SEARCH".split()
)
_MAX_HEAD = 16384  # header bytes looked at
_MAX_FIELD = 8192  # characters kept of one value

# (prefix of the body, MIME type): file signatures, most specific first
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "application/x-dosexec"),
    (b"\x7fELF", "application/x-executable"),
    (b"\xcf\xfa\xed\xfe", "application/x-mach-o-executable"),
    (b"\xce\xfa\xed\xfe", "application/x-mach-o-executable"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/x-gzip"),
    (b"Rar!\x1a\x07", "application/x-rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/vnd.ms-office"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


class HttpRequest(NamedTuple):
    method: str
    uri: str
    version: str
    host: str
    user_agent: str
    body_len: int


class HttpResponse(NamedTuple):
    status: int
    version: str
    mime: str  # "" when not known
    body_len: int


def _text(raw: bytes) -> str:
    return raw[:_MAX_FIELD].decode("latin-1")


def _head(data: bytes) -> tuple[list[bytes], bytes]:
    """(lines of the head, the bytes after it); the head may be cut by the segment."""
    head, sep, body = data[:_MAX_HEAD].partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data[:_MAX_HEAD].partition(b"\n\n")
    return head.split(b"\n"), (body if sep else b"")


def _headers(lines: list[bytes]) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            out.setdefault(name.strip().lower(), value.strip())
    return out


def _length(headers: dict[bytes, bytes]) -> int:
    raw = headers.get(b"content-length", b"")
    if raw.isdigit() and len(raw) < 19:
        return int(raw)
    return 0


def decode_request(data: bytes) -> HttpRequest:
    lines, _body = _head(data)
    parts = lines[0].rstrip(b"\r").split(b" ")
    if len(parts) < 2 or parts[0] not in METHODS:
        raise DecodeError("not an HTTP request line")
    version = b""
    if len(parts) >= 3 and parts[-1].startswith(b"HTTP/"):
        version = parts[-1][5:]
        uri = b" ".join(parts[1:-1])
    else:
        uri = b" ".join(parts[1:])
    headers = _headers(lines)
    return HttpRequest(
        parts[0].decode("ascii"),
        _text(uri),
        _text(version),
        _text(headers.get(b"host", b"")),
        _text(headers.get(b"user-agent", b"")),
        _length(headers),
    )


def sniff_mime(body: bytes) -> str:
    for prefix, mime in _MAGIC:
        if body.startswith(prefix):
            return mime
    start = body[:512].lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "text/html"
    if start.startswith(b"<?xml"):
        return "application/xml"
    return ""


def decode_response(data: bytes) -> HttpResponse:
    lines, body = _head(data)
    parts = lines[0].rstrip(b"\r").split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise DecodeError("not an HTTP status line")
    code = parts[1]
    if not (code.isdigit() and len(code) == 3):
        raise DecodeError("bad HTTP status code")
    headers = _headers(lines)
    mime = sniff_mime(body) if body else ""
    if not mime:
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        mime = _text(ctype)
    return HttpResponse(int(code), _text(parts[0][5:]), mime, _length(headers))
