"""The runner, in process: resolution before side effects, cleanup, outdir reuse, follow mode."""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

import agent.analyze as analyze_mod
from agent.analyze import InputError, analyze
from agent.config import load_config
from agent.store.base import StoreError
from agent.store.sqlite import SqliteStore
from detection.model import ProfileSummary

DATA = Path(__file__).parents[1] / "data" / "captures"
HORIZONTAL = DATA / "zeek" / "port-scans" / "horizontal" / "conn.log"
TSV_HEADER = (
    "#separator \\x09\n#path\tconn\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\tconn_state\n"
)


def summary(outdir: Path) -> dict[str, object]:
    return orjson.loads((outdir / "summary.json").read_bytes())  # type: ignore[no-any-return]


# -- cleanup runs every step; a store failure still leaves summary.json ----------------


class FailingProfilesStore(SqliteStore):
    """A real SQLite store whose profile writes fail, like a full disk."""

    def add_profiles(self, items: Sequence[ProfileSummary]) -> None:
        if items:
            raise StoreError("sqlite store: database or disk is full")


def test_store_failure_at_flush_leaves_summary_with_the_error_then_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analyze_mod, "open_store", FailingProfilesStore)
    out = tmp_path / "o"
    with pytest.raises(StoreError, match="disk is full"):
        analyze(str(HORIZONTAL), load_config(None), outdir=out)
    s = summary(out)
    errors = s["errors"]
    assert isinstance(errors, list) and len(errors) == 1
    assert errors[0].startswith("store flush: StoreError") and "disk is full" in errors[0]
    assert s["flows"] == 41
    # The steps after the failing one ran: errors.log closed, output files complete.
    assert (out / "errors.log").exists()
    assert len((out / "alerts.json").read_bytes().splitlines()) == s["evidence"] >= 2


def test_a_clean_run_has_no_errors(tmp_path: Path) -> None:
    result = analyze(str(HORIZONTAL), load_config(None), outdir=tmp_path / "o")
    assert result.summary["errors"] == []
    assert result.summary["profiles_capped"] is False
    assert result.summary["time_jumps_skipped"] == 0
    assert result.summary["detector_state_overflow"] == {}
    assert result.summary["detector_errors"] == {}


def test_a_full_detector_cap_is_reported_in_the_summary(tmp_path: Path) -> None:
    # Beaconing remembers one first contact here: each of the scan's new pairs evicts one.
    config = load_config(None, {"detectors": {"beaconing": {"max_pairs": 1}}})
    result = analyze(str(HORIZONTAL), config, outdir=tmp_path / "o")
    lost = summary(tmp_path / "o")["detector_state_overflow"]
    assert lost == result.summary["detector_state_overflow"]
    assert isinstance(lost, dict) and set(lost) == {"beaconing"}
    # (exact counts are the detectors' tests; here: it reaches summary.json)
    assert 0 < lost["beaconing"]["first_contacts_evicted"] <= result.summary["flows"]


# -- an output directory is never mixed with an earlier run's ---------------------------


def test_outdir_with_earlier_outputs_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "o"
    first = analyze(str(HORIZONTAL), load_config(None), outdir=out)
    n = first.summary["store"]["evidence"]
    assert n >= 2  # the two scan evidence, and whatever else the catalogue finds
    alerts = (out / "alerts.json").read_bytes()
    with pytest.raises(InputError, match=r"already holds Starling outputs") as info:
        analyze(str(HORIZONTAL), load_config(None), outdir=out)
    assert "\n" not in str(info.value)
    assert (out / "alerts.json").read_bytes() == alerts  # untouched
    second = analyze(str(HORIZONTAL), load_config(None), outdir=out, overwrite=True)
    # Old findings were removed first, not added to: the store holds one run.
    assert second.summary["store"]["evidence"] == n
    assert (out / "alerts.json").read_bytes().count(b"\n") == n


def test_outdir_with_only_a_store_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    SqliteStore(out / "starling.db").close()
    with pytest.raises(InputError, match=r"starling\.db"):
        analyze(str(HORIZONTAL), load_config(None), outdir=out)


