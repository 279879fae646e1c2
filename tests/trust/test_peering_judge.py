"""PeerService._judge: a confirmation counts once per (peer, indicator), a contradiction
once per report (message_id), so a peer that repeats a lie pays for every repetition."""

from __future__ import annotations

import os
from pathlib import Path

from agent.config import P2PConfig, TrustConfig
from agent.peering import LocalOpinion, PeerService
from agent.store.sqlite import SqliteStore
from p2p.gossip import Outbox
from p2p.signing import Identity
from p2p.wire import IocReport

PROTECTED = "92.205.111.3"
ATTACKER = "46.166.151.160"


def _service(tmp_path: Path) -> tuple[PeerService, SqliteStore, list[float]]:
    store = SqliteStore(tmp_path / "starling.db")
    clock = [1000.0]
    svc = PeerService(
        Identity(b"\x01" * 32),
        P2PConfig(),
        store,
        version="test",
        local_opinion=lambda ip: LocalOpinion(0.0, 0.0, (), 0),
        trust=TrustConfig(),
        is_protected=lambda ip: ip == PROTECTED,
        clock=lambda: clock[0],
    )
    return svc, store, clock


def test_each_repeated_lie_is_contradicted_and_redelivery_is_not(tmp_path: Path) -> None:
    svc, store, clock = _service(tmp_path)
    liar = Identity(b"\x02" * 32)
    msgs = []
    for _ in range(3):  # (a fourth would be dropped: the liar is graylisted by then)
        clock[0] += 60.0
        body = IocReport("ip", PROTECTED, 1.0, 0.9, ("scan",), 0, 3600)
        msgs.append(Outbox(liar, os.urandom).seal(body, clock[0]))
        assert svc._on_gossip(msgs[-1], liar.peer_id)
    view = svc.reputation_view(liar.peer_id)
    assert view["contradicted"] == 3
    assert view["reputation"] < 1 / 6
    # the same message delivered again is refused earlier (inbox / store), never re-judged
    svc._on_gossip(msgs[-1], liar.peer_id)
    assert svc.reputation_view(liar.peer_id)["contradicted"] == 3
    # judging the same peer and address again without a new report charges nothing
    svc._judge(liar.peer_id, PROTECTED, clock[0], confirm=False)
    assert svc.reputation_view(liar.peer_id)["contradicted"] == 3
    store.close()


def test_confirmations_count_once_per_peer_and_indicator(tmp_path: Path) -> None:
    svc, store, clock = _service(tmp_path)
    peer = Identity(b"\x03" * 32).peer_id
    for _ in range(4):
        svc._judge(peer, ATTACKER, clock[0], confirm=True)
    assert svc.reputation_view(peer)["confirmed"] == 1
    store.close()


def test_judgements_survive_a_restart_and_are_not_counted_twice(tmp_path: Path) -> None:
    svc, store, clock = _service(tmp_path)
    peer = Identity(b"\x03" * 32).peer_id
    svc._judge(peer, ATTACKER, clock[0], confirm=True)
    svc._judge(peer, PROTECTED, clock[0], confirm=False)
    svc._maybe_persist(clock[0], force=True)
    store.close()
    again, store, clock = _service(tmp_path)
    again._judge(peer, ATTACKER, clock[0], confirm=True)
    again._judge(peer, PROTECTED, clock[0], confirm=False)
    view = again.reputation_view(peer)
    assert (view["confirmed"], view["contradicted"]) == (1, 1)
    store.close()


def test_a_dispute_counts_once_its_sender_is_confirmed_enough_to_be_trusted(
    tmp_path: Path,
) -> None:
    """An unproven peer's dispute is kept; the confirmations that make it trusted apply it."""
    svc, store, clock = _service(tmp_path)
    reporter, newcomer = Identity(b"\x04" * 32), Identity(b"\x05" * 32)
    target = "198.51.100.77"
    clock[0] += 1.0
    lie = IocReport("ip", target, 1.0, 0.9, ("scan",), 0, 3600)
    assert svc._on_gossip(Outbox(reporter, os.urandom).seal(lie, clock[0]), reporter.peer_id)
    dispute = IocReport("ip", target, 0.0, 0.9, ("benign",), 0, 3600)
    assert svc._on_gossip(Outbox(newcomer, os.urandom).seal(dispute, clock[0]), newcomer.peer_id)
    assert svc.reputation_view(reporter.peer_id)["contradicted"] == 0  # an unproven disputer
    for i in range(5):  # the newcomer's reports of five attackers we saw ourselves
        svc._judge(newcomer.peer_id, f"203.0.113.{i}", clock[0], confirm=True)
    view = svc.reputation_view(reporter.peer_id)
    assert view["contradicted"] == 1 and view["reputation"] < 0.5
    store.close()
