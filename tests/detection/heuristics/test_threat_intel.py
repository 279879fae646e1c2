"""The four threat-intelligence detectors: each triggers on a listed value and
stays quiet on an unlisted one (and on an empty index)."""

from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.base import DetectionContext
from detection.heuristics.threat_intel_domain import ThreatIntelDomain, ThreatIntelDomainParams
from detection.heuristics.threat_intel_file import ThreatIntelFile, ThreatIntelFileParams
from detection.heuristics.threat_intel_ip import ThreatIntelIp, ThreatIntelIpParams
from detection.heuristics.threat_intel_tls import ThreatIntelTls, ThreatIntelTlsParams
from detection.intel.index import IntelIndex
from detection.intel.model import FeedInfo, Ioc, IocKind
from detection.model import ThreatLevel

FEED = FeedInfo("test-feed", ThreatLevel.HIGH)
JA3 = "6734f37431670b3ab4292b8f60f29984"
JA3S = "e7d705a3286e19ea42f587b344ee6865"
SHA1 = "a" * 40


def context(*iocs: Ioc, benign_md5: tuple[str, ...] = ()) -> DetectionContext:
    index = IntelIndex()
    index.add_feed(FEED, iocs)
    index.add_benign_md5(benign_md5)
    return DetectionContext(intel=index.freeze())


def test_ip_listed_destination_is_the_attacker(rec: SimpleNamespace) -> None:
    det = ThreatIntelIp(ThreatIntelIpParams(), context(Ioc(IocKind.IP, "198.51.100.7")))
    evs = rec.drive(
        det, [rec.flow("10.0.0.1", "198.51.100.7", 443, ts=100.0 + i) for i in range(12)]
    )
    assert [(e.attacker, e.victim, e.count) for e in evs] == [
        ("198.51.100.7", "10.0.0.1", 1), ("198.51.100.7", "10.0.0.1", 10)
    ]  # fmt: skip
    assert evs[0].threat_level is ThreatLevel.HIGH and evs[0].confidence == 1.0
    assert "connected to blacklisted IP 198.51.100.7 (listed by test-feed)" in evs[0].description


def test_ip_listed_source_by_range(rec: SimpleNamespace) -> None:
    det = ThreatIntelIp(ThreatIntelIpParams(), context(Ioc(IocKind.CIDR, "203.0.113.0/24")))
    (ev,) = rec.drive(det, [rec.flow("203.0.113.5", "10.0.0.1", 22)])
    assert (ev.attacker, ev.victim, ev.confidence) == ("203.0.113.5", "10.0.0.1", 0.9)
    assert "via 203.0.113.0/24" in ev.description


def test_ip_unlisted_and_empty_index_are_quiet(rec: SimpleNamespace) -> None:
    det = ThreatIntelIp(ThreatIntelIpParams(), context(Ioc(IocKind.IP, "198.51.100.8")))
    assert rec.drive(det, [rec.flow("10.0.0.1", "198.51.100.7")]) == []
    empty = ThreatIntelIp(ThreatIntelIpParams(), DetectionContext())
    assert not empty.wants_flow("tcp", 443, "", 0, 0)


def test_domain_in_dns_accuses_the_resolved_address(rec: SimpleNamespace) -> None:
    det = ThreatIntelDomain(ThreatIntelDomainParams(), context(Ioc(IocKind.DOMAIN, "evil.example")))
    (ev,) = rec.drive(det, [rec.dns("c2.evil.example", ("203.0.113.9",))])
    assert (ev.attacker, ev.victim, ev.confidence) == ("203.0.113.9", "10.0.0.1", 0.7)
    assert "resolved blacklisted domain c2.evil.example via evil.example" in ev.description


def test_domain_unanswered_query_lands_on_the_querier(rec: SimpleNamespace) -> None:
    det = ThreatIntelDomain(ThreatIntelDomainParams(), context(Ioc(IocKind.DOMAIN, "evil.example")))
    (ev,) = rec.drive(det, [rec.dns("evil.example", ())])
    assert (ev.attacker, ev.victim) == ("10.0.0.1", None)


