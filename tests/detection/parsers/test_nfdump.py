from __future__ import annotations

import gzip
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.model import Flow
from detection.parsers.base import ParseError, Unsupported
from detection.parsers.nfdump import (
    NFDUMP_171_COLUMNS,
    NFDUMP_ENV,
    NfdumpCsvParser,
    nfdump_argv,
    nfdump_established,
)

DATA = Path(__file__).parents[2] / "data" / "captures" / "nfdump"
BINARY = DATA / "test1-malicious.nfdump"
with gzip.open(DATA / "test1-malicious.csv.gz", "rt", encoding="utf-8") as _fh:
    CSV_TEXT = _fh.read()
CSV_LINES = CSV_TEXT.splitlines()
HEADER = CSV_LINES[0]
SYN = CSV_LINES[1]  # 147.32.80.119:52324 → 147.32.82.62:902, ......S.
RST_ACK = CSV_LINES[2]  # the answer, ...A.R..


UNSUPPORTED: Counter[str] = Counter()


def parse_lines(lines: list[str]) -> tuple[list[Flow], int]:
    """Flows and None-lines; Unsupported records are tallied in UNSUPPORTED."""
    parser = NfdumpCsvParser()
    flows: list[Flow] = []
    nones = 0
    UNSUPPORTED.clear()
    for line in lines:
        try:
            rec = parser.parse_line(line)
        except Unsupported as exc:
            UNSUPPORTED[exc.reason] += 1
            continue
        if rec is None:
            nones += 1
        else:
            assert isinstance(rec, Flow)
            flows.append(rec)
    return flows, nones


def one(line: str) -> Flow:
    flows, _ = parse_lines([HEADER, line])
    (flow,) = flows
    return flow


def with_field(line: str, column: str, value: str) -> str:
    fields = line.split(",")
    fields[NFDUMP_171_COLUMNS.index(column)] = value
    return ",".join(fields)


# -- known answers -------------------------------------------------------------------------


def test_header_is_the_171_layout() -> None:
    assert tuple(HEADER.split(",")) == NFDUMP_171_COLUMNS
    assert CSV_LINES[-3:-1] == ["Summary", "flows,bytes,packets,avg_bps,avg_pps,avg_bpp"]


def test_test1_known_counts() -> None:
    flows, nones = parse_lines(CSV_LINES)
    # The trailer counts 4593 records; 2264 are RST+ACK replies to the SYNs, which
    # are counted as unsupported (the other side of a refused connection).
    assert CSV_LINES[-1].startswith("4593,")
    assert UNSUPPORTED == {"nfdump_tcp_reset_reply": 2264}
    assert len(flows) == 4593 - 2264
    assert nones == 4  # header + 3 trailer lines
    assert Counter(f.proto for f in flows) == {"tcp": 4576 - 2264, "udp": 17}
    syns = [f for f in flows if f.state == "......S."]
    assert len(syns) == 2305
    assert {(f.saddr, f.daddr, f.dport) for f in syns} == {("147.32.80.119", "147.32.82.62", 902)}
    assert not any(f.established for f in syns)
    assert not [f for f in flows if f.state == "...A.R.."]
    full = [f for f in flows if f.state == "...AP.SF"]
    assert len(full) == 5
    assert all(f.established for f in full)
    assert all(f.dbytes == 0 and f.dpkts == 0 for f in flows)  # unidirectional NetFlow
    assert len({f.uid for f in flows}) == len(flows)


def test_first_record_known_values() -> None:
    flow = one(SYN)
    assert flow == Flow(
        1515771450.0, flow.uid, "147.32.80.119", 52324, "147.32.82.62", 902, "tcp", "",
        0.0, 60, 0, 1, 0, "......S.", "", False,
    )  # fmt: skip
    assert flow.uid.startswith("N")
    assert one(SYN + "\r\n").uid == flow.uid


def test_quiet_output_without_header_uses_171_layout() -> None:
    flows, nones = parse_lines(CSV_LINES[1:-3])  # what `-q` prints
    assert len(flows) + UNSUPPORTED["nfdump_tcp_reset_reply"] == 4593
    assert nones == 0


