from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.model import DnsRecord, FilesRecord, Flow, HttpRecord, SslRecord
from detection.parsers.base import ParseError, Unsupported
from detection.parsers.suricata import SuricataParser, suricata_established

SAMPLE = Path(__file__).parents[2] / "data" / "captures" / "suricata" / "test6-sample.suricata.json"
LINES = SAMPLE.read_text(encoding="utf-8").splitlines()
RECORD_TYPES = (Flow, DnsRecord, HttpRecord, SslRecord, FilesRecord)

FLOW: dict[str, Any] = {
    "timestamp": "2021-06-06T15:57:37.272281+0200",
    "flow_id": 1712341260127378,
    "event_type": "flow",
    "src_ip": "83.41.123.192",
    "src_port": 36192,
    "dest_ip": "192.168.1.129",
    "dest_port": 80,
    "proto": "TCP",
    "flow": {
        "pkts_toserver": 2,
        "pkts_toclient": 12,
        "bytes_toserver": 120,
        "bytes_toclient": 720,
        "start": "2021-06-07T13:35:39.478354+0200",
        "end": "2021-06-07T13:37:13.263210+0200",
        "age": 94,
        "state": "new",
        "reason": "shutdown",
        "alerted": False,
    },
    "tcp": {"tcp_flags": "12", "tcp_flags_ts": "02", "tcp_flags_tc": "12", "state": "syn_recv"},
}


def parse(obj: dict[str, Any] | str) -> object:
    line = obj if isinstance(obj, str) else json.dumps(obj)
    return SuricataParser().parse_line(line)


def with_(base: dict[str, Any], path: str | tuple[str, ...], value: object) -> dict[str, Any]:
    """A deep copy of `base` with `a.b.c` set to `value` (deleted if value is ...).

    `path` is "a.b.c" or, for keys that may contain dots, the tuple ("a", "b", "c").
    """
    out: dict[str, Any] = json.loads(json.dumps(base))
    *parents, last = path.split(".") if isinstance(path, str) else path
    node = out
    for p in parents:
        node = node[p]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return out


def parse_sample() -> tuple[list[object], Counter[str]]:
    parser = SuricataParser()
    recs: list[object] = []
    skipped: Counter[str] = Counter()
    for line in LINES:
        try:
            rec = parser.parse_line(line)
        except Unsupported as e:
            skipped[e.reason] += 1
            continue
        assert rec is not None
        recs.append(rec)
    return recs, skipped


# -- known answers on the sample -----------------------------------------------------------


def test_sample_covers_every_event_type() -> None:
    recs, skipped = parse_sample()
    expected = Counter(json.loads(line)["event_type"] for line in LINES)
    got = Counter(type(r).__name__ for r in recs)
    assert got == {
        "Flow": expected["flow"],
        "DnsRecord": expected["dns"],
        "HttpRecord": expected["http"],
        "SslRecord": expected["tls"],
        "FilesRecord": expected["fileinfo"],
    }
    assert skipped == {"suricata_alert": expected["alert"], "suricata_anomaly": expected["anomaly"]}
    assert all(expected[t] > 0 for t in ("flow", "dns", "http", "tls", "fileinfo", "alert"))


def test_events_link_to_their_flow_by_uid() -> None:
    recs, _ = parse_sample()
    flow_uids = {r.uid for r in recs if isinstance(r, Flow)}
    http = [r for r in recs if isinstance(r, HttpRecord)]
    assert http
    assert all(r.uid in flow_uids for r in http)
    files = [r for r in recs if isinstance(r, FilesRecord)]
    assert all(r.conn_uids[0] in flow_uids for r in files)


