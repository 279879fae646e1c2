"""Format sniffing from content."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from agent.inputs.sniff import Format, sniff_bytes, sniff_path

DATA = Path(__file__).parents[2] / "data" / "captures"
HORIZONTAL = DATA / "zeek" / "port-scans" / "horizontal" / "conn.log"


def test_truncated_gzip_smaller_than_the_sniff_window(tmp_path: Path) -> None:
    whole = gzip.compress(HORIZONTAL.read_bytes())
    assert len(whole) < 65536
    f = tmp_path / "conn.log.gz"
    f.write_bytes(whole[: len(whole) // 2])
    fmt, why = sniff_path(f)
    assert fmt is Format.ZEEK_TSV and why.startswith("gzip: ")


def test_corrupt_gzip_is_unknown(tmp_path: Path) -> None:
    f = tmp_path / "x.gz"
    f.write_bytes(b"\x1f\x8b" + b"\xff" * 100)
    assert sniff_path(f)[0] is Format.UNKNOWN


@pytest.mark.parametrize(
    "line",
    [
        b'{"name":"/usr/share/zeek/base/init-bare.zeek"}',  # loaded_scripts.log
        b'{"ts":1.5,"node":"zeek","filter":"ip or not ip","init":true,"success":true}',
        b'{"ts":1.5,"id":"Fx","machine":"AMD64","is_exe":true}',  # pe.log
    ],
)
def test_json_object_of_another_zeek_log_is_zeek_json(line: bytes) -> None:
    assert sniff_bytes(line + b"\n")[0] is Format.ZEEK_JSON


@pytest.mark.parametrize("line", [b"[1, 2, 3]", b'"just a string"', b"{not json"])
def test_json_lines_that_are_not_objects_stay_unknown(line: bytes) -> None:
    assert sniff_bytes(line + b"\n")[0] is Format.UNKNOWN


def test_suricata_still_wins_on_event_type() -> None:
    assert sniff_bytes(b'{"event_type":"flow","ts":1,"uid":"C1"}\n')[0] is Format.SURICATA
