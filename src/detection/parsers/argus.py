"""Argus ``ra`` CSV/TSV output (``*.binetflow``) into `Flow` records.

Theory of operation
-------------------
Argus has no fixed column set: ``ra -s`` picks the columns and the first
non-comment line names them (``StartTime,Dur,Proto,SrcAddr,Sport,Dir,…``). So
the parser is header-driven: the header line fixes the separator (TAB if the
header holds one, else comma) and the position of every column it knows, once;
a data line is then one ``split`` and a few indexed conversions. Unknown columns
(``sTos``, ``srcUdata``, …) are ignored; a repeated header (concatenated files)
reconfigures the parser. Required columns: StartTime, Proto, SrcAddr, DstAddr.

Field mapping
-------------
* ``StartTime`` is ``YYYY/MM/DD hh:mm:ss[.ffffff]`` read as UTC, or epoch seconds.
  (Argus prints local time of the capturing machine; the CTU files were made in
  CET, hence their ``1970/01/01 01:00`` starts. We cannot know the zone.)
* Ports: decimal, hex (``0x0303``) or empty (→ None). For ICMP, Argus packs the
  message as ``0xCCTT`` (code, type) in Sport and puts the ICMP id in Dport; we
  follow Zeek's convention instead, ``sport`` = ICMP type and ``dport`` = ICMP
  code, so ICMP detectors work on every format (``0x0008`` → 8/0 echo request,
  ``0x0303`` → 3/3 port unreachable). Short forms (``0x03``,``0x03``) already
  are type/code.
* Direction split: ``DstBytes``/``DstPkts`` if present, else ``Tot - Src``.
  When a file has no per-direction split (``SrcPkts`` or ``SrcBytes`` absent)
  the missing side is estimated: if the flow shows a reply (``dbytes > 0``, or
  the state says so when bytes are unsplit too) the responder gets
  ``Tot // 2``, otherwise 0 and the source gets everything.
* ``uid``: Argus has none, so ``"A"`` + 16 hex of blake2b over the line (line
  ending stripped) — deterministic across runs; identical lines share a uid.
* Range checks: times must lie in [0, 2**33) s, counts in [0, 2**63 - 1] (what
  a store can hold); anything else is ``ParseError("bad_field")``.
* ``Label`` is kept on `Flow.label` (ground truth, never read by detectors).
  ``Dir`` (``->``, ``<?>``, ``who``, even `` get_message  ->`` in test3) is not
  used: `Flow` has no direction-confidence field and ``history`` stays empty.
* llc/arp/man/… rows (MAC addresses or ``0`` as addresses, management records)
  raise ``Unsupported("argus_non_ip")``; addresses are validated and normalised
  (IPv6 compressed) because they end up in block rules.

`established` (did the responder take part?)
--------------------------------------------
TCP ``<src>_<dst>`` flag states (``S_``, ``S_RA``, ``SR_SA``, ``FSPA_FSPA``):
established iff the responder's flags hold S and A (a SYN-ACK), or hold ``PA``
(data with ACK) while the source's hold A. So ``S_``, ``S_R``, ``S_RA``,
``SRPA_`` (nothing from the responder) are not established.

Word states, per protocol (`_TCP_WORD_STATES`, `_REPLY_STATES`):

==========  ============================  ====================================
state       tcp                           udp / icmp / other
==========  ============================  ====================================
CON         established                   established iff a reply was seen
EST, ACC    established                   not established
FIN, CLO    established                   not established
ECR, ECO    (n/a)                         established iff a reply was seen
REQ, RST    not established               not established
INT, TIM    not established               not established
S0 (Zeek)   not established               not established
URP, RED,   (n/a)                         not established (ICMP errors from
TXD, UR*…                                 a router are not a conversation)
other       not established               not established
==========  ============================  ====================================

"A reply was seen": ``dpkts > 0`` when packets are split, else ``dbytes > 0``
when bytes are split, else the state alone (CON/ECR yes, ECO no). ECO is in the
reply table because real Argus files (CTU Normal-7) label echo request+reply
flows ``ECO`` with reply bytes; an unanswered ping sweep has dbytes 0.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
from datetime import UTC, datetime

from detection.model import ARGUS_UID_PREFIX, Flow, Record
from detection.parsers.base import ParseError, Unsupported

__all__ = ["ArgusParser", "argus_established"]

_REQUIRED = ("starttime", "proto", "srcaddr", "dstaddr")
_NON_IP_PROTOS = frozenset({"man", "llc", "arp", "rarp", "lldp", "stp", "ipx", "ipx/spx"})
_ICMP_PROTOS = frozenset({"icmp", "ipv6-icmp"})

_TCP_WORD_STATES: dict[str, bool] = {
    "CON": True,
    "EST": True,
    "ACC": True,
    "FIN": True,
    "CLO": True,
    "REQ": False,
    "RST": False,
    "INT": False,
    "TIM": False,
    "S0": False,
}
# Non-TCP states whose verdict depends on whether a reply was seen; the value is
# the verdict when the file cannot tell (no per-direction counters at all).
_REPLY_STATES: dict[str, bool] = {"CON": True, "ECR": True, "ECO": False}

_MAX_DETAIL = 80
_MAX_ADDR_LEN = 100  # longer strings are not addresses; keeps junk out of the cache
_MAX_TS = float(2**33)  # times in [0, 2**33) s: until the year 2242
_MAX_COUNT = 2**63 - 1  # counts in [0, 2**63 - 1]: what a store can hold


def _tcp_established(state: str) -> bool:
    src, sep, dst = state.partition("_")
    if not sep:
        return _TCP_WORD_STATES.get(state, False)
    return ("S" in dst and "A" in dst) or ("PA" in dst and "A" in src)


def argus_established(proto: str, state: str, reply: bool | None) -> bool:
    """The `established` table of the module header.

    `reply` is True/False when the line's counters show whether the responder
    sent anything, None when the file has no per-direction counters.
    """
    if proto == "tcp":
        return _tcp_established(state)
    default = _REPLY_STATES.get(state)
    if default is None:
        return False
    return default if reply is None else reply


@functools.lru_cache(maxsize=65536)
def _norm_ip(s: str) -> str | None:
    try:
        return str(ipaddress.ip_address(s))
    except ValueError:
        return None


def _is_mac(s: str) -> bool:
    return len(s) == 17 and s.count(":") == 5 and "::" not in s


_DAY_CACHE: dict[str, float] = {}


def _day_epoch(day: str) -> float:
    """Epoch of midnight UTC for ``YYYY/MM/DD`` (cached: a file spans few days)."""
    e = _DAY_CACHE.get(day)
    if e is None:
        if not (day[:4].isdigit() and day[5:7].isdigit() and day[8:10].isdigit()):
            raise ValueError(day)
        e = datetime(int(day[:4]), int(day[5:7]), int(day[8:10]), tzinfo=UTC).timestamp()
        if len(_DAY_CACHE) > 4096:
            _DAY_CACHE.clear()
        _DAY_CACHE[day] = e
    return e


def _bad(name: str, value: str) -> ParseError:
    return ParseError("bad_field", f"{name}={value[:_MAX_DETAIL]!r}")


def _parse_time(v: str) -> float:
    v = v.strip()
    try:
        if len(v) >= 19 and v[4] == "/" and v[7] == "/" and v[10] == " ":
            if v[13] != ":" or v[16] != ":":
                raise ValueError(v)
            hh, mm, sec = v[11:13], v[14:16], v[17:]
            if not (hh.isdigit() and mm.isdigit() and sec[:2].isdigit()):
                raise ValueError(v)
            h, m, s = int(hh), int(mm), float(sec)
            if h > 23 or m > 59 or not (0.0 <= s < 61.0):
                raise ValueError(v)
            t = _day_epoch(v[:10]) + h * 3600 + m * 60 + s
        else:
            t = float(v)
    except (ValueError, OverflowError):
        raise _bad("StartTime", v) from None
    if not 0.0 <= t < _MAX_TS:
        raise _bad("StartTime", v)
    return t


def _count(fields: list[str], i: int, name: str) -> int:
    v = fields[i]
    if not v:
        return 0
    try:
        n = int(v)
    except ValueError:
        raise _bad(name, v) from None
    if not 0 <= n <= _MAX_COUNT:
        raise _bad(name, v)
    return n


def _port(v: str, name: str) -> int | None:
    if not v:
        return None
    try:
        p = int(v, 16) if v[:2] in ("0x", "0X") else int(v)
    except ValueError:
        raise _bad(name, v) from None
    if not 0 <= p <= 0xFFFF:
        raise _bad(name, v)
    return p


def _addr(v: str, name: str) -> str:
    v = v.strip()
    a = _norm_ip(v) if len(v) <= _MAX_ADDR_LEN else None
    if a is None:
        if _is_mac(v) or v == "0":
            raise Unsupported("argus_non_ip", f"{name}={v[:_MAX_DETAIL]!r}")
        raise _bad(name, v)
    return a


class ArgusParser:
    """Header-driven Argus binetflow parser; one instance per input stream."""

    def __init__(self) -> None:
        self._sep = ","
        self._ncols = 0
        self._header: str | None = None
        # Column positions; -1 when the header lacks the column.
        self._i_start = self._i_dur = self._i_last = self._i_proto = -1
        self._i_saddr = self._i_sport = self._i_daddr = self._i_dport = -1
        self._i_state = self._i_tpkts = self._i_tbytes = -1
        self._i_sbytes = self._i_spkts = self._i_dbytes = self._i_dpkts = -1
        self._i_label = self._i_smac = self._i_dmac = -1

    # -- header -------------------------------------------------------------------
    def _read_header(self, line: str) -> None:
        sep = "\t" if "\t" in line else ","
        names = [c.strip().lower() for c in line.split(sep)]
        pos: dict[str, int] = {}
        for i, n in enumerate(names):
            pos.setdefault(n, i)
        missing = [c for c in _REQUIRED if c not in pos]
        if missing:
            raise ParseError("bad_header", f"missing columns {missing}")
        self._sep, self._ncols, self._header = sep, len(names), line
        g = pos.get
        self._i_start = pos["starttime"]
        self._i_dur = g("dur", -1)
        self._i_last = g("lasttime", -1)
        self._i_proto = pos["proto"]
        self._i_saddr = pos["srcaddr"]
        self._i_sport = g("sport", -1)
        self._i_daddr = pos["dstaddr"]
        self._i_dport = g("dport", -1)
        self._i_state = g("state", -1)
        self._i_tpkts = g("totpkts", -1)
        self._i_tbytes = g("totbytes", -1)
        self._i_sbytes = g("srcbytes", -1)
        self._i_spkts = g("srcpkts", -1)
        self._i_dbytes = g("dstbytes", -1)
        self._i_dpkts = g("dstpkts", -1)
        self._i_label = g("label", -1)
        self._i_smac = g("srcmac", -1)
        self._i_dmac = g("dstmac", -1)

    @staticmethod
    def _looks_like_header(line: str) -> bool:
        return "StartTime" in line and "SrcAddr" in line

    # -- data ---------------------------------------------------------------------
    def parse_line(self, line: str) -> Record | None:
        line = line.rstrip("\r\n")
        if not line or line[0] == "#" or line.isspace():
            return None
        if self._header is None or (not line[0].isdigit() and self._looks_like_header(line)):
            if self._looks_like_header(line):
                self._read_header(line)
                return None
            raise ParseError("no_header", line[:_MAX_DETAIL])

        f = line.split(self._sep)
        if len(f) != self._ncols:
            raise ParseError("wrong_column_count", f"expected {self._ncols}, got {len(f)}")

        proto = f[self._i_proto].strip().lower()
        if proto in _NON_IP_PROTOS:
            raise Unsupported("argus_non_ip", proto)
        saddr = _addr(f[self._i_saddr], "SrcAddr")
        daddr = _addr(f[self._i_daddr], "DstAddr")
        ts = _parse_time(f[self._i_start])

        duration = 0.0
        if self._i_dur >= 0 and f[self._i_dur]:
            v = f[self._i_dur]
            try:
                duration = float(v)
            except ValueError:
                raise _bad("Dur", v) from None
            if not (duration >= 0.0 and math.isfinite(duration)):
                raise _bad("Dur", v)
        elif self._i_last >= 0 and f[self._i_last]:
            duration = max(0.0, _parse_time(f[self._i_last]) - ts)

        sport_s = f[self._i_sport].strip() if self._i_sport >= 0 else ""
        dport_s = f[self._i_dport].strip() if self._i_dport >= 0 else ""
        sport = _port(sport_s, "Sport")
        dport = _port(dport_s, "Dport")
        if proto in _ICMP_PROTOS and sport is not None and len(sport_s) == 6 and sport_s[1] in "xX":
            sport, dport = sport & 0xFF, sport >> 8  # 0xCCTT → type, code

        state = f[self._i_state].strip() if self._i_state >= 0 else ""

        # Per-direction counters (see "Direction split" in the module header).
        tpkts = _count(f, self._i_tpkts, "TotPkts") if self._i_tpkts >= 0 else 0
        tbytes = _count(f, self._i_tbytes, "TotBytes") if self._i_tbytes >= 0 else 0
        sbytes: int | None = None
        dbytes: int | None = None
        if self._i_sbytes >= 0:
            sbytes = _count(f, self._i_sbytes, "SrcBytes")
            if self._i_dbytes >= 0:
                dbytes = _count(f, self._i_dbytes, "DstBytes")
            else:
                dbytes = tbytes - sbytes
                if dbytes < 0:
                    raise ParseError("bad_field", f"SrcBytes>TotBytes ({sbytes}>{tbytes})")
        elif self._i_dbytes >= 0:
            dbytes = _count(f, self._i_dbytes, "DstBytes")
            sbytes = tbytes - dbytes
            if sbytes < 0:
                raise ParseError("bad_field", f"DstBytes>TotBytes ({dbytes}>{tbytes})")
        spkts: int | None = None
        dpkts: int | None = None
        if self._i_spkts >= 0:
            spkts = _count(f, self._i_spkts, "SrcPkts")
            if self._i_dpkts >= 0:
                dpkts = _count(f, self._i_dpkts, "DstPkts")
            else:
                dpkts = tpkts - spkts
                if dpkts < 0:
                    raise ParseError("bad_field", f"SrcPkts>TotPkts ({spkts}>{tpkts})")
        elif self._i_dpkts >= 0:
            dpkts = _count(f, self._i_dpkts, "DstPkts")
            spkts = tpkts - dpkts
            if spkts < 0:
                raise ParseError("bad_field", f"DstPkts>TotPkts ({dpkts}>{tpkts})")

        reply: bool | None
        if dpkts is not None:
            reply = dpkts > 0
        elif dbytes is not None:
            reply = dbytes > 0
        else:
            reply = None
        established = argus_established(proto, state, reply)

        # Estimates when the file does not split a counter by direction.
        replied = established if reply is None else reply
        if dbytes is None or sbytes is None:
            dbytes = tbytes // 2 if replied else 0
            sbytes = tbytes - dbytes
        if dpkts is None or spkts is None:
            dpkts = tpkts // 2 if replied else 0
            spkts = tpkts - dpkts

        label = f[self._i_label].strip() if self._i_label >= 0 else ""
        smac = f[self._i_smac].strip() if self._i_smac >= 0 else ""
        dmac = f[self._i_dmac].strip() if self._i_dmac >= 0 else ""
        uid = (
            ARGUS_UID_PREFIX
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
            state,
            "",
            established,
            smac,
            dmac,
            label or None,
            None,
        )
