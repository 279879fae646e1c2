from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.model import Flow
from detection.parsers.argus import ArgusParser, argus_established
from detection.parsers.base import ParseError, Unsupported

DATA = Path(__file__).parents[2] / "data" / "captures" / "argus"

HEADER = (
    "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,"
    "TotPkts,TotBytes,SrcBytes,SrcPkts,Label"
)
LINE = (
    "2018/09/27 22:40:52.362768,193.831726,tcp,192.168.2.1,52893,  <?>,192.168.2.12,22,"
    "FSPA_FSPA,16,16,35,3766,1224,20,flow=Background-TCP-Established"
)


def read_lines(name: str) -> list[str]:
    path = DATA / name
    if name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            return fh.read().splitlines()
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def parse_file(name: str) -> tuple[list[Flow], Counter[str]]:
    parser = ArgusParser()
    flows: list[Flow] = []
    skipped: Counter[str] = Counter()
    for line in read_lines(name):
        try:
            rec = parser.parse_line(line)
        except ParseError as e:  # Unsupported is a ParseError
            skipped[e.reason] += 1
            continue
        if rec is not None:
            assert isinstance(rec, Flow)
            flows.append(rec)
    return flows, skipped


def one(*lines: str) -> Flow:
    parser = ArgusParser()
    recs = [parser.parse_line(line) for line in lines]
    assert recs[0] is None  # the header
    (flow,) = [r for r in recs if r is not None]
    assert isinstance(flow, Flow)
    return flow


# -- known answers on the shared captures ------------------------------------------------


def test_known_values_of_one_line() -> None:
    flow = one(HEADER, LINE)
    assert flow == Flow(
        1538088052.362768, flow.uid, "192.168.2.1", 52893, "192.168.2.12", 22, "tcp", "",
        193.831726, 1224, 2542, 20, 15, "FSPA_FSPA", "", True, "", "",
        "flow=Background-TCP-Established", None,
    )  # fmt: skip
    assert flow.uid.startswith("A")
    assert len(flow.uid) == 17
    assert one(HEADER, LINE).uid == flow.uid  # deterministic
    assert one(HEADER, LINE + "\r\n").uid == flow.uid  # line ending is not content


def test_test4_horizontal_scan_on_81_is_unanswered() -> None:
    flows, skipped = parse_file("test4-malicious.binetflow")
    scan = [f for f in flows if f.proto == "tcp" and f.dport == 81 and f.saddr == "192.168.2.12"]
    assert len(scan) == 128
    assert len({f.daddr for f in scan}) == 64
    assert not any(f.established for f in scan)
    assert {f.state for f in scan} == {"REQ"}
    # SrcPkts is missing in test4: no reply bytes → the responder gets 0 packets.
    assert all(f.spkts == 1 and f.dpkts == 0 and f.dbytes == 0 for f in scan)
    assert skipped == {"argus_non_ip": 2}  # the two ARP rows
    assert len(flows) == 392


def test_test3_rdp_scan_is_unanswered() -> None:
    flows, skipped = parse_file("test3-mixed.binetflow")
    rdp = [f for f in flows if f.dport == 3389 and f.saddr == "46.166.151.160"]
    assert len(rdp) == 28
    assert len({f.daddr for f in rdp}) == 28
    assert not any(f.established for f in rdp)
    assert not skipped
    assert len(flows) == 89  # includes the line whose Dir is " get_message  ->"


def test_test2_long_connections() -> None:
    flows, skipped = parse_file("test2-malicious.binetflow.gz")
    assert len(flows) == 6751
    assert not skipped
    assert sum(f.duration > 1500 for f in flows) == 50


def test_test5_tab_separated_with_labels_and_non_ip_rows() -> None:
    flows, skipped = parse_file("test5-mixed.binetflow")
    assert len(flows) == 296
    assert skipped == {"argus_non_ip": 4}  # man, llc and two arp rows
    # 3 rows last > 1500 s, one of them is ARP (skipped).
    assert sum(f.duration > 1500 for f in flows) == 2
    labels = Counter(f.label for f in flows)
    assert labels["flow=Malware-UDP-DNS"] == 197
    assert labels["flow=Malware-TCP"] == 80
    assert all(f.label is None or f.label.startswith("flow=") for f in flows)
    ipv6 = [f for f in flows if f.proto == "ipv6-icmp"]
    assert {(f.sport, f.dport) for f in ipv6} == {(135, 0), (133, 0), (143, 0)}


