from __future__ import annotations

from types import SimpleNamespace

from detection.allowlist import CidrIndex, OrgInfo
from detection.heuristics.base import DetectionContext
from detection.heuristics.cn_sni_mismatch import CnSniMismatch, CnSniMismatchParams, names_cover
from detection.model import ThreatLevel

_GOOGLE = OrgInfo("google", frozenset(), frozenset({"google.com"}), CidrIndex(["8.8.8.0/24"]))


def _det(context: DetectionContext | None = None) -> CnSniMismatch:
    return CnSniMismatch(CnSniMismatchParams(), context)


def test_certificate_for_another_site_arriving_after_ssl_log(rec: SimpleNamespace) -> None:
    ssl = rec.ssl(daddr="203.0.113.80", sni="www.netflix.com", fuids=("F1", "F2"), uid="C7")
    cert = rec.x509("F1", "CN=www.microsoft.com", ("www.microsoft.com", "microsoft.com"), ts=100.1)
    det = _det()
    assert det.observe(ssl, 0) is None  # waits for the certificate
    (ev,) = det.observe(cert, 0) or ()
    assert ev.type == "cn_sni_mismatch"
    assert (ev.attacker, ev.victim, ev.dport, ev.uids) == ("10.0.0.1", "203.0.113.80", 443, ("C7",))
    assert ev.threat_level is ThreatLevel.LOW and ev.confidence == 0.6
    assert ev.attack_technique == "T1557"
    assert ev.description == (
        "TLS certificate of 203.0.113.80 does not match the server name www.netflix.com "
        "asked for by 10.0.0.1: certificate for www.microsoft.com, microsoft.com; validation: ok"
    )
    assert det.close_window(2**62) is None


def test_certificate_seen_first_and_reported_once(rec: SimpleNamespace) -> None:
    cert = rec.x509("F1", "CN=evil.example", ())
    ssl = [rec.ssl(sni="bank.com", fuids=("F1",), validation="self signed certificate")] * 3
    (ev,) = rec.drive(_det(), [cert, *ssl])
    assert ev.confidence == 0.8  # did not validate either
    assert ev.description.endswith("validation: self signed certificate")


def test_matching_names_are_quiet(rec: SimpleNamespace) -> None:
    cases = [
        ("www.example.com", "CN=www.example.com", ()),
        ("a.cdn.example.net", "CN=www.example.com", ("*.cdn.example.net",)),  # wildcard SAN
        ("example.com", "CN=www.example.com", ()),  # same registered domain
        ("api.example.co.uk", "CN=www.example.co.uk", ()),
    ]
    records = []
    for i, (sni, subject, sans) in enumerate(cases):
        records.append(rec.ssl(sni=sni, fuids=(f"F{i}",)))
        records.append(rec.x509(f"F{i}", subject, sans))
    records.append(rec.ssl(sni="198.51.100.7", subject="CN=other.org"))  # SNI is an address
    records.append(rec.ssl(sni="", subject="CN=other.org"))
    assert rec.drive(_det(), records) == []


def test_wildcards_cover_one_label_only() -> None:
    assert names_cover("a.example.net", ["*.example.net"])
    assert not names_cover("a.b.example.net", ["*.other.net", "*.b.other.net"])


def test_cn_alone_is_only_trusted_when_clearly_wrong(rec: SimpleNamespace) -> None:
    context = DetectionContext(organizations={"google": _GOOGLE})
    records = [
        rec.ssl(daddr="22.33.22.33", sni="netflix.com", subject="CN=whatever", fuids=("F1",)),
        rec.ssl(daddr="52.0.13.1", sni="netflix.com", subject="CN=www.google.com", fuids=("F2",)),
        rec.ssl(daddr="2.3.4.5", sni="i.akamaized.net", subject="CN=a2.akamai.net", fuids=("F3",)),
        rec.ssl(daddr="2.3.4.6", sni="www.youtube.com", subject="", fuids=("F4",)),
    ]  # fmt: skip
    evs = rec.drive(_det(context), records)  # no x509.log: decided when the window closes
    assert [(e.victim, e.confidence) for e in evs] == [("22.33.22.33", 0.4), ("52.0.13.1", 0.4)]
    assert "certificate for whatever (subject CN only)" in evs[0].description


def test_pending_records_are_bounded_and_dropped(rec: SimpleNamespace) -> None:
    det = CnSniMismatch(CnSniMismatchParams(max_pending=5))
    for i in range(50):
        det.observe(rec.ssl(sni="a.org", subject="", fuids=(f"F{i}",)), 0)
    assert len(det._pending) == 5
    assert det.state_overflow == {"pending_refused": 45}
    assert det.close_window(0) is None and not det._pending
