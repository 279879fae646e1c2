"""RecordSource: directories, gzip, long lines, child processes and temporary files."""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
import textwrap
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import agent.inputs.sources as sources
from agent.inputs.skips import SkipLog
from agent.inputs.sources import RecordSource
from detection.model import Flow

DATA = Path(__file__).parents[2] / "data" / "captures"
HORIZONTAL = DATA / "zeek" / "port-scans" / "horizontal" / "conn.log"
ARGUS4 = DATA / "argus" / "test4-malicious.binetflow"
NFDUMP = DATA / "nfdump" / "test1-malicious.nfdump"


def read(spec: Path | str, **kw: Any) -> tuple[list[object], SkipLog, RecordSource]:
    skips = SkipLog(None)
    src = RecordSource(str(spec), skips, **kw)
    return list(src), skips, src


# -- gzip ------------------------------------------------------------------------------


def test_truncated_small_gzip_is_recognised_and_counted(tmp_path: Path) -> None:
    whole = gzip.compress(HORIZONTAL.read_bytes())
    f = tmp_path / "conn.log.gz"
    f.write_bytes(whole[: len(whole) // 2])  # < 64 KiB and cut mid-stream
    recs, skips, src = read(f)
    assert src.files == {str(f): "zeek-tsv"}
    assert 0 < len(recs) < 41
    assert skips.counts["truncated_input"] == 1


# -- directories: every file is sniffed, names do not matter ------------------------------


def test_directory_reads_files_of_any_name_and_counts_the_rest(tmp_path: Path) -> None:
    d = tmp_path / "logs"
    d.mkdir()
    (d / "capture.txt").write_bytes(HORIZONTAL.read_bytes())  # not *.log: still Zeek
    (d / "flows").write_bytes(gzip.compress(ARGUS4.read_bytes()))  # gzip, no suffix
    (d / "README").write_text("notes about this capture\n")
    (d / "x.pcap").write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 40)
    (d / "nf.log").write_bytes(NFDUMP.read_bytes()[:4096])
    (d / ".hidden.log").write_bytes(HORIZONTAL.read_bytes())
    (d / "empty.log").write_bytes(b"")
    (d / "sub").mkdir()
    skips = SkipLog(None)
    src = RecordSource(str(d), skips)
    recs = list(src)
    assert set(src.files) == {str(d / "capture.txt"), str(d / "flows")}
    assert sum(isinstance(r, Flow) for r in recs) == 41 + 392
    assert skips.counts["file_unknown_format"] == 1
    assert skips.counts["file_pcap_skipped"] == 1
    assert skips.counts["file_nfdump_skipped"] == 1
    errors = tmp_path / "errors.log"
    skips.attach(errors)
    skips.close()
    text = errors.read_text()
    assert f"{d / 'README'}:0: file_unknown_format" in text
    assert "x.pcap" in text and "analyse this file on its own" in text


# -- long lines: bounded memory ---------------------------------------------------------


def test_a_huge_line_is_discarded_in_bounded_chunks_and_counted_once(tmp_path: Path) -> None:
    lines = HORIZONTAL.read_text().splitlines(keepends=True)
    header = [x for x in lines if x.startswith("#")]
    data = [x for x in lines if not x.startswith("#")]
    f = tmp_path / "conn.log"
    with f.open("w") as fh:
        fh.writelines(header)
        fh.write(data[0])
        fh.write("A" * (40 << 20) + "\n")  # 40 MiB on one line
        fh.writelines(data[1:3])
    tracemalloc.start()
    try:
        recs, skips, src = read(f, max_line_bytes=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(recs) == 3
    assert dict(skips.counts) == {"line_too_long": 1}
    assert peak < 8 << 20, f"peak {peak} bytes: the long line was held whole"
    assert src.lines == len(header) + 4


def test_a_line_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    text = HORIZONTAL.read_bytes()
    longest = max(len(x) + 1 for x in text.splitlines())
    f = tmp_path / "conn.log"
    f.write_bytes(text)
    recs, skips, _ = read(f, max_line_bytes=longest)
    assert len(recs) == 41 and not skips.counts
    recs, skips, _ = read(f, max_line_bytes=longest - 1)
    assert skips.counts["line_too_long"] >= 1


# -- progress ----------------------------------------------------------------------------


def test_bytes_done_grows_to_the_file_size(tmp_path: Path) -> None:
    skips = SkipLog(None)
    src = RecordSource(str(ARGUS4), skips)
    assert src.bytes_total == ARGUS4.stat().st_size
    it = iter(src)
    next(it)
    assert 0 < src.bytes_done <= src.bytes_total
    for _ in it:
        pass
    assert src.bytes_done == src.bytes_total


# -- child processes and temporary directories --------------------------------------------


def test_nfdump_child_is_reaped_when_the_consumer_stops_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[subprocess.Popen[bytes]] = []

    class RecordingPopen(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(sources.subprocess, "Popen", RecordingPopen)
    it = iter(RecordSource(str(NFDUMP), SkipLog(None)))
    assert isinstance(next(it), Flow)
    (proc,) = started
    it.close()  # type: ignore[attr-defined]  # a generator
    assert proc.returncode is not None  # terminated and waited for: no zombie
    assert proc.stdout is not None and proc.stdout.closed


def test_pcap_temporary_directory_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for zeek: writes a conn.log into its working directory.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    zeek = bin_dir / "zeek"
    zeek.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            echo "$@" >> {tmp_path / "calls"}
            cp {HORIZONTAL} conn.log
            echo '{{"name":"base/init-bare.zeek"}}' > loaded_scripts.log
            """
        )
    )
    zeek.chmod(zeek.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    pcap = tmp_path / "x.pcap"
    pcap.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 40)
    work = tmp_path / "work"
    work.mkdir()
    recs, skips, src = read(pcap, workdir=work)
    assert len(recs) == 41
    assert skips.counts["zeek_loaded_scripts_log"] == 1
    assert list(work.iterdir()) == []
    assert any(name.endswith("conn.log") for name in src.files)
    # each of Starling's scripts checked once (`zeek -a`), then passed to the run
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["-a", "-a", "-C"]
    assert calls[2].split()[-2:] == [c.split()[1] for c in calls[:2]]
    assert calls[2].endswith("starling.zeek " + calls[1].split()[1])
    # Stopped early: removed as well.
    it = iter(RecordSource(str(pcap), SkipLog(None), workdir=work))
    next(it)
    it.close()  # type: ignore[attr-defined]  # a generator
    assert list(work.iterdir()) == []
