"""Suricata eve.json (one JSON object per line) into Starling records.

Theory of operation
-------------------
Each line is decoded with orjson and dispatched on ``event_type``:

=============  ==============  ===============================================
event_type     record          notes
=============  ==============  ===============================================
flow           `Flow`          ts/duration from ``flow.start``/``flow.end``
dns            `DnsRecord`     eve v1 (one event per answer RR), v2
                               (``answers`` list and/or ``grouped``), v3
                               (``queries`` list, type request/response)
http           `HttpRecord`
tls            `SslRecord`
fileinfo       `FilesRecord`
anything else  Unsupported     ``suricata_<event_type>`` (alert, anomaly,
                               stats, …: Suricata's own verdicts and
                               counters, which Starling does not re-use)
=============  ==============  ===============================================

``uid`` is ``"S" + flow_id`` for every event type, so the dns/http/tls/fileinfo
events of a flow link to its `Flow`. Timestamps (``2021-06-06T15:59:46.457984
+0200``) become epoch floats; a flow's ``ts`` is ``flow.start``, not the event
``timestamp`` (which is when Suricata logged it — in the sample file many
flows carry the capture's first timestamp).

ICMP events carry ``icmp_type``/``icmp_code`` instead of ports; they go to
``sport``/``dport`` (Zeek's convention), so ICMP detectors see one shape.

`Flow.state` is ``tcp.state`` when Suricata tracked the TCP session, else
``flow.state`` (new / established / closed / bypassed).

`established` (did the responder take part?)
--------------------------------------------
* TCP: the responder sent SYN and ACK (bits 0x02 and 0x10 of
  ``tcp.tcp_flags_tc``, i.e. a SYN-ACK, the moment Zeek reports
  ``connection_established``), or ``flow.state == "established"`` (midstream
  pickups). ``flow.state == "closed"`` with packets to the client is *not*
  enough: a rejected SYN (``tcp_flags_tc`` 0x14, RST+ACK) is closed with one
  packet to the client — 1,939 of the 2,336 TCP flows in test6.
* Other protocols: ``flow.state == "established"`` (Suricata saw both
  directions) or ``"closed"`` with ``pkts_toclient > 0``.

DNS: a query event and its answer event both become records (the query one with
``rcode == ""``), so an unanswered query is still seen; consumers counting
queries should count records with an empty rcode, or answers, not both.

Errors: undecodable JSON → ``ParseError("bad_json")``; a missing required key →
``ParseError("missing_field", name)``; a key of the wrong type or an invalid
address/port/time → ``ParseError("bad_field", …)``. Times must lie in
[0, 2**33) s and counts in [0, 2**63 - 1] (what a store can hold), else
``bad_field``.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from datetime import UTC, datetime
from typing import Any

import orjson

from detection.model import DnsRecord, FilesRecord, Flow, HttpRecord, Record, SslRecord
from detection.parsers.base import ParseError, Unsupported

__all__ = ["SuricataParser", "suricata_established"]

_MAX_DETAIL = 80
_MAX_ADDR_LEN = 100
_MAX_REASON_LEN = 32
_SYN = 0x02
_ACK = 0x10
_MAX_TS = float(2**33)  # until the year 2242
_MAX_COUNT = 2**63 - 1

_Obj = dict[str, Any]


def suricata_established(
    proto: str, flow_state: str, pkts_toclient: int, tcp_flags_tc: str | None
) -> bool:
    """The `established` rule of the module header."""
    if proto == "tcp":
        if tcp_flags_tc:
            try:
                tc = int(tcp_flags_tc, 16)
            except ValueError:
                tc = 0
            if tc & _SYN and tc & _ACK:
                return True
        return flow_state == "established"
    return flow_state == "established" or (flow_state == "closed" and pkts_toclient > 0)


# --- typed accessors -----------------------------------------------------------------


def _bad(name: str, value: object) -> ParseError:
    return ParseError("bad_field", f"{name}={str(value)[:_MAX_DETAIL]!r}")


def _obj(o: _Obj, key: str) -> _Obj:
    v = o.get(key)
    if v is None:
        raise ParseError("missing_field", key)
    if not isinstance(v, dict):
        raise _bad(key, v)
    return v


def _opt_obj(o: _Obj, key: str) -> _Obj:
    v = o.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _bad(key, v)
    return v


def _str(o: _Obj, key: str) -> str:
    v = o.get(key)
    if v is None:
        raise ParseError("missing_field", key)
    if not isinstance(v, str):
        raise _bad(key, v)
    return v


def _opt_str(o: _Obj, key: str) -> str:
    v = o.get(key)
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool | int | float):
        return str(v)
    raise _bad(key, v)


def _int(o: _Obj, key: str) -> int:
    v = o.get(key)
    if v is None:
        raise ParseError("missing_field", key)
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= _MAX_COUNT:
        raise _bad(key, v)
    return v


def _opt_int(o: _Obj, key: str) -> int | None:
    v = o.get(key)
    if v is None:
        return None
    if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) < 19:
        return int(v)  # < 10**18 <= MAX_COUNT
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= _MAX_COUNT:
        raise _bad(key, v)
    return v


def _port(o: _Obj, key: str) -> int | None:
    p = _opt_int(o, key)
    if p is not None and p > 0xFFFF:
        raise _bad(key, p)
    return p


@functools.lru_cache(maxsize=65536)
def _norm_ip(s: str) -> str | None:
    try:
        return str(ipaddress.ip_address(s))
    except ValueError:
        return None


def _addr(o: _Obj, key: str) -> str:
    v = _str(o, key)
    a = _norm_ip(v) if len(v) <= _MAX_ADDR_LEN else None
    if a is None:
        raise _bad(key, v)
    return a


def _time(v: object, name: str) -> float:
    """``2021-06-06T15:59:46.457984+0200`` → epoch seconds (no zone = UTC)."""
    if not isinstance(v, str):
        raise ParseError("missing_field", name) if v is None else _bad(name, v)
    try:
        dt = datetime.fromisoformat(v)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        t = dt.timestamp()
    except (ValueError, OverflowError):
        raise _bad(name, v) from None
    if not 0.0 <= t < _MAX_TS:
        raise _bad(name, v)
    return t


# --- the parser ----------------------------------------------------------------------


class SuricataParser:
    """eve.json line parser; stateless, but one instance per stream by contract."""

    def parse_line(self, line: str) -> Record | None:
        if not line or line.isspace():
            return None
        try:
            o = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise ParseError("bad_json", str(e)[:_MAX_DETAIL]) from None
        if not isinstance(o, dict):
            raise ParseError("bad_json", f"not an object: {type(o).__name__}")
        et = o.get("event_type")
        if et is None:
            raise ParseError("missing_field", "event_type")
        if not isinstance(et, str):
            raise _bad("event_type", et)
        if et == "flow":
            return self._flow(o)
        if et == "dns":
            return self._dns(o)
        if et == "http":
            return self._http(o)
        if et == "tls":
            return self._tls(o)
        if et == "fileinfo":
            return self._fileinfo(o)
        # The reason is a counting key: keep it short and tame whatever the input.
        key = et if et.isidentifier() and et.isascii() and len(et) <= _MAX_REASON_LEN else "other"
        raise Unsupported(f"suricata_{key}", et[:_MAX_DETAIL])

    # -- shared pieces ------------------------------------------------------------------
    @staticmethod
    def _uid(o: _Obj) -> str:
        fid = o.get("flow_id")
        if fid is None:
            raise ParseError("missing_field", "flow_id")
        if not isinstance(fid, int) or isinstance(fid, bool):
            raise _bad("flow_id", fid)
        return f"S{fid}"

    @staticmethod
    def _endpoints(o: _Obj, proto: str) -> tuple[str, int | None, str, int | None]:
        saddr = _addr(o, "src_ip")
        daddr = _addr(o, "dest_ip")
        if proto in ("icmp", "ipv6-icmp") and "src_port" not in o:
            return saddr, _port(o, "icmp_type"), daddr, _port(o, "icmp_code")
        return saddr, _port(o, "src_port"), daddr, _port(o, "dest_port")

    # -- event types ----------------------------------------------------------------------
    def _flow(self, o: _Obj) -> Flow:
        uid = self._uid(o)
        proto = _str(o, "proto").lower()
        saddr, sport, daddr, dport = self._endpoints(o, proto)
        fl = _obj(o, "flow")
        start = _time(fl.get("start"), "flow.start")
        end_v = fl.get("end")
        # Rounded to the microsecond eve timestamps carry (drops float noise).
        duration = 0.0 if end_v is None else round(_time(end_v, "flow.end") - start, 6)
        if duration < 0.0:
            raise ParseError("bad_field", "flow.end before flow.start")
        pkts_toclient = _int(fl, "pkts_toclient")
        flow_state = _opt_str(fl, "state")
        tcp = _opt_obj(o, "tcp")
        app = _opt_str(o, "app_proto")
        if app == "failed":  # detection ran and found nothing
            app = ""
        return Flow(
            start,
            uid,
            saddr,
            sport,
            daddr,
            dport,
            proto,
            app,
            duration,
            _int(fl, "bytes_toserver"),
            _int(fl, "bytes_toclient"),
            _int(fl, "pkts_toserver"),
            pkts_toclient,
            _opt_str(tcp, "state") or flow_state,
            "",
            suricata_established(proto, flow_state, pkts_toclient, _opt_str(tcp, "tcp_flags_tc")),
        )

    def _dns(self, o: _Obj) -> DnsRecord:
        uid = self._uid(o)
        ts = _time(o.get("timestamp"), "timestamp")
        proto = _str(o, "proto").lower()
        saddr, sport, daddr, dport = self._endpoints(o, proto)
        d = _obj(o, "dns")
        kind = _opt_str(d, "type")
        query = _opt_str(d, "rrname")
        qtype = _opt_str(d, "rrtype")
        queries = d.get("queries")  # eve v3
        if not query and isinstance(queries, list) and queries and isinstance(queries[0], dict):
            query = _opt_str(queries[0], "rrname")
            qtype = _opt_str(queries[0], "rrtype")
        if kind in ("query", "request"):
            return DnsRecord(ts, uid, saddr, sport, daddr, dport, proto, query, qtype, "")
        rcode = _opt_str(d, "rcode")
        answers: list[str] = []
        ttls: list[float] = []
        alist = d.get("answers")
        if isinstance(alist, list):  # v2/v3 detailed format
            for a in alist:
                if isinstance(a, dict) and isinstance(a.get("rdata"), str):
                    answers.append(a["rdata"])
                    ttls.append(_ttl(a))
        elif isinstance(d.get("grouped"), dict):  # v2 grouped-only format
            for values in d["grouped"].values():
                if isinstance(values, list):
                    answers.extend(v for v in values if isinstance(v, str))
        elif isinstance(d.get("rdata"), str):  # v1: one event per answer RR
            answers.append(d["rdata"])
            ttls.append(_ttl(d))
        elif alist is not None:
            raise _bad("dns.answers", alist)
        return DnsRecord(
            ts,
            uid,
            saddr,
            sport,
            daddr,
            dport,
            proto,
            query,
            qtype,
            rcode,
            tuple(answers),
            tuple(ttls),
        )

    def _http(self, o: _Obj) -> HttpRecord:
        uid = self._uid(o)
        ts = _time(o.get("timestamp"), "timestamp")
        proto = _opt_str(o, "proto").lower()
        saddr, sport, daddr, dport = self._endpoints(o, proto)
        h = _obj(o, "http")
        ctype = _opt_str(h, "http_content_type")
        return HttpRecord(
            ts,
            uid,
            saddr,
            sport,
            daddr,
            dport,
            _opt_str(h, "http_method"),
            _opt_str(h, "hostname"),
            _opt_str(h, "url"),
            _opt_str(h, "protocol"),
            _opt_str(h, "http_user_agent"),
            _opt_int(h, "request_body_len") or 0,  # not in default eve output
            _opt_int(h, "length") or 0,
            _opt_int(h, "status"),
            (ctype,) if ctype else (),
        )

    def _tls(self, o: _Obj) -> SslRecord:
        uid = self._uid(o)
        ts = _time(o.get("timestamp"), "timestamp")
        proto = _opt_str(o, "proto").lower()
        saddr, sport, daddr, dport = self._endpoints(o, proto)
        t = _obj(o, "tls")
        ja3s = _opt_str(_opt_obj(t, "ja3s"), "hash")
        subject = _opt_str(t, "subject")
        # Suricata logs the handshake it saw; a server answer (ServerHello →
        # JA3S, a certificate, or a resumed session) means the handshake got
        # past the client's hello.
        established = bool(ja3s or subject or t.get("session_resumed") is True)
        return SslRecord(
            ts,
            uid,
            saddr,
            sport,
            daddr,
            dport,
            _opt_str(t, "version"),
            "",  # eve does not log the cipher
            _opt_str(t, "sni"),
            established,
            subject,
            _opt_str(t, "issuerdn"),
            "",  # Suricata does not validate chains
            _opt_str(_opt_obj(t, "ja3"), "hash"),
            ja3s,
        )

    def _fileinfo(self, o: _Obj) -> FilesRecord:
        uid = self._uid(o)
        ts = _time(o.get("timestamp"), "timestamp")
        proto = _opt_str(o, "proto").lower()
        saddr, _, daddr, _ = self._endpoints(o, proto)
        fi = _obj(o, "fileinfo")
        size = _opt_int(fi, "size") or 0
        tx_id = _opt_int(fi, "tx_id")
        file_id = _opt_int(fi, "file_id")
        fuid = f"{uid}-{tx_id if tx_id is not None else ''}"
        if file_id is not None:
            fuid += f"-{file_id}"
        mime = _opt_str(fi, "mimetype") or _opt_str(_opt_obj(o, "http"), "http_content_type")
        return FilesRecord(
            ts,
            fuid,
            (saddr,),  # in fileinfo events src is the sender of the file
            (daddr,),
            (uid,),
            _opt_str(o, "app_proto").upper(),
            mime,
            _opt_str(fi, "filename"),
            size,
            size if _opt_str(fi, "state") == "CLOSED" else None,
            _opt_str(fi, "md5"),
            _opt_str(fi, "sha1"),
            _opt_str(fi, "sha256"),
        )


def _ttl(a: _Obj) -> float:
    v = a.get("ttl")
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return 0.0