def test_real_nfdump_binary_matches_saved_csv() -> None:
    argv = nfdump_argv(str(BINARY))
    assert argv[0] == "nfdump"
    out = subprocess.run(
        argv, env={**os.environ, **NFDUMP_ENV}, capture_output=True, text=True, check=True
    ).stdout
    assert out == CSV_TEXT
    flows, _ = parse_lines(out.splitlines(keepends=True))
    assert len(flows) + UNSUPPORTED["nfdump_tcp_reset_reply"] == 4593


def test_trailer_then_second_run_on_the_same_stream() -> None:
    flows, nones = parse_lines(CSV_LINES + CSV_LINES)
    assert len(flows) + UNSUPPORTED["nfdump_tcp_reset_reply"] == 2 * 4593
    assert nones == 8


# -- field handling ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proto", "dp", "expected"),
    [
        ("ICMP", "2048", ("icmp", 8, 0)),  # echo request
        ("ICMP", "0", ("icmp", 0, 0)),  # echo reply
        ("ICMP", "771", ("icmp", 3, 3)),  # port unreachable
        ("ICMP6", "34560", ("ipv6-icmp", 135, 0)),  # neighbour solicitation
    ],
)
def test_icmp_type_and_code(proto: str, dp: str, expected: tuple[str, int, int]) -> None:
    line = with_field(with_field(with_field(SYN, "pr", proto), "sp", "0"), "dp", dp)
    flow = one(with_field(line, "flg", "........"))
    assert (flow.proto, flow.sport, flow.dport) == expected
    assert not flow.established


def test_biflow_counters_and_macs() -> None:
    line = with_field(with_field(SYN, "opkt", "3"), "obyt", "180")
    line = with_field(with_field(line, "pr", "UDP"), "ismc", "aa:bb:cc:dd:ee:ff")
    flow = one(with_field(line, "flg", "........"))
    assert (flow.dpkts, flow.dbytes, flow.smac, flow.dmac) == (3, 180, "aa:bb:cc:dd:ee:ff", "")
    assert flow.established  # a reply in a biflow


def test_timestamp_with_milliseconds_and_ipv6() -> None:
    line = with_field(SYN, "ts", "2018-01-12 15:37:30.942")
    line = with_field(line, "sa", "2001:0db8:0000:0000:0000:0000:0000:0001")
    flow = one(line)
    assert flow.ts == pytest.approx(1515771450.942)
    assert flow.saddr == "2001:db8::1"


def test_minimal_header_any_order() -> None:
    header = "pr,ibyt,ipkt,dp,sp,da,sa,td,ts"
    flows, _ = parse_lines([header, "TCP,60,1,80,1234,10.0.0.2,10.0.0.1,1.5,2020-01-01 00:00:00"])
    (flow,) = flows
    assert (flow.saddr, flow.sport, flow.daddr, flow.dport) == ("10.0.0.1", 1234, "10.0.0.2", 80)
    assert (flow.duration, flow.ts, flow.state, flow.established) == (1.5, 1577836800.0, "", False)


