"""Hostile peers against a live agent: every bad message dropped and counted, honest ones pass."""

from __future__ import annotations

import os
import time

import msgpack
import pytest

from p2p.gossip import Outbox
from p2p.node import NodeConfig, P2PNode
from p2p.signing import Identity
from p2p.wire import VERSION, IocReport

ATTACKER_IP = "185.220.101.7"


def report(value: str = ATTACKER_IP) -> IocReport:
    return IocReport("ip", value, 0.8, 0.9, ("horizontal_port_scan",), 1, 3600)


@pytest.fixture
def peer_nodes():  # type: ignore[no-untyped-def]
    started: list[P2PNode] = []

    def make(bootstrap: str, seed: bytes) -> P2PNode:
        node = P2PNode(seed, NodeConfig(bootstrap=(bootstrap,)), validator=lambda data, peer: True)
        node.start()
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()


def test_hostile_messages_are_dropped_counted_and_honest_ones_still_arrive(  # type: ignore[no-untyped-def]
    agents, peer_nodes, wait_until
) -> None:
    victim = agents.start("victim", config={"p2p": {"rate_per_second": 5.0, "burst": 10.0}})
    mallory_id = Identity(os.urandom(32))
    honest_id = Identity(os.urandom(32))
    mallory = peer_nodes(victim.addrs[0], mallory_id.seed)
    honest = peer_nodes(victim.addrs[0], honest_id.seed)

    def both_connected() -> bool:
        peers = {p["peer_id"]: p for p in victim.get("/api/v1/peers")[1]["peers"]}
        return all(peers.get(n.peer_id, {}).get("connected") for n in (mallory, honest))

    assert wait_until(both_connected, 30)
    time.sleep(2.5)  # GossipSub mesh
    out = Outbox(mallory_id, os.urandom)
    now = time.time()

    good = out.seal(report(), now)
    _, payload, signature = msgpack.unpackb(good)
    forged = msgpack.packb([VERSION, payload, Identity(os.urandom(32)).sign(payload)])
    stale = out.seal(report("185.220.101.8"), now - 3600)
    future_version = msgpack.packb([VERSION + 1, payload, signature])
    oversized = good + b"\x00" * 20_000
    malformed = b"\x93\x01\xc4\xff" + b"junk"
    hostile = [
        forged,
        stale,
        future_version,
        oversized,
        malformed,
        good,
        good,
    ]  # good twice: replay
    for data in hostile:
        assert mallory.publish(data)
        time.sleep(0.05)
    for i in range(60):  # a flood above 5/s with a burst of 10
        mallory.publish(out.seal(report(f"185.220.102.{i}"), time.time()))

    expected = {
        "bad_signature",
        "stale",
        "unknown_version",
        "oversized",
        "malformed",
        "replayed",
        "rate_limited",
    }

    def all_counted() -> bool:
        body = victim.get("/api/v1/peers")[1]
        return expected <= set(body["messages"]["dropped"])

    assert wait_until(all_counted, 30), victim.get("/api/v1/peers")[1]["messages"]
    peers = {p["peer_id"]: p for p in victim.get("/api/v1/peers")[1]["peers"]}
    assert expected <= set(peers[mallory.peer_id]["dropped"]), peers[mallory.peer_id]
    assert peers[honest.peer_id]["dropped"] == {}

    # The agent keeps working and an honest report still arrives and is shown.
    honest_report = Outbox(honest_id, os.urandom).seal(report("45.33.32.156"), time.time())
    honest.publish(honest_report)

    def honest_arrived() -> bool:
        body = victim.get("/api/v1/ip/45.33.32.156")[1]
        return honest_id.peer_id in body["reporters"]

    assert wait_until(honest_arrived, 30)
    # By the time mallory sends a well-formed report, its faults (forged, stale, oversized,
    # malformed... each weighing 3 contradictions) have graylisted it: the report passes
    # the inbox once (its copy is then refused as replayed) but is neither stored nor relayed.
    body = victim.get(f"/api/v1/ip/{ATTACKER_IP}")[1]
    assert body["reporters"] == [] and body["peer_reports"] == []
    assert victim.get("/api/v1/peers")[1]["shared"]["graylisted_dropped"] >= 1
    assert peers[mallory.peer_id]["trust"]["reputation"] < 0.1
    # Stale or forged contents never became reports.
    assert victim.get("/api/v1/ip/185.220.101.8")[1]["peer_reports"] == []
    assert victim.get("/api/v1/health")[0] == 200  # still serving
