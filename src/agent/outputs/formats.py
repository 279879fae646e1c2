"""Findings in the formats other tools read. One function per format, no I/O.

alerts.json is IDMEF v2 (the IETF draft Slips also emits) with Starling's flat
keys alongside, so a reader can use either: the flat keys (`type`, `attacker`,
`victim`, `threat_level`, `confidence`, `timewindow`, `ts`, `description`,
`uids`, `source`, …) are documented in docs/output-formats.md, the CamelCase
keys are IDMEF's. eve.json uses Suricata's `alert` event shape so SIEM parsers
written for Suricata take Starling's findings unchanged.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from typing import Any

from detection.model import Alert, Evidence, ThreatLevel

__all__ = ["alert_line", "alert_record", "eve_alert", "evidence_line", "evidence_record", "iso"]

IDMEF_VERSION = "2.0.3"

_SEVERITY = {
    ThreatLevel.INFO: "Info",
    ThreatLevel.LOW: "Low",
    ThreatLevel.MEDIUM: "Medium",
    ThreatLevel.HIGH: "High",
    ThreatLevel.CRITICAL: "High",  # IDMEF v2 has no higher level
}
_EVE_SEVERITY = {  # Suricata: 1 is the most severe
    ThreatLevel.INFO: 4,
    ThreatLevel.LOW: 3,
    ThreatLevel.MEDIUM: 2,
    ThreatLevel.HIGH: 1,
    ThreatLevel.CRITICAL: 1,
}
# IDMEF v2 categories (Reference Security Incident Taxonomy names).
_CATEGORY = {
    "horizontal_port_scan": "Recon.Scanning",
    "vertical_port_scan": "Recon.Scanning",
    "long_connection": "Anomaly.Connection",
}
_EVE_CATEGORY = {
    "horizontal_port_scan": "Detection of a Network Scan",
    "vertical_port_scan": "Detection of a Network Scan",
    "long_connection": "Potentially Bad Traffic",
}

ANALYZER = {
    "Name": "Starling",
    "Model": "Starling behavioural network sensor",
    "Type": "Cyber",
    "Category": ["NIDS"],
    "Data": ["Flow", "Network"],
    "Method": ["Heuristic"],
}


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MIN = dt.datetime.min.replace(tzinfo=dt.UTC)
_MAX = dt.datetime.max.replace(tzinfo=dt.UTC)


def _utc(ts: float) -> dt.datetime:
    """`ts` as an aware UTC datetime; never raises (clamped to years 1..9999, NaN → epoch).

    Parsers reject absurd timestamps, but an output format must not be the place
    where a bad value from elsewhere (a peer, a future parser) crashes a run.
    """
    try:
        return _EPOCH + dt.timedelta(seconds=ts)
    except (OverflowError, ValueError, TypeError):
        if math.isnan(ts):
            return _EPOCH
        return _MAX if ts > 0 else _MIN


# The last timestamp formatted, as one (ts, text) tuple (read and replaced atomically,
# so threads sharing it never see a mismatched pair): each finding is written in
# three formats from one `ts`, and formatting a datetime costs more than the rest.
_last_iso: list[tuple[float, str]] = [(math.nan, "")]


def iso(ts: float) -> str:
    last = _last_iso[0]
    if last[0] == ts and type(ts) is float:
        return last[1]
    text = _utc(ts).isoformat(timespec="microseconds")
    _last_iso[0] = (ts, text)
    return text


def evidence_record(ev: Evidence) -> dict[str, Any]:
    target: dict[str, Any] = {}
    if ev.victim:
        target["IP"] = ev.victim
    if ev.dport is not None:
        target["Port"] = [ev.dport]
    if ev.proto:
        target["Protocol"] = [ev.proto.upper()]
    return {
        "record": "evidence",
        "id": ev.id,
        "type": ev.type,
        "attacker": ev.attacker,
        "victim": ev.victim,
        "profile": ev.profile,
        "threat_level": ev.threat_level.value,
        "confidence": ev.confidence,
        "timewindow": ev.timewindow,
        "ts": ev.ts,
        "description": ev.description,
        "uids": list(ev.uids),
        "source": ev.source,
        "dport": ev.dport,
        "proto": ev.proto,
        "count": ev.count,
        "attack_technique": ev.attack_technique,
        "Version": IDMEF_VERSION,
        "ID": ev.id,
        "CreateTime": iso(ev.ts),
        "StartTime": iso(ev.ts),
        "Category": [_CATEGORY.get(ev.type, "Anomaly.Traffic")],
        "Cause": "Malicious",
        "Description": ev.description,
        "Status": "Event",
        "Severity": _SEVERITY[ev.threat_level],
        "Confidence": ev.confidence,
        "Analyzer": ANALYZER,
        "Source": [{"IP": ev.attacker}],
        "Target": [target] if target else [],
        "Attachment": [
            {"Name": "uids", "ContentType": "application/json", "Content": list(ev.uids)}
        ],
    }


def alert_record(alert: Alert) -> dict[str, Any]:
    return {
        "record": "alert",
        "id": alert.id,
        "type": "alert",
        "attacker": alert.profile,
        "victim": alert.victims[0] if len(alert.victims) == 1 else None,
        "victims": list(alert.victims),
        "profile": alert.profile,
        "threat_level": alert.threat_level.value,
        "confidence": alert.confidence,
        "timewindow": alert.timewindow,
        "ts": alert.ts,
        "description": alert.description,
        "uids": list(alert.uids),
        "source": alert.source,
        "score": alert.score,
        "threshold": alert.threshold,
        "evidence_ids": list(alert.evidence_ids),
        "evidence_types": list(alert.evidence_types),
        "Version": IDMEF_VERSION,
        "ID": alert.id,
        "CreateTime": iso(alert.ts),
        "Category": sorted({_CATEGORY.get(t, "Anomaly.Traffic") for t in alert.evidence_types}),
        "Cause": "Malicious",
        "Description": alert.description,
        "Status": "Incident",
        "Severity": _SEVERITY[alert.threat_level],
        "Confidence": alert.confidence,
        "Analyzer": ANALYZER,
        "Source": [{"IP": alert.profile}],
        "Target": [{"IP": v} for v in alert.victims],
        "Attachment": [
            {
                "Name": "evidence",
                "ContentType": "application/json",
                "Content": list(alert.evidence_ids),
            }
        ],
    }


def _signature_id(kind: str) -> int:
    # Stable per type across versions and machines: SIEM rules can key on it.
    return 9_000_000 + zlib.crc32(kind.encode()) % 1_000_000


def eve_alert(finding: Evidence | Alert) -> dict[str, Any]:
    if isinstance(finding, Alert):
        kind, src, dst, port, proto = "alert", finding.profile, None, None, None
        category = "Starling Alert"
        uids = finding.uids
        if len(finding.victims) == 1:
            dst = finding.victims[0]
    else:
        kind, src, dst, port, proto = (
            finding.type,
            finding.attacker,
            finding.victim,
            finding.dport,
            finding.proto,
        )
        category = _EVE_CATEGORY.get(kind, "Misc activity")
        uids = finding.uids
    event: dict[str, Any] = {
        "timestamp": iso(finding.ts),
        "event_type": "alert",
        "src_ip": src,
    }
    if dst:
        event["dest_ip"] = dst
    if port is not None:
        event["dest_port"] = port
    if proto:
        event["proto"] = proto.upper()
    event["alert"] = {
        "action": "allowed",
        "gid": 1,
        "signature_id": _signature_id(kind),
        "rev": 1,
        "signature": f"STARLING {kind}: {finding.description}",
        "category": category,
        "severity": _EVE_SEVERITY[finding.threat_level],
    }
    event["starling"] = {
        "id": finding.id,
        "record": "alert" if isinstance(finding, Alert) else "evidence",
        "confidence": finding.confidence,
        "timewindow": finding.timewindow,
        "source": finding.source,
        "uids": list(uids),
    }
    return event


def _when(ts: float) -> str:
    text = iso(ts)
    if text[0] != "0":  # years 1000-9999: ISO's fields are strftime's (years < 1000 unpadded)
        return f"{text[:10]} {text[11:19]}"
    return _utc(ts).strftime("%Y-%m-%d %H:%M:%S")


def evidence_line(ev: Evidence) -> str:
    victim = f" -> {ev.victim}" if ev.victim else ""
    return (
        f"{_when(ev.ts)} tw={ev.timewindow} evidence {ev.threat_level.value.upper():8} "
        f"conf={ev.confidence:.2f} {ev.attacker}{victim} [{ev.type}] {ev.description} ({ev.source})"
    )


def alert_line(alert: Alert) -> str:
    return (
        f"{_when(alert.ts)} tw={alert.timewindow} ALERT    {alert.threat_level.value.upper():8} "
        f"conf={alert.confidence:.2f} {alert.profile} {alert.description}"
    )
