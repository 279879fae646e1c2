"""Dataset readers: the repo copies of the labelled data, and fuzzed input."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.ml.datasets import (
    DatasetError,
    normalise_label,
    read_flows,
    read_iot23_csv,
    read_letters,
    read_letters_file,
    read_zeek_labeled,
)


def test_label_normalisation() -> None:
    assert [normalise_label(x) for x in ("Malicious", "malicious", "BOTNET", "Botnet-TCP-x")] == [
        1
    ] * 4
    assert [normalise_label(x) for x in ("Benign", "benign", "normal", "Normal-UDP-DNS")] == [0] * 4
    assert [normalise_label(x) for x in ("Background", "Unknown", "", None, "x")] == [-1] * 5


def test_iot23_csv(labeled: Path) -> None:
    s = read_flows(labeled / "CTU-Malware-Capture-8-1-head.csv")
    assert s.name == "CTU-Malware-Capture-8-1-head"
    assert Counter(s.labels) == {1: 407, 0: 193}
    assert s.rows[:3] == [1, 2, 3] and not s.skipped
    f = s.flows[0]
    assert f.proto in ("tcp", "udp", "icmp") and f.label in ("Malicious", "Benign")
    honeypot = read_flows(labeled / "CTU-Honeypot-Capture-4-1-labeled.csv")
    assert Counter(honeypot.labels) == {0: 452}  # lower-case "benign"


def test_zeek_labeled_drops_background_from_metrics(labeled: Path) -> None:
    s = read_flows(labeled / "sdt-010-every7th.conn.log.labeled")
    assert Counter(s.labels) == {1: 486, 0: 276, -1: 2}
    assert len(s.rows) == 764 and s.rows[-1] == 764


def test_letters_file(labeled: Path) -> None:
    s = read_letters_file(labeled / "ctu13-letters-sample.psv")
    assert len(s.texts) == len(s.labels) == len(s.captures) == 192
    assert set(s.labels) == {0, 1}
    assert set(s.captures) >= {"V42", "V50"}


def test_wrong_format_is_a_clear_error(labeled: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="letters file, not flows"):
        read_flows(labeled / "ctu13-letters-sample.psv")
    with pytest.raises(DatasetError, match="not a letters file"):
        read_letters_file(labeled / "CTU-Malware-Capture-8-1-head.csv")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="unknown dataset format"):
        read_flows(tmp_path / "x.csv")
    with pytest.raises(DatasetError, match=r"cannot|No such"):
        read_flows(tmp_path / "missing.csv")


HEADER = "ts,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,service,duration,orig_bytes,resp_bytes,conn_state,history,orig_pkts,resp_pkts,label,detailed-label\n"  # noqa: E501
cell = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)


@settings(max_examples=150)
@given(st.lists(st.lists(cell, min_size=15, max_size=19), max_size=8))
def test_iot23_reader_never_crashes(rows: list[list[str]]) -> None:
    import csv

    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    s = read_iot23_csv(Path("f.csv"), io.StringIO(HEADER + buf.getvalue(), newline=""))
    assert len(s.flows) == len(s.labels) == len(s.rows)
    assert len(s.flows) + sum(s.skipped.values()) == len(rows)


ZEEK_HEAD = (
    "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\t"
    "conn_state\tresp_pkts\tlabel\tdetailedlabel\n"
)


@settings(max_examples=150)
@given(st.lists(st.lists(cell, min_size=9, max_size=12), max_size=8))
def test_zeek_labeled_reader_never_crashes(rows: list[list[str]]) -> None:
    text = ZEEK_HEAD + "".join("\t".join(r).replace("\t\t", "\t-\t") + "\n" for r in rows)
    s = read_zeek_labeled(Path("conn.log.labeled"), io.StringIO(text))
    assert len(s.flows) == len(s.labels) == len(s.rows)
    assert all(lab in (-1, 0, 1) for lab in s.labels)


@settings(max_examples=150)
@given(st.text(max_size=400))
def test_letters_reader_never_crashes(body: str) -> None:
    head = "src|dst|port|proto|State|label|class|capture|modelsize\n"
    s = read_letters(Path("x.psv"), io.StringIO(head + body))
    assert len(s.texts) == len(s.labels) == len(s.captures) == len(s.rows)
    assert all(lab in (-1, 0, 1) for lab in s.labels)


def test_iot23_over_long_row_is_counted_and_csv_state_untouched() -> None:
    row = "1540469303,C{},192.168.1.132,58687,216.239.35.4,123,udp,,0.1,48,48,SF,Dd,1,1,benign,-\n"
    big = '1540469303,C9,"' + "x" * 200_000 + '",1,2.2.2.2,1,udp,,0.1,1,1,SF,D,1,1,benign,-\n'
    limit = csv.field_size_limit()
    body = HEADER + row.format(1) + big + row.format(2)
    flows = read_iot23_csv(Path("t.csv"), io.StringIO(body))
    assert flows.skipped == Counter({"unreadable_csv_row": 1})
    assert csv.field_size_limit() == limit  # process-wide: other readers rely on it


def test_iot23_row_starting_with_hash_is_a_counted_bad_row_not_a_directive() -> None:
    # Found by the fuzzer above: a ts cell "#..." reached the TSV parser as a header line,
    # so the row was lost uncounted — and "#fields ..." would have re-configured the parser.
    good = "1.5,C1,10.0.0.1,1,10.0.0.2,80,tcp,-,1.0,1,1,SF,ShAdDaf,1,1,benign,-"
    rows = ["#fields,a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", " #x,,,,,,,,,,,,,,,,", good]
    s = read_iot23_csv(Path("f.csv"), io.StringIO(HEADER + "\n".join(rows) + "\n", newline=""))
    assert s.skipped == {"bad_field": 2}
    assert len(s.flows) == 1 and s.rows == [3] and s.flows[0].daddr == "10.0.0.2"
