from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.executable_download import (
    ExecutableDownload,
    ExecutableDownloadParams,
)
from detection.model import ThreatLevel


def test_http_executable_is_reported_once_per_connection(rec: SimpleNamespace) -> None:
    det = ExecutableDownload(ExecutableDownloadParams())
    records = [
        rec.http(mimes=("application/x-dosexec",), uri="/setup.exe", uid="Cexe"),
        rec.files(uid="Cexe"),  # the same file in files.log
    ]
    (ev,) = rec.drive(det, records)
    assert ev.type == "executable_download" and ev.threat_level is ThreatLevel.LOW
    assert (ev.attacker, ev.victim, ev.attack_technique) == ("10.0.0.1", "198.51.100.7", "T1105")
    assert ev.uids == ("Cexe",)
    assert "application/x-dosexec (GET http://example.com/setup.exe)" in ev.description


def test_files_log_on_another_protocol(rec: SimpleNamespace) -> None:
    det = ExecutableDownload(ExecutableDownloadParams())
    (ev,) = rec.drive(det, [rec.files(source="SMB", mime="application/x-msdownload", uid="C9")])
    assert (ev.attacker, ev.victim) == ("10.0.0.1", "198.51.100.7")


def test_other_types_are_quiet(rec: SimpleNamespace) -> None:
    det = ExecutableDownload(ExecutableDownloadParams())
    records = [rec.http(mimes=("application/octet-stream",)), rec.files(mime="text/plain")]
    assert rec.drive(det, records) == []


def test_many_downloads_are_stepped(rec: SimpleNamespace) -> None:
    det = ExecutableDownload(ExecutableDownloadParams())
    many = [rec.http(mimes=("application/x-dosexec",), uid=f"C{i}", ts=i) for i in range(150)]
    assert [e.count for e in rec.drive(det, many)] == [1, 10, 100]
