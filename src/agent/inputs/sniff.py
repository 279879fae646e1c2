"""Which format is this? Decided from content, never from the file name.

Looks at the first bytes: pcap/pcapng and nfdump magic numbers, gzip (then
the decompressed text), Zeek TSV headers (`#separator`, possibly after a TAB),
JSON objects (Suricata eve has `event_type`; any other JSON object is Zeek
JSON — Zeek writes logs Starling does not analyse, like `loaded_scripts.log`,
whose lines must still be read and counted — while JSON whose first line is not
an object is unknown) and Argus' `StartTime,…SrcAddr…` header.

A gzip file is sniffed from its first raw bytes with `zlib.decompressobj`, like
any other input, so a truncated gzip file is still recognised (reading it then
ends with a counted `truncated_input`).
"""

from __future__ import annotations

import zlib
from enum import StrEnum
from pathlib import Path

import orjson

from detection.parsers.zeek import infer_log_type

__all__ = ["Format", "sniff_bytes", "sniff_path"]

_PCAP_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_NFDUMP_MAGIC = b"\x0c\xa5"  # 0xA50C little-endian, nfdump file layouts 1 and 2
_GZIP_MAGIC = b"\x1f\x8b"


class Format(StrEnum):
    ZEEK_TSV = "zeek-tsv"
    ZEEK_JSON = "zeek-json"
    SURICATA = "suricata"
    ARGUS = "argus"
    NFDUMP = "nfdump"
    NFDUMP_CSV = "nfdump-csv"  # what `nfdump -r … -o csv` prints
    PCAP = "pcap"
    EMPTY = "empty"
    UNKNOWN = "unknown"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def sniff_bytes(head: bytes) -> tuple[Format, str]:
    """(format, why) for the first bytes of an input."""
    if not head:
        return Format.EMPTY, "empty input"
    if head[:4] in _PCAP_MAGIC or head[:4] == _PCAPNG_MAGIC:
        return Format.PCAP, "pcap magic number"
    if head[:2] == _NFDUMP_MAGIC:
        return Format.NFDUMP, "nfdump magic number"
    if head[:2] == _GZIP_MAGIC:
        try:
            inner = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 65536)
        except zlib.error:
            return Format.UNKNOWN, "corrupt gzip data"
        fmt, why = sniff_bytes(inner)
        return fmt, f"gzip: {why}"
    text = head.decode("utf-8", errors="replace")
    if "\x00" in text[:4096]:
        return Format.UNKNOWN, "binary data (NUL bytes), not a known capture or log format"
    line = _first_line(text)
    if not line:
        return Format.EMPTY, "only blank lines"
    if line.startswith(("#separator", "#fields", "#path")):
        return Format.ZEEK_TSV, "Zeek TSV header"
    if line.startswith("{"):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            if "event_type" in obj:
                return Format.SURICATA, "JSON with event_type (Suricata eve)"
            if infer_log_type(obj) is not None or ("ts" in obj and "uid" in obj):
                return Format.ZEEK_JSON, "JSON with Zeek field names"
            return Format.ZEEK_JSON, "JSON object without event_type (a Zeek log of another kind)"
        return Format.UNKNOWN, "first line starts like JSON but is not a JSON object"
    if "StartTime" in line and "SrcAddr" in line:
        return Format.ARGUS, "Argus binetflow header"
    if line.startswith("ts,te,td,sa,da,"):
        return Format.NFDUMP_CSV, "nfdump CSV header (nfdump -o csv)"
    return Format.UNKNOWN, f"unrecognised first line: {line[:60]!r}"


def sniff_path(path: Path) -> tuple[Format, str]:
    """Sniff a file from its first 64 KiB (raises OSError if it cannot be read)."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    return sniff_bytes(head)
