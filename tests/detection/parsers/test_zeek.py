from __future__ import annotations

import contextlib
import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.model import DnsRecord, Flow, NoticeRecord, SslRecord
from detection.parsers.base import ParseError, Unsupported
from detection.parsers.zeek import ZeekJsonParser, ZeekTsvParser, infer_log_type, zeek_established

DATA = Path(__file__).parents[2] / "data" / "captures" / "zeek"

HEADER = [
    "#separator \\x09",
    "#set_separator\t,",
    "#empty_field\t(empty)",
    "#unset_field\t-",
    "#path\tconn",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration"
    "\torig_bytes\tresp_bytes\tconn_state\thistory\torig_pkts\tresp_pkts\tlabel\tdetailedlabel",
]
LINE = "10.5\tCabc\t10.0.0.1\t1234\t8.8.8.8\t53\tudp\tdns\t0.1\t40\t80\tSF\tDd\t1\t1\tBenign\t-"


def parse_all(parser: ZeekTsvParser | ZeekJsonParser, lines: list[str]) -> list[object]:
    out = []
    for line in lines:
        rec = parser.parse_line(line)
        if rec is not None:
            out.append(rec)
    return out


def test_tsv_conn_known_values() -> None:
    (flow,) = parse_all(ZeekTsvParser(), [*HEADER, LINE])
    assert flow == Flow(
        10.5, "Cabc", "10.0.0.1", 1234, "8.8.8.8", 53, "udp", "dns", 0.1, 40, 80, 1, 1,
        "SF", "Dd", True, "", "", "Benign", None,
    )  # fmt: skip


def test_separator_after_leading_tab_and_relative_timestamps() -> None:
    flows = parse_all(
        ZeekTsvParser(), (DATA / "test10-mixed-zeek-dir" / "conn.log").read_text().splitlines()
    )
    assert len(flows) == 141
    assert all(isinstance(f, Flow) for f in flows)


def test_unset_values_become_defaults() -> None:
    line = "1.0\tC1\t10.0.0.1\t-\t10.0.0.2\t-\ticmp\t-\t-\t-\t-\tOTH\t-\t1\t0\t-\t-"
    (flow,) = parse_all(ZeekTsvParser(), [*HEADER, line])
    assert flow.sport is None and flow.dport is None
    assert flow.duration == 0.0 and flow.sbytes == 0 and flow.service == ""
    assert flow.established is False  # OTH with no responder packets
    assert flow.label is None


def test_header_reconfigures_midstream() -> None:
    other = [
        "#path\tdns",
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tquery\tqtype_name\trcode_name\tanswers",
    ]
    recs = parse_all(
        ZeekTsvParser(),
        [
            *HEADER,
            LINE,
            *other,
            "2\tC2\t10.0.0.1\t5\t8.8.8.8\t53\tx.com\tA\tNOERROR\t1.2.3.4,5.6.7.8",
        ],
    )
    assert isinstance(recs[0], Flow)
    assert isinstance(recs[1], DnsRecord)
    assert recs[1].answers == ("1.2.3.4", "5.6.7.8")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1.0\tC1\t10.0.0.1", "wrong_column_count"),
        (LINE.replace("10.5", "ten"), "bad_field"),
        (LINE.replace("1234", "99999"), "bad_field"),
        (LINE.replace("10.5", "nan"), "bad_field"),
        (LINE.replace("10.0.0.1", "-"), "missing_field"),
    ],
)
def test_bad_lines_raise_parse_error_with_reason(line: str, reason: str) -> None:
    p = ZeekTsvParser()
    parse_all(p, HEADER)
    with pytest.raises(ParseError) as exc:
        p.parse_line(line)
    assert exc.value.reason == reason


def test_data_before_header_is_an_error() -> None:
    with pytest.raises(ParseError) as exc:
        ZeekTsvParser().parse_line(LINE)
    assert exc.value.reason == "no_header"


