"""Zeek logs, TSV and JSON, into Starling records.

Theory of operation
-------------------
TSV logs are header-driven: `#separator` (which some tools write after a
leading TAB), `#set_separator`, `#empty_field`, `#unset_field`, `#path` and
`#fields` configure the parser, and a new header block (log rotation, a
concatenated file) reconfigures it mid-stream. Columns are looked up by name,
never by position, so extra columns (the `label`/`detailedlabel` ground truth of
labelled datasets, `orig_l2_addr`, `ja3`, …) and missing optional columns work.

A TSV file without `#path` gets its log type from its `#fields` (the same key
signatures as JSON records), and only then from the caller's hint.

JSON logs carry their field names on every line; the log type comes from the
caller's hint (the file name) or, for stdin and odd names, from the keys. A
record of a kind Starling does not analyse (`loaded_scripts.log`,
`packet_filter.log`, `pe.log`, …) is `Unsupported("zeek_<type>_log")`, the type
taken from the hint when it names a Zeek log, else `zeek_unknown_log`. Nested
objects are flattened to dotted keys (`id.orig_h`), at most `_MAX_DEPTH` deep.

Values are range-checked at this edge: timestamps must lie in [0, 2**33) s
(until year 2242), counts (bytes, packets, …) in [0, 2**63 - 1], the range a
store can hold; anything else is `ParseError("bad_field")`. ISO timestamps
without a zone are UTC (never the host's time zone).

Speed: conn.log is most of the volume, so TSV conn lines take a dedicated path
(split once, index the precomputed positions, one tuple build). Every other
log type goes through the generic path: a dict of raw values handed to a
per-type builder whose converters accept both TSV strings and JSON values.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

import orjson

from detection.model import (
    ArpRecord,
    DhcpRecord,
    DnsRecord,
    FilesRecord,
    Flow,
    HttpRecord,
    NoticeRecord,
    Record,
    SmtpRecord,
    SoftwareRecord,
    SshRecord,
    SslRecord,
    TunnelRecord,
    WeirdRecord,
    X509Record,
)
from detection.parsers.base import ParseError, Unsupported

_new_tuple = tuple.__new__

__all__ = ["ZeekJsonParser", "ZeekTsvParser", "infer_log_type", "zeek_established"]

# Zeek conn_state values in which the responder answered. OTH (midstream) is
# decided by the responder's packet count instead, see zeek_established().
_ESTABLISHED_STATES = frozenset({"S1", "S2", "S3", "SF", "RSTO", "RSTR"})
_NOT_ESTABLISHED_STATES = frozenset({"S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR"})

_LABEL_FIELDS = ("label",)
_DETAILED_LABEL_FIELDS = ("detailedlabel", "detailed-label", "detailed_label")


def zeek_established(state: str, resp_pkts: int) -> bool:
    """Did the responder take part? (Zeek conn_state, falling back to packets.)"""
    if state in _ESTABLISHED_STATES:
        return True
    if state in _NOT_ESTABLISHED_STATES:
        return False
    return resp_pkts > 0


_Raw = Any  # a TSV string, a JSON scalar/list, or None

MAX_TS = float(2**33)  # timestamps in [0, MAX_TS): until the year 2242
MAX_COUNT = 2**63 - 1  # the largest count a store (SQLite INTEGER) holds
_MAX_DEPTH = 8  # nesting of JSON objects
_MAX_REASON_NAME = 32

# Zeek's own log names (zeek/scripts), for `zeek_<type>_log` skip reasons.
ZEEK_LOG_TYPES = frozenset(
    (
        "analyzer", "broker", "capture_loss", "cluster", "config", "conn", "conn_long", "dce_rpc",
        "dhcp", "dnp3", "dns", "dpd", "files", "ftp", "http", "intel", "irc", "kerberos",
        "known_certs", "known_hosts", "known_modbus", "known_services", "ldap", "ldap_search",
        "loaded_scripts", "modbus", "modbus_register_change", "mqtt_connect", "mqtt_publish",
        "mqtt_subscribe", "mysql", "netcontrol", "netcontrol_catch_release", "netcontrol_drop",
        "netcontrol_shunt", "notice", "notice_alarm", "ntlm", "ntp", "ocsp", "openflow",
        "packet_filter", "pe", "postgresql", "print", "prof", "quic", "radius", "rdp", "redis",
        "reporter", "rfb", "signatures", "sip", "smb_cmd", "smb_files", "smb_mapping", "smtp",
        "snmp", "socks", "software", "ssh", "ssl", "stats", "stderr", "stdout", "syslog",
        "traceroute", "tunnel", "unified2", "unknown_protocols", "weird", "weird_stats",
        "websocket", "x509",
    )
)  # fmt: skip


def _reason_name(name: str | None) -> str:
    """A log type fit to be part of a counting key ("unknown" otherwise)."""
    if name and len(name) <= _MAX_REASON_NAME and name.isascii() and name.isidentifier():
        return name
    return "unknown"


def _is_unset(v: _Raw) -> bool:
    return v is None or v in ("-", "", "(empty)")


def _str(v: _Raw) -> str:
    if _is_unset(v):
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)


def _float(v: _Raw, name: str) -> float:
    if _is_unset(v):
        return 0.0
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ParseError("bad_field", f"{name}={str(v)[:80]!r}") from None
    if not math.isfinite(f):
        raise ParseError("bad_field", f"{name}={str(v)[:80]!r}")
    return f


def _int(v: _Raw, name: str) -> int:
    """A Zeek count: an integer in [0, MAX_COUNT]."""
    if _is_unset(v):
        return 0
    if isinstance(v, bool):
        raise ParseError("bad_field", f"{name}={v!r}")
    try:
        n = int(v)
    except (TypeError, ValueError):
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ParseError("bad_field", f"{name}={str(v)[:80]!r}") from None
        if not math.isfinite(f):
            raise ParseError("bad_field", f"{name}={str(v)[:80]!r}") from None
        n = int(f)
    if not 0 <= n <= MAX_COUNT:
        raise ParseError("bad_field", f"{name}={str(v)[:80]!r} out of range")
    return n


def _opt_int(v: _Raw, name: str) -> int | None:
    return None if _is_unset(v) else _int(v, name)


def _opt_float(v: _Raw, name: str) -> float | None:
    return None if _is_unset(v) else _float(v, name)


def _bool(v: _Raw) -> bool | None:
    if _is_unset(v):
        return None
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("t", "true", "1"):
        return True
    if s in ("f", "false", "0"):
        return False
    return None


def _ts(v: _Raw) -> float:
    """Epoch seconds in [0, MAX_TS) (relative timestamps near 0 are kept as they are).

    ISO strings without a zone are UTC.
    """
    if isinstance(v, str) and v and ("T" in v or v.count("-") >= 2):
        try:
            d = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            if d.tzinfo is None:
                d = d.replace(tzinfo=_dt.UTC)
            t = d.timestamp()
        except (ValueError, OverflowError):
            raise ParseError("bad_field", f"ts={v[:80]!r}") from None
    elif _is_unset(v):
        raise ParseError("missing_field", "ts")
    else:
        t = _float(v, "ts")
    if not 0.0 <= t < MAX_TS:
        raise ParseError("bad_field", f"ts={str(v)[:80]!r} out of range")
    return t


def _tuple(v: _Raw, set_sep: str = ",") -> tuple[str, ...]:
    if _is_unset(v):
        return ()
    if isinstance(v, list):
        return tuple(str(x) for x in v)
    return tuple(x for x in str(v).split(set_sep) if x and x != "-")


def _addr(v: _Raw, name: str) -> str:
    if _is_unset(v):
        raise ParseError("missing_field", name)
    return str(v)


def _port(v: _Raw, name: str) -> int | None:
    p = _opt_int(v, name)
    if p is not None and not (0 <= p <= 65535):
        raise ParseError("bad_field", f"{name}={p}")
    return p


# --- generic builders: one per log type, over a mapping of raw values --------------------

_Builder = Callable[[Mapping[str, _Raw], str], Record]


def _conn(d: Mapping[str, _Raw], ss: str) -> Flow:
    state = _str(d.get("conn_state"))
    dpkts = _int(d.get("resp_pkts"), "resp_pkts")
    label = next((_str(d[k]) for k in _LABEL_FIELDS if k in d), None)
    dlabel = next((_str(d[k]) for k in _DETAILED_LABEL_FIELDS if k in d), None)
    return Flow(
        _ts(d.get("ts")),
        _str(d.get("uid")),
        _addr(d.get("id.orig_h"), "id.orig_h"),
        _port(d.get("id.orig_p"), "id.orig_p"),
        _addr(d.get("id.resp_h"), "id.resp_h"),
        _port(d.get("id.resp_p"), "id.resp_p"),
        _str(d.get("proto")).lower(),
        _str(d.get("service")),
        _float(d.get("duration"), "duration"),
        _int(d.get("orig_bytes"), "orig_bytes"),
        _int(d.get("resp_bytes"), "resp_bytes"),
        _int(d.get("orig_pkts"), "orig_pkts"),
        dpkts,
        state,
        _str(d.get("history")),
        zeek_established(state, dpkts),
        _str(d.get("orig_l2_addr")),
        _str(d.get("resp_l2_addr")),
        label or None,
        dlabel or None,
    )


def _endpoints(d: Mapping[str, _Raw]) -> tuple[str, int | None, str, int | None]:
    return (
        _addr(d.get("id.orig_h"), "id.orig_h"),
        _port(d.get("id.orig_p"), "id.orig_p"),
        _addr(d.get("id.resp_h"), "id.resp_h"),
        _port(d.get("id.resp_p"), "id.resp_p"),
    )


def _dns(d: Mapping[str, _Raw], ss: str) -> DnsRecord:
    ttls = tuple(_float(t, "TTLs") for t in _tuple(d.get("TTLs"), ss))
    return DnsRecord(
        _ts(d.get("ts")),
        _str(d.get("uid")),
        *_endpoints(d),
        _str(d.get("proto")).lower(),
        _str(d.get("query")),
        _str(d.get("qtype_name")) or _str(d.get("qtype")),
        _str(d.get("rcode_name")) or _str(d.get("rcode")),
        _tuple(d.get("answers"), ss),
        ttls,
    )


def _http(d: Mapping[str, _Raw], ss: str) -> HttpRecord:
    return HttpRecord(
        _ts(d.get("ts")),
        _str(d.get("uid")),
        *_endpoints(d),
        _str(d.get("method")),
        _str(d.get("host")),
        _str(d.get("uri")),
        _str(d.get("version")),
        _str(d.get("user_agent")),
        _int(d.get("request_body_len"), "request_body_len"),
        _int(d.get("response_body_len"), "response_body_len"),
        _opt_int(d.get("status_code"), "status_code"),
        _tuple(d.get("resp_mime_types"), ss),
        _tuple(d.get("resp_fuids"), ss),
    )


def _ssl(d: Mapping[str, _Raw], ss: str) -> SslRecord:
    return SslRecord(
        _ts(d.get("ts")),
        _str(d.get("uid")),
        *_endpoints(d),
        _str(d.get("version")),
        _str(d.get("cipher")),
        _str(d.get("server_name")),
        bool(_bool(d.get("established"))),
        _str(d.get("subject")),
        _str(d.get("issuer")),
        _str(d.get("validation_status")),
        _str(d.get("ja3")),
        _str(d.get("ja3s")),
        _tuple(d.get("cert_chain_fuids"), ss) or _tuple(d.get("cert_chain_fps"), ss),
    )


def _ssh(d: Mapping[str, _Raw], ss: str) -> SshRecord:
    return SshRecord(
        _ts(d.get("ts")),
        _str(d.get("uid")),
        *_endpoints(d),
        _opt_int(d.get("version"), "version"),
        _bool(d.get("auth_success")),
        _int(d.get("auth_attempts"), "auth_attempts"),
        _str(d.get("client")),
        _str(d.get("server")),
    )


def _smtp(d: Mapping[str, _Raw], ss: str) -> SmtpRecord:
    return SmtpRecord(
        _ts(d.get("ts")),
        _str(d.get("uid")),
        *_endpoints(d),
        _str(d.get("helo")),
        _str(d.get("mailfrom")),
        _tuple(d.get("rcptto"), ss),
        _str(d.get("last_reply")),
    )


def _arp(d: Mapping[str, _Raw], ss: str) -> ArpRecord:
    return ArpRecord(
        _ts(d.get("ts")),
        _str(d.get("operation")),
        _str(d.get("src_mac")),
        _str(d.get("dst_mac")),
        _str(d.get("orig_h")),
        _str(d.get("resp_h")),
        _str(d.get("orig_hw")),
        _str(d.get("resp_hw")),
    )


def _dhcp(d: Mapping[str, _Raw], ss: str) -> DhcpRecord:
    return DhcpRecord(
        _ts(d.get("ts")),
        _tuple(d.get("uids"), ss),
        _str(d.get("client_addr")),
        _str(d.get("server_addr")),
        _str(d.get("mac")),
        _str(d.get("host_name")),
        _str(d.get("requested_addr")),
        _str(d.get("assigned_addr")),
        _tuple(d.get("msg_types"), ss),
    )


def _software(d: Mapping[str, _Raw], ss: str) -> SoftwareRecord:
    return SoftwareRecord(
        _ts(d.get("ts")),
        _str(d.get("host")),
        _port(d.get("host_p"), "host_p"),
        _str(d.get("software_type")),
        _str(d.get("name")),
        _opt_int(d.get("version.major"), "version.major"),
        _opt_int(d.get("version.minor"), "version.minor"),
        _str(d.get("unparsed_version")),
    )


def _notice(d: Mapping[str, _Raw], ss: str) -> NoticeRecord:
    return NoticeRecord(
        _ts(d.get("ts")),
        _str(d.get("uid")),
        _str(d.get("id.orig_h")),
        _str(d.get("id.resp_h")),
        _port(d.get("id.resp_p"), "id.resp_p") if not _is_unset(d.get("id.resp_p")) else None,
        _str(d.get("note")),
        _str(d.get("msg")),
        _str(d.get("sub")),
        _str(d.get("src")),
        _str(d.get("dst")),
        _opt_int(d.get("n"), "n"),
        _port(d.get("p"), "p"),
    )


def _tunnel(d: Mapping[str, _Raw], ss: str) -> TunnelRecord:
    return TunnelRecord(
        _ts(d.get("ts")),
        _str(d.get("uid")),
        *_endpoints(d),
        _str(d.get("tunnel_type")),
        _str(d.get("action")),
    )


def _files(d: Mapping[str, _Raw], ss: str) -> FilesRecord:
    tx = _tuple(d.get("tx_hosts"), ss)
    rx = _tuple(d.get("rx_hosts"), ss)
    uids = _tuple(d.get("conn_uids"), ss)
    if not tx and not rx and not _is_unset(d.get("id.orig_h")):
        # Zeek >= 5 replaced tx/rx_hosts with the connection's endpoints.
        tx, rx = (_str(d.get("id.resp_h")),), (_str(d.get("id.orig_h")),)
        uids = uids or _tuple(d.get("uid"), ss)
    return FilesRecord(
        _ts(d.get("ts")),
        _str(d.get("fuid")),
        tx,
        rx,
        uids,
        _str(d.get("source")),
        _str(d.get("mime_type")),
        _str(d.get("filename")),
        _int(d.get("seen_bytes"), "seen_bytes"),
        _opt_int(d.get("total_bytes"), "total_bytes"),
        _str(d.get("md5")),
        _str(d.get("sha1")),
        _str(d.get("sha256")),
    )


def _x509(d: Mapping[str, _Raw], ss: str) -> X509Record:
    return X509Record(
        _ts(d.get("ts")),
        _str(d.get("fuid")) or _str(d.get("id")),
        _opt_int(d.get("certificate.version"), "certificate.version"),
        _str(d.get("certificate.serial")),
        _str(d.get("certificate.subject")),
        _str(d.get("certificate.issuer")),
        _opt_float(d.get("certificate.not_valid_before"), "certificate.not_valid_before"),
        _opt_float(d.get("certificate.not_valid_after"), "certificate.not_valid_after"),
        _str(d.get("certificate.key_alg")),
        _opt_int(d.get("certificate.key_length"), "certificate.key_length"),
        _tuple(d.get("san.dns"), ss),
    )


def _weird(d: Mapping[str, _Raw], ss: str) -> WeirdRecord:
    return WeirdRecord(
        _ts(d.get("ts")),
        _str(d.get("uid")),
        _str(d.get("id.orig_h")),
        _port(d.get("id.orig_p"), "id.orig_p"),
        _str(d.get("id.resp_h")),
        _port(d.get("id.resp_p"), "id.resp_p"),
        _str(d.get("name")),
        _str(d.get("addl")),
        bool(_bool(d.get("notice"))),
        _str(d.get("peer")) or _str(d.get("source")),
    )


BUILDERS: dict[str, _Builder] = {
    "conn": _conn,
    "dns": _dns,
    "http": _http,
    "ssl": _ssl,
    "ssh": _ssh,
    "smtp": _smtp,
    "arp": _arp,
    "dhcp": _dhcp,
    "software": _software,
    "notice": _notice,
    "tunnel": _tunnel,
    "files": _files,
    "x509": _x509,
    "weird": _weird,
}

# Key sets that identify a log type when no name hint is available (stdin,
# renamed files). Checked in order; the first rule whose keys are all present wins.
_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conn", ("conn_state",)),
    ("conn", ("id.orig_h", "orig_bytes")),
    ("conn", ("id.orig_h", "proto", "duration")),  # files.log has duration, no proto
    ("dns", ("query", "qtype_name")),
    ("dns", ("query", "trans_id")),
    ("dns", ("query", "rcode")),
    ("http", ("id.orig_h", "method")),
    ("http", ("id.orig_h", "uri")),
    ("http", ("id.orig_h", "status_code")),
    ("ssl", ("server_name",)),
    ("ssl", ("id.orig_h", "cipher")),
    ("ssh", ("auth_attempts",)),
    ("ssh", ("auth_success",)),
    ("smtp", ("helo",)),
    ("smtp", ("mailfrom",)),
    ("smtp", ("last_reply",)),
    ("arp", ("operation", "src_mac")),
    ("dhcp", ("msg_types",)),
    ("dhcp", ("assigned_addr",)),
    ("dhcp", ("requested_addr",)),
    ("software", ("software_type",)),
    ("notice", ("note",)),
    ("tunnel", ("tunnel_type",)),
    ("x509", ("certificate.subject",)),
    ("x509", ("certificate.version",)),
    ("files", ("fuid", "seen_bytes")),
    ("files", ("fuid", "mime_type")),
    ("files", ("fuid", "tx_hosts")),
    ("weird", ("name", "addl")),
    ("weird", ("name", "peer")),
)


def infer_log_type(keys: Mapping[str, object] | set[str]) -> str | None:
    """Zeek log type from a record's field names, or None if unrecognised."""
    for log_type, required in _SIGNATURES:
        if all(k in keys for k in required):
            return log_type
    return None


