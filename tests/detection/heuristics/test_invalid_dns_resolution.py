from __future__ import annotations

from detection.heuristics.invalid_dns_resolution import (
    InvalidDnsResolution,
    InvalidDnsResolutionParams,
)
from detection.model import DnsRecord, ThreatLevel

BASE = DnsRecord(
    100.0, "D1", "10.0.0.5", 5555, "10.0.0.53", 53, "udp", "evil.example.com", "A", "NOERROR",
    ("0.0.0.0",),
)  # fmt: skip


def test_sinkholed_public_name() -> None:
    det = InvalidDnsResolution(InvalidDnsResolutionParams())
    (ev,) = det.observe(BASE, 0) or ()
    assert ev.type == "invalid_dns_resolution" and ev.attacker == "10.0.0.5"
    assert ev.victim is None and ev.uids == ("D1",)
    assert ev.threat_level is ThreatLevel.INFO and ev.attack_technique == "T1568"
    assert ev.confidence == 0.8
    assert ev.description == (
        "Invalid DNS resolution: public name evil.example.com resolved to a sinkhole address "
        "(0.0.0.0) for 10.0.0.5 by 10.0.0.53"
    )
    assert det.observe(BASE._replace(ts=101.0), 0) is None  # once per query and window


def test_loopback_and_private_answers() -> None:
    det = InvalidDnsResolution(InvalidDnsResolutionParams())
    loop = BASE._replace(query="a.example.org", answers=("cname.example.org", "127.0.0.1"))
    v6 = BASE._replace(query="b.example.org", answers=("::1",))
    private = BASE._replace(query="c.example.org", answers=("192.168.1.20",))
    evs = [e for r in (loop, v6, private) for e in det.observe(r, 0) or ()]
    assert [(e.confidence, "sinkhole" in e.description) for e in evs] == [
        (0.8, True),
        (0.8, True),
        (0.5, False),
    ]
    off = InvalidDnsResolution(InvalidDnsResolutionParams(private_answers=False))
    assert off.observe(private, 0) is None


def test_local_names_and_public_answers_are_quiet() -> None:
    det = InvalidDnsResolution(InvalidDnsResolutionParams())
    quiet = [
        BASE._replace(answers=("93.184.216.34",)),
        BASE._replace(answers=("2606:2800:220:1::",)),
        BASE._replace(query="nas.local", answers=("192.168.1.2",)),
        BASE._replace(query="printer", answers=("10.0.0.9",)),
        BASE._replace(query="1.0.0.127.in-addr.arpa", answers=("127.0.0.1",)),
        BASE._replace(query="wpad.corp", answers=("10.0.0.9",)),
        BASE._replace(answers=("fe80::1",)),  # link-local is not "private" here
        BASE._replace(answers=()),
        BASE._replace(answers=("999.1.1.1", "1nvalid")),
    ]
    assert [e for r in quiet for e in det.observe(r, 0) or ()] == []
