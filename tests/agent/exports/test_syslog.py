"""Syslog export: CEF escaping, RFC 5424 and RFC 6587 framing, delivery over UDP and TCP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.exports.config import ExportsConfig
from agent.exports.service import make_exporters
from agent.exports.syslog import (
    Cef,
    SyslogError,
    SyslogSender,
    cef_escape_extension,
    cef_escape_header,
    cef_for,
    cef_message,
    octet_frame,
    parse_cef,
    parse_rfc5424,
    rfc5424,
    split_frames,
    truncate_utf8,
)
from detection.model import Alert, Evidence

# -- CEF -----------------------------------------------------------------------------------


def test_cef_escaping_rules() -> None:
    assert cef_escape_header(r"a|b\c") == r"a\|b\\c"
    assert cef_escape_header("two\nlines\r\nhere") == "two lines here"
    assert cef_escape_header("x=y") == "x=y"  # '=' needs no escape in the header
    assert cef_escape_extension(r"a=b\c") == r"a\=b\\c"
    assert cef_escape_extension("l1\nl2\rl3") == r"l1\nl2\rl3"
    assert cef_escape_extension("a|b") == "a|b"  # '|' needs no escape in extensions


def test_cef_for_evidence(findings: Any) -> None:
    ev: Evidence = findings.evidence[1]
    text = cef_message(cef_for(ev, "0.1.0"))
    assert text.startswith(
        "CEF:0|Starling|Starling|0.1.0|ssh_password_guessing|"
        r"SSH password guessing against 10.0.0.2 \| user=root|8|"
    )
    ext = parse_cef(text).ext()
    assert ext["src"] == "203.0.113.5"
    assert ext["dst"] == "10.0.0.2"
    assert ext["dpt"] == "22"
    assert ext["proto"] == "TCP"
    assert ext["rt"] == str(round(ev.ts * 1000))
    assert ext["cs2"] == "T1110.001" and ext["cs2Label"] == "mitreTechnique"
    assert ext["externalId"] == ev.id
    assert ext["msg"] == ev.description  # '=' and '|' survive the round trip
    assert r"msg=SSH password guessing against 10.0.0.2 | user\=root" in text


def test_cef_for_ipv6_alert(evidence_factory: Callable[..., Evidence], alert_factory: Any) -> None:
    alert: Alert = alert_factory([evidence_factory("2001:db8::5")])
    event = parse_cef(cef_message(cef_for(alert, "1.2")))
    ext = event.ext()
    assert event.signature == "alert"
    assert event.severity == 8
    assert ext["c6a2"] == "2001:db8::5" and ext["c6a2Label"] == "Source IPv6 Address"
    assert "src" not in ext
    assert ext["cnt"] == "1"
    assert ext["cs4"] == "horizontal_port_scan"


cef_text = st.text(max_size=120)


@settings(max_examples=300)
@given(
    name=cef_text,
    signature=cef_text,
    values=st.lists(st.tuples(st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True), cef_text)),
)
def test_cef_round_trip(name: str, signature: str, values: list[tuple[str, str]]) -> None:
    event = Cef("Starling", "Starling", "0.1", signature, name, 5, tuple(values))
    text = cef_message(event)
    assert "\n" not in text and "\r" not in text
    back = parse_cef(text)
    flat = str.maketrans({"\n": " ", "\r": " "})
    assert back.name == name.replace("\r\n", " ").translate(flat)
    assert back.signature == signature.replace("\r\n", " ").translate(flat)
    assert back.extension == tuple(values)


# -- RFC 5424 and RFC 6587 --------------------------------------------------------------------


def test_rfc5424_header(findings: Any) -> None:
    ev = findings.evidence[0]
    data = rfc5424(
        "CEF:0|x", facility=16, severity=3, ts=ev.ts, hostname="sensor 1", app_name="starling",
        procid="42", msgid="evidence",
    )  # fmt: skip
    assert data == (b"<131>1 2024-05-01T12:00:00.250000Z sensor_1 starling 42 evidence - CEF:0|x")
    msg = parse_rfc5424(data)
    assert (msg.facility, msg.severity, msg.hostname, msg.msg) == (16, 3, "sensor_1", "CEF:0|x")


def test_rfc5424_nil_values_and_limits() -> None:
    data = rfc5424("m", facility=1, severity=6, ts=float("inf"), hostname="", app_name="a" * 99)
    msg = parse_rfc5424(data)
    assert msg.timestamp == "-" and msg.hostname == "-"
    assert msg.app_name == "a" * 48
    with pytest.raises(ValueError, match="facility"):
        rfc5424("m", facility=24, severity=0, ts=0, hostname="h", app_name="a")


def test_split_frames_handles_partial_input() -> None:
    stream = octet_frame(b"one") + octet_frame(b"two words\nand a newline") + b"12 incompl"
    frames, rest = split_frames(stream)
    assert frames == [b"one", b"two words\nand a newline"]
    assert rest == b"12 incompl"
    with pytest.raises(ValueError, match="length"):
        split_frames(b"x1 abc")


def test_truncate_never_splits_utf8_or_an_escape() -> None:
    data = "aé€".encode()  # 1 + 2 + 3 bytes
    assert truncate_utf8(data, 4) == "aé".encode()
    assert truncate_utf8(data, 2) == b"a"
    assert truncate_utf8(b"abc\\\\def", 4) == b"abc"  # would end on half of "\\"
    assert truncate_utf8(b"ab\\\\cdef", 4) == b"ab\\\\"


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    descriptions=st.lists(st.text(max_size=200), min_size=1, max_size=5),
    hostname=st.text(max_size=30),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_arbitrary_descriptions_never_break_the_framing(
    evidence_factory: Callable[..., Evidence], descriptions: list[str], hostname: str, chunk: int
) -> None:
    """Whatever a description holds (newlines, '|', '=', NULs, non-BMP), every message
    comes back whole from an octet-counted stream delivered in arbitrary pieces."""
    sent = []
    for d in descriptions:
        ev = evidence_factory(description=d)
        data = rfc5424(
            cef_message(cef_for(ev, "0.1.0")), facility=16, severity=3, ts=ev.ts,
            hostname=hostname, app_name="starling",
        )  # fmt: skip
        sent.append((ev, data))
    stream = b"".join(octet_frame(data) for _, data in sent)
    frames: list[bytes] = []
    rest = b""
    for i in range(0, len(stream), chunk):
        got, rest = split_frames(rest + stream[i : i + chunk])
        frames += got
    assert rest == b""
    assert frames == [data for _, data in sent]
    for (ev, _), frame in zip(sent, frames, strict=True):
        msg = parse_rfc5424(frame)
        cef = parse_cef(msg.msg)
        clean = ev.description.encode("utf-8", "replace").decode("utf-8")
        assert cef.ext()["msg"] == clean[:1023]
        assert cef.ext()["externalId"] == ev.id


# -- delivery -------------------------------------------------------------------------------


def _syslog_cfg(port: int, protocol: str, **extra: Any) -> ExportsConfig:
    return ExportsConfig.model_validate(
        {
            "syslog": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": port,
                "protocol": protocol,
                "hostname": "sensor-1",
                "min_threat": "info",
                **extra,
            }
        }
    )


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_findings_reach_a_local_listener(
    protocol: str, request: pytest.FixtureRequest, findings: Any, eventually: Any
) -> None:
    receiver = request.getfixturevalue(f"{protocol}_receiver")
    exporters = make_exporters(_syslog_cfg(receiver.port, protocol), "0.1.0")
    assert exporters is not None
    for f in findings.all:
        exporters.on_finding(f)
    assert eventually(lambda: len(receiver.snapshot()) == 3)
    stats = exporters.close(5)
    assert stats["syslog"]["sent"] == 3 and stats["syslog"]["errors"] == 0
    msgs = [parse_rfc5424(m) for m in receiver.snapshot()]
    assert [m.msgid for m in msgs] == ["evidence", "evidence", "alert"]
    assert all(m.hostname == "sensor-1" and m.app_name == "starling" for m in msgs)
    assert all(m.facility == 16 and m.severity == 3 for m in msgs)  # local0, high → err
    cefs = [parse_cef(m.msg) for m in msgs]
    assert [c.ext()["externalId"] for c in cefs] == [f.id for f in findings.all]
    assert cefs[2].signature == "alert"
    if protocol == "tcp":  # one connection, octet-counted frames only
        assert bytes(receiver.raw).startswith(str(len(receiver.messages[0])).encode() + b" <")


def test_udp_truncates_long_messages(udp_receiver: Any, eventually: Any) -> None:
    sender = SyslogSender("127.0.0.1", udp_receiver.port, "udp", max_udp_bytes=480)
    sender.send(b"<131>1 - - - - - - " + "é".encode() * 400)
    sender.close()
    assert eventually(lambda: len(udp_receiver.snapshot()) == 1)
    [got] = udp_receiver.snapshot()
    assert 470 < len(got) <= 480
    got.decode("utf-8")  # whole characters only
    assert sender.truncated == 1


def test_tcp_to_a_closed_port_is_an_error(unused_port: int) -> None:
    sender = SyslogSender("127.0.0.1", unused_port, "tcp", timeout=2)
    with pytest.raises(SyslogError, match="cannot reach"):
        sender.send(b"x")


def test_filters(udp_receiver: Any, findings: Any, eventually: Any) -> None:
    exporters = make_exporters(_syslog_cfg(udp_receiver.port, "udp", alerts_only=True), "0.1.0")
    assert exporters is not None
    for f in findings.all:
        exporters.on_finding(f)
    stats = exporters.close(5)
    assert stats["syslog"]["queued"] == 1
    assert eventually(lambda: len(udp_receiver.snapshot()) == 1)
    assert parse_rfc5424(udp_receiver.snapshot()[0]).msgid == "alert"


# -- the decoders on arbitrary input ------------------------------------------------------------


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=200), st.text(max_size=200).map(lambda t: "CEF:0|" + t)))
def test_parse_cef_raises_only_value_error(text: str) -> None:
    try:
        event = parse_cef(text)
    except ValueError:
        return
    assert isinstance(event.severity, int)


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=200), st.binary(max_size=200).map(lambda b: b"<13>1 " + b)))
def test_parse_rfc5424_raises_only_value_error(data: bytes) -> None:
    try:
        msg = parse_rfc5424(data)
    except ValueError:
        return
    assert 0 <= msg.facility <= 23


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_split_frames_raises_only_value_error(data: bytes) -> None:
    try:
        frames, rest = split_frames(data)
    except ValueError:
        return
    assert sum(len(f) for f in frames) + len(rest) <= len(data)