def test_unsupported_log_type_is_counted_not_failed() -> None:
    p = ZeekTsvParser()
    parse_all(p, ["#separator \\x09", "#path\tloaded_scripts", "#fields\tname"])
    with pytest.raises(Unsupported):
        p.parse_line("base/init.zeek")


def test_established_states() -> None:
    assert zeek_established("SF", 0)
    assert zeek_established("RSTR", 1)
    assert not zeek_established("S0", 5)
    assert not zeek_established("REJ", 1)
    assert zeek_established("OTH", 2)
    assert not zeek_established("OTH", 0)


def test_json_conn_and_inference_without_hint() -> None:
    line = (DATA / "port-scans" / "vertical" / "conn.log").read_text().splitlines()[0]
    flow = ZeekJsonParser().parse_line(line)
    assert isinstance(flow, Flow)
    assert flow.saddr == "192.168.1.9" and flow.daddr == "45.33.32.156"
    assert flow.smac == "c4:23:60:3d:fd:d3"


def test_json_nested_id_is_flattened() -> None:
    conn_id = {"orig_h": "1.1.1.1", "orig_p": 1, "resp_h": "2.2.2.2", "resp_p": 443}
    obj = {"ts": 5, "uid": "C", "id": conn_id, "server_name": "example.com", "ja3": "abc"}
    rec = ZeekJsonParser().parse_line(orjson.dumps(obj).decode())
    assert isinstance(rec, SslRecord)
    assert rec.daddr == "2.2.2.2" and rec.server_name == "example.com" and rec.ja3 == "abc"


def test_json_iso_timestamps() -> None:
    obj = {"ts": "2024-01-01T00:00:01Z", "uid": "C", "id.orig_h": "1.1.1.1", "id.orig_p": 1,
           "id.resp_h": "2.2.2.2", "id.resp_p": 80, "proto": "tcp", "conn_state": "S0"}  # fmt: skip
    rec = ZeekJsonParser("conn").parse_line(orjson.dumps(obj).decode())
    assert isinstance(rec, Flow)
    assert rec.ts == 1704067201.0


def test_every_shared_zeek_log_parses_known_counts() -> None:
    """Known answers on the repo copies of Slips' Zeek captures."""
    counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    for path in sorted(DATA.rglob("*.log*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            lines = fh.read().splitlines()
        hint = path.name.split(".")[0]
        p: ZeekTsvParser | ZeekJsonParser = (
            ZeekTsvParser(hint) if lines[0].lstrip().startswith("#") else ZeekJsonParser(hint)
        )
        for line in lines:
            try:
                rec = p.parse_line(line)
            except Unsupported:
                continue
            except ParseError as exc:
                errors[f"{path.parent.name}/{path.name}:{exc.reason}"] = (
                    errors.get(exc.reason, 0) + 1
                )
                continue
            if rec is not None:
                counts[type(rec).__name__] = counts.get(type(rec).__name__, 0) + 1
    assert counts["Flow"] == 41 + 50 + 141 + 2 + 5 + 2 + 576
    assert counts["SslRecord"] == 13 + 206 + 205
    assert counts["HttpRecord"] == 521 + 516
    # The only malformed line in the whole set: a notice with spaces instead of TABs.
    assert errors == {"test10-mixed-zeek-dir/notice.log:wrong_column_count": 1}


def test_notice_port_scan_fields() -> None:
    lines = (DATA / "test9-mixed-zeek-dir" / "notice.log").read_text().splitlines()
    notes = [ZeekJsonParser("notice").parse_line(x) for x in lines]
    assert all(isinstance(n, NoticeRecord) for n in notes)
    assert any(n.note for n in notes if isinstance(n, NoticeRecord))


def test_infer_log_type() -> None:
    assert infer_log_type({"conn_state": "S0"}) == "conn"
    assert infer_log_type({"query": "x", "qtype_name": "A"}) == "dns"
    assert infer_log_type({"name": "x"}) is None


# -- fuzzing: whatever the text, only ParseError comes out ----------------------------------


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=5))
def test_fuzz_tsv_only_parse_error(lines: list[str]) -> None:
    p = ZeekTsvParser("conn")
    parse_all(p, HEADER)
    for line in lines:
        with contextlib.suppress(ParseError):
            p.parse_line(line)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(LINE.split("\t")) | st.text(max_size=12), min_size=17, max_size=17))
