"""HTTPS anomaly detector: per-host TLS baselines with robust z-scores.

Streams are scripted hour by hour (time comes only from record timestamps);
expected thresholds and z-scores are computed from the detector's documented
formula, not copied from its output.
"""

from __future__ import annotations

import math
import random
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agent.analyze import analyze
from agent.config import load_config
from detection.heuristics import REGISTRY
from detection.heuristics.base import ADDRESS_KINDS, DetectionContext
from detection.ml.https_anomaly import (
    MAD_SCALE,
    HttpsAnomaly,
    HttpsAnomalyParams,
    median_mad,
    robust_z,
    site,
)
from detection.model import Evidence, Flow, Record, SslRecord, ThreatLevel

H = 3600.0
T0 = 1_700_000_000.0 - (1_700_000_000.0 % H)  # an hour boundary
HOST = "10.0.0.5"
ZEEK = Path(__file__).parents[2] / "data" / "captures" / "zeek"


def hs(
    server: str,
    ts: float,
    *,
    saddr: str = HOST,
    daddr: str = "198.51.100.7",
    ja3: str = "ja3-firefox",
    uid: str = "",
) -> SslRecord:
    return SslRecord(
        ts, uid or f"S{ts}", saddr, 40000, daddr, 443, "TLSv13", "TLS_AES_128_GCM_SHA256",
        server, True, "", "", "ok", ja3, "ja3s", (),
    )  # fmt: skip


def tls(
    daddr: str,
    ts: float,
    sent: int,
    *,
    saddr: str = HOST,
    received: int = 20_000,
    service: str = "ssl",
    dport: int = 443,
    uid: str = "",
) -> Flow:
    """An established TLS flow from `saddr` that sent `sent` bytes."""
    return Flow(
        ts, uid or f"C{ts}", saddr, 40000, daddr, dport, "tcp", service, 1.0, sent, received,
        10, 10, "SF", "ShADadFf", True,
    )  # fmt: skip


