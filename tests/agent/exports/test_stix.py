"""STIX 2.1 objects from findings: spec rules checked by hand and by the `stix2` library."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import stix2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2patterns.validator import run_validator

from agent.exports import stix
from detection.model import Alert, Evidence

ID = re.compile(r"^([a-z0-9-]+)--([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
# RFC 3339, UTC, 'Z'; created/modified need millisecond precision (STIX 2.1 3.2)
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
TIME_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

REQUIRED = {
    "identity": {"name"},
    "indicator": {"pattern", "pattern_type", "valid_from"},
    "sighting": {"sighting_of_ref"},
}
INDICATOR_TYPES = {
    "anomalous-activity",
    "anonymization",
    "benign",
    "compromised",
    "malicious-activity",
    "attribution",
    "unknown",
}


def check_spec(obj: dict[str, Any]) -> None:
    """The STIX 2.1 rules we can check without the library, then the library's own."""
    kind = obj["type"]
    assert obj["spec_version"] == "2.1"
    m = ID.match(obj["id"])
    assert m is not None, obj["id"]
    assert m.group(1) == kind
    assert uuid.UUID(m.group(2)).variant == uuid.RFC_4122
    assert REQUIRED[kind] <= obj.keys()
    assert TIME_MS.match(obj["created"]) and TIME_MS.match(obj["modified"])
    assert obj["modified"] >= obj["created"]
    for key in ("valid_from", "valid_until", "first_seen", "last_seen"):
        if key in obj:
            assert TIME.match(obj[key]), (key, obj[key])
    if "created_by_ref" in obj:
        assert obj["created_by_ref"].startswith("identity--")
    if "confidence" in obj:
        assert isinstance(obj["confidence"], int) and 0 <= obj["confidence"] <= 100
    for ref in obj.get("external_references", []):
        assert ref["source_name"] and ({"external_id", "url", "description"} & ref.keys())
    if kind == "indicator":
        assert obj["pattern_type"] == "stix"
        assert run_validator(obj["pattern"], stix_version="2.1") == []
        assert set(obj["indicator_types"]) <= INDICATOR_TYPES
        if "valid_until" in obj:
            assert obj["valid_until"] > obj["valid_from"]
    if kind == "sighting":
        assert obj["sighting_of_ref"].startswith("indicator--")
        assert 0 <= obj["count"] <= 999_999_999
        assert obj["last_seen"] >= obj["first_seen"]
        assert all(r.startswith("identity--") for r in obj["where_sighted_refs"])
    # the reference implementation: required properties, types, timestamps, pattern
    parsed = stix2.parse(orjson.dumps(obj).decode(), allow_custom=False)
    assert parsed.id == obj["id"]


IDENT = stix.identity("Starling test sensor")


def test_identity_is_valid_and_constant() -> None:
    check_spec(IDENT)
    assert stix.identity("Starling test sensor") == IDENT
    assert stix.identity("another")["id"] != IDENT["id"]
    assert IDENT["identity_class"] == "system"


def test_evidence_becomes_an_ipv4_indicator_with_attack_reference(findings: Any) -> None:
    ev: Evidence = findings.evidence[0]
    [ind] = stix.evidence_objects(ev, IDENT, valid_seconds=3600)
    check_spec(ind)
    assert ind["pattern"] == "[ipv4-addr:value = '203.0.113.5']"
    assert ind["created_by_ref"] == IDENT["id"]
    assert ind["valid_from"] == "2024-05-01T12:00:00.250Z"
    assert ind["valid_until"] == "2024-05-01T13:00:00.250Z"
    assert ind["confidence"] == 90
    assert ind["indicator_types"] == ["malicious-activity"]  # high threat
    assert "horizontal_port_scan" in ind["labels"]
    refs = {r["source_name"]: r for r in ind["external_references"]}
    assert refs["mitre-attack"] == {
        "source_name": "mitre-attack",
        "external_id": "T1046",
        "url": "https://attack.mitre.org/techniques/T1046/",
    }
    assert refs["starling"]["external_id"] == ev.id


def test_ipv6_and_mapped_addresses(evidence_factory: Callable[..., Evidence]) -> None:
    [v6] = stix.evidence_objects(evidence_factory("2001:DB8:0:0::7"), IDENT)
    check_spec(v6)
    assert v6["pattern"] == "[ipv6-addr:value = '2001:db8::7']"
    [mapped] = stix.evidence_objects(evidence_factory("::ffff:198.51.100.1"), IDENT)
    assert mapped["pattern"] == "[ipv4-addr:value = '198.51.100.1']"
    [domain] = stix.evidence_objects(evidence_factory("Evil.Example.COM"), IDENT)
    check_spec(domain)
    assert domain["pattern"] == "[domain-name:value = 'evil.example.com']"
    assert stix.evidence_objects(evidence_factory("not an address!"), IDENT) == []