def test_fuzz_tsv_perturbed_fields(fields: list[str]) -> None:
    p = ZeekTsvParser()
    parse_all(p, HEADER)
    with contextlib.suppress(ParseError):
        p.parse_line("\t".join(fields))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
_zeek_keys = st.sampled_from(
    ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "conn_state",
     "query", "qtype_name", "answers", "server_name", "method", "uri", "note", "fuid",
     "seen_bytes", "msg_types", "helo", "auth_attempts", "software_type", "tunnel_type",
     "certificate.subject", "operation", "src_mac", "name", "addl", "TTLs"]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(_zeek_keys, _json_values, max_size=12))
def test_fuzz_json_only_parse_error(obj: dict[str, object]) -> None:
    line = json.dumps(obj)
    for hint in (None, "conn", "dns", "weird"):
        with contextlib.suppress(ParseError):
            ZeekJsonParser(hint).parse_line(line)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_json_arbitrary_text(text: str) -> None:
    with contextlib.suppress(ParseError):
        ZeekJsonParser().parse_line(text)


def test_json_unknown_name_hint_falls_back_to_content() -> None:
    line = (DATA / "port-scans" / "vertical" / "conn.log").read_text().splitlines()[0]
    assert isinstance(ZeekJsonParser("conn-renamed-export").parse_line(line), Flow)
    with pytest.raises(Unsupported):
        ZeekJsonParser("loaded_scripts").parse_line('{"name": "base/init.zeek"}')


# -- range checks: absurd values are bad fields, never crashes downstream ---------------------


@pytest.mark.parametrize(
    "line",
    [
        LINE.replace("10.5", "-1.0", 1),  # negative timestamp
        LINE.replace("10.5", "1e15", 1),  # year 31 million
        LINE.replace("10.5", "8589934592.0", 1),  # 2**33
        LINE.replace("10.5", "inf", 1),
        LINE.replace("\t40\t80\t", "\t9223372036854775808\t80\t"),  # 2**63
        LINE.replace("\t40\t80\t", "\t99999999999999999999999\t80\t"),
        LINE.replace("\t40\t80\t", "\t-40\t80\t"),
        LINE.replace("\tDd\t1\t1\t", "\tDd\t1\t-1\t"),
    ],
)
def test_tsv_conn_out_of_range_values_are_bad_fields(line: str) -> None:
    p = ZeekTsvParser()
    parse_all(p, HEADER)
    with pytest.raises(ParseError) as exc:
        p.parse_line(line)
    assert exc.value.reason == "bad_field"


def test_tsv_conn_extreme_but_valid_values_are_kept() -> None:
    p = ZeekTsvParser()
    parse_all(p, HEADER)
    big = str(2**63 - 1)
    line = LINE.replace("10.5", "8589934591.5", 1).replace("\t40\t80\t", f"\t{big}\t0\t")
    flow = p.parse_line(line)
    assert isinstance(flow, Flow) and flow.sbytes == 2**63 - 1 and flow.ts == 8589934591.5


_JSON_CONN = {"ts": 5.0, "uid": "C", "id.orig_h": "1.1.1.1", "id.orig_p": 1,
              "id.resp_h": "2.2.2.2", "id.resp_p": 80, "conn_state": "SF"}  # fmt: skip


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ts", -5.0),
        ("ts", 1e15),
        ("ts", "9999-01-01T00:00:00Z"),
        ("ts", "1900-01-01T00:00:00Z"),
        ("orig_bytes", 2**63),
        ("orig_bytes", 1e300),
        ("resp_pkts", -1),
        ("orig_bytes", "123456789012345678901234567890"),
    ],
)
def test_json_out_of_range_values_are_bad_fields(key: str, value: object) -> None:
    line = json.dumps({**_JSON_CONN, key: value})
    with pytest.raises(ParseError) as exc:
        ZeekJsonParser("conn").parse_line(line)
    assert exc.value.reason == "bad_field"