def test_established_on_the_sample() -> None:
    recs, _ = parse_sample()
    flows = [r for r in recs if isinstance(r, Flow)]
    by_line = {json.loads(line)["flow_id"]: json.loads(line) for line in LINES if '"flow"' in line}
    for f in flows:
        ev = by_line[int(f.uid[1:])]
        tc = ev.get("tcp", {}).get("tcp_flags_tc")
        if tc == "14":  # RST+ACK from the responder: a rejected connection
            assert not f.established
        if ev["flow"]["state"] == "closed" and f.proto == "tcp":
            assert f.established == (tc is not None and int(tc, 16) & 0x12 == 0x12)
        if f.proto == "udp":
            assert f.established == (ev["flow"]["state"] == "established")
    rejected = [f for f in flows if f.proto == "tcp" and f.state == "closed" and not f.established]
    assert len(rejected) == 14
    assert all(f.dpkts > 0 for f in rejected)  # "closed with packets to client" is not enough


def test_flow_known_values() -> None:
    flow = parse(FLOW)
    assert flow == Flow(
        1623065739.478354, "S1712341260127378", "83.41.123.192", 36192, "192.168.1.129", 80,
        "tcp", "", 93.784856, 120, 720, 2, 12, "syn_recv", "", True,
    )  # fmt: skip


def test_flow_without_tcp_section_uses_flow_state_and_app_proto() -> None:
    udp = with_(with_(FLOW, "tcp", ...), "proto", "UDP")
    udp["app_proto"] = "dns"
    flow = parse(with_(udp, "flow.state", "established"))
    assert isinstance(flow, Flow)
    assert (flow.proto, flow.service, flow.state, flow.established) == (
        "udp",
        "dns",
        "established",
        True,
    )
    udp["app_proto"] = "failed"
    flow = parse(with_(udp, "flow.state", "new"))
    assert isinstance(flow, Flow)
    assert (flow.service, flow.established) == ("", False)


def test_icmp_flow_uses_type_and_code() -> None:
    icmp = with_(with_(with_(FLOW, "tcp", ...), "src_port", ...), "dest_port", ...)
    icmp.update(proto="ICMP", icmp_type=8, icmp_code=0)
    flow = parse(icmp)
    assert isinstance(flow, Flow)
    assert (flow.proto, flow.sport, flow.dport) == ("icmp", 8, 0)


def test_flow_ts_is_flow_start_not_event_timestamp() -> None:
    flow = parse(FLOW)
    assert isinstance(flow, Flow)
    assert flow.ts == 1623065739.478354  # 2021-06-07T11:35:39.478354Z


def test_timestamps_with_and_without_zone() -> None:
    for ts, epoch in [
        ("2021-06-06T15:59:46.457984+0200", 1622987986.457984),
        ("2021-06-06T13:59:46.457984Z", 1622987986.457984),
        ("2021-06-06T13:59:46.457984", 1622987986.457984),  # no zone: UTC
        ("2021-06-06T13:59:46.457984+00:00", 1622987986.457984),
    ]:
        flow = parse(with_(FLOW, "flow.start", ts))
        assert isinstance(flow, Flow)
        assert flow.ts == epoch


def test_dns_v2_answer_with_cname_chain() -> None:
    line = next(x for x in LINES if "ddns.myedimax.com" in x and '"type":"answer"' in x)
    rec = parse(line)
    assert isinstance(rec, DnsRecord)
    assert (rec.query, rec.qtype, rec.rcode) == ("www.myedimax.com", "A", "NOERROR")
    assert rec.answers == ("ddns.myedimax.com", "ns.myedimax.com", "122.248.252.67")
    assert rec.ttls == (580.0, 280.0, 580.0)
    assert rec.uid == "S" + str(json.loads(line)["flow_id"])


def test_dns_query_event_has_no_rcode() -> None:
    line = next(x for x in LINES if '"event_type":"dns"' in x and '"type":"query"' in x)
    rec = parse(line)
    assert isinstance(rec, DnsRecord)
    assert rec.rcode == ""
    assert rec.answers == ()
    assert rec.query


DNS_BASE: dict[str, Any] = {
    "timestamp": "2021-06-06T16:26:27.442512+0200",
    "flow_id": 7,
    "event_type": "dns",
    "src_ip": "192.168.1.129",
    "src_port": 35790,
    "dest_ip": "192.168.1.1",
    "dest_port": 53,
    "proto": "UDP",
}