def test_test11_icmp_sweep_uses_type_and_code() -> None:
    flows, _ = parse_file("test11-portscan.binetflow")
    icmp = [f for f in flows if f.proto == "icmp"]
    # 46 echo requests: 26 to 110.128.128.128 and one each to 20 neighbours.
    assert len(icmp) == 46
    assert all(f.saddr == "10.8.0.69" and (f.sport, f.dport) == (8, 0) for f in icmp)
    assert Counter(f.daddr for f in icmp).most_common(1) == [("110.128.128.128", 26)]
    assert len({f.daddr for f in icmp}) == 21
    assert not any(f.established for f in icmp)  # ECO without reply bytes
    vertical = {f.dport for f in flows if f.proto == "tcp" and f.daddr == "14.1.11.113"}
    assert len(vertical) == 20
    assert not any(f.established for f in flows if f.state == "S0")


@pytest.mark.parametrize(
    "name",
    [
        "test2-malicious.binetflow.gz",
        "test3-mixed.binetflow",
        "test4-malicious.binetflow",
        "test5-mixed.binetflow",
        "test11-portscan.binetflow",
    ],
)
def test_sample_files_have_no_parse_errors(name: str) -> None:
    """Every line of every sample is a flow, a header or Unsupported."""
    _, skipped = parse_file(name)
    assert set(skipped) <= {"argus_non_ip"}


# -- field handling ------------------------------------------------------------------------


def test_columns_in_any_order_and_unknown_columns_ignored() -> None:
    header = "Label,Proto,DstAddr,Dport,Foo,SrcAddr,Sport,StartTime,State,TotPkts,TotBytes,SrcBytes"
    line = "x,udp,8.8.8.8,53,bar,10.0.0.1,5353,1538088052.5,CON,2,142,63"
    flow = one(header, line)
    assert (flow.saddr, flow.sport, flow.daddr, flow.dport) == ("10.0.0.1", 5353, "8.8.8.8", 53)
    assert flow.ts == 1538088052.5
    assert (flow.sbytes, flow.dbytes, flow.spkts, flow.dpkts) == (63, 79, 1, 1)
    assert flow.established
    assert flow.duration == 0.0  # no Dur column


def test_missing_split_counters_are_estimated() -> None:
    header = "StartTime,Proto,SrcAddr,Sport,DstAddr,Dport,State,TotPkts,TotBytes"
    base = "2013/10/21 13:22:59.340835,tcp,147.32.83.53,60686,147.32.80.88,5222,{},448,49634"
    r = one(header, base.format("PA_PA"))
    assert (r.spkts, r.dpkts, r.sbytes, r.dbytes) == (224, 224, 24817, 24817)
    u = one(header, base.format("S_"))
    assert (u.spkts, u.dpkts, u.sbytes, u.dbytes) == (448, 0, 49634, 0)


def test_dst_columns_take_precedence() -> None:
    header = "StartTime,Proto,SrcAddr,DstAddr,State,TotPkts,TotBytes,SrcBytes,DstBytes,DstPkts"
    flow = one(header, "0,udp,10.0.0.1,10.0.0.2,CON,5,500,100,400,3")
    assert (flow.sbytes, flow.dbytes, flow.spkts, flow.dpkts) == (100, 400, 2, 3)


@pytest.mark.parametrize(
    ("sport", "dport", "expected"),
    [
        ("0x0008", "0x2d34", (8, 0)),  # echo request; Dport is the ICMP id
        ("0x0303", "0xe11a", (3, 3)),  # port unreachable
        ("0x0105", "0x4c48", (5, 1)),  # redirect host
        ("0x0d03", "0x0000", (3, 13)),  # administratively filtered
        ("0x03", "0x03", (3, 3)),  # short form: already type, code
        ("", "", (None, None)),
    ],
)
def test_icmp_ports(sport: str, dport: str, expected: tuple[int | None, int | None]) -> None:
    line = f"2019/04/04 16:30:10,1.0,icmp,10.8.0.69,{sport},   ->,8.8.8.8,{dport},URP,0,,1,70,70,1,"
    flow = one(HEADER, line)
    assert (flow.sport, flow.dport) == expected


