from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.self_signed_certificate import (
    SelfSignedCertificate,
    SelfSignedCertificateParams,
)
from detection.model import ThreatLevel


def test_self_signed_is_reported_per_pair_and_stepped(rec: SimpleNamespace) -> None:
    det = SelfSignedCertificate(SelfSignedCertificateParams())
    status = "self signed certificate"
    records = [rec.ssl(validation=status, subject="CN=c2.example", ts=float(i)) for i in range(12)]
    evs = rec.drive(det, records)
    assert [e.count for e in evs] == [1, 10]
    ev = evs[0]
    assert ev.type == "self_signed_certificate" and ev.threat_level is ThreatLevel.LOW
    assert (ev.attacker, ev.victim, ev.attack_technique) == (
        "10.0.0.1",
        "198.51.100.7",
        "T1587.003",
    )
    assert ev.description.startswith(
        "Self-signed certificate from 198.51.100.7:443 to 10.0.0.1: CN c2.example, SNI example.com"
    )


def test_valid_or_otherwise_invalid_certificates_are_quiet(rec: SimpleNamespace) -> None:
    det = SelfSignedCertificate(SelfSignedCertificateParams())
    statuses = ["ok", "certificate has expired", "", "unable to get local issuer certificate"]
    assert rec.drive(det, [rec.ssl(validation=s) for s in statuses]) == []