def test_domain_cname_answer_and_listed_ip_answer(rec: SimpleNamespace) -> None:
    ctx = context(Ioc(IocKind.DOMAIN, "cdn-evil.example"), Ioc(IocKind.IP, "203.0.113.10"))
    det = ThreatIntelDomain(ThreatIntelDomainParams(), ctx)
    evs = rec.drive(det, [rec.dns("innocent.example", ("cdn-evil.example", "203.0.113.10"))])
    assert {e.attacker for e in evs} == {"203.0.113.10"}
    assert any("CNAME of innocent.example" in e.description for e in evs)
    assert any("DNS answer for innocent.example is blacklisted IP" in e.description for e in evs)


def test_http_url_and_tls_sni(rec: SimpleNamespace) -> None:
    ctx = context(Ioc(IocKind.URL, "http://files.example/payload.bin"),
                  Ioc(IocKind.DOMAIN, "evil.example"))  # fmt: skip
    det = ThreatIntelDomain(ThreatIntelDomainParams(), ctx)
    evs = rec.drive(det, [
        rec.http(host="files.example", uri="/payload.bin"),
        rec.http(host="files.example", uri="/index.html"),
        rec.ssl(sni="www.evil.example", daddr="203.0.113.20"),
    ])  # fmt: skip
    assert [(e.attacker, "URL" in e.description) for e in evs] == [
        ("198.51.100.7", True), ("203.0.113.20", False)
    ]  # fmt: skip


def test_domain_quiet_when_unlisted(rec: SimpleNamespace) -> None:
    det = ThreatIntelDomain(ThreatIntelDomainParams(), context(Ioc(IocKind.DOMAIN, "evil.example")))
    assert rec.drive(det, [rec.dns("example.com"), rec.http(), rec.ssl()]) == []


def test_ja3_accuses_the_client_and_ja3s_the_server(rec: SimpleNamespace) -> None:
    det = ThreatIntelTls(ThreatIntelTlsParams(),
                         context(Ioc(IocKind.JA3, JA3), Ioc(IocKind.JA3, JA3S)))  # fmt: skip
    hello = rec.ssl("10.0.2.15", "22.33.22.33")._replace(ja3=JA3)
    answer = rec.ssl("10.0.2.16", "123.33.22.11")._replace(ja3s=JA3S)
    unlisted = rec.ssl()._replace(ja3="0" * 32, ja3s="1" * 32)
    evs = rec.drive(det, [hello, answer, unlisted])
    assert [(e.attacker, e.victim) for e in evs] == [
        ("10.0.2.15", "22.33.22.33"), ("123.33.22.11", "10.0.2.16")
    ]  # fmt: skip
    assert evs[0].description.startswith("Malicious JA3 ") and "JA3S" in evs[1].description


def test_file_hash_and_certificate_sha1(rec: SimpleNamespace) -> None:
    md5 = "44d88612fea8a8f36de82e1278abb02f"
    det = ThreatIntelFile(ThreatIntelFileParams(),
                          context(Ioc(IocKind.MD5, md5), Ioc(IocKind.SHA1, SHA1)))  # fmt: skip
    exe = rec.files()._replace(md5=md5)
    cert = rec.files(mime="application/x-x509-user-cert", source="SSL")._replace(sha1=SHA1)
    clean = rec.files()._replace(md5="b" * 32)
    evs = rec.drive(det, [exe, cert, clean])
    assert [(e.attacker, e.victim) for e in evs] == [("198.51.100.7", "10.0.0.1")] * 2
    assert "file a.exe" in evs[0].description and "TLS certificate" in evs[1].description


def test_file_known_false_positive_never_matches(rec: SimpleNamespace) -> None:
    md5 = "c5e389341a0b19b6f045823abffc9814"
    det = ThreatIntelFile(
        ThreatIntelFileParams(), context(Ioc(IocKind.MD5, md5), benign_md5=(md5,))
    )
    assert rec.drive(det, [rec.files()._replace(md5=md5)]) == []