@pytest.mark.parametrize(
    ("dns", "expected"),
    [
        # eve v1: one event per answer RR
        (
            {"type": "answer", "id": 1, "rcode": "NOERROR", "rrname": "a.com", "rrtype": "A",
             "ttl": 60, "rdata": "1.2.3.4"},
            ("a.com", "A", "NOERROR", ("1.2.3.4",), (60.0,)),
        ),
        # eve v1 NXDOMAIN: no rdata
        (
            {"type": "answer", "id": 1, "rcode": "NXDOMAIN", "rrname": "x.invalid", "rrtype": "A"},
            ("x.invalid", "A", "NXDOMAIN", (), ()),
        ),
        # eve v2 grouped-only
        (
            {"version": 2, "type": "answer", "rrname": "b.com", "rrtype": "A", "rcode": "NOERROR",
             "grouped": {"CNAME": ["c.b.com"], "A": ["5.6.7.8", "5.6.7.9"]}},
            ("b.com", "A", "NOERROR", ("c.b.com", "5.6.7.8", "5.6.7.9"), ()),
        ),
        # eve v2 answer with an SOA (no rdata) and a TXT
        (
            {"version": 2, "type": "answer", "rrname": "c.com", "rrtype": "TXT", "rcode": "NOERROR",
             "answers": [{"rrname": "c.com", "rrtype": "TXT", "ttl": 5, "rdata": "v=spf1"},
                         {"rrname": "c.com", "rrtype": "SOA", "ttl": 5, "soa": {}}]},
            ("c.com", "TXT", "NOERROR", ("v=spf1",), (5.0,)),
        ),
        # eve v3 (Suricata 7): queries list, request/response
        (
            {"version": 3, "type": "request", "queries": [{"rrname": "d.com", "rrtype": "AAAA"}]},
            ("d.com", "AAAA", "", (), ()),
        ),
        (
            {"version": 3, "type": "response", "rcode": "NOERROR",
             "queries": [{"rrname": "d.com", "rrtype": "AAAA"}],
             "answers": [{"rrname": "d.com", "rrtype": "AAAA", "ttl": 9, "rdata": "::1"}]},
            ("d.com", "AAAA", "NOERROR", ("::1",), (9.0,)),
        ),
    ],
)  # fmt: skip
def test_dns_formats(dns: dict[str, Any], expected: tuple[object, ...]) -> None:
    rec = parse({**DNS_BASE, "dns": dns})
    assert isinstance(rec, DnsRecord)
    assert (rec.query, rec.qtype, rec.rcode, rec.answers, rec.ttls) == expected


def test_http_known_values() -> None:
    line = next(x for x in LINES if '"event_type":"http"' in x and '"status":404' in x)
    rec = parse(line)
    assert isinstance(rec, HttpRecord)
    assert rec.method == "GET"
    assert rec.host == "147.32.82.197"
    assert rec.uri == "/"
    assert rec.version == "HTTP/1.1"
    assert rec.status_code == 404
    assert rec.response_body_len == 47
    assert rec.resp_mime_types == ("text/html",)


def test_tls_known_values() -> None:
    rec = parse(next(x for x in LINES if '"event_type":"tls"' in x))
    assert rec == SslRecord(
        1622991240.074627, "S262898731971351", "192.168.1.129", 60316, "122.248.252.67", 55443,
        "TLS 1.1", "", "www.myedimax.com", True, "OU=Domain Control Validated, CN=www.myedimax.com",
        "C=BE, O=GlobalSign nv-sa, CN=AlphaSSL CA - SHA256 - G2", "",
        "b7202231ff2db28363c109cedc6d1642", "ad90cab724fafab2660fbf61673c91a9",
    )  # fmt: skip


