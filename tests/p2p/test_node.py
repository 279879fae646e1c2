"""The libp2p node on loopback: gossip, opinion streams, bounded publishing, clean stop."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from p2p.node import NodeConfig, P2PError, P2PNode


def wait_until(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


class Recorder:
    """A validator that records what it saw; refuses b"reject…" when `strict`."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.got: list[tuple[bytes, str]] = []
        self.lock = threading.Lock()

    def __call__(self, data: bytes, publisher: str) -> bool:
        with self.lock:
            self.got.append((data, publisher))
        return not (self.strict and data.startswith(b"reject"))


@pytest.fixture
def trio_nodes() -> Iterator[list[tuple[P2PNode, Recorder]]]:
    nodes: list[tuple[P2PNode, Recorder]] = []
    for i in range(3):
        rec = Recorder(strict=i > 0)  # the first node publishes anything
        boot = (nodes[-1][0].addrs[0],) if nodes else ()
        node = P2PNode(
            os.urandom(32),
            NodeConfig(bootstrap=boot, publish_queue=4),
            validator=rec,
            opinion_handler=lambda req, peer: b"re:" + req if req != b"silent" else None,
        )
        node.start()
        nodes.append((node, rec))
    try:
        yield nodes
    finally:
        for node, _ in nodes:
            node.stop()


def test_gossip_reaches_every_node_through_a_chain(trio_nodes) -> None:  # type: ignore[no-untyped-def]
    (a, _), (b, rb), (c, rc) = trio_nodes
    assert wait_until(lambda: len(b.peers()) == 2 and a.mesh_size() >= 1 and c.mesh_size() >= 1, 30)
    time.sleep(1.5)
    assert a.publish(b"hello")
    assert wait_until(lambda: (b"hello", a.peer_id) in rc.got, 30)
    assert (b"hello", a.peer_id) in rb.got
    assert a.stats()["published"] == 1


def test_rejected_messages_are_not_forwarded(trio_nodes) -> None:  # type: ignore[no-untyped-def]
    (a, _), (_, rb), (c, rc) = trio_nodes
    assert wait_until(lambda: a.mesh_size() >= 1 and c.mesh_size() >= 1, 30)
    time.sleep(1.5)
    a.publish(b"reject me")
    a.publish(b"fine")
    assert wait_until(lambda: any(d == b"fine" for d, _ in rc.got), 30)
    assert any(d == b"reject me" for d, _ in rb.got)  # b saw and refused it …
    assert not any(d == b"reject me" for d, _ in rc.got)  # … so c never got it


def test_opinion_request_round_trip_and_errors(trio_nodes) -> None:  # type: ignore[no-untyped-def]
    (a, _), (b, _), _ = trio_nodes
    assert wait_until(lambda: any(p.connected for p in a.peers()), 30)
    assert a.request(b.peer_id, b"what about 1.2.3.4?") == b"re:what about 1.2.3.4?"
    with pytest.raises(P2PError):
        a.request(b.peer_id, b"silent")  # the peer closes without answering
    assert b.stats()["opinion_requests_served"] >= 1


def test_publish_queue_is_bounded_and_drops_are_counted() -> None:
    node = P2PNode(os.urandom(32), NodeConfig(publish_queue=1), validator=lambda d, p: True)
    assert not node.publish(b"before start")  # not running: counted, not raised
    assert node.stats()["publish_dropped"] == 1
    node.start()
    try:
        results = [node.publish(b"x" * 100) for _ in range(500)]
        assert node.stats()["publish_dropped"] == 1 + results.count(False)
    finally:
        node.stop()
    assert not node.publish(b"after stop")


def test_bad_bootstrap_address_does_not_stop_the_node() -> None:
    node = P2PNode(
        os.urandom(32), NodeConfig(bootstrap=("not-a-multiaddr",)), validator=lambda d, p: True
    )
    node.start()
    try:
        assert node.peer_id.startswith("12D3KooW") and node.addrs
    finally:
        node.stop()
