"""Findings as STIX 2.1 objects (pure: no I/O, no clock, no randomness).

Theory of operation
-------------------
Three object types, built from plain dicts (no `stix2` at run time):

* an ``identity`` for the agent (``identity_class: system``), named in the
  configuration; every other object has it as ``created_by_ref``;
* an ``indicator`` per attacker address of a finding: pattern
  ``[ipv4-addr:value = '…']`` or ``[ipv6-addr:value = '…']`` (a domain
  attacker becomes ``[domain-name:value = '…']``; anything else is not
  exportable and gives no indicator), ``valid_from`` the finding's time,
  ``confidence`` its confidence x 100, ``indicator_types``
  ``malicious-activity`` for alerts and high/critical evidence, else
  ``anomalous-activity``, ``labels`` the finding type(s) and threat level,
  and ``external_references`` to the ATT&CK techniques behind it plus one
  naming the Starling finding id;
* a ``sighting`` per alert: ``sighting_of_ref`` the alert's indicator,
  ``count`` the evidence behind the alert, ``first_seen``/``last_seen`` the
  span of the evidence this process saw for it (the alert time when none),
  ``where_sighted_refs`` the agent's identity.

Ids are deterministic: UUIDv5 (namespace `STIX_NAMESPACE`) over the
identity and the finding id, which is itself a content hash
(`detection.model`). Exporting the same finding again gives byte-identical
objects, so a TAXII server or a file reader deduplicates by (id, modified).
Two agents exporting the same finding get different ids (their identities
differ), as STIX requires of objects with different creators.

One indicator per finding, not one per address for all time: a long-lived
per-address indicator would need a stable ``created`` across runs, which a
pure function of the finding cannot give. Consumers correlate indicators of
one address by their pattern.

Timestamps are RFC 3339 in UTC with millisecond precision and a ``Z``
(STIX 2.1 section 3.2). A finding whose time cannot be represented raises
`StixError` (a ValueError); the exporter counts it and moves on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from detection.model import Alert, Evidence, ThreatLevel

__all__ = [
    "STIX_NAMESPACE",
    "StixError",
    "alert_objects",
    "attack_reference",
    "bundle",
    "evidence_objects",
    "identity",
    "indicator_pattern",
    "stix_time",
]

# Namespace of every id this module makes (fixed: ids must not change between versions).
STIX_NAMESPACE = uuid.UUID("0f4b5f5e-3c1e-4f1d-9a44-6a3c54e0b7d2")
# `created` of the identity object: a constant, so the identity is the same
# object (id and version) in every run and on every export.
IDENTITY_CREATED = "2024-01-01T00:00:00.000Z"

_TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+"
                     r"[A-Za-z][A-Za-z0-9-]{0,62}$")  # fmt: skip
_MALICIOUS = {ThreatLevel.HIGH, ThreatLevel.CRITICAL}
_MAX_DESCRIPTION = 4000
_MAX_COUNT = 999_999_999  # STIX 2.1 sighting.count upper bound


class StixError(ValueError):
    """The finding cannot be expressed in STIX (e.g. a time out of range)."""


def stix_time(ts: float) -> str:
    """``2024-05-01T12:00:00.123Z``: UTC, millisecond precision."""
    if not math.isfinite(ts):
        raise StixError(f"timestamp {ts!r} is not finite")
    ms = round(ts * 1000)
    try:
        when = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise StixError(f"timestamp {ts!r} is out of range") from None
    if when.year < 1 or when.year > 9999:  # pragma: no cover - fromtimestamp refuses first
        raise StixError(f"timestamp {ts!r} is out of range")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def _id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(STIX_NAMESPACE, '|'.join((kind, *parts)))}"


def identity(name: str) -> dict[str, Any]:
    """The agent as a STIX identity (a system), the creator of every other object."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": _id("identity", name),
        "created": IDENTITY_CREATED,
        "modified": IDENTITY_CREATED,
        "name": name,
        "identity_class": "system",
        "description": "Starling network sensor (behavioural detection, P2P IoC sharing)",
    }


def _quote(value: str) -> str:
    """A STIX patterning string literal: backslash and quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def indicator_pattern(value: str) -> str | None:
    """The STIX pattern matching `value`, or None when it is neither an IP nor a domain."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        if _DOMAIN.match(value):
            return f"[domain-name:value = {_quote(value.lower())}]"
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"[ipv4-addr:value = {_quote(str(ip.ipv4_mapped))}]"
        return f"[ipv6-addr:value = {_quote(ip.compressed)}]"
    return f"[ipv4-addr:value = {_quote(str(ip))}]"


def attack_reference(technique: str) -> dict[str, str] | None:
    """External reference to a MITRE ATT&CK technique (``T1046``, ``T1110.001``)."""
    if not _TECHNIQUE.match(technique):
        return None
    url_path = technique.replace(".", "/")
    return {
        "source_name": "mitre-attack",
        "external_id": technique,
        "url": f"https://attack.mitre.org/techniques/{url_path}/",
    }


