"""nfdump CSV output (``nfdump -r FILE -o csv``, nfdump 1.7.1) into `Flow` records.

Theory of operation
-------------------
nfdump files are binary; the agent layer runs `nfdump_argv` (with `NFDUMP_ENV`
merged into the child's environment) and feeds its stdout here line by line.
This module never starts a process: detection stays pure.

What nfdump 1.7.1 prints for ``-o csv`` (without ``-q``)::

    ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,…,tr   ← header, 48 columns
    2018-01-12 15:37:30,2018-01-12 15:37:30,0.000,147.32.80.119,…           ← one line per record
    Summary                                                                ← trailer
    flows,bytes,packets,avg_bps,avg_pps,avg_bpp
    4593,241025,4652,58357,140,51

The header names the columns, so positions are looked up by name once. The
trailer lines carry no flows: ``Summary`` switches the parser to trailer mode,
where every line returns None until a new ``ts,…`` header (a second nfdump run
concatenated on the same stream). A header is any line naming ``ts``, ``sa``
and ``da`` (data lines start with a digit in the 1.7.1 layout, so the check is
skipped for them). With ``-q`` nfdump prints no header; the parser then assumes
the 1.7.1 layout (`NFDUMP_171_COLUMNS`).

Field mapping
-------------
* ``ts`` (first seen) is ``YYYY-MM-DD hh:mm:ss`` in the *local time* of the
  nfdump process and only to the second (1.7.1's CSV drops the milliseconds
  its JSON output has; ``td`` keeps them). `NFDUMP_ENV` sets ``TZ=UTC`` so the
  text is UTC, which is how it is read here.
* ``pr`` lower-cased (``TCP`` → ``tcp``; ``ICMP6`` → ``ipv6-icmp`` as in Argus).
  For ICMP nfdump puts ``type * 256 + code`` in ``dp`` and 0 in ``sp``; we
  follow Zeek's convention, ``sport`` = type and ``dport`` = code.
* Bytes/packets: ``ibyt``/``ipkt`` are the record's own direction (sa → da) and
  become ``sbytes``/``spkts``. ``obyt``/``opkt`` become ``dbytes``/``dpkts``:
  they are the reverse direction in biflow exports (Cisco NSEL, IPFIX RFC 5103)
  and 0 in plain NetFlow v5/v9 and nfpcapd output, where the answer is its own
  record with sa/da swapped. (A v9 exporter that fills OUT_BYTES with egress
  counters of the same direction would be misread; none is known here.)
* ``state`` is the TCP flag string as printed (``...A.R..``); nfdump has no
  connection state. ``uid`` is ``"N"`` + 16 hex of blake2b over the line.
* MACs (``ismc``/``idmc``) are kept when non-zero.
* Range checks: times must lie in [0, 2**33) s, counts in [0, 2**63 - 1] (what
  a store can hold); anything else is ``ParseError("bad_field")``.

`established` (did the responder take part?)
--------------------------------------------
From one record's cumulative TCP flags (positions ``CEUAPRSF``):

* ``A`` and ``S`` without ``R`` → established. On a unidirectional record this
  is either the initiator's record after it ACKed the SYN-ACK, or the
  responder's own SYN-ACK record. ``R`` is excluded because a biflow of a
  rejected connection ORs the client's ``S`` with the server's ``A.R``.
* ``A`` and ``P`` (data with ACKs) → established (also mid-stream records of
  long connections split by the exporter's active timeout).
* Anything else → not established: a SYN-only record, the ``...A.R..`` record
  of a rejection, a bare ``A`` (ACK scan).
* Non-TCP: established iff ``opkt > 0`` (a biflow with a reply). Unidirectional
  UDP/ICMP records are therefore never established: pairing a record with its
  reverse needs buffering across lines, which a line parser does not do.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
from datetime import UTC, datetime

from detection.model import NFDUMP_UID_PREFIX, Flow, Record
from detection.parsers.base import ParseError, Unsupported

__all__ = [
    "NFDUMP_171_COLUMNS",
    "NFDUMP_ENV",
    "NfdumpCsvParser",
    "nfdump_argv",
    "nfdump_established",
]

_NFDUMP_171_HEADER = (
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,"
    "dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,"
    "mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr"
)
NFDUMP_171_COLUMNS: tuple[str, ...] = tuple(_NFDUMP_171_HEADER.split(","))
"""The header nfdump 1.7.1 prints for ``-o csv`` (used when ``-q`` dropped it)."""

NFDUMP_ENV: dict[str, str] = {"TZ": "UTC"}
"""Merge into the nfdump child's environment: its CSV timestamps are local time."""


