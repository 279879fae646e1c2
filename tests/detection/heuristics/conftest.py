"""Record builders for the protocol detectors' tests (TLS, SSH, SMTP, HTTP, beaconing).

Tests take the `rec` fixture (a namespace of these builders): with
``--import-mode=importlib`` test helper modules cannot be imported directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import SimpleNamespace

import pytest

from detection.heuristics.base import Detector
from detection.model import (
    DnsRecord,
    Evidence,
    FilesRecord,
    Flow,
    HttpRecord,
    NoticeRecord,
    Record,
    SmtpRecord,
    SoftwareRecord,
    SshRecord,
    SslRecord,
    WeirdRecord,
    X509Record,
)


def flow(
    saddr: str = "10.0.0.1",
    daddr: str = "198.51.100.7",
    dport: int | None = 443,
    *,
    ts: float = 100.0,
    service: str = "",
    established: bool = True,
    sbytes: int = 300,
    dbytes: int = 900,
    uid: str = "C1",
    proto: str = "tcp",
) -> Flow:
    return Flow(
        ts, uid, saddr, 40000, daddr, dport, proto, service, 1.0, sbytes, dbytes, 5, 5,
        "SF" if established else "S0", "ShADadFf", established,
    )  # fmt: skip


def ssl(
    saddr: str = "10.0.0.1",
    daddr: str = "198.51.100.7",
    *,
    ts: float = 100.0,
    sni: str = "example.com",
    subject: str = "CN=example.com",
    issuer: str = "CN=Some CA",
    validation: str = "ok",
    uid: str = "C1",
    fuids: tuple[str, ...] = (),
) -> SslRecord:
    return SslRecord(
        ts, uid, saddr, 40000, daddr, 443, "TLSv12", "TLS_AES", sni, True, subject, issuer,
        validation, "", "", fuids,
    )  # fmt: skip


def http(
    saddr: str = "10.0.0.1",
    daddr: str = "198.51.100.7",
    *,
    ts: float = 100.0,
    host: str = "example.com",
    uri: str = "/",
    method: str = "GET",
    ua: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
    req_len: int = 0,
    resp_len: int = 1000,
    mimes: tuple[str, ...] = ("text/html",),
    uid: str = "C1",
) -> HttpRecord:
    return HttpRecord(
        ts, uid, saddr, 40000, daddr, 80, method, host, uri, "1.1", ua, req_len, resp_len,
        200, mimes, (),
    )  # fmt: skip


def ssh(
    saddr: str = "10.0.0.1",
    daddr: str = "10.0.0.9",
    *,
    ts: float = 100.0,
    success: bool | None = False,
    attempts: int = 1,
    client: str = "SSH-2.0-OpenSSH_8.9",
    server: str = "SSH-2.0-OpenSSH_8.9",
    uid: str = "C1",
    dport: int | None = 22,
) -> SshRecord:
    return SshRecord(ts, uid, saddr, 40000, daddr, dport, 2, success, attempts, client, server)


def smtp(
    saddr: str = "10.0.0.1",
    daddr: str = "198.51.100.25",
    *,
    ts: float = 100.0,
    reply: str = "535 5.7.8 Authentication credentials invalid",
    uid: str = "C1",
) -> SmtpRecord:
    return SmtpRecord(ts, uid, saddr, 40000, daddr, 25, "host", "a@b.c", ("d@e.f",), reply)


def software(
    host: str = "10.0.0.1",
    version: str = "OpenSSH_8.1",
    *,
    ts: float = 100.0,
    kind: str = "SSH::CLIENT",
) -> SoftwareRecord:
    return SoftwareRecord(ts, host, None, kind, version.partition("_")[0], None, None, version)


def notice(
    src: str = "10.0.0.1",
    *,
    note: str = "SSH::Password_Guessing",
    msg: str = "10.0.0.1 appears to be guessing SSH passwords (seen in 30 connections).",
    sub: str = "Sampled servers:  10.0.0.9, 10.0.0.9",
    ts: float = 100.0,
) -> NoticeRecord:
    return NoticeRecord(ts, "", "", "", None, note, msg, sub, src, "", 30)


def files(
    *,
    tx: str = "198.51.100.7",
    rx: str = "10.0.0.1",
    mime: str = "application/x-dosexec",
    ts: float = 100.0,
    uid: str = "C1",
    source: str = "HTTP",
) -> FilesRecord:
    return FilesRecord(
        ts, "F1", (tx,), (rx,), (uid,), source, mime, "a.exe", 5000, 5000, "", "", ""
    )  # fmt: skip


def weird(
    name: str = "unknown_HTTP_method",
    *,
    addl: str = "PROPFIND2",
    ts: float = 100.0,
    saddr: str = "10.0.0.1",
    daddr: str = "198.51.100.7",
) -> WeirdRecord:
    return WeirdRecord(ts, "C1", saddr, 40000, daddr, 80, name, addl, False, "zeek")


def dns(
    query: str = "pastebin.com",
    answers: tuple[str, ...] = ("104.20.67.143",),
    *,
    saddr: str = "10.0.0.1",
    daddr: str = "10.0.0.53",
    ts: float = 100.0,
) -> DnsRecord:
    return DnsRecord(ts, "D1", saddr, 5353, daddr, 53, "udp", query, "A", "NOERROR", answers)


def x509(
    fuid: str = "F1",
    subject: str = "CN=example.com",
    sans: tuple[str, ...] = (),
    *,
    ts: float = 100.0,
) -> X509Record:
    return X509Record(ts, fuid, 3, "01", subject, "CN=Some CA", 0.0, 2e9, "rsa", 2048, sans)


def collect(found: Sequence[Evidence] | None, into: list[Evidence]) -> None:
    if found:
        into.extend(found)


def drive(det: Detector, records: Iterable[Record], *, close: bool = True) -> list[Evidence]:
    """Feed records in 1 h windows (as the pipeline does), then close every window."""
    out: list[Evidence] = []
    for r in records:
        collect(det.observe(r, int(r.ts // 3600)), out)
    if close:
        collect(det.close_window(2**62), out)
    return out


@pytest.fixture
def rec() -> SimpleNamespace:
    return SimpleNamespace(
        flow=flow, ssl=ssl, http=http, ssh=ssh, smtp=smtp, software=software,
        notice=notice, files=files, weird=weird, collect=collect,
        drive=drive, dns=dns, x509=x509,
    )  # fmt: skip