def test_fileinfo_known_values() -> None:
    line = next(x for x in LINES if '"event_type":"fileinfo"' in x and "HNAP1" in x)
    rec = parse(line)
    assert isinstance(rec, FilesRecord)
    assert rec.tx_hosts == ("112.249.236.129",)  # the uploader (POST)
    assert rec.rx_hosts == ("192.168.1.129",)
    assert (rec.filename, rec.source, rec.seen_bytes, rec.total_bytes) == (
        "/HNAP1/",
        "HTTP",
        535,
        None,
    )
    hashes = with_(json.loads(line), "fileinfo.md5", "d41d8cd98f00b204e9800998ecf8427e")
    hashes["fileinfo"].update(sha256="e3b0c442", state="CLOSED", file_id=3)
    rec = parse(hashes)
    assert isinstance(rec, FilesRecord)
    assert (rec.md5, rec.sha256, rec.total_bytes) == (
        "d41d8cd98f00b204e9800998ecf8427e",
        "e3b0c442",
        535,
    )
    assert rec.fuid == "S328594778239040-0-3"


@pytest.mark.parametrize(
    ("event_type", "reason"),
    [
        ("alert", "suricata_alert"),
        ("anomaly", "suricata_anomaly"),
        ("stats", "suricata_stats"),
        ("smb", "suricata_smb"),
        ("weird type!", "suricata_other"),
        ("x" * 500, "suricata_other"),
    ],
)
def test_unsupported_event_types(event_type: str, reason: str) -> None:
    with pytest.raises(Unsupported) as info:
        parse({"event_type": event_type, "timestamp": "2021-06-06T15:59:46+0200"})
    assert info.value.reason == reason