def test_generic_tsv_builders_check_ranges_too() -> None:
    p = ZeekTsvParser()
    parse_all(p, ["#separator \\x09", "#path\tfiles", "#fields\tts\tfuid\tseen_bytes"])
    assert p.parse_line("1.0\tF1\t100") is not None
    for bad in ("1.0\tF1\t9223372036854775808", "1.0\tF1\t-3", "-1.0\tF1\t100", "1e12\tF1\t1"):
        with pytest.raises(ParseError) as exc:
            p.parse_line(bad)
        assert exc.value.reason == "bad_field"


# -- the fast conn path and the generic builder agree ----------------------------------------


# LINE with up to three columns replaced by unset/empty values or junk.
_perturbed = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=16),
        st.sampled_from(["-", "(empty)", "", "0", "65536", "1e3", "nan"]) | st.text(max_size=6),
    ),
    max_size=3,
).map(lambda edits: [dict(edits).get(i, v) for i, v in enumerate(LINE.split("\t"))])


@settings(max_examples=300, deadline=None)
@given(_perturbed)
def test_fast_conn_path_equals_the_generic_builder(fields: list[str]) -> None:
    from detection.parsers.zeek import BUILDERS

    fast = ZeekTsvParser()
    parse_all(fast, HEADER)
    line = "\t".join(fields)
    try:
        got: object = fast.parse_line(line)
    except ParseError as exc:
        got = exc.reason
    names = HEADER[-1].split("\t")[1:]
    parts = line.rstrip("\r\n").split("\t")  # what parse_line splits
    if len(parts) != len(names):
        return
    raw = {n: (None if v in ("-", "(empty)") else v) for n, v in zip(names, parts, strict=True)}
    try:
        want: object = BUILDERS["conn"](raw, ",")
    except ParseError as exc:
        want = exc.reason
    # The fast path is the stricter one (e.g. "10.5" is no count there; the generic
    # converters also take JSON floats): whatever it accepts, both build alike.
    if isinstance(got, Flow):
        assert got == want


# -- nesting -----------------------------------------------------------------------------------


def test_deeply_nested_json_is_a_parse_error_not_a_recursion_error() -> None:
    deep: dict[str, object] = {"x": 1}
    for _ in range(900):
        deep = {"a": deep}
    line = json.dumps({**_JSON_CONN, "deep": deep})
    with pytest.raises(ParseError) as exc:
        ZeekJsonParser("conn").parse_line(line)
    assert exc.value.reason == "bad_json" and "nested too deep" in str(exc.value)


def test_nesting_up_to_the_cap_is_flattened() -> None:
    obj: dict[str, object] = {"v": 1}
    for _ in range(6):
        obj = {"a": obj}  # with the record and "n": 8 levels, the key n.a.a.a.a.a.a.v
    rec = ZeekJsonParser("conn").parse_line(json.dumps({**_JSON_CONN, "n": obj}))
    assert isinstance(rec, Flow)
    with pytest.raises(ParseError):
        ZeekJsonParser("conn").parse_line(json.dumps({**_JSON_CONN, "n": {"a": obj}}))


# -- logs Starling does not analyse ------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "line", "reason"),
    [
        ("loaded_scripts", '{"name":"base/init-bare.zeek"}', "zeek_loaded_scripts_log"),
        ("packet_filter", '{"ts":1.0,"node":"zeek","filter":"ip"}', "zeek_packet_filter_log"),
        ("pe", '{"ts":1.0,"id":"F1","machine":"AMD64"}', "zeek_pe_log"),
        (None, '{"name":"base/init-bare.zeek"}', "zeek_unknown_log"),
        ("my-export", '{"name":"base/init-bare.zeek"}', "zeek_unknown_log"),
    ],
)
def test_json_of_an_unanalysed_log_names_its_type(hint: str | None, line: str, reason: str) -> None:
    with pytest.raises(Unsupported) as exc:
        ZeekJsonParser(hint).parse_line(line)
    assert exc.value.reason == reason