def test_hex_ports_for_other_protocols_are_plain_numbers() -> None:
    flow = one(HEADER, LINE.replace(",52893,", ",0x0050,"))
    assert flow.sport == 80


def test_ipv6_addresses_are_normalised() -> None:
    flow = one(HEADER, LINE.replace("192.168.2.1,", "fe80:0000::0001,"))
    assert flow.saddr == "fe80::1"


def test_comments_blank_lines_and_repeated_header() -> None:
    parser = ArgusParser()
    assert parser.parse_line("# ra -r x.argus") is None
    assert parser.parse_line("") is None
    assert parser.parse_line("   \n") is None
    assert parser.parse_line(HEADER + "\n") is None
    assert isinstance(parser.parse_line(LINE + "\n"), Flow)
    # A second file with another layout, concatenated.
    assert parser.parse_line("StartTime\tProto\tSrcAddr\tDstAddr") is None
    flow = parser.parse_line("0.5\tudp\t10.0.0.1\t10.0.0.2")
    assert isinstance(flow, Flow)
    assert (flow.ts, flow.state) == (0.5, "")


def test_label_empty_is_none() -> None:
    assert one(HEADER, LINE.removesuffix("flow=Background-TCP-Established")).label is None


# -- established ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proto", "state", "reply", "expected"),
    [
        ("tcp", "S_", None, False),
        ("tcp", "S_RA", True, False),
        ("tcp", "S_R", True, False),
        ("tcp", "SRPA_", False, False),
        ("tcp", "FSA_", False, False),
        ("tcp", "SR_SA", True, True),
        ("tcp", "S_SA", True, True),
        ("tcp", "FSPA_FSPA", True, True),
        ("tcp", "PA_PA", True, True),
        ("tcp", "SPA_SRA", True, True),
        ("tcp", "PA_A", True, False),  # responder only ACKs: no SYN-ACK, no data
        ("tcp", "REQ", None, False),
        ("tcp", "RST", True, False),
        ("tcp", "INT", None, False),
        ("tcp", "S0", True, False),
        ("tcp", "FIN", None, True),
        ("tcp", "CON", None, True),
        ("udp", "CON", True, True),
        ("udp", "CON", False, False),
        ("udp", "CON", None, True),
        ("udp", "INT", True, False),
        ("udp", "REQ", None, False),
        ("udp", "RST", None, False),
        ("icmp", "ECR", None, True),
        ("icmp", "ECO", None, False),
        ("icmp", "ECO", True, True),  # echo request + reply in one flow (CTU Normal-7)
        ("icmp", "ECO", False, False),
        ("icmp", "URP", True, False),
        ("icmp", "URH", None, False),
        ("icmp", "TXD", None, False),
        ("igmp", "INT", None, False),
        ("ipv6-icmp", "NNS", True, False),
    ],
)
def test_established_table(proto: str, state: str, reply: bool | None, expected: bool) -> None:
    assert argus_established(proto, state, reply) is expected