def test_an_existing_empty_outdir_is_fine(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert analyze(str(HORIZONTAL), load_config(None), outdir=out).exit_code == 0
    assert (out / "notes.txt").read_text() == "mine"


# -- input refused before the output directory exists -----------------------------------


def fake_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty input"),
        (b"\n\n  \n", "only blank lines"),
        (bytes(range(256)) * 40, "binary data"),
        (b"\xd4\xc3\xb2\xa1" + b"\x00" * 40, "pcap magic number"),
        (b"hello\nworld\n", "unrecognised first line"),
    ],
)
def test_unusable_stdin_fails_before_the_outdir_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, reason: str
) -> None:
    fake_stdin(monkeypatch, data)
    with pytest.raises(InputError, match=r"^stdin: cannot analyse") as info:
        analyze("-", load_config(None), outdir=tmp_path / "o")
    assert reason in str(info.value)
    assert not (tmp_path / "o").exists()


def test_stdin_with_a_first_line_longer_than_a_pipe_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # peek() sees ~8 KiB; this Suricata event is 100 KiB on one line.
    event = {
        "timestamp": "2021-06-06T15:59:46.457984+0200",
        "flow_id": 1,
        "event_type": "flow",
        "src_ip": "10.0.0.1",
        "src_port": 1,
        "dest_ip": "10.0.0.2",
        "dest_port": 80,
        "proto": "TCP",
        "flow": {
            "pkts_toserver": 1,
            "pkts_toclient": 0,
            "bytes_toserver": 60,
            "bytes_toclient": 0,
            "start": "2021-06-06T15:59:46.457984+0200",
        },
        "padding": "x" * 100_000,
    }
    line = orjson.dumps(event) + b"\n"
    fake_stdin(monkeypatch, b"\n" + line + line)
    result = analyze("-", load_config(None), outdir=tmp_path / "o")
    assert result.summary["formats"] == {"-": "suricata"}
    assert result.summary["flows"] == 2


def test_gzip_on_stdin_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    fake_stdin(monkeypatch, gzip.compress(HORIZONTAL.read_bytes()))
    result = analyze("-", load_config(None), outdir=tmp_path / "o")
    assert result.summary["flows"] == 41


def test_missing_nfdump_tool_fails_before_the_outdir_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.inputs.sources as sources

    monkeypatch.setattr(sources.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match=r"nfdump tool, which is not installed"):
        analyze(str(DATA / "nfdump" / "test1-malicious.nfdump"), load_config(None),
                outdir=tmp_path / "o")  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_permission_denied_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "secret.log"
    f.write_bytes(HORIZONTAL.read_bytes())
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: False if Path(p) == f else real_access(p, mode, **kw)
    )
    with pytest.raises(InputError, match=r"secret\.log: permission denied"):
        analyze(str(f), load_config(None), outdir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


# -- progress ------------------------------------------------------------------------------


def test_progress_bar_is_given_the_bytes_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "conn.log"
    with f.open("w") as fh:
        fh.write(TSV_HEADER)
        for i in range(40_000):
            fh.write(f"{1000 + i}.0\tU{i}\t10.0.0.1\t1\t10.0.1.{i % 200}\t80\ttcp\t0\tSF\n")
    ticks: list[tuple[int, int | None]] = []
    monkeypatch.setattr(
        analyze_mod._Progress, "tick", lambda self, records, done: ticks.append((records, done))
    )
    analyze(str(f), load_config(None), outdir=tmp_path / "o", progress=True)
    assert [r for r, _ in ticks] == [16384, 32768]
    done = [d for _, d in ticks]
    assert all(d is not None for d in done)
    assert 0 < done[0] < done[1] <= f.stat().st_size  # type: ignore[operator]


# -- follow mode: the wall clock bounds how far ahead a record may be ---------------------


def test_follow_skips_records_far_ahead_of_the_wall_clock(tmp_path: Path) -> None:
    logs = tmp_path / "zeek"
    logs.mkdir()
    now = time.time()
    rows = [(now - 60, "A"), (now + 10 * 86400, "F1"), (now - 50, "B"), (now + 20 * 86400, "F2")]
    body = "".join(f"{ts:.6f}\t{u}\t10.0.0.1\t1\t10.0.1.1\t80\ttcp\t0\tSF\n" for ts, u in rows)
    (logs / "conn.log").write_text(TSV_HEADER + body)
    stop = threading.Event()
    result = analyze(str(logs), load_config(None), outdir=tmp_path / "o", follow=True,
                     max_idle=0.5, stop=stop)  # fmt: skip
    s = result.summary
    assert s["flows"] == 2
    assert s["skipped_by_reason"] == {"ts_in_future": 2}
    errors = (tmp_path / "o" / "errors.log").read_text().splitlines()
    assert len([e for e in errors if "ts_in_future" in e]) == 1