def _references(finding_id: str, techniques: Iterable[str | None]) -> list[dict[str, str]]:
    refs = [{"source_name": "starling", "external_id": finding_id}]
    for t in sorted({t for t in techniques if t}):
        ref = attack_reference(t)
        if ref is not None:
            refs.append(ref)
    return refs


def _confidence(value: float) -> int:
    return max(0, min(100, round(value * 100)))


def _clean(value: str) -> str:
    """Valid Unicode only: lone surrogates (from undecodable input bytes) become '?'."""
    return value.encode("utf-8", "replace").decode("utf-8")


def _text(value: str) -> str:
    return _clean(value[:_MAX_DESCRIPTION])


def _indicator(
    ident: dict[str, Any],
    finding_id: str,
    value: str,
    ts: float,
    *,
    name: str,
    description: str,
    malicious: bool,
    labels: Sequence[str],
    confidence: float,
    techniques: Iterable[str | None],
    valid_seconds: float | None,
) -> dict[str, Any] | None:
    pattern = indicator_pattern(value)
    if pattern is None:
        return None
    when = stix_time(ts)
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": _id("indicator", ident["id"], finding_id, value),
        "created_by_ref": ident["id"],
        "created": when,
        "modified": when,
        "name": _clean(name[:256]),
        "description": _text(description),
        "indicator_types": ["malicious-activity" if malicious else "anomalous-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": when,
        "labels": sorted({_clean(label) for label in labels if label}),
        "confidence": _confidence(confidence),
        "external_references": _references(finding_id, techniques),
    }
    if valid_seconds is not None:
        obj["valid_until"] = stix_time(ts + valid_seconds)
    return obj


def evidence_objects(
    evidence: Evidence, ident: dict[str, Any], *, valid_seconds: float | None = None
) -> list[dict[str, Any]]:
    """An indicator for the evidence's attacker ([] when the attacker is not exportable)."""
    where = f" (victim {evidence.victim})" if evidence.victim else ""
    ind = _indicator(
        ident,
        evidence.id,
        evidence.attacker,
        evidence.ts,
        name=f"{evidence.type} from {evidence.attacker}",
        description=f"{evidence.description}{where}; source {evidence.source}",
        malicious=evidence.threat_level in _MALICIOUS,
        labels=(evidence.type, f"threat-{evidence.threat_level.value}"),
        confidence=evidence.confidence,
        techniques=(evidence.attack_technique,),
        valid_seconds=valid_seconds,
    )
    return [ind] if ind is not None else []


def alert_objects(
    alert: Alert,
    ident: dict[str, Any],
    *,
    related: Sequence[Evidence] = (),
    valid_seconds: float | None = None,
) -> list[dict[str, Any]]:
    """An indicator for the alert's profile and a sighting of it ([] if not exportable).

    `related` is the alert's evidence the caller still has (any subset, in any
    order): their ATT&CK techniques become references and their times the
    sighting's first_seen/last_seen. The output depends on the set, not the order.
    """
    mine = {e.id: e for e in related if e.id in set(alert.evidence_ids)}
    ordered = [mine[k] for k in sorted(mine)]
    ind = _indicator(
        ident,
        alert.id,
        alert.profile,
        alert.ts,
        name=f"alert: {alert.profile}",
        description=(
            f"{alert.description} (score {alert.score:.2f} over threshold "
            f"{alert.threshold:.2f}, time window {alert.timewindow}, source {alert.source})"
        ),
        malicious=True,
        labels=("alert", *alert.evidence_types, f"threat-{alert.threat_level.value}"),
        confidence=alert.confidence,
        techniques=(e.attack_technique for e in ordered),
        valid_seconds=valid_seconds,
    )
    if ind is None:
        return []
    times = [e.ts for e in ordered if math.isfinite(e.ts)] or [alert.ts]
    first, last = min(times), max(*times, alert.ts)
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": _id("sighting", ident["id"], alert.id),
        "created_by_ref": ident["id"],
        "created": ind["created"],
        "modified": ind["modified"],
        "description": _text(alert.description),
        "sighting_of_ref": ind["id"],
        "count": max(1, min(_MAX_COUNT, len(alert.evidence_ids))),
        "first_seen": stix_time(first),
        "last_seen": stix_time(last),
        "where_sighted_refs": [ident["id"]],
        "confidence": _confidence(alert.confidence),
        "external_references": [{"source_name": "starling", "external_id": alert.id}],
    }
    return [ind, sighting]


def bundle(objects: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A STIX 2.1 bundle of `objects`; its id is derived from the objects' ids and versions."""
    key = sorted(f"{o['id']}@{o.get('modified', '')}" for o in objects)
    return {"type": "bundle", "id": _id("bundle", *key), "objects": list(objects)}