def test_test9_unanalysed_json_logs_are_counted_by_type() -> None:
    for name, n in (("loaded_scripts", 402), ("packet_filter", 1), ("pe", 1)):
        p = ZeekJsonParser(name)
        reasons = set()
        for line in (DATA / "test9-mixed-zeek-dir" / f"{name}.log").read_text().splitlines():
            with pytest.raises(Unsupported) as exc:
                p.parse_line(line)
            reasons.add(exc.value.reason)
        assert reasons == {f"zeek_{name}_log"}, n


def test_tsv_without_path_or_known_fields_names_only_known_log_types() -> None:
    p = ZeekTsvParser("my-export")  # a file name, not a Zeek log name
    parse_all(p, ["#fields\tname"])
    with pytest.raises(Unsupported) as exc:
        p.parse_line("base/init.zeek")
    assert exc.value.reason == "zeek_unknown_log"


def test_infer_conn_from_minimal_fields_but_not_files() -> None:
    assert infer_log_type({"ts", "uid", "id.orig_h", "id.resp_h", "proto", "duration"}) == "conn"
    zeek5_files = {"ts", "fuid", "uid", "id.orig_h", "id.resp_h", "source", "mime_type",
                   "duration", "seen_bytes"}  # fmt: skip
    assert infer_log_type(zeek5_files) == "files"


def test_tsv_path_reason_is_tamed() -> None:
    p = ZeekTsvParser()
    parse_all(p, ["#separator \\x09", "#path\t" + "x y" * 50, "#fields\tname"])
    with pytest.raises(Unsupported) as exc:
        p.parse_line("a")
    assert exc.value.reason == "zeek_unknown_log"


# -- TSV without #path: the fields say which log it is -----------------------------------------


def test_tsv_without_path_infers_the_type_from_fields_before_the_file_name() -> None:
    fields = HEADER[-1]
    # A conn log saved as dns.log (misleading name), without #path.
    p = ZeekTsvParser("dns")
    parse_all(p, ["#separator \\x09", fields])
    assert isinstance(p.parse_line(LINE), Flow)
    # No #path, no hint.
    p = ZeekTsvParser()
    parse_all(p, [fields])
    assert isinstance(p.parse_line(LINE), Flow)
    # Unknown fields: the hint decides.
    p = ZeekTsvParser("loaded_scripts")
    parse_all(p, ["#fields\tname"])
    with pytest.raises(Unsupported) as exc:
        p.parse_line("base/init.zeek")
    assert exc.value.reason == "zeek_loaded_scripts_log"


def test_tsv_path_header_wins_over_fields_and_a_new_block_resets_it() -> None:
    p = ZeekTsvParser()
    parse_all(p, ["#separator \\x09", "#path\tstats", HEADER[-1]])  # conn-like fields
    with pytest.raises(Unsupported) as exc:
        p.parse_line(LINE)
    assert exc.value.reason == "zeek_stats_log"
    parse_all(p, ["#separator \\x09", HEADER[-1]])  # a new block without #path
    assert isinstance(p.parse_line(LINE), Flow)


# -- time zones: detection/ never depends on the host's ---------------------------------------


@pytest.fixture
def tokyo_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("tokyo_time")
def test_json_iso_timestamp_without_zone_is_utc() -> None:
    assert time.localtime(0).tm_hour == 9  # the host zone really is +09:00 here
    for ts in ("2024-01-01T00:00:01", "2024-01-01 00:00:01", "2024-01-01T00:00:01.000000"):
        rec = ZeekJsonParser("conn").parse_line(json.dumps({**_JSON_CONN, "ts": ts}))
        assert isinstance(rec, Flow)
        assert rec.ts == 1704067201.0, ts
    rec = ZeekJsonParser("conn").parse_line(
        json.dumps({**_JSON_CONN, "ts": "2024-01-01T09:00:01+09:00"})
    )
    assert isinstance(rec, Flow) and rec.ts == 1704067201.0
