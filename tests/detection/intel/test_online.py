"""What online services' answers mean, and the DNS codec, without the network."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from detection.intel.model import IocKind
from detection.intel.online import (
    QTYPE_A,
    QTYPE_TXT,
    DnsAnswer,
    LookupRequest,
    OnlineError,
    Service,
    circl_verdict,
    cymru_asn,
    dns_query,
    dnsbl_name,
    evidence_for,
    parse_dns_response,
    rdap_registration,
    registrable_domain,
    spamhaus_verdict,
    urlhaus_verdict,
    virustotal_path,
    virustotal_verdict,
    young_domain_verdict,
)
from detection.model import ThreatLevel


def _vt(malicious: int, suspicious: int = 0, harmless: int = 60, undetected: int = 10) -> Any:
    stats = {
        "malicious": malicious,
        "suspicious": suspicious,
        "harmless": harmless,
        "undetected": undetected,
    }
    return {"data": {"attributes": {"last_analysis_stats": stats}}}


def test_virustotal_thresholds() -> None:
    ip = IocKind.IP
    assert not virustotal_verdict(ip, "1.2.3.4", 200, _vt(2)).malicious  # < 3 engines
    medium = virustotal_verdict(ip, "1.2.3.4", 200, _vt(5))
    assert medium.malicious and medium.level == ThreatLevel.MEDIUM
    high = virustotal_verdict(ip, "1.2.3.4", 200, _vt(40, harmless=20))
    assert high.level == ThreatLevel.HIGH and high.confidence == 1.0
    assert "40/70 engines" in high.detail
    assert not virustotal_verdict(ip, "1.2.3.4", 404, None).malicious
    with pytest.raises(OnlineError):
        virustotal_verdict(ip, "1.2.3.4", 200, {"data": {}})
    with pytest.raises(OnlineError):
        virustotal_verdict(ip, "1.2.3.4", 401, None)


def test_virustotal_paths() -> None:
    assert virustotal_path(IocKind.IP, "1.2.3.4") == "/api/v3/ip_addresses/1.2.3.4"
    # URL identifiers are unpadded base64url of the URL (VirusTotal API v3)
    assert virustotal_path(IocKind.URL, "http://a.b/") == "/api/v3/urls/aHR0cDovL2EuYi8"
    assert virustotal_path(IocKind.SHA256, "ab" * 32).startswith("/api/v3/files/")
    with pytest.raises(ValueError, match="does not look up"):
        virustotal_path(IocKind.JA3, "x")


def test_urlhaus_and_circl() -> None:
    url = urlhaus_verdict(
        IocKind.URL, "http://x/", 200, {"query_status": "ok", "url_status": "offline"}
    )
    assert url.malicious and url.level == ThreatLevel.MEDIUM  # offline: less urgent
    payload = urlhaus_verdict(
        IocKind.MD5, "0" * 32, 200, {"query_status": "ok", "signature": "Mirai"}
    )
    assert payload.level == ThreatLevel.HIGH and "Mirai" in payload.detail
    assert not urlhaus_verdict(IocKind.URL, "u", 200, {"query_status": "no_results"}).malicious
    with pytest.raises(OnlineError, match="unknown_auth_key"):
        urlhaus_verdict(IocKind.URL, "u", 200, {"query_status": "unknown_auth_key"})
    known = circl_verdict(IocKind.MD5, "0" * 32, 200, {"FileName": "a.dll"})
    assert known.known_benign and not known.malicious
    bad = circl_verdict(IocKind.MD5, "0" * 32, 200, {"KnownMalicious": "x", "hashlookup:trust": 40})
    assert bad.malicious and bad.level == ThreatLevel.MEDIUM  # (100 - 40) / 100 = 0.6
    assert not circl_verdict(IocKind.MD5, "0" * 32, 404, None).malicious


def test_spamhaus_codes() -> None:
    assert dnsbl_name("1.2.3.4", "zen.spamhaus.org.") == "4.3.2.1.zen.spamhaus.org"
    with pytest.raises(ValueError, match="IPv4"):
        dnsbl_name("::1", "zen")
    xbl = spamhaus_verdict("1.2.3.4", DnsAnswer(0, ["127.0.0.2", "127.0.0.4"], []))
    assert xbl.level == ThreatLevel.HIGH and "XBL" in xbl.detail and "SBL" in xbl.detail
    pbl = spamhaus_verdict("1.2.3.4", DnsAnswer(0, ["127.0.0.10"], []))
    assert not pbl.malicious and "policy" in pbl.detail
    assert not spamhaus_verdict("1.2.3.4", DnsAnswer(3, [], [])).malicious
    with pytest.raises(OnlineError, match="refused"):  # open resolver / over quota
        spamhaus_verdict("1.2.3.4", DnsAnswer(0, ["127.255.255.254"], []))


def test_registration_and_asn() -> None:
    assert registrable_domain("a.b.example.com.") == "example.com"
    assert registrable_domain("www.example.co.uk") == "example.co.uk"
    body = {"events": [{"eventAction": "registration", "eventDate": "2024-01-01T00:00:00Z"}]}
    registered = rdap_registration(body)
    assert registered == 1704067200.0
    assert rdap_registration({"events": [{"eventAction": "registration", "eventDate": 5}]}) is None
    young = young_domain_verdict("example.com", registered, registered + 10 * 86400, 60)
    assert young.malicious and young.level == ThreatLevel.LOW
    assert not young_domain_verdict(
        "example.com", registered, registered + 61 * 86400, 60
    ).malicious
    assert cymru_asn(["15169 | 8.8.8.0/24 | US | arin | 1992-12-01"]) == "AS15169"
    assert cymru_asn(["23456 64500 | 10.0.0.0/8 | ZZ | x | y"]) == "AS23456"
    assert cymru_asn(["garbage"]) is None


def test_evidence_names_who_and_why() -> None:
    verdict = circl_verdict(IocKind.MD5, "0" * 32, 200, {"KnownMalicious": "bazaar"})
    request = LookupRequest(IocKind.MD5, "0" * 32, 7200.5, "C1", "198.51.100.1", "10.0.0.2")
    ev = evidence_for(verdict, request, 3600)
    assert ev is not None
    assert (ev.type, ev.attacker, ev.victim, ev.timewindow) == (
        "online_hashlookup",
        "198.51.100.1",
        "10.0.0.2",
        2,
    )
    assert ev.source == "local:online_hashlookup" and ev.uids == ("C1",)
    assert "bazaar" in ev.description
    clean = circl_verdict(IocKind.MD5, "0" * 32, 404, None)
    assert evidence_for(clean, request, 3600) is None


# -- DNS codec ------------------------------------------------------------------------------


def _reply(
    query: bytes, rrs: list[tuple[int, bytes]], rcode: int = 0, txid: int | None = None
) -> bytes:
    qid = struct.unpack_from("!H", query)[0] if txid is None else txid
    head = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(rrs), 0, 0)
    out = head + query[12:]
    for rtype, rdata in rrs:
        out += b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 300, len(rdata)) + rdata
    return out


def test_dns_round_trip() -> None:
    query = dns_query("4.3.2.1.zen.spamhaus.org", QTYPE_A, 0x1234)
    assert query[:2] == b"\x12\x34" and query.endswith(b"\x00\x00\x01\x00\x01")
    answer = parse_dns_response(_reply(query, [(1, bytes((127, 0, 0, 2)))]), 0x1234)
    assert answer == DnsAnswer(0, ["127.0.0.2"], [])
    txt = dns_query("x.origin.asn.cymru.com", QTYPE_TXT, 7)
    answer = parse_dns_response(_reply(txt, [(16, b"\x03abc\x02de")]), 7)
    assert answer.texts == ["abcde"]
    assert parse_dns_response(_reply(query, [], rcode=3), 0x1234).rcode == 3
    with pytest.raises(OnlineError, match="not a response"):
        parse_dns_response(_reply(query, [], txid=1), 0x1234)  # someone else's (spoofed?)
    with pytest.raises(OnlineError, match="truncated"):
        parse_dns_response(_reply(query, [(1, b"\x7f\x00\x00\x02")])[:-2], 0x1234)
    with pytest.raises(ValueError, match="label"):
        dns_query("a..b", QTYPE_A, 1)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 0xFFFF))
def test_dns_parser_never_crashes(data: bytes, txid: int) -> None:
    try:
        answer = parse_dns_response(data, txid)
    except OnlineError:
        return
    assert all(a.count(".") == 3 for a in answer.addresses)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_dns_parser_on_mutated_answers(tail: bytes) -> None:
    query = dns_query("1.2.3.4.zen.test", QTYPE_A, 9)
    packet = _reply(query, [(1, bytes((127, 0, 0, 4)))])
    # trailing junk after a complete message does not change the answer
    assert parse_dns_response(packet + tail, 9).addresses == ["127.0.0.4"]
    # an overwritten end is an error or a well-formed answer, never a crash
    try:
        answer = parse_dns_response(packet[: max(12, len(packet) - len(tail))] + tail, 9)
    except OnlineError:
        return
    assert all(a.count(".") == 3 for a in answer.addresses)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = st.sampled_from(
    [
        "data", "attributes", "last_analysis_stats", "malicious", "query_status", "ok",
        "KnownMalicious", "hashlookup:trust", "events", "eventAction", "registration",
        "eventDate", "tags", "threat", "url_status",
    ]
)  # fmt: skip
_SHAPED = st.recursive(
    st.none() | st.integers(-5, 200) | st.text(max_size=10) | _FIELDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_FIELDS, inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_JSON, _SHAPED), st.sampled_from([200, 404, 429, 500]))
@example({"query_status": "ok", "tags": 1}, 200)  # found by this test: tags not a list
def test_answer_parsers_raise_only_online_error(body: Any, status: int) -> None:
    for parse in (
        lambda: virustotal_verdict(IocKind.IP, "1.2.3.4", status, body),
        lambda: urlhaus_verdict(IocKind.URL, "http://x/", status, body),
        lambda: urlhaus_verdict(IocKind.MD5, "0" * 32, status, body),
        lambda: circl_verdict(IocKind.MD5, "0" * 32, status, body),
    ):
        try:
            verdict = parse()
        except OnlineError:
            continue
        assert 0.0 <= verdict.confidence <= 1.0
        assert verdict.service in Service
    registered = rdap_registration(body)
    assert registered is None or isinstance(registered, float)