def test_udp_con_without_reply_packets_is_not_established() -> None:
    line = (
        "2019/04/04 16:23:00.325010,0.02,udp,10.8.0.69,48427,  <->,8.8.8.8,53,CON,0,0,2,142,142,2,"
    )
    assert one(HEADER, line).established is False


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2018/09/27 22:40:52.362768,1.0,tcp", "wrong_column_count"),
        (LINE + ",extra", "wrong_column_count"),
        (LINE.replace("2018/09/27", "2018/13/27"), "bad_field"),
        (LINE.replace("22:40:52", "25:40:52"), "bad_field"),
        (LINE.replace("2018/09/27 22:40:52.362768", "yesterday"), "bad_field"),
        (LINE.replace("2018/09/27 22:40:52.362768", "nan"), "bad_field"),
        (LINE.replace("193.831726", "-1"), "bad_field"),
        (LINE.replace("193.831726", "inf"), "bad_field"),
        (LINE.replace(",52893,", ",99999,"), "bad_field"),
        (LINE.replace(",52893,", ",0xzz,"), "bad_field"),
        (LINE.replace(",35,3766,1224,20,", ",35,3766,5000,20,"), "bad_field"),
        (LINE.replace(",35,3766,1224,20,", ",35,3766,1224,99,"), "bad_field"),
        (LINE.replace(",35,3766,", ",-35,3766,"), "bad_field"),
        (LINE.replace(",35,3766,", ",many,3766,"), "bad_field"),
        # Out of range: counts beyond int64, times before 1970 or after 2**33 s.
        (LINE.replace(",35,3766,1224,", ",35,999999999999999999999999,1224,"), "bad_field"),
        (LINE.replace(",35,3766,", ",9223372036854775808,3766,"), "bad_field"),
        (LINE.replace("2018/09/27", "1969/12/31"), "bad_field"),
        (LINE.replace("2018/09/27", "2300/01/01"), "bad_field"),
        (LINE.replace("2018/09/27 22:40:52.362768", "1e15"), "bad_field"),
        (LINE.replace("2018/09/27 22:40:52.362768", "-5"), "bad_field"),
        (LINE.replace("192.168.2.12", "192.168.2.300"), "bad_field"),
        (LINE.replace("192.168.2.12", "not-an-ip"), "bad_field"),
        (LINE.replace(",tcp,", ",arp,"), "argus_non_ip"),
        (LINE.replace(",tcp,", ",man,"), "argus_non_ip"),
        (
            LINE.replace("192.168.2.12", "00:11:22:33:44:55").replace(",tcp,", ",lldp,"),
            "argus_non_ip",
        ),
        (LINE.replace("192.168.2.12", "00:11:22:33:44:55"), "argus_non_ip"),
    ],
)
def test_bad_lines(line: str, reason: str) -> None:
    parser = ArgusParser()
    parser.parse_line(HEADER)
    with pytest.raises(ParseError) as info:
        parser.parse_line(line)
    assert info.value.reason == reason
    assert isinstance(info.value, Unsupported) == (reason == "argus_non_ip")
    assert len(str(info.value)) < 300  # details are truncated


def test_data_before_header() -> None:
    with pytest.raises(ParseError) as info:
        ArgusParser().parse_line(LINE)
    assert info.value.reason == "no_header"


def test_header_without_required_columns() -> None:
    with pytest.raises(ParseError) as info:
        ArgusParser().parse_line("StartTime,SrcAddr,Sport")
    assert info.value.reason == "bad_header"


def test_junk_and_non_utf8() -> None:
    parser = ArgusParser()
    parser.parse_line(HEADER)
    junk = b"\xff\xfe\x00garbage,\x80\x81".decode("utf-8", errors="replace")
    with pytest.raises(ParseError):
        parser.parse_line(junk)
    bad_utf8 = (LINE.encode()[:-5] + b"\xff\xfe\xfd").decode("utf-8", errors="replace")
    flow = parser.parse_line(bad_utf8)  # only the label is hit: still a flow
    assert isinstance(flow, Flow)
    assert "\ufffd" in (flow.label or "")


def test_ten_megabyte_line() -> None:
    parser = ArgusParser()
    parser.parse_line(HEADER)
    with pytest.raises(ParseError) as info:
        parser.parse_line("1" * 10_000_000)
    assert info.value.reason == "wrong_column_count"
    huge_field = LINE.replace("192.168.2.12", "9" * 10_000_000)
    with pytest.raises(ParseError) as info:
        parser.parse_line(huge_field)
    assert info.value.reason == "bad_field"
    assert len(info.value.detail) < 200


# -- fuzz: whatever the text, a record, None or ParseError ----------------------------------


def _check(parser: ArgusParser, line: str) -> None:
    try:
        rec = parser.parse_line(line)
    except ParseError:
        return
    assert rec is None or isinstance(rec, Flow)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=5))
def test_fuzz_any_text(lines: list[str]) -> None:
    parser = ArgusParser()
    for line in lines:
        _check(parser, line)
    parser = ArgusParser()
    parser.parse_line(HEADER)
    for line in lines:
        _check(parser, line)


_FIELDS = LINE.split(",")


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.sampled_from(_FIELDS)
        | st.text(max_size=12)
        | st.sampled_from(["0x0303", "", "-1", "1e999"]),
        min_size=len(_FIELDS),
        max_size=len(_FIELDS),
    ),
    st.sampled_from(["tcp", "udp", "icmp", "ipv6-icmp", "arp", "TCP", ""]),
)
def test_fuzz_perturbed_real_line(fields: list[str], proto: str) -> None:
    parser = ArgusParser()
    parser.parse_line(HEADER)
    fields[2] = proto
    _check(parser, ",".join(fields))