def test_alert_gives_indicator_and_sighting(findings: Any) -> None:
    alert: Alert = findings.alert
    ind, sighting = stix.alert_objects(alert, IDENT, related=findings.evidence)
    check_spec(ind)
    check_spec(sighting)
    assert sighting["sighting_of_ref"] == ind["id"]
    assert sighting["where_sighted_refs"] == [IDENT["id"]]
    assert sighting["count"] == len(alert.evidence_ids) == 2
    assert sighting["first_seen"] == "2024-05-01T12:00:00.250Z"  # the first evidence
    assert sighting["last_seen"] == "2024-05-01T12:00:30.250Z"  # the last one
    techniques = sorted(
        r["external_id"] for r in ind["external_references"] if r["source_name"] == "mitre-attack"
    )
    assert techniques == ["T1046", "T1110.001"]
    sub = next(r for r in ind["external_references"] if r.get("external_id") == "T1110.001")
    assert sub["url"] == "https://attack.mitre.org/techniques/T1110/001/"
    assert ind["indicator_types"] == ["malicious-activity"]
    assert {"alert", "horizontal_port_scan", "ssh_password_guessing"} <= set(ind["labels"])


def test_alert_without_its_evidence_still_exports(findings: Any) -> None:
    ind, sighting = stix.alert_objects(findings.alert, IDENT)
    check_spec(ind)
    check_spec(sighting)
    assert sighting["first_seen"] == sighting["last_seen"] == stix.stix_time(findings.alert.ts)
    assert [r["source_name"] for r in ind["external_references"]] == ["starling"]


def test_objects_are_deterministic_and_idempotent(findings: Any) -> None:
    a = stix.alert_objects(findings.alert, IDENT, related=findings.evidence)
    b = stix.alert_objects(findings.alert, IDENT, related=list(reversed(findings.evidence)))
    assert orjson.dumps(a) == orjson.dumps(b)
    ev = findings.evidence[0]
    assert stix.evidence_objects(ev, IDENT) == stix.evidence_objects(ev, IDENT)
    # a different finding, or a different creator, is a different object
    other = stix.evidence_objects(findings.evidence[1], IDENT)[0]["id"]
    assert other != stix.evidence_objects(ev, IDENT)[0]["id"]
    elsewhere = stix.identity("another sensor")
    assert (
        stix.evidence_objects(ev, elsewhere)[0]["id"] != stix.evidence_objects(ev, IDENT)[0]["id"]
    )
    # bundle ids follow the content
    objs = [IDENT, *a]
    assert stix.bundle(objs)["id"] == stix.bundle(list(reversed(objs)))["id"]
    assert stix.bundle(objs)["id"] != stix.bundle(objs[:2])["id"]


def test_bundle_parses(findings: Any) -> None:
    objs = [IDENT, *stix.alert_objects(findings.alert, IDENT, related=findings.evidence)]
    b = stix.bundle(objs)
    parsed = stix2.parse(orjson.dumps(b).decode(), allow_custom=False)
    assert [o.id for o in parsed.objects] == [o["id"] for o in objs]


def test_stix_time() -> None:
    assert stix.stix_time(0) == "1970-01-01T00:00:00.000Z"
    assert stix.stix_time(1.0005) == "1970-01-01T00:00:01.000Z"  # round half to even
    assert stix.stix_time(1_714_564_800.999_6) == "2024-05-01T12:00:01.000Z"
    for bad in (float("nan"), float("inf"), 1e20):
        with pytest.raises(stix.StixError):
            stix.stix_time(bad)


def test_attack_reference_refuses_non_techniques() -> None:
    assert stix.attack_reference("T1046") is not None
    assert stix.attack_reference("TA0001") is None
    assert stix.attack_reference("T1046.1") is None


# -- properties ------------------------------------------------------------------------------

addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.text(max_size=40),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    attacker=addresses,
    description=st.text(max_size=300),
    ts=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    confidence=st.floats(min_value=0, max_value=1),
    technique=st.one_of(
        st.none(), st.from_regex(r"T\d{4}(\.\d{3})?", fullmatch=True), st.text(max_size=8)
    ),
)
def test_any_evidence_gives_valid_stix_or_nothing(
    evidence_factory: Callable[..., Evidence],
    alert_factory: Callable[..., Alert],
    attacker: str,
    description: str,
    ts: float,
    confidence: float,
    technique: str | None,
) -> None:
    if not attacker.strip():
        attacker = "x"  # Evidence refuses an empty attacker
    ev = evidence_factory(
        attacker, ts=ts, description=description, technique=technique, confidence=confidence
    )
    objs = stix.evidence_objects(ev, IDENT) + stix.alert_objects(
        alert_factory([ev]), IDENT, related=[ev]
    )
    try:
        ipaddress.ip_address(attacker)
        is_ip = True
    except ValueError:
        is_ip = False
    if is_ip:
        assert [o["type"] for o in objs] == ["indicator", "indicator", "sighting"]
    for obj in objs:
        check_spec(obj)
