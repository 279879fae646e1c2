from __future__ import annotations

from types import SimpleNamespace

from detection.allowlist import CidrIndex, OrgInfo
from detection.heuristics.base import DetectionContext
from detection.heuristics.incompatible_certificate_cn import (
    IncompatibleCertificateCn,
    IncompatibleCertificateCnParams,
)
from detection.model import ThreatLevel

GOOGLE = OrgInfo(
    "google", frozenset(), frozenset({"google.com", "youtube.com"}), CidrIndex(["142.250.0.0/15"])
)
CONTEXT = DetectionContext(organizations={"google": GOOGLE})


def det() -> IncompatibleCertificateCn:
    return IncompatibleCertificateCn(IncompatibleCertificateCnParams(), CONTEXT)


def test_google_cn_for_netflix_from_a_foreign_address(rec: SimpleNamespace) -> None:
    ssl = rec.ssl(daddr="52.0.131.132", sni="netflix.com", subject="CN=www.google.com,O=x")
    (ev,) = rec.drive(det(), [ssl, ssl])  # the same handshake twice: one evidence
    assert ev.type == "incompatible_certificate_cn" and ev.threat_level is ThreatLevel.MEDIUM
    assert (ev.attacker, ev.victim, ev.attack_technique) == ("10.0.0.1", "52.0.131.132", "T1557")
    assert ev.confidence == 0.8
    assert ev.description == (
        "Certificate CN www.google.com (google) served for netflix.com by 52.0.131.132, "
        "which is not a google address; client 10.0.0.1"
    )


def test_consistent_certificates_are_quiet(rec: SimpleNamespace) -> None:
    records = [
        rec.ssl(daddr="142.250.1.1", sni="netflix.com", subject="CN=www.google.com"),  # Google IP
        rec.ssl(daddr="52.0.131.132", sni="www.youtube.com", subject="CN=*.google.com"),  # its SNI
        rec.ssl(daddr="52.0.131.132", sni="netflix.com", subject="CN=*.netflix.com"),  # no org
        rec.ssl(daddr="52.0.131.132", sni="", subject="CN=www.google.com"),  # no SNI
    ]
    assert rec.drive(det(), records) == []
    # Without reference data nothing can be said.
    plain = IncompatibleCertificateCn(IncompatibleCertificateCnParams())
    assert rec.drive(plain, [rec.ssl(daddr="52.0.131.132", subject="CN=www.google.com")]) == []
