from __future__ import annotations

import random
from types import SimpleNamespace

from detection.allowlist import CidrIndex, OrgInfo
from detection.heuristics.base import DetectionContext
from detection.heuristics.beaconing import Beaconing, BeaconingParams, periodicity
from detection.model import Flow, ThreatLevel

C2 = "203.0.113.50"


def beacon(rec: SimpleNamespace, n: int, *, period: float = 60.0, jitter: float = 3.0,
           seed: int = 1, daddr: str = C2, start: float = 1000.0) -> list[Flow]:  # fmt: skip
    rnd = random.Random(seed)
    flows, ts = [], start
    for i in range(n):
        flows.append(rec.flow(daddr=daddr, ts=ts, uid=f"C{i}"))
        ts += period + rnd.uniform(-jitter, jitter)
    return flows


def test_sixty_second_beacon_with_small_jitter_fires(rec: SimpleNamespace) -> None:
    (ev,) = rec.drive(Beaconing(BeaconingParams()), beacon(rec, 11))
    assert ev.type == "beaconing" and ev.threat_level is ThreatLevel.MEDIUM
    assert (ev.attacker, ev.victim, ev.dport, ev.proto) == ("10.0.0.1", C2, 443, "tcp")
    assert ev.attack_technique == "T1071" and ev.count == 11
    assert ev.uids == ("C6", "C7", "C8", "C9", "C10")
    assert ev.description.startswith(f"Periodic beaconing from 10.0.0.1 to {C2} 443/tcp: 11 ")
    period = float(ev.description.split("every ")[1].split(" s")[0])
    assert 57.0 <= period <= 63.0 and "jitter ±" in ev.description
    assert 0.5 <= ev.confidence <= 0.95


def test_just_under_the_count_is_quiet(rec: SimpleNamespace) -> None:
    assert rec.drive(Beaconing(BeaconingParams()), beacon(rec, 10)) == []  # 9 gaps


def test_poisson_traffic_is_quiet(rec: SimpleNamespace) -> None:
    for seed in range(20):
        rnd = random.Random(seed)
        ts, flows = 0.0, []
        for i in range(300):
            ts += rnd.expovariate(1 / 60)
            flows.append(rec.flow(daddr=C2, ts=ts, uid=f"C{i}"))
        assert rec.drive(Beaconing(BeaconingParams()), flows) == [], seed


def test_large_jitter_is_quiet(rec: SimpleNamespace) -> None:
    flows = beacon(rec, 200, jitter=30.0)  # uniform ±50 %
    assert rec.drive(Beaconing(BeaconingParams()), flows) == []


def test_randomised_sleep_needs_a_longer_series(rec: SimpleNamespace) -> None:
    # ±25 % uniform jitter around 3 s (like test-cc capture 2): MAD ~12 % of the period
    quiet = beacon(rec, 15, period=3.0, jitter=0.75, seed=3)  # 14 gaps: too few to tell
    assert rec.drive(Beaconing(BeaconingParams()), quiet) == []
    (ev,) = rec.drive(
        Beaconing(BeaconingParams()), beacon(rec, 25, period=3.0, jitter=0.75, seed=3)
    )
    assert ev.count == 21  # tested at 20 gaps
    steady = rec.drive(Beaconing(BeaconingParams()), beacon(rec, 25, period=3.0, jitter=0.05))
    assert ev.confidence < steady[0].confidence  # less steady, less sure
    loose_only = BeaconingParams(jittered_max_jitter_ratio=0.1, jittered_min_regular_share=0.8)
    assert rec.drive(Beaconing(loose_only), beacon(rec, 25, period=3.0, jitter=0.75, seed=3)) == []


def test_private_ignored_ports_and_organisations_are_quiet(rec: SimpleNamespace) -> None:
    assert rec.drive(Beaconing(BeaconingParams()), beacon(rec, 50, daddr="192.168.1.5")) == []
    ntp = [f._replace(dport=123, proto="udp") for f in beacon(rec, 50)]
    assert rec.drive(Beaconing(BeaconingParams()), ntp) == []
    org = OrgInfo("google", frozenset(), frozenset(), CidrIndex(["203.0.113.0/24"]))
    det = Beaconing(BeaconingParams(), DetectionContext(organizations={"google": org}))
    assert rec.drive(det, beacon(rec, 50)) == []


def test_double_connections_per_check_in_are_merged(rec: SimpleNamespace) -> None:
    flows = []
    for f in beacon(rec, 11):
        flows += [f, f._replace(ts=f.ts + 0.2, uid=f.uid + "b")]
    (ev,) = rec.drive(Beaconing(BeaconingParams()), flows)
    assert ev.count == 11


def test_long_beacon_reports_a_handful_with_growing_counts(rec: SimpleNamespace) -> None:
    evs = rec.drive(Beaconing(BeaconingParams()), beacon(rec, 2000, period=30.0, jitter=1.0))
    assert [e.count for e in evs] == [11, 101, 1001]


def test_memory_is_bounded(rec: SimpleNamespace) -> None:
    det = Beaconing(BeaconingParams(max_pairs=100))
    flows = [rec.flow(daddr=f"198.18.{i // 200}.{i % 200 + 1}", ts=float(i)) for i in range(5000)]
    rec.drive(det, flows + [f._replace(ts=f.ts + 10_000) for f in flows])
    assert len(det._first) <= 100 and len(det._series) <= 100
    # Every pair after the 100th pushed an older one out (first contacts), and none of
    # the later sightings found its first contact: no series was ever started.
    assert det.state_overflow == {"first_contacts_evicted": 2 * 5000 - 100}


def test_periodicity_statistics() -> None:
    period, jitter, regular = periodicity([60.0, 61.0, 59.0, 60.0, 120.0], 0.2)
    assert (period, jitter, regular) == (60.0, 1.0, 0.8)