def nfdump_argv(path: str) -> list[str]:
    """The command whose stdout `NfdumpCsvParser` reads (run it with `NFDUMP_ENV`).

    No ``-q``: the header lets the parser find columns by name, and the
    trailer is recognised and skipped.
    """
    return ["nfdump", "-r", path, "-o", "csv"]


_REQUIRED = ("ts", "td", "sa", "da", "sp", "dp", "pr", "ipkt", "ibyt")
_ICMP_PROTOS = frozenset({"icmp", "ipv6-icmp"})
_PROTO_NAMES = {"icmp6": "ipv6-icmp", "ipv6-icmp": "ipv6-icmp"}
_ZERO_MAC = "00:00:00:00:00:00"
_TRAILER_HEADER = "flows,bytes,packets"
_HEADER_MARKERS = frozenset({"ts", "sa", "da"})
_MAX_DETAIL = 80
_MAX_ADDR_LEN = 100
_MAX_TS = float(2**33)  # times in [0, 2**33) s: until the year 2242
_MAX_COUNT = 2**63 - 1  # counts in [0, 2**63 - 1]: what a store can hold


def nfdump_established(proto: str, flags: str, opkt: int) -> bool:
    """The `established` rule of the module header."""
    if proto == "tcp":
        if "A" not in flags:
            return False
        return ("S" in flags and "R" not in flags) or "P" in flags
    return opkt > 0


@functools.lru_cache(maxsize=65536)
def _norm_ip(s: str) -> str | None:
    try:
        return str(ipaddress.ip_address(s))
    except ValueError:
        return None


def _bad(name: str, value: str) -> ParseError:
    return ParseError("bad_field", f"{name}={value[:_MAX_DETAIL]!r}")


def _addr(v: str, name: str) -> str:
    v = v.strip()
    a = _norm_ip(v) if len(v) <= _MAX_ADDR_LEN else None
    if a is None:
        raise _bad(name, v)
    return a


_DAY_CACHE: dict[str, float] = {}


def _parse_time(v: str) -> float:
    """``YYYY-MM-DD hh:mm:ss[.fff]`` (UTC, see `NFDUMP_ENV`) → epoch seconds."""
    try:
        if len(v) < 19 or v[4] != "-" or v[7] != "-" or v[10] != " " or v[13] != ":":
            raise ValueError(v)
        if v[16] != ":":
            raise ValueError(v)
        day = v[:10]
        e = _DAY_CACHE.get(day)
        if e is None:
            if not (day[:4].isdigit() and day[5:7].isdigit() and day[8:10].isdigit()):
                raise ValueError(v)
            e = datetime(int(day[:4]), int(day[5:7]), int(day[8:10]), tzinfo=UTC).timestamp()
            if len(_DAY_CACHE) > 4096:
                _DAY_CACHE.clear()
            _DAY_CACHE[day] = e
        hh, mm, sec = v[11:13], v[14:16], v[17:]
        if not (hh.isdigit() and mm.isdigit() and sec[:2].isdigit()):
            raise ValueError(v)
        h, m, s = int(hh), int(mm), float(sec)
        if h > 23 or m > 59 or not (0.0 <= s < 61.0):
            raise ValueError(v)
    except (ValueError, OverflowError):
        raise _bad("ts", v) from None
    t = e + h * 3600 + m * 60 + s
    if not 0.0 <= t < _MAX_TS:
        raise _bad("ts", v)
    return t


