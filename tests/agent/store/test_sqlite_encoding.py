"""The SQLite store writes each finding's blob with orjson's own dataclass
serialisation (`agent.store.sqlite._encode`); it must be byte for byte the
documented form, `orjson.dumps(finding_to_dict(obj))`, which readers decode."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from agent.store.sqlite import _encode
from detection.model import Alert, Evidence, ProfileSummary, ThreatLevel, finding_to_dict

_TEXT = st.text(max_size=30)
_NAME = st.text(min_size=1, max_size=30)
_FLOAT = st.floats(allow_nan=False, allow_infinity=False, width=64)
_LEVEL = st.sampled_from(list(ThreatLevel))

evidence = st.builds(
    Evidence,
    type=_NAME,
    attacker=_NAME,
    victim=st.none() | _TEXT,
    threat_level=_LEVEL,
    confidence=st.floats(0.0, 1.0),
    ts=_FLOAT,
    timewindow=st.integers(-(2**62), 2**62),
    description=_TEXT,
    source=_NAME.map(lambda s: "local:" + s),
    profile=_TEXT,
    uids=st.lists(_TEXT, max_size=120).map(tuple),
    dport=st.none() | st.integers(0, 65535),
    proto=st.none() | _TEXT,
    count=st.none() | st.integers(0, 2**63 - 1),
    attack_technique=st.none() | _TEXT,
)
alerts = st.builds(
    Alert,
    profile=_NAME,
    timewindow=st.integers(0, 2**40),
    ts=_FLOAT,
    score=st.just(20.0),
    threshold=st.just(15.0),
    evidence_ids=st.lists(_TEXT, min_size=1, max_size=5).map(tuple),
    evidence_types=st.lists(_TEXT, max_size=5).map(tuple),
    victims=st.lists(_TEXT, max_size=5).map(tuple),
    uids=st.lists(_TEXT, max_size=120).map(tuple),
    confidence=st.floats(0.0, 1.0),
    threat_level=_LEVEL,
    description=_TEXT,
)
summaries = st.builds(
    ProfileSummary,
    ip=_NAME,
    timewindow=st.integers(0, 2**40),
    start=_FLOAT,
    end=_FLOAT,
    flows_out=st.integers(0, 2**63 - 1),
    flows_in=st.integers(0, 2**63 - 1),
    bytes_out=st.integers(0, 2**63 - 1),
    bytes_in=st.integers(0, 2**63 - 1),
    pkts_out=st.integers(0, 2**63 - 1),
    pkts_in=st.integers(0, 2**63 - 1),
    distinct_dsts=st.integers(0, 2**31),
    distinct_dports=st.integers(0, 65536),
    evidence=st.integers(0, 2**31),
    score=_FLOAT,
    alerts=st.integers(0, 2**31),
)


@given(obj=evidence | alerts | summaries)
def test_encoded_blob_is_finding_to_dict(obj: Evidence | Alert | ProfileSummary) -> None:
    assert _encode(obj) == orjson.dumps(finding_to_dict(obj))
