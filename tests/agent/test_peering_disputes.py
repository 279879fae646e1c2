"""PeerService disputes: answering lies about our benign addresses, and weighing
other peers' disputes by how much we trust them (trust.disputes in the agent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.config import P2PConfig, TrustConfig
from agent.peering import LocalOpinion, PeerService
from agent.store.sqlite import SqliteStore
from detection.model import Evidence, ThreatLevel
from p2p.gossip import Outbox
from p2p.signing import Identity
from p2p.wire import IocReport, decode

PROTECTED = "92.205.111.3"
ATTACKER = "46.166.151.160"
TRUSTED = Identity(b"\x05" * 32)


@pytest.fixture
def svc(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SqliteStore(tmp_path / "starling.db")
    clock = [1000.0]
    service = PeerService(
        Identity(b"\x01" * 32),
        P2PConfig(),
        store,
        version="test",
        local_opinion=lambda ip: LocalOpinion(0.0, 0.0, (), 0),
        trust=TrustConfig(pretrusted=[TRUSTED.peer_id]),
        is_protected=lambda ip: ip == PROTECTED,
        clock=lambda: clock[0],
    )
    sent: list[bytes] = []
    # The node is not started here: capture what the service publishes instead.
    service.node.publish = lambda data: sent.append(data) or True  # type: ignore[method-assign]
    service.test_clock = clock  # type: ignore[attr-defined]
    service.test_sent = sent  # type: ignore[attr-defined]
    yield service
    store.close()


def _report(svc: PeerService, who: Identity, value: str, score: float) -> None:
    svc.test_clock[0] += 1.0  # type: ignore[attr-defined]
    body = IocReport("ip", value, score, 0.9, ("scan",), 0, 3600)
    assert svc._on_gossip(Outbox(who, os.urandom).seal(body, svc.test_clock[0]), who.peer_id)  # type: ignore[attr-defined]


def _disputes(svc: PeerService) -> list[IocReport]:
    bodies = [decode(d).body for d in svc.test_sent]  # type: ignore[attr-defined]
    return [b for b in bodies if isinstance(b, IocReport) and b.score < 0.5]


def test_a_lie_about_our_benign_address_is_disputed_once_per_hour(svc: PeerService) -> None:
    liar = Identity(b"\x02" * 32)
    _report(svc, liar, PROTECTED, 1.0)
    _report(svc, liar, PROTECTED, 1.0)
    disputes = _disputes(svc)
    assert [(d.value, d.score, d.evidence_types) for d in disputes] == [
        (PROTECTED, 0.0, ("benign",))
    ]
    assert svc.counts["disputes_suppressed"] == 1
    svc.test_clock[0] += 3601  # type: ignore[attr-defined]
    _report(svc, liar, PROTECTED, 1.0)
    assert len(_disputes(svc)) == 2


def test_no_dispute_when_three_peers_already_disputed(svc: PeerService) -> None:
    for seed in (b"\x06", b"\x07", b"\x08"):
        _report(svc, Identity(seed * 32), PROTECTED, 0.0)
    _report(svc, Identity(b"\x02" * 32), PROTECTED, 1.0)
    assert _disputes(svc) == []
    assert svc.counts["disputes_suppressed"] == 1


def test_disputes_can_be_turned_off(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    service = PeerService(
        Identity(b"\x01" * 32),
        P2PConfig(),
        store,
        version="test",
        local_opinion=lambda ip: LocalOpinion(0.0, 0.0, (), 0),
        trust=TrustConfig(disputes=False),
        is_protected=lambda ip: ip == PROTECTED,
    )
    sent: list[bytes] = []
    service.node.publish = lambda data: sent.append(data) or True  # type: ignore[method-assign]
    liar = Identity(b"\x02" * 32)
    body = IocReport("ip", PROTECTED, 1.0, 0.9, ("scan",), 0, 3600)
    import time

    assert service._on_gossip(Outbox(liar, os.urandom).seal(body, time.time()), liar.peer_id)
    assert sent == []
    assert service.reputation_view(liar.peer_id)["contradicted"] == 1  # still judged
    store.close()


def test_a_trusted_peers_dispute_contradicts_the_reporters(svc: PeerService) -> None:
    liar = Identity(b"\x02" * 32)
    stranger = Identity(b"\x09" * 32)
    _report(svc, liar, ATTACKER, 1.0)
    _report(svc, stranger, ATTACKER, 0.0)  # weightless: changes nothing
    assert svc.reputation_view(liar.peer_id)["contradicted"] == 0
    _report(svc, TRUSTED, ATTACKER, 0.0)  # pre-trusted: weight above min_weight
    assert svc.reputation_view(liar.peer_id)["contradicted"] == 1
    assert svc.reputation_view(liar.peer_id)["reputation"] < 0.5
    # the network opinion counts the dispute as a claim
    opinion = svc.opinion(ATTACKER)
    assert {c.reporter for c in opinion.contributions} == {
        liar.peer_id,
        stranger.peer_id,
        TRUSTED.peer_id,
    }
    assert not opinion.block


def test_a_dispute_our_detectors_prove_wrong_contradicts_the_disputer(
    svc: PeerService,
) -> None:
    _report(svc, TRUSTED, ATTACKER, 0.0)
    before = svc.reputation_view(TRUSTED.peer_id)
    now = svc.test_clock[0] + 5  # type: ignore[attr-defined]
    svc.test_clock[0] = now  # type: ignore[attr-defined]
    seen = Evidence(
        type="horizontal_port_scan",
        attacker=ATTACKER,
        victim="10.0.0.5",
        threat_level=ThreatLevel.HIGH,
        confidence=1.0,
        ts=now,
        timewindow=0,
        description="scan",
        source="local:horizontal_port_scan",
    )
    svc.share(seen)
    after = svc.reputation_view(TRUSTED.peer_id)
    assert after["contradicted"] == before["contradicted"] + 1
    assert after["confirmed"] == before["confirmed"]
    assert after["reputation"] < before["reputation"]


def test_a_proven_liar_is_graylisted_and_its_reports_not_relayed(svc: PeerService) -> None:
    liar = Identity(b"\x02" * 32)
    for _ in range(3):  # three lies about our allowlisted address
        _report(svc, liar, PROTECTED, 1.0)
    assert svc.book.graylisted(liar.peer_id, svc.test_clock[0])  # type: ignore[attr-defined]
    svc.test_clock[0] += 1.0  # type: ignore[attr-defined]
    body = IocReport("ip", ATTACKER, 1.0, 0.9, ("scan",), 0, 3600)
    data = Outbox(liar, os.urandom).seal(body, svc.test_clock[0])  # type: ignore[attr-defined]
    assert svc._on_gossip(data, liar.peer_id) is False  # rejected: gossipsub won't relay it
    assert svc.counts["graylisted_dropped"] == 1
    assert svc.opinion(ATTACKER).contributions == ()