# -- established ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proto", "state", "pkts_toclient", "flags_tc", "expected"),
    [
        ("tcp", "closed", 1, "14", False),  # SYN → RST+ACK
        ("tcp", "closed", 5, "12", True),  # SYN-ACK seen
        ("tcp", "closed", 5, "1b", True),
        ("tcp", "new", 12, "12", True),  # syn_recv: responder answered, client went away
        ("tcp", "new", 2, "00", False),
        ("tcp", "new", 0, None, False),
        ("tcp", "established", 3, None, True),  # midstream pickup
        ("tcp", "closed", 3, "zz", False),
        ("udp", "new", 0, None, False),
        ("udp", "established", 1, None, True),
        ("udp", "closed", 1, None, True),
        ("udp", "closed", 0, None, False),
        ("icmp", "established", 1, None, True),
    ],
)
def test_established_rule(
    proto: str, state: str, pkts_toclient: int, flags_tc: str | None, expected: bool
) -> None:
    assert suricata_established(proto, state, pkts_toclient, flags_tc) is expected


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"timestamp":"2021-06-06T15:57:37', "bad_json"),
        ("{'event_type': 'flow'}", "bad_json"),
        ("[1, 2, 3]", "bad_json"),
        ('"flow"', "bad_json"),
        ("not json at all", "bad_json"),
        ('{"event_type":"flow"} trailing', "bad_json"),
        ("{}", "missing_field"),
        ('{"event_type": 7}', "bad_field"),
        (json.dumps(with_(FLOW, "src_ip", ...)), "missing_field"),
        (json.dumps(with_(FLOW, "flow_id", ...)), "missing_field"),
        (json.dumps(with_(FLOW, "flow", ...)), "missing_field"),
        (json.dumps(with_(FLOW, "flow.start", ...)), "missing_field"),
        (json.dumps(with_(FLOW, "flow.bytes_toserver", ...)), "missing_field"),
        (json.dumps(with_(FLOW, "src_ip", "999.1.1.1")), "bad_field"),
        (json.dumps(with_(FLOW, "src_ip", 17)), "bad_field"),
        (json.dumps(with_(FLOW, "src_port", 70000)), "bad_field"),
        (json.dumps(with_(FLOW, "src_port", True)), "bad_field"),
        (json.dumps(with_(FLOW, "flow_id", "abc")), "bad_field"),
        (json.dumps(with_(FLOW, "flow", [])), "bad_field"),
        (json.dumps(with_(FLOW, "flow.bytes_toclient", -5)), "bad_field"),
        (json.dumps(with_(FLOW, "flow.bytes_toclient", 1.5)), "bad_field"),
        # Out of range: counts beyond int64, times before 1970 or after 2**33 s.
        (json.dumps(with_(FLOW, "flow.bytes_toclient", 2**63)), "bad_field"),
        (json.dumps(with_(FLOW, "flow.pkts_toserver", 2**64 - 1)), "bad_field"),
        (json.dumps(with_(FLOW, "flow.start", "1969-12-31T23:59:59+0000")), "bad_field"),
        (json.dumps(with_(FLOW, "flow.start", "2300-01-01T00:00:00+0000")), "bad_field"),
        (json.dumps({**FLOW, "event_type": "fileinfo", "fileinfo": {"size": 2**63}}), "bad_field"),
        (json.dumps(with_(FLOW, "flow.start", "yesterday")), "bad_field"),
        (json.dumps(with_(FLOW, "flow.end", "2021-06-07T13:35:39.000000+0200")), "bad_field"),
        (json.dumps(with_(FLOW, "tcp", "x")), "bad_field"),
        (json.dumps({**DNS_BASE, "dns": {"type": "answer", "answers": "x"}}), "bad_field"),
        ('{"event_type":"flow","flow_id":123456789012345678901234567890}', "bad_field"),
    ],
)
def test_bad_lines(line: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        SuricataParser().parse_line(line)
    assert info.value.reason == reason
    assert not isinstance(info.value, Unsupported)


def test_blank_lines_are_skipped() -> None:
    parser = SuricataParser()
    assert parser.parse_line("") is None
    assert parser.parse_line("  \n") is None
    assert isinstance(parser.parse_line(json.dumps(FLOW) + "\n"), Flow)


def test_non_utf8_and_ten_megabyte_lines() -> None:
    parser = SuricataParser()
    raw = json.dumps(FLOW).encode().replace(b"syn_recv", b"syn\xff\xferecv")
    flow = parser.parse_line(raw.decode("utf-8", errors="replace"))
    assert isinstance(flow, Flow)
    assert flow.state == "syn\ufffd\ufffdrecv"
    with pytest.raises(ParseError) as info:
        parser.parse_line("{" * 10_000_000)
    assert info.value.reason == "bad_json"
    assert len(str(info.value)) < 300
    big = with_(FLOW, "src_ip", "1" * 10_000_000)
    with pytest.raises(ParseError) as info:
        parser.parse_line(json.dumps(big))
    assert info.value.reason == "bad_field"
    assert len(str(info.value)) < 300
    huge_ok = with_(FLOW, "host", "h" * 10_000_000)  # unknown keys are ignored
    assert isinstance(parser.parse_line(json.dumps(huge_ok)), Flow)


# -- fuzz ----------------------------------------------------------------------------------


def _check(line: str) -> None:
    try:
        rec = SuricataParser().parse_line(line)
    except ParseError:
        return
    assert rec is None or isinstance(rec, RECORD_TYPES)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_any_text(text: str) -> None:
    _check(text)


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        ["TCP", "udp", "ICMP", "12", "14", "established", "closed", "answer", "query"]
    )
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_REAL = [json.loads(line) for line in LINES]


def _paths(obj: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of `obj` as a tuple (keys may contain dots, e.g. hypothesis' ".")."""
    out = []
    for k, v in obj.items():
        out.append((*prefix, k))
        if isinstance(v, dict):
            out.extend(_paths(v, (*prefix, k)))
    return out


@settings(max_examples=800, deadline=None)
@given(st.data())
def test_fuzz_perturbed_real_events(data: st.DataObject) -> None:
    event = data.draw(st.sampled_from(_REAL))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(_paths(event)))
        value = data.draw(st.just(...) | _json_values)
        event = with_(event, path, value)
    _check(json.dumps(event))  # ints beyond 64 bits included: orjson reads them as floats


def test_fuzz_helpers_address_keys_containing_dots() -> None:
    # hypothesis once generated the key "." under alert.metadata: a dotted string
    # path cannot address it, a tuple can.
    event = {"alert": {"metadata": {".": None, "a.b": 1}}}
    paths = _paths(event)
    assert ("alert", "metadata", ".") in paths and ("alert", "metadata", "a.b") in paths
    for path in paths:
        with_(event, path, 2)
        with_(event, path, ...)
    assert with_(event, ("alert", "metadata", "a.b"), 3)["alert"]["metadata"]["a.b"] == 3
