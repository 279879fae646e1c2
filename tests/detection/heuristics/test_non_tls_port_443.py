from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.non_tls_port_443 import NonTlsPort443, NonTlsPort443Params
from detection.model import ARGUS_UID_PREFIX, NFDUMP_UID_PREFIX, ThreatLevel


def test_unrecognised_established_443_is_reported_at_window_close(rec: SimpleNamespace) -> None:
    det = NonTlsPort443(NonTlsPort443Params())
    records = [
        rec.flow(daddr="203.0.113.5", service="ssl", ts=10.0, uid="Cok"),  # other pair
        rec.flow(daddr="198.51.100.7", ts=20.0, uid="Cx1", sbytes=1134, dbytes=1308),
        rec.flow(daddr="198.51.100.7", ts=900.0, uid="Cx2", sbytes=10, dbytes=40),
    ]
    assert det.observe(records[0], 0) is None and det.observe(records[1], 0) is None
    (ev,) = rec.drive(NonTlsPort443(NonTlsPort443Params()), records)
    assert ev.type == "non_tls_port_443" and ev.threat_level is ThreatLevel.MEDIUM
    assert (ev.attacker, ev.victim, ev.dport, ev.count) == ("10.0.0.1", "198.51.100.7", 443, 2)
    assert ev.attack_technique == "T1571" and ev.uids == ("Cx1", "Cx2")
    assert ev.description.startswith("Non-TLS traffic on port 443/tcp from 10.0.0.1 to 198.51")
    assert "2 established flows, 1144 bytes sent, 1348 received" in ev.description


def test_quiet_when_tls_is_seen_for_the_pair_before_or_after(rec: SimpleNamespace) -> None:
    records = [
        rec.flow(ts=1000.0, uid="Cx1"),
        rec.ssl(ts=1200.0),  # ssl.log for the same pair, 200 s later
        rec.flow(daddr="198.51.100.8", ts=5000.0, service="ssl"),
        rec.flow(daddr="198.51.100.8", ts=5100.0, uid="Cx2"),  # 100 s after a TLS flow
    ]
    assert rec.drive(NonTlsPort443(NonTlsPort443Params()), records) == []


def test_quiet_under_thresholds_and_without_service_detection(rec: SimpleNamespace) -> None:
    det = NonTlsPort443(NonTlsPort443Params())
    records = [
        rec.flow(ts=1.0, service="dns", dport=53),  # the input does name services
        rec.flow(ts=10.0, sbytes=1, dbytes=0),  # a keep-alive byte
        rec.flow(ts=20.0, established=False),
        rec.flow(ts=30.0, dport=8443),
        rec.flow(ts=40.0, proto="udp"),
    ]
    assert rec.drive(det, records) == []
    # Argus/nfdump never name a service: nothing can be decided.
    assert rec.drive(NonTlsPort443(NonTlsPort443Params()), [rec.flow(ts=10.0)]) == []


def test_argus_and_nfdump_flows_are_not_candidates_beside_zeek(rec: SimpleNamespace) -> None:
    """One run reading Zeek logs (which name services) and Argus/nfdump flows (which
    never do): only the Zeek flow without a service is non-TLS traffic."""
    records = [
        rec.flow(ts=1.0, service="dns", dport=53, uid="Cdns"),  # the Zeek input names them
        rec.flow(daddr="198.51.100.7", ts=10.0, uid=f"{ARGUS_UID_PREFIX}0123456789abcdef"),
        rec.flow(daddr="198.51.100.8", ts=11.0, uid=f"{NFDUMP_UID_PREFIX}0123456789abcdef"),
        rec.flow(daddr="198.51.100.9", ts=12.0, uid="Czeek"),
    ]
    (ev,) = rec.drive(NonTlsPort443(NonTlsPort443Params()), records)
    assert ev.victim == "198.51.100.9" and ev.uids == ("Czeek",)


def test_no_flood_one_evidence_per_pair_and_capped_per_source(rec: SimpleNamespace) -> None:
    det = NonTlsPort443(NonTlsPort443Params(max_reports_per_source=3))
    records = [rec.flow(ts=1.0, service="dns", dport=53)]
    records += [rec.flow(daddr=f"198.51.100.{i % 50}", ts=i / 2, uid=f"C{i}") for i in range(5000)]
    evs = rec.drive(det, records)
    assert len(evs) == 3
    assert all(e.count == 100 and len(e.uids) <= 10 for e in evs)