# -- established ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proto", "flags", "opkt", "expected"),
    [
        ("tcp", "......S.", 0, False),  # SYN only
        ("tcp", "...A.R..", 0, False),  # the responder's reject
        ("tcp", "...A..S.", 0, True),  # the responder's SYN-ACK
        ("tcp", "...AP.SF", 0, True),  # a whole conversation
        ("tcp", "...AP...", 0, True),  # mid-stream record of a long connection
        ("tcp", "...A....", 0, False),  # bare ACK (ACK scan)
        ("tcp", "...A.RS.", 1, False),  # biflow of a rejected connection
        ("tcp", "...APRS.", 5, True),  # data, then reset
        ("tcp", "........", 0, False),
        ("udp", "........", 0, False),  # unidirectional: cannot tell
        ("udp", "........", 1, True),
        ("icmp", "........", 0, False),
    ],
)
def test_established_rule(proto: str, flags: str, opkt: int, expected: bool) -> None:
    assert nfdump_established(proto, flags, opkt) is expected


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2018-01-12 15:37:30,2018-01-12 15:37:30,0.000", "wrong_column_count"),
        (SYN + ",extra", "wrong_column_count"),
        (with_field(SYN, "ts", "2018-13-12 15:37:30"), "bad_field"),
        (with_field(SYN, "ts", "2018-01-12 24:37:30"), "bad_field"),
        (with_field(SYN, "ts", "yesterday"), "bad_field"),
        (with_field(SYN, "td", "nan"), "bad_field"),
        (with_field(SYN, "td", "-1"), "bad_field"),
        (with_field(SYN, "sa", "147.32.80.300"), "bad_field"),
        (with_field(SYN, "da", ""), "bad_field"),
        (with_field(SYN, "sp", "70000"), "bad_field"),
        (with_field(SYN, "dp", "http"), "bad_field"),
        (with_field(SYN, "ipkt", "-1"), "bad_field"),
        (with_field(SYN, "ibyt", "1.5 M"), "bad_field"),
        # Out of range: counts beyond int64, times before 1970 or after 2**33 s.
        (with_field(SYN, "ibyt", "9223372036854775808"), "bad_field"),
        (with_field(SYN, "opkt", "99999999999999999999999"), "bad_field"),
        (with_field(SYN, "ts", "1969-12-31 23:59:59"), "bad_field"),
        (with_field(SYN, "ts", "2300-01-01 00:00:00"), "bad_field"),
        (with_field(SYN, "pr", ""), "bad_field"),
        ("ts,sa,da,te", "bad_header"),
    ],
)
def test_bad_lines(line: str, reason: str) -> None:
    parser = NfdumpCsvParser()
    parser.parse_line(HEADER)
    with pytest.raises(ParseError) as info:
        parser.parse_line(line)
    assert info.value.reason == reason
    assert not isinstance(info.value, Unsupported)
    assert len(str(info.value)) < 300


def test_junk_before_header() -> None:
    with pytest.raises(ParseError) as info:
        NfdumpCsvParser().parse_line("nfdump: error reading file")
    assert info.value.reason == "no_header"


def test_empty_non_utf8_and_huge_lines() -> None:
    parser = NfdumpCsvParser()
    assert parser.parse_line("") is None
    assert parser.parse_line("\n") is None
    assert parser.parse_line(HEADER + "\n") is None
    junk = b"2018-01-12 \xff\xfe,\x80".decode("utf-8", errors="replace")
    with pytest.raises(ParseError):
        parser.parse_line(junk)
    with pytest.raises(ParseError) as info:
        parser.parse_line("9" * 10_000_000)
    assert info.value.reason == "wrong_column_count"
    with pytest.raises(ParseError) as info:
        parser.parse_line(with_field(SYN, "ibyt", "9" * 10_000_000))
    assert info.value.reason == "bad_field"
    assert len(str(info.value)) < 300


# -- fuzz ----------------------------------------------------------------------------------


def _check(parser: NfdumpCsvParser, line: str) -> None:
    try:
        rec = parser.parse_line(line)
    except ParseError:
        return
    assert rec is None or isinstance(rec, Flow)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=5))
def test_fuzz_any_text(lines: list[str]) -> None:
    for start in ([], [HEADER]):
        parser = NfdumpCsvParser()
        for line in [*start, *lines]:
            _check(parser, line)


_FIELDS = SYN.split(",")


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.sampled_from(_FIELDS + RST_ACK.split(","))
        | st.text(max_size=12)
        | st.sampled_from(["ICMP", "ICMP6", "65536", "-1", "2018-01-12 15:37:30.5", "Summary"]),
        min_size=len(_FIELDS),
        max_size=len(_FIELDS),
    )
)
def test_fuzz_perturbed_real_line(fields: list[str]) -> None:
    parser = NfdumpCsvParser()
    parser.parse_line(HEADER)
    _check(parser, ",".join(fields))