def _count(v: str, name: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise _bad(name, v) from None
    if not 0 <= n <= _MAX_COUNT:
        raise _bad(name, v)
    return n


def _port(v: str, name: str) -> int:
    p = _count(v, name)
    if p > 0xFFFF:
        raise _bad(name, v)
    return p


class NfdumpCsvParser:
    """Parser for the stdout of `nfdump_argv`; one instance per nfdump run/stream."""

    def __init__(self) -> None:
        self._ncols = 0
        self._trailer = False
        self._i_ts = self._i_td = self._i_sa = self._i_da = self._i_sp = self._i_dp = -1
        self._i_pr = self._i_flg = self._i_ipkt = self._i_ibyt = self._i_opkt = -1
        self._i_obyt = self._i_ismc = self._i_idmc = -1

    def _set_columns(self, names: list[str]) -> None:
        pos: dict[str, int] = {}
        for i, n in enumerate(names):
            pos.setdefault(n.strip(), i)
        missing = [c for c in _REQUIRED if c not in pos]
        if missing:
            raise ParseError("bad_header", f"missing columns {missing}")
        g = pos.get
        self._ncols = len(names)
        self._i_ts, self._i_td = pos["ts"], pos["td"]
        self._i_sa, self._i_da = pos["sa"], pos["da"]
        self._i_sp, self._i_dp, self._i_pr = pos["sp"], pos["dp"], pos["pr"]
        self._i_ipkt, self._i_ibyt = pos["ipkt"], pos["ibyt"]
        self._i_flg = g("flg", -1)
        self._i_opkt, self._i_obyt = g("opkt", -1), g("obyt", -1)
        self._i_ismc, self._i_idmc = g("ismc", -1), g("idmc", -1)
        self._trailer = False

    def parse_line(self, line: str) -> Record | None:
        line = line.rstrip("\r\n")
        if not line or line.isspace():
            return None
        if not line[0].isdigit() and _HEADER_MARKERS.issubset(line.split(",")):
            self._set_columns(line.split(","))
            return None
        if self._trailer:
            return None
        if line == "Summary":
            self._trailer = True
            return None
        if line.startswith(_TRAILER_HEADER):
            return None
        if self._ncols == 0:
            if not line[0].isdigit():
                raise ParseError("no_header", line[:_MAX_DETAIL])
            self._set_columns(list(NFDUMP_171_COLUMNS))

        f = line.split(",")
        if len(f) != self._ncols:
            raise ParseError("wrong_column_count", f"expected {self._ncols}, got {len(f)}")

        pr = f[self._i_pr].strip().lower()
        proto = _PROTO_NAMES.get(pr, pr)
        if not proto:
            raise _bad("pr", pr)
        saddr = _addr(f[self._i_sa], "sa")
        daddr = _addr(f[self._i_da], "da")
        ts = _parse_time(f[self._i_ts])
        td = f[self._i_td]
        try:
            duration = float(td)
        except ValueError:
            raise _bad("td", td) from None
        if not (duration >= 0.0 and math.isfinite(duration)):
            raise _bad("td", td)
        sport: int | None = _port(f[self._i_sp], "sp")
        dport: int | None = _port(f[self._i_dp], "dp")
        if proto in _ICMP_PROTOS and dport is not None:
            sport, dport = dport >> 8, dport & 0xFF  # type * 256 + code → type, code
        spkts = _count(f[self._i_ipkt], "ipkt")
        sbytes = _count(f[self._i_ibyt], "ibyt")
        dpkts = _count(f[self._i_opkt], "opkt") if self._i_opkt >= 0 else 0
        dbytes = _count(f[self._i_obyt], "obyt") if self._i_obyt >= 0 else 0
        flags = f[self._i_flg].strip() if self._i_flg >= 0 else ""
        if proto == "tcp" and "S" not in flags and "R" in flags and "A" in flags and not dpkts:
            # A unidirectional record of a responder refusing a connection (RST+ACK,
            # no SYN): it belongs to the other side's attempt. Analysed as a flow of
            # its own it would make every refused SYN look like the *victim* scanning
            # the attacker's ephemeral ports.
            raise Unsupported("nfdump_tcp_reset_reply", f"{saddr}:{sport} -> {daddr}:{dport}")
        smac = f[self._i_ismc].strip() if self._i_ismc >= 0 else ""
        dmac = f[self._i_idmc].strip() if self._i_idmc >= 0 else ""
        uid = (
            NFDUMP_UID_PREFIX
            + hashlib.blake2b(line.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
        )
        return Flow(
            ts,
            uid,
            saddr,
            sport,
            daddr,
            dport,
            proto,
            "",
            duration,
            sbytes,
            dbytes,
            spkts,
            dpkts,
            flags,
            "",
            nfdump_established(proto, flags, dpkts),
            "" if smac == _ZERO_MAC else smac,
            "" if dmac == _ZERO_MAC else dmac,
        )
