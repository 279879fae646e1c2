"""Reading captures without Zeek: the built-in engine behind RecordSource.

Damaged captures (cut mid-packet, garbage, wrong magic, absurd lengths) end
with a counted skip and the records read before; they never raise.
"""

from __future__ import annotations

import gzip
import io
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.inputs.pcap import CaptureFile
from agent.inputs.skips import SkipLog
from agent.inputs.sniff import Format, sniff_bytes
from agent.inputs.sources import RecordSource
from detection.model import Flow


@pytest.fixture(autouse=True)
def no_zeek(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH without zeek, so the built-in engine is used whatever the host has."""
    monkeypatch.setenv("PATH", str(tmp_path_factory.mktemp("empty-bin")))


def syn(i: int) -> bytes:
    """An Ethernet/IPv4 TCP SYN from 10.0.0.1:(40000+i) to 10.0.0.2:80."""
    tcp = struct.pack("!HHIIBBHHH", 40000 + i, 80, 1000, 0, 0x50, 0x02, 65535, 0, 0)
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0,
        socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"),
    )  # fmt: skip
    return bytes(6) + bytes(6) + b"\x08\x00" + ip + tcp


def pcap(frames: list[bytes], snaplen: int = 65535) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)
    for i, frame in enumerate(frames):
        out += struct.pack("<IIII", 100 + i, 0, len(frame), len(frame)) + frame
    return out


def pcapng(frames: list[bytes]) -> bytes:
    def block(btype: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 65535))
    for i, frame in enumerate(frames):
        us = (100 + i) * 1_000_000
        out += block(
            6, struct.pack("<IIIII", 0, us >> 32, us & 0xFFFFFFFF, len(frame), len(frame)) + frame
        )
    return out


def read(path: Path) -> tuple[list[object], SkipLog, RecordSource]:
    skips = SkipLog(None)
    src = RecordSource(str(path), skips)
    return list(src), skips, src


def test_pcap_read_with_the_builtin_engine(tmp_path: Path) -> None:
    f = tmp_path / "x.pcap"
    f.write_bytes(pcap([syn(i) for i in range(3)]))
    recs, skips, src = read(f)
    assert [(r.sport, r.dport, r.state) for r in recs] == [  # type: ignore[attr-defined]
        (40000, 80, "S0"), (40001, 80, "S0"), (40002, 80, "S0"),
    ]  # fmt: skip
    assert src.files == {str(f): "pcap"}
    assert src.lines == 3  # packets read
    assert src.bytes_done == src.bytes_total == f.stat().st_size
    assert skips.total == 0


def test_pcapng_is_sniffed_and_read(tmp_path: Path) -> None:
    data = pcapng([syn(0), syn(1)])
    assert sniff_bytes(data)[0] is Format.PCAP
    f = tmp_path / "x.pcapng"
    f.write_bytes(data)
    recs, skips, _ = read(f)
    assert [r.ts for r in recs] == [100.0, 101.0]  # type: ignore[attr-defined]
    assert skips.total == 0


def test_gzipped_capture_gives_the_same_records(tmp_path: Path) -> None:
    plain, packed = tmp_path / "x.pcap", tmp_path / "x.pcap.gz"
    plain.write_bytes(pcap([syn(i) for i in range(4)]))
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, _, _ = read(plain)
    b, _, _ = read(packed)
    strip = [(r.ts, r.sport, r.state, r.spkts) for r in a]  # type: ignore[attr-defined]
    assert strip == [(r.ts, r.sport, r.state, r.spkts) for r in b]  # type: ignore[attr-defined]


def test_capture_cut_mid_packet(tmp_path: Path) -> None:
    data = pcap([syn(i) for i in range(3)])
    f = tmp_path / "cut.pcap"
    f.write_bytes(data[:-20])  # the third packet loses its last 20 bytes
    recs, skips, _ = read(f)
    assert len(recs) == 2 and all(isinstance(r, Flow) for r in recs)
    assert skips.counts == {"capture_truncated": 1}


def test_garbage_after_the_packets(tmp_path: Path) -> None:
    f = tmp_path / "junk.pcap"
    f.write_bytes(pcap([syn(0)]) + b"\xff" * 64)  # a record header claiming 4 GB
    recs, skips, _ = read(f)
    assert len(recs) == 1
    assert skips.counts == {"capture_corrupt": 1}


def test_absurd_captured_length_first(tmp_path: Path) -> None:
    f = tmp_path / "huge.pcap"
    f.write_bytes(pcap([]) + struct.pack("<IIII", 1, 0, 50_000_000, 60) + bytes(100))
    recs, skips, _ = read(f)
    assert recs == []
    assert skips.counts == {"capture_corrupt": 1}


def test_wrong_magic_is_counted(tmp_path: Path) -> None:
    skips = SkipLog(None)
    capture = CaptureFile(skips, "x")
    assert list(capture.records(io.BytesIO(b"NOPE" + bytes(60)))) == []  # type: ignore[arg-type]
    assert skips.counts == {"capture_bad_magic": 1}


def test_empty_capture_body(tmp_path: Path) -> None:
    f = tmp_path / "empty.pcap"
    f.write_bytes(pcap([]))
    recs, skips, src = read(f)
    assert recs == [] and skips.total == 0 and src.lines == 0


def test_stopping_early_still_reports_and_closes(tmp_path: Path) -> None:
    f = tmp_path / "x.pcap"
    frag = bytearray(syn(9))
    frag[20] = 0x20  # IPv4 "more fragments": counted, not analysed
    f.write_bytes(pcap([bytes(frag)] + [syn(i) for i in range(5)]))
    skips = SkipLog(None)
    src = RecordSource(str(f), skips)
    it = iter(src)
    next(it)
    it.close()  # type: ignore[attr-defined]  # a generator
    assert skips.counts == {"ip_fragment": 1}
    assert src._reading == []  # the file was closed and released


def test_cli_analyses_a_cut_capture(tmp_path: Path, cli: Callable[..., Any]) -> None:
    f = tmp_path / "cut.pcap"
    f.write_bytes(pcap([syn(i) for i in range(6)])[:-7])
    out = tmp_path / "o"
    proc = cli("analyze", str(f), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = orjson.loads(proc.stdout)
    assert summary["flows"] == 5
    assert summary["skipped_by_reason"] == {"capture_truncated": 1}
    errors = (out / "errors.log").read_text()
    assert "capture_truncated" in errors and "input ends inside" in errors


def test_cli_garbage_capture_is_not_a_crash(tmp_path: Path, cli: Callable[..., Any]) -> None:
    f = tmp_path / "x.pcap"
    f.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 40)  # a header, then a zero-length packet
    proc = cli("analyze", str(f), "-o", str(tmp_path / "o"), "--json")
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1  # readable, nothing parsed