def run(det: HttpsAnomaly, records: Iterable[Record]) -> list[Evidence]:
    """Feed records in 1 h windows, closing windows as the pipeline does."""
    out: list[Evidence] = []
    newest: int | None = None
    for r in sorted(records, key=lambda r: r.ts):
        window = int(r.ts // H)
        if newest is None or window > newest:
            newest = window
            out.extend(det.close_window(window - 2) or ())
        out.extend(det.observe(r, window) or ())
    out.extend(det.close_window(2**62) or ())
    return out


def steady_hours(hours: int, *, start: int = 0, saddr: str = HOST) -> list[Record]:
    """A habit: each hour 20 handshakes to the same 5 sites, one JA3, and a 10 kB
    flow to each of 5 servers."""
    out: list[Record] = []
    for hour in range(start, start + hours):
        base = T0 + hour * H
        for i in range(20):
            out.append(hs(f"www.site{i % 5}.com", base + 60 + i * 100, saddr=saddr))
        for i in range(5):
            out.append(tls(f"198.51.100.{i + 1}", base + 90 + i * 300, 10_000, saddr=saddr))
    return out


def detector(**overrides: object) -> HttpsAnomaly:
    return HttpsAnomaly(HttpsAnomalyParams(**overrides))


def of(evs: list[Evidence], word: str) -> list[Evidence]:
    return [e for e in evs if word in e.description]


# -- the statistics ---------------------------------------------------------------------


def test_median_mad_and_robust_z_follow_the_definition() -> None:
    assert median_mad([1, 2, 3, 4, 100]) == (3.0, 1.0)
    assert robust_z(10, 3.0, 1.0, 0.5) == pytest.approx(7 / MAD_SCALE)
    assert robust_z(10, 3.0, 0.0, 0.5) == pytest.approx(7 / (MAD_SCALE * 0.5))  # the floor


def test_site_groups_names_of_one_registered_domain() -> None:
    assert site("www.Example.COM.") == "example.com"
    assert site("a.b.example.com") == "example.com"
    assert site("news.bbc.co.uk") == "bbc.co.uk"
    assert site("localhost") == "localhost"
    assert site("192.0.2.1") == "192.0.2.1"
    assert site("2001:db8::1") == "2001:db8::1"


def test_params_reject_inverted_thresholds() -> None:
    with pytest.raises(ValidationError):
        HttpsAnomalyParams(z_low=5.0, z_medium=4.0)
    with pytest.raises(ValidationError):
        HttpsAnomalyParams(bytes_history=4, bytes_min_flows=8)
    with pytest.raises(ValidationError):
        HttpsAnomalyParams(baseline_hours=2, warmup_hours=3)  # could never warm up
    with pytest.raises(ValidationError):
        HttpsAnomalyParams(z_lwo=3.0)  # type: ignore[call-arg]  # a misspelt key


def test_registered_and_configurable() -> None:
    assert "https_anomaly" in {cls.name for cls in REGISTRY}
    cfg = load_config(None, {"detectors.https_anomaly.warmup_hours": 5})
    assert getattr(cfg.detectors, "https_anomaly").warmup_hours == 5  # noqa: B009  # dynamic section


# -- quiet on normal hosts ----------------------------------------------------------------


def test_steady_host_is_quiet_for_two_days() -> None:
    assert run(detector(), steady_hours(48)) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_benign_variation_is_quiet(seed: int) -> None:
    """A working day and night: a few new sites now and then, two browsers, flow
    sizes spread over a decade, idle nights, two hosts."""
    rnd = random.Random(seed)
    recs: list[Record] = []
    fresh = 0
    for hour in range(72):
        if hour % 24 >= 20:  # nights are idle: no samples
            continue
        base = T0 + hour * H
        for saddr in ("10.0.0.5", "10.0.0.6"):
            for i in range(rnd.randint(15, 40)):
                ts = base + rnd.uniform(0, H - 1)
                if rnd.random() < 0.05:  # a new site now and then
                    fresh += 1
                    name = f"news{fresh}.example{fresh}.org"
                else:
                    name = f"www.usual{rnd.randint(0, 14)}.com"
                ja3 = "ja3-firefox" if rnd.random() < 0.7 else "ja3-edge"
                recs.append(hs(name, ts, saddr=saddr, ja3=ja3, uid=f"S{saddr}{ts}"))
                size = int(20_000 * math.exp(rnd.gauss(0, 0.5)))
                recs.append(tls(f"198.51.100.{i % 6}", ts, size, saddr=saddr, uid=f"C{saddr}{ts}"))
    assert fresh > 10  # there was variation
    assert run(detector(), recs) == []


def test_randomised_ja3_browser_is_quiet() -> None:
    """Chrome permutes its TLS extensions: every handshake has a new JA3. The
    baseline learns that new fingerprints are this host's normal."""
    rnd = random.Random(7)
    recs: list[Record] = []
    for hour in range(30):
        for i in range(25):
            ts = T0 + hour * H + i * 140
            recs.append(hs(f"www.usual{i % 8}.com", ts, ja3=f"{rnd.getrandbits(128):032x}"))
    assert run(detector(), recs) == []


def test_public_sources_are_not_profiled_by_default() -> None:
    recs = steady_hours(6, saddr="203.0.113.9")
    recs += [hs(f"www.evil{i}.net", T0 + 6 * H + i, saddr="203.0.113.9") for i in range(30)]
    assert run(detector(), recs) == []
    det = HttpsAnomaly(
        HttpsAnomalyParams(), DetectionContext(own_addresses=frozenset({"203.0.113.9"}))
    )
    assert len(run(det, recs)) == 2  # an own public address is one of ours
    assert len(run(detector(own_hosts_only=False), recs)) == 2


# -- new servers --------------------------------------------------------------------------


def test_burst_of_new_servers_fires_low_then_medium_once_per_hour() -> None:
    recs = steady_hours(6)
    burst = T0 + 6 * H
    recs += [hs(f"cdn{i}.c2-{i}.net", burst + 10 + i, uid=f"B{i}") for i in range(15)]
    recs += [hs(f"more{i}.c2x-{i}.net", burst + 100 + i) for i in range(15)]  # same hour
    evs = run(detector(), recs)
    # baseline: 5 samples of 0 new servers, MAD 0 -> floor 1
    low_at = math.ceil(3.5 * MAD_SCALE)
    medium_at = math.ceil(7.0 * MAD_SCALE)
    assert [(e.threat_level, e.count) for e in evs] == [
        (ThreatLevel.LOW, low_at),
        (ThreatLevel.MEDIUM, medium_at),
    ]
    low, medium = evs
    assert (low.attacker, low.victim, low.attack_technique) == (HOST, None, "T1071.001")
    assert f"{low_at} new TLS servers (domains)" in low.description
    assert "median 0, MAD 0" in low.description
    assert f"z={robust_z(low_at, 0, 0, 1.0):.1f}" in low.description
    assert f"z={robust_z(medium_at, 0, 0, 1.0):.1f}" in medium.description
    assert "c2-0.net" in low.description and "5 active hours" in low.description
    assert low.uids[:3] == ("B0", "B1", "B2")
    assert 0 < low.confidence < medium.confidence <= 1


def test_new_servers_report_again_in_a_later_hour() -> None:
    recs = steady_hours(6)
    for hour in (6, 8):
        recs += [hs(f"x{hour}-{i}.net", T0 + hour * H + i) for i in range(8)]
    evs = run(detector(), recs)
    assert [(e.threat_level, int(e.ts // H) - int(T0 // H)) for e in evs] == [
        (ThreatLevel.LOW, 6),
        (ThreatLevel.LOW, 8),
    ]


def test_sub_domains_of_known_sites_are_not_new() -> None:
    recs = steady_hours(6)
    recs += [hs(f"img{i}.site{i % 5}.com", T0 + 6 * H + i) for i in range(30)]
    assert run(detector(), recs) == []


def test_too_few_new_servers_stay_quiet_whatever_the_z() -> None:
    recs = steady_hours(6)
    recs += [hs(f"x{i}.net", T0 + 6 * H + i) for i in range(4)]
    # z = 4 / 1.48 = 2.7 here; with a tiny floor it would be huge, but 4 < new_servers_min
    assert run(detector(new_servers_mad_floor=0.01), recs) == []
    evs = run(detector(new_servers_mad_floor=0.01, new_servers_min=4), recs)
    assert [e.threat_level for e in evs] == [ThreatLevel.MEDIUM]  # z far above 7 at once


# -- warm-up ------------------------------------------------------------------------------


def test_silent_during_warm_up() -> None:
    det = detector(bytes_min_flows=1)
    recs = steady_hours(3)  # first hour + 2 samples: warmup_hours is 3
    burst = T0 + 3 * H
    recs += [hs(f"x{i}.net", burst + i, ja3=f"new-{i}") for i in range(30)]
    recs += [tls("198.51.100.1", burst + 50, 50_000_000)]
    assert run(det, recs) == []
    # the same burst one hour later, after the warm-up, is reported
    recs = steady_hours(4)
    burst = T0 + 4 * H
    recs += [hs(f"x{i}.net", burst + i, ja3=f"new-{i}") for i in range(30)]
    recs += [tls("198.51.100.1", burst + 50, 50_000_000)]
    evs = run(detector(bytes_min_flows=1), recs)
    kinds = [
        ("servers" in e.description, "JA3" in e.description, "bytes" in e.description) for e in evs
    ]
    assert sorted(kinds) == [
        (False, False, True),  # 50 MB to a known server: MEDIUM
        (False, True, False),  # 30 new JA3: LOW at 1 ...
        (False, True, False),  # ... and MEDIUM at 2
        (True, False, False),  # 30 new servers: LOW at 6 ...
        (True, False, False),  # ... and MEDIUM at 11
    ]


def test_silent_until_enough_handshakes() -> None:
    recs: list[Record] = []
    for hour in range(8):  # many hours, but only 2 handshakes an hour
        recs += [hs("www.a.com", T0 + hour * H + 1), hs("www.b.com", T0 + hour * H + 2)]
    recs += [hs(f"x{i}.net", T0 + 8 * H + 10 + i) for i in range(30)]
    assert run(detector(), recs) == []
    assert run(detector(warmup_connections=16), recs) != []


# -- JA3 ---------------------------------------------------------------------------------


def test_new_ja3_after_warm_up_is_low_two_are_medium() -> None:
    recs = steady_hours(6)
    t = T0 + 6 * H + 5
    recs += [
        hs("www.site1.com", t, ja3="6734f37431670b3ab4292b8f60f29984", uid="J1"),
        hs("www.site2.com", t + 1, ja3="6734f37431670b3ab4292b8f60f29984"),  # same again
        hs("www.site2.com", t + 2, ja3="a0e9f5d64349fb13191bc781f81f42e1", uid="J2"),
        hs("www.site3.com", t + 3, ja3="a0e9f5d64349fb13191bc781f81f42e1"),
    ]
    evs = run(detector(), recs)
    assert [(e.threat_level, e.count, e.uids) for e in evs] == [
        (ThreatLevel.LOW, 1, ("J1",)),
        (ThreatLevel.MEDIUM, 2, ("J2",)),
    ]
    low, medium = evs
    assert low.attack_technique == "T1573"
    assert "1 new JA3 client fingerprint from 10.0.0.5" in low.description
    assert "latest 6734f37431670b3ab4292b8f60f29984 to site1.com" in low.description
    assert f"median 0, MAD 0, z={robust_z(1, 0, 0, 0.15):.1f}" in low.description
    assert f"z={robust_z(2, 0, 0, 0.15):.1f}" in medium.description
    assert "3 fingerprints known" in medium.description


def test_a_ja3_seen_during_warm_up_is_not_new_later() -> None:
    recs = steady_hours(6)
    recs.append(hs("www.site0.com", T0 + 1 * H + 7, ja3="ja3-curl"))  # in warm-up
    recs.append(hs("www.site0.com", T0 + 6 * H + 7, ja3="ja3-curl"))
    assert run(detector(), recs) == []


# -- bytes to known servers ----------------------------------------------------------------


def test_abnormal_upload_to_a_known_server_is_medium() -> None:
    recs = steady_hours(10)  # 10 flows to each server: bytes_min_flows is 8
    recs.append(tls("198.51.100.3", T0 + 10 * H + 30, 5_000_000, uid="BIG"))
    (ev,) = run(detector(), recs)
    assert (ev.threat_level, ev.attacker, ev.victim, ev.dport) == (
        ThreatLevel.MEDIUM,
        HOST,
        "198.51.100.3",
        443,
    )
    assert ev.attack_technique == "T1041" and ev.uids == ("BIG",) and ev.count == 5_000_000
    q_big, q_usual = round(20 * math.log10(5_000_001)), round(20 * math.log10(10_001))
    z = robust_z(q_big, q_usual, 0, 20 * 0.1)
    assert "5000000 bytes sent in one TLS flow from 10.0.0.5 to known server" in ev.description
    assert "198.51.100.3:443 (20000 received)" in ev.description
    assert "its last 10 flows: median 10000 bytes sent, MAD 0.00 in log10" in ev.description
    assert f"z={z:.1f}" in ev.description and z >= 7.0


def test_moderately_large_upload_is_low_once_per_hour() -> None:
    recs: list[Record] = []
    for hour in range(6):
        for i in range(10):
            recs.append(tls("198.51.100.9", T0 + hour * H + i * 60, 200_000))
    hour6 = T0 + 6 * H
    recs += [tls("198.51.100.9", hour6 + 10 + i, 1_000_000) for i in range(3)]  # 5x
    recs += [tls("198.51.100.9", T0 + 7 * H + 10, 1_000_000)]
    evs = run(detector(), recs)
    assert [(e.threat_level, int(e.ts // H) - int(T0 // H)) for e in evs] == [
        (ThreatLevel.LOW, 6),
        (ThreatLevel.LOW, 7),
    ]
    assert f"z={robust_z(120, 106, 0, 2.0):.1f}" in evs[0].description  # 1 MB vs 200 kB


def test_large_downloads_are_not_scored() -> None:
    recs = steady_hours(10)
    recs.append(tls("198.51.100.3", T0 + 10 * H + 30, 10_000, received=500_000_000))
    assert run(detector(), recs) == []


def test_large_ratio_below_the_byte_minimum_is_quiet() -> None:
    recs = steady_hours(10)
    recs.append(tls("198.51.100.3", T0 + 10 * H + 30, 400_000))  # 40x, but < 500 kB
    assert run(detector(), recs) == []


def test_a_server_first_used_this_hour_is_not_known_yet() -> None:
    """A speed test: small flows to a new server, then a 25 MB upload seconds later."""
    recs = steady_hours(10)
    speed = T0 + 10 * H + 100
    recs += [tls("192.0.2.50", speed + i, 2_000) for i in range(12)]
    recs.append(tls("192.0.2.50", speed + 20, 25_000_000))
    assert run(detector(), recs) == []
    # the same server, used since the hour before, is known
    recs = steady_hours(10)
    recs += [tls("192.0.2.50", speed - H + i, 2_000) for i in range(12)]
    recs.append(tls("192.0.2.50", speed + 20, 25_000_000))
    assert [e.victim for e in run(detector(), recs)] == ["192.0.2.50"]


def test_unknown_server_has_no_byte_baseline() -> None:
    recs = steady_hours(10)
    recs.append(tls("192.0.2.99", T0 + 10 * H + 30, 50_000_000))
    assert run(detector(), recs) == []


def test_only_tls_flows_are_looked_at() -> None:
    det = detector()
    assert det.wants_flow("tcp", 443, "", 1, 0)
    assert det.wants_flow("tcp", 8443, "ssl", 1, 0)
    assert det.wants_flow("udp", 443, "quic,ssl", 1, 0)
    assert not det.wants_flow("tcp", 443, "http", 1, 0)
    assert not det.wants_flow("tcp", 80, "", 1, 0)
    assert not det.wants_flow("tcp", 443, "", 0, 0)  # a public source
    assert not det.wants_flow("tcp", 443, "", 1, 2)  # a special destination


@settings(max_examples=300, deadline=None)
@given(
    proto=st.sampled_from(["tcp", "udp", "icmp"]),
    dport=st.sampled_from([None, 0, 80, 443, 8443]),
    service=st.sampled_from(["", "ssl", "http", "quic,ssl", "dns"]),
    saddr=st.sampled_from(["10.0.0.5", "192.168.1.2", "203.0.113.9", "", "127.0.0.1"]),
    daddr=st.sampled_from(["198.51.100.1", "10.0.0.9", "224.0.0.251", "ff02::1"]),
)
def test_flows_the_router_drops_change_nothing(
    proto: str, dport: int | None, service: str, saddr: str, daddr: str
) -> None:
    """The routing contract: `wants_flow` may say no only to flows `observe` ignores."""
    det = detector()
    flow = Flow(T0, "C1", saddr, 1, daddr, dport, proto, service, 1.0, 10, 10, 1, 1, "SF", "", True)
    before = det.footprint()
    det.observe(flow, 0)
    if not det.wants_flow(proto, dport, service, ADDRESS_KINDS[saddr], ADDRESS_KINDS[daddr]):
        assert det.footprint() == before


# -- memory ------------------------------------------------------------------------------


CAPS = {
    "max_hosts": 4,
    "max_servers_per_host": 5,
    "max_ja3_per_host": 3,
    "max_byte_series": 6,
    "baseline_hours": 4,
    "bytes_history": 4,
    "bytes_min_flows": 2,
    "warmup_hours": 1,
    "warmup_connections": 1,
    "bucket_seconds": 60.0,
}

_event = st.tuples(
    st.booleans(),  # handshake or flow
    st.integers(0, 9),  # host
    st.integers(0, 19),  # server
    st.integers(0, 7),  # ja3
    st.floats(0, 400, allow_nan=False),  # seconds since the previous record
    st.integers(0, 10**10),  # bytes
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_event, max_size=300))
def test_state_stays_within_its_caps(events: list[tuple[bool, int, int, int, float, int]]) -> None:
    det = detector(**CAPS)
    ts, window = T0, 0
    for is_handshake, host, server, ja3, gap, nbytes in events:
        ts += gap
        window = int(ts // 60)
        saddr = f"10.0.0.{host}"
        rec: Record = (
            hs(
                f"s{server}.example.com",
                ts,
                saddr=saddr,
                daddr=f"198.51.100.{server}",
                ja3=f"j{ja3}",
            )
            if is_handshake
            else tls(f"198.51.100.{server}", ts, nbytes, saddr=saddr)
        )
        for ev in det.observe(rec, window) or ():
            assert ev.threat_level in (ThreatLevel.LOW, ThreatLevel.MEDIUM)
            assert ev.attacker == saddr
        size = det.footprint()
        assert size["hosts"] <= 4
        assert size["max_servers_per_host"] <= 5
        assert size["max_ja3_per_host"] <= 3
        assert size["byte_series"] <= 6
        assert size["max_samples_per_host"] <= 4
        if ts % 7 < 1:
            det.close_window(window - 2)
    det.close_window(2**62)


_odd_text = st.one_of(st.sampled_from(["", ".", "...", "-", "a..b", "1.2.3.4", "::1"]), st.text())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.sampled_from(["10.0.0.1", "10.0.0.2", "", "fd00::1", "not an ip"]),
            _odd_text,  # server name / destination
            _odd_text,  # ja3
            st.floats(-1e12, 1e15, allow_nan=False),  # timestamp
            st.integers(-(10**6), 10**30),  # bytes
            st.sampled_from(["", "ssl", "http", "quic,ssl"]),
        ),
        max_size=60,
    )
)
def test_odd_records_never_crash(
    events: list[tuple[bool, str, str, str, float, int, str]],
) -> None:
    det = detector(warmup_hours=1, warmup_connections=1, bytes_min_flows=1, bytes_min=1)
    for is_handshake, saddr, text, ja3, ts, nbytes, service in events:
        rec: Record = (
            hs(text, ts, saddr=saddr, daddr=text or "198.51.100.1", ja3=ja3)
            if is_handshake
            else tls(text or "198.51.100.1", ts, nbytes, saddr=saddr, service=service)
        )
        for ev in det.observe(rec, int(ts // H)) or ():
            assert ev.description.startswith("HTTPS anomaly: ")
    det.close_window(2**62)


def test_idle_hosts_and_series_are_forgotten_when_a_window_closes() -> None:
    det = detector(idle_hours=10)
    run(det, steady_hours(3))
    assert det.footprint()["hosts"] == 1 and det.footprint()["byte_series"] == 5
    later = T0 + 20 * H
    det.observe(hs("www.other.com", later, saddr="10.0.0.77"), int(later // H))
    det.close_window(int(later // H) - 2)
    assert det.footprint()["hosts"] == 1  # only the new host
    assert det.footprint()["byte_series"] == 0


def test_host_cap_evicts_the_least_recently_active() -> None:
    det = detector(max_hosts=2)
    for i, saddr in enumerate(("10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3")):
        ts = T0 + i * H
        det.observe(hs("www.a.com", ts, saddr=saddr), int(ts // H))
    assert det.footprint()["hosts"] == 2
    assert det.state_overflow == {"hosts_evicted": 1}  # counted, for summary.json and /metrics
    # 10.0.0.2 went (least recently active); 10.0.0.1 kept its history: www.a.com is known
    det.observe(hs("www.a.com", T0 + 5 * H, saddr="10.0.0.1"), 5)
    assert det._hosts["10.0.0.1"].new_servers == 0
    assert set(det._hosts) == {"10.0.0.1", "10.0.0.3"}


# -- real captures -----------------------------------------------------------------------


def _https_evidence(capture: str, overrides: Mapping[str, object]) -> list[Evidence]:
    return _https_evidence_at(ZEEK / capture, overrides)


def _https_evidence_at(path: Path, overrides: Mapping[str, object]) -> list[Evidence]:
    with tempfile.TemporaryDirectory() as tmp:
        result = analyze(
            str(path),
            load_config(None, dict(overrides)),
            outdir=Path(tmp) / "out",
            keep_findings=True,
        )
    assert result.exit_code == 0
    return [e for e in result.evidence if e.type == "https_anomaly"]


def test_argus_day_capture_one_real_upload_anomaly() -> None:
    """test2-malicious (Argus, 10.8.0.69, Apr 4-5 2019): the host's 24 flows to
    216.58.201.106:443 (Google) sent a median ~3.8 kB; then one flow sends
    1,058,881 bytes: LOW (z = 5). The default allowlist suppresses it (the
    destination is Google's), so only the run without the allowlist shows it."""
    path = ZEEK.parent / "argus" / "test2-malicious.binetflow.gz"
    assert _https_evidence_at(path, {}) == []
    (ev,) = _https_evidence_at(path, {"allowlist.enabled": False})
    assert (ev.threat_level, ev.attacker, ev.victim, ev.count, ev.uids) == (
        ThreatLevel.LOW,
        "10.8.0.69",
        "216.58.201.106",
        1_058_881,
        ("A37276c44dc5adff2",),
    )
    assert "median 3758 bytes sent" in ev.description and "z=5.0" in ev.description


CAPTURES = ["test9-mixed-zeek-dir", "test10-mixed-zeek-dir", "test15-malicious-zeek-dir"]


@pytest.mark.parametrize("capture", CAPTURES)
def test_captures_are_quiet_with_hourly_baselines(capture: str) -> None:
    """Each capture lasts minutes: no host finishes its warm-up."""
    assert _https_evidence(capture, {}) == []


@pytest.mark.parametrize("capture", CAPTURES)
def test_captures_with_time_compressed_to_10_s_hours(capture: str) -> None:
    """With 10 s "hours" the captures hold tens of buckets. The only finding is
    10.0.2.15 opening a web site it had not visited (Spotify: spotify.com,
    scdn.co, fastly.net, googletagmanager.com, … in ten seconds) after
    a baseline of at most one new domain per bucket — a true statistical anomaly,
    benign, reported at LOW and MEDIUM weight only."""
    fast = {
        "detectors.https_anomaly.bucket_seconds": 10.0,
        "detectors.https_anomaly.warmup_hours": 2,
        "detectors.https_anomaly.warmup_connections": 5,
        "detectors.https_anomaly.own_hosts_only": False,
    }
    evs = _https_evidence(capture, fast)
    if capture == "test10-mixed-zeek-dir":  # 13 handshakes in 31 s
        assert evs == []
        return
    assert [e.threat_level for e in evs] == [ThreatLevel.LOW, ThreatLevel.MEDIUM]
    assert {e.attacker for e in evs} == {"10.0.2.15"}
    assert all("new TLS servers" in e.description and "spotify.com" in e.description for e in evs)