def _flatten(d: dict[str, Any]) -> dict[str, Any]:
    """{"id": {"orig_h": …}} → {"id.orig_h": …}; iterative, at most `_MAX_DEPTH` deep."""
    out: dict[str, Any] = {}
    todo: list[tuple[dict[str, Any], str, int]] = [(d, "", 1)]
    while todo:
        node, prefix, depth = todo.pop()
        for k, v in node.items():
            if isinstance(v, dict):
                if depth >= _MAX_DEPTH:
                    raise ParseError("bad_json", "nested too deep")
                todo.append((v, f"{prefix}{k}.", depth + 1))
            else:
                out[f"{prefix}{k}"] = v
    return out


def _decode_separator(text: str) -> str:
    text = text.strip(" ")
    if text.startswith("\\x") and len(text) == 4:
        try:
            return chr(int(text[2:], 16))
        except ValueError:
            raise ParseError("bad_header", f"#separator {text!r}") from None
    if len(text) == 1:
        return text
    raise ParseError("bad_header", f"#separator {text[:20]!r}")


class ZeekTsvParser:
    """Zeek TSV (ASCII) logs. `log_type` is a hint used until `#path` is seen."""

    def __init__(self, log_type: str | None = None) -> None:
        self.sep = "\t"
        self.set_sep = ","
        self.empty = "(empty)"
        self.unset = "-"
        self._blank = frozenset((self.unset, self.empty))  # kept in step by `_header`
        self.hint = log_type
        self.path = log_type
        self._path_in_header = False  # `#path` seen in the current header block
        self.fields: list[str] = []
        self._nfields = 0
        self._conn_idx: tuple[int, ...] | None = None
        self._conn_get: Callable[[list[str]], Any] = itemgetter(0)
        self._builder: _Builder | None = None
        self._unsupported = "zeek_unknown_log"

    # -- header handling ---------------------------------------------------------------

    def _header(self, line: str) -> None:
        if line.startswith("#separator"):
            self.sep = _decode_separator(line[len("#separator") :])
            self._path_in_header = False  # a new header block starts
            return
        key, _, value = line.partition(self.sep)
        if not _:
            # Header written with another separator than the data: tolerate spaces.
            key, _, value = line.partition(" ")
        if key == "#set_separator":
            self.set_sep = value or ","
        elif key == "#empty_field":
            self.empty = value
            self._blank = frozenset((self.unset, self.empty))
        elif key == "#unset_field":
            self.unset = value
            self._blank = frozenset((self.unset, self.empty))
        elif key == "#path":
            self.path = value.strip()
            self._path_in_header = True
            self._configure()
        elif key == "#fields":
            self.fields = value.split(self.sep)
            self._nfields = len(self.fields)
            if not self._path_in_header:
                # No #path: the field names tell the log type better than a file name.
                self.path = infer_log_type(set(self.fields)) or self.hint
            self._configure()
        # #open, #close, #types and unknown directives carry nothing we use.

    def _configure(self) -> None:
        self._builder = BUILDERS.get(self.path or "")
        # The skip reason names the log type: any tame name Zeek wrote (#path) or
        # the fields imply, but only a known Zeek log name when it is the file's.
        from_hint = not self._path_in_header and self.path == self.hint
        known = not from_hint or self.path in ZEEK_LOG_TYPES
        self._unsupported = f"zeek_{_reason_name(self.path) if known else 'unknown'}_log"
        self._conn_idx = None
        if self.path == "conn" and self.fields:
            idx = {name: i for i, name in enumerate(self.fields)}
            needed = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")
            if all(n in idx for n in needed):
                # Missing optional columns map to index -1 → read as unset.
                names = (
                    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
                    "proto", "service", "duration", "orig_bytes", "resp_bytes",
                    "orig_pkts", "resp_pkts", "conn_state", "history",
                    "orig_l2_addr", "resp_l2_addr",
                )  # fmt: skip
                label = next((idx[k] for k in _LABEL_FIELDS if k in idx), -1)
                dlabel = next((idx[k] for k in _DETAILED_LABEL_FIELDS if k in idx), -1)
                # Absent columns read a padding value (unset) appended to each line,
                # so one itemgetter call fetches all 19 fields.
                pad = len(self.fields)
                self._conn_idx = tuple(
                    pad if i < 0 else i for i in (*(idx.get(n, -1) for n in names), label, dlabel)
                )
                self._conn_get = itemgetter(*self._conn_idx)

    # -- data lines --------------------------------------------------------------------

    def parse_line(self, line: str) -> Record | None:
        line = line.rstrip("\r\n")
        if not line:
            return None
        if line[0] == "#" or (line[0] in "\t " and line.lstrip().startswith("#")):
            self._header(line.lstrip())
            return None
        if not self.fields:
            raise ParseError("no_header", "data line before #fields")
        values = line.split(self.sep)
        if len(values) != self._nfields:
            raise ParseError(
                "wrong_column_count", f"{len(values)} columns, header has {self._nfields}"
            )
        if self._conn_idx is not None:
            return self._fast_conn(values)
        if self._builder is None:
            raise Unsupported(self._unsupported, "log type not analysed")
        unset, empty = self.unset, self.empty
        raw = {
            name: (None if v in (unset, empty) else v)
            for name, v in zip(self.fields, values, strict=True)
        }
        return self._builder(raw, self.set_sep)

    def _fast_conn(self, v: list[str]) -> Flow:
        unset = self.unset
        v.append(unset)  # the value of absent columns (see _configure)
        (
            ts_s, uid, saddr, sp, daddr, dp, proto, svc, dur_s, sb_s, db_s,
            spk_s, dpk_s, state, hist, smac, dmac, label, dlabel,
        ) = self._conn_get(v)  # fmt: skip
        try:
            ts = float(ts_s)
            sport = None if sp == unset else int(sp)
            dport = None if dp == unset else int(dp)
            duration = 0.0 if dur_s == unset else float(dur_s)
            sbytes = 0 if sb_s == unset else int(sb_s)
            dbytes = 0 if db_s == unset else int(db_s)
            spkts = 0 if spk_s == unset else int(spk_s)
            dpkts = 0 if dpk_s == unset else int(dpk_s)
        except ValueError as exc:
            raise ParseError("bad_field", str(exc)[:120]) from None
        if not (0.0 <= ts < MAX_TS and math.isfinite(duration)):
            raise ParseError("bad_field", f"ts/duration out of range: {ts_s[:40]} {dur_s[:40]}")
        # One test for all four counts: the OR of non-negative ints is negative iff
        # one is negative, and exceeds MAX_COUNT (2**63 - 1) iff one does.
        if not 0 <= (sbytes | dbytes | spkts | dpkts) <= MAX_COUNT:
            raise ParseError("bad_field", f"count out of range: {sbytes} {dbytes} {spkts} {dpkts}")
        if (sport is not None and not 0 <= sport <= 65535) or (
            dport is not None and not 0 <= dport <= 65535
        ):
            raise ParseError("bad_field", f"port out of range: {sport} {dport}")
        blank = self._blank  # {unset, empty}: a set test builds no tuple per field
        if not saddr or not daddr or saddr in blank or daddr in blank:
            raise ParseError("missing_field", "id.orig_h/id.resp_h")
        # Optional text columns: "" when the column is absent, unset or empty.
        if state in blank:
            state = ""
        # tuple.__new__ skips the NamedTuple's Python-level __new__ (argument
        # binding of 20 fields): a third of the cost of building the Flow.
        return _new_tuple(
            Flow,
            (
                ts,
                "" if uid in blank else uid,
                saddr,
                sport,
                daddr,
                dport,
                "" if proto in blank else proto.lower(),
                "" if svc in blank else svc,
                duration,
                sbytes,
                dbytes,
                spkts,
                dpkts,
                state,
                "" if hist in blank else hist,
                (state in _ESTABLISHED_STATES)
                or (state not in _NOT_ESTABLISHED_STATES and dpkts > 0),
                "" if smac in blank else smac,
                "" if dmac in blank else dmac,
                None if not label or label in blank else label,
                None if not dlabel or dlabel in blank else dlabel,
            ),
        )


class ZeekJsonParser:
    """Zeek JSON logs (one object per line). `log_type` is a hint (from the file name)."""

    def __init__(self, log_type: str | None = None) -> None:
        # A hint that names no analysed log type (a renamed file, loaded_scripts)
        # is not used to build records: the type is then inferred from each
        # record's keys. A hint naming a Zeek log still names the skip reason.
        self.log_type = log_type if log_type in BUILDERS else None
        self._unsupported = (
            f"zeek_{log_type}_log" if log_type in ZEEK_LOG_TYPES else "zeek_unknown_log"
        )

    def parse_line(self, line: str) -> Record | None:
        line = line.strip()
        if not line:
            return None
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ParseError("bad_json", line[:80]) from None
        if not isinstance(obj, dict):
            raise ParseError("bad_json", "not a JSON object")
        if any(isinstance(v, dict) for v in obj.values()):
            obj = _flatten(obj)
        log_type = self.log_type or infer_log_type(obj)
        if log_type is None:
            raise Unsupported(self._unsupported, "unrecognised Zeek JSON record")
        return BUILDERS[log_type](obj, ",")
