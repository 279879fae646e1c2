"""`starling analyze --follow`: tails growing logs, survives rotation, readers see findings live."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from agent.store.sqlite import SqliteStore

CAPTURE = (
    Path(__file__).parents[1]
    / "data"
    / "captures"
    / "zeek"
    / "port-scans"
    / "horizontal"
    / "conn.log"
)


def capture_parts() -> tuple[list[str], list[str]]:
    lines = CAPTURE.read_text().splitlines()
    header = [x for x in lines if x.startswith("#") and not x.startswith("#close")]
    data = [x for x in lines if not x.startswith("#")]
    return header, data


def wait_for(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def evidence_count(db: Path) -> int:
    if not db.exists():
        return 0
    with SqliteStore(db) as store:
        return store.counts()["evidence"]


def test_follow_survives_rotation_and_partial_lines(tmp_path: Path) -> None:
    logs = tmp_path / "zeek"
    logs.mkdir()
    out = tmp_path / "out"
    header, data = capture_parts()
    conn = logs / "conn.log"
    first, second = data[:20], data[20:]
    conn.write_text("\n".join(header) + "\n" + "\n".join(first) + "\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent",
            "analyze",
            "--follow",
            str(logs),
            "-o",
            str(out),
            "--max-idle",
            "5",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Started (outputs open, the follower has its first poll due): start-up time
        # varies with the machine, so wait for it rather than for a fixed delay.
        assert wait_for((out / "alerts.log").exists), "analyze did not start"
        time.sleep(0.8)
        # A partial line: half now, the rest (with its newline) after a poll.
        with conn.open("a") as fh:
            fh.write(second[0][:10])
            fh.flush()
            time.sleep(0.5)
            fh.write(second[0][10:] + "\n")
        # Rotation: the rest of the old file, then a brand-new conn.log.
        with conn.open("a") as fh:
            fh.write("\n".join(second[1:10]) + "\n")
        conn.rename(logs / "conn.2024-01-01-00-00-00.log.old")
        (logs / "conn.log").write_text("\n".join(header) + "\n" + "\n".join(second[10:]) + "\n")
        # A second process sees evidence in the store while the agent is still running.
        assert wait_for(lambda: evidence_count(out / "starling.db") > 0), "no live evidence"
        assert proc.poll() is None
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    summary = orjson.loads(stdout)
    assert summary["flows"] == len(data)
    assert summary["lines_skipped"] == 0
    assert summary["evidence_by_type"]["horizontal_port_scan"] == 2


def test_follow_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    logs = tmp_path / "zeek"
    logs.mkdir()
    header, data = capture_parts()
    (logs / "conn.log").write_text("\n".join(header + data) + "\n")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "analyze", "--follow", str(logs), "-o", str(out), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: evidence_count(out / "starling.db") == 2)
        os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["flows"] == len(data)
