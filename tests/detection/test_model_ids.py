"""Finding ids are content-derived uuid5 values, computed without the `uuid`
module on the hot path (`detection.model._uuid5`): they must stay exactly what
`uuid.uuid5` gives for the documented key, so stores and peers keep deduplicating
findings of older runs and other agents."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from detection.model import Alert, Evidence, ThreatLevel

EVIDENCE_NS = uuid.UUID("6f1c2a52-0a8e-4d59-9a59-2f1f0d3c7a10")
ALERT_NS = uuid.UUID("c7d1b4e8-51a3-4a8c-b7e5-3f4f3d6a2b21")

_TEXT = st.text(min_size=1, max_size=40)
_TS = st.floats(min_value=0.0, max_value=2**33, allow_nan=False)


def reference_evidence_id(ev: Evidence) -> str:
    key = "|".join(
        (
            ev.source,
            ev.type,
            ev.attacker,
            ev.victim or "",
            ev.profile,
            repr(ev.ts),
            str(ev.timewindow),
            str(ev.dport),
            str(ev.proto),
            str(ev.count),
        )
    )
    return str(uuid.uuid5(EVIDENCE_NS, key))


@given(
    kind=_TEXT,
    attacker=_TEXT,
    victim=st.none() | st.text(max_size=40),
    profile=st.text(max_size=40),
    ts=_TS,
    window=st.integers(-(2**40), 2**40),
    dport=st.none() | st.integers(0, 65535),
    proto=st.none() | st.sampled_from(["tcp", "udp", "icmp", "é∂"]),
    count=st.none() | st.integers(0, 2**63),
    source=st.sampled_from(["local:", "peer:"]).flatmap(lambda p: _TEXT.map(lambda s: p + s)),
)
def test_evidence_id_is_uuid5_of_its_key(
    kind: str,
    attacker: str,
    victim: str | None,
    profile: str,
    ts: float,
    window: int,
    dport: int | None,
    proto: str | None,
    count: int | None,
    source: str,
) -> None:
    ev = Evidence(
        type=kind,
        attacker=attacker,
        victim=victim,
        threat_level=ThreatLevel.LOW,
        confidence=0.5,
        ts=ts,
        timewindow=window,
        description="d",
        source=source,
        profile=profile,
        dport=dport,
        proto=proto,
        count=count,
    )
    assert ev.id == reference_evidence_id(ev)
    assert uuid.UUID(ev.id).version == 5


def test_evidence_id_known_answer() -> None:
    ev = Evidence(
        type="horizontal_port_scan",
        attacker="10.0.0.1",
        victim=None,
        threat_level=ThreatLevel.HIGH,
        confidence=1.0,
        ts=1700000000.5,
        timewindow=472222,
        description="scan",
        source="local:horizontal_port_scan",
        dport=23,
        proto="tcp",
        count=12,
    )
    key = (
        "local:horizontal_port_scan|horizontal_port_scan|10.0.0.1||10.0.0.1|"
        "1700000000.5|472222|23|tcp|12"
    )
    assert ev.id == str(uuid.uuid5(EVIDENCE_NS, key))


@given(
    profile=_TEXT,
    window=st.integers(0, 2**40),
    ids=st.lists(st.text(max_size=36), min_size=1, max_size=5),
)
def test_alert_id_is_uuid5_of_its_key(profile: str, window: int, ids: list[str]) -> None:
    alert = Alert(
        profile=profile,
        timewindow=window,
        ts=1.0,
        score=20.0,
        threshold=15.0,
        evidence_ids=tuple(ids),
        evidence_types=("t",),
        victims=(),
        uids=(),
        confidence=0.5,
        threat_level=ThreatLevel.HIGH,
        description="a",
    )
    key = "|".join((alert.source, profile, str(window), *ids))
    assert alert.id == str(uuid.uuid5(ALERT_NS, key))
