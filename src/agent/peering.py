"""The agent's side of the mesh: what it shares, what it accepts, whom it asks.

Resource handling / threads
---------------------------
`PeerService` is called from three threads: the pipeline thread (`share`),
the P2P node's trio thread (`_on_gossip`, `_on_opinion_request`) and the API's
asyncio thread (`ask`, `peers_view`, `stats`). The sans-IO `Inbox` and
`Sharer` are not thread-safe, so each sits behind one lock; no lock is held
while calling into the node (which would deadlock against its thread).

Incoming IoC reports are verified, stored with their envelope and kept as
`VerifiedReport` values; acting on them (trust weighting, decisions) is the
trust layer's job (issue 4). Until then they are recorded and shown by the API.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.config import P2PConfig
from agent.sharing import Sharer, refusal_reason
from agent.store.base import Store
from detection.model import Alert, Evidence
from p2p.errors import RemoteProtocolError
from p2p.gossip import GossipLimits, Inbox, Outbox
from p2p.node import NodeConfig, P2PError, P2PNode
from p2p.reports import VerifiedReport
from p2p.signing import Identity
from p2p.wire import (
    Hello,
    IocReport,
    OpinionRequest,
    OpinionResponse,
    Retraction,
    decode,
)

__all__ = ["LocalOpinion", "PeerService"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LocalOpinion:
    score: float
    confidence: float
    evidence_types: tuple[str, ...]
    evidence: int


def _peer_ip(addr: str) -> str | None:
    parts = addr.split("/")
    for proto, value in itertools.pairwise(parts):
        if proto in ("ip4", "ip6"):
            return value
    return None


class PeerService:
    def __init__(
        self,
        identity: Identity,
        config: P2PConfig,
        store: Store,
        *,
        version: str,
        local_opinion: Callable[[str], LocalOpinion],
        clock: Callable[[], float] = time.time,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.identity = identity
        self.config = config
        self.store = store
        self.version = version
        self.local_opinion = local_opinion
        self.clock = clock
        self.random_bytes = random_bytes
        self._lock = threading.Lock()
        self.inbox = Inbox(
            GossipLimits(
                max_bytes=config.max_message_bytes,
                max_age=config.max_age_seconds,
                max_future=config.max_future_seconds,
                rate=config.rate_per_second,
                burst=config.burst,
            )
        )
        self.outbox = Outbox(identity, random_bytes)
        self._peer_ips: set[str] = set()
        self.sharer = Sharer(
            config.share,
            own_addresses=config.own_addresses,
            peer_addresses=lambda: self._peer_ips,
        )
        self.node = P2PNode(
            identity.seed,
            NodeConfig(
                listen=tuple(config.listen),
                bootstrap=tuple(config.bootstrap),
                topic=config.topic,
                heartbeat_seconds=config.heartbeat_seconds,
                mdns=config.mdns,
                eclipse_protection=config.eclipse_protection,
            ),
            validator=self._on_gossip,
            opinion_handler=self._on_opinion_request,
        )
        self.counts: Counter[str] = Counter()
        self.hellos: dict[str, Hello] = {}
        self.retractions: Counter[str] = Counter()

    @property
    def peer_id(self) -> str:
        return self.identity.peer_id

    def start(self) -> None:
        self.node.start()
        self._publish(Hello(self.version, ("ioc", "opinion")))

    def stop(self) -> None:
        self.node.stop()

    # -- outgoing ----------------------------------------------------------------------------

    def share(self, finding: Evidence | Alert) -> IocReport | None:
        """Called by the pipeline for every local finding; shares what policy allows."""
        now = self.clock()
        with self._lock:
            report = self.sharer.consider(finding, now)
        if report is not None:
            self._publish(report)
        return report

    def share_manual(self, report: IocReport) -> bool:
        """An operator's report (API): same privacy rules, no rate of its own."""
        reason = refusal_reason(report.value, self.sharer.own, self._peer_ips)
        if reason:
            raise ValueError(f"refusing to share {report.value}: {reason}")
        return self._publish(report)

    def _publish(self, body: IocReport | Hello | Retraction) -> bool:
        with self._lock:
            data = self.outbox.seal(body, self.clock())
        ok = self.node.publish(data)
        self.counts["published" if ok else "publish_dropped"] += 1
        return ok

    # -- incoming gossip (called in the node's thread) --------------------------------------

    def _on_gossip(self, data: bytes, publisher: str) -> bool:
        now = self.clock()
        with self._lock:
            try:
                env = self.inbox.receive(data, relay=publisher, now=now)
            except RemoteProtocolError as exc:
                log.info("dropped gossip from %s: %s (%s)", publisher, exc.reason, exc)
                return False
            if env.sender_id == self.peer_id:
                return True  # our own message coming back through validation
            body = env.body
            if isinstance(body, IocReport):
                report = VerifiedReport.from_envelope(env, data, relay=publisher, received_at=now)
            elif isinstance(body, Hello):
                self.hellos[env.sender_id] = body
                return True
            elif isinstance(body, Retraction):
                self.retractions[env.sender_id] += 1
                return True
            else:
                self.inbox.charge(publisher, "wrong_channel")
                return False
        self.store.add_reports([report])
        self.counts["reports_received"] += 1
        return True

    # -- opinions --------------------------------------------------------------------------

    def _on_opinion_request(self, data: bytes, remote: str) -> bytes | None:
        now = self.clock()
        with self._lock:
            try:
                env = self.inbox.receive(data, relay=remote, now=now)
            except RemoteProtocolError:
                return None
            body = env.body
            if not isinstance(body, OpinionRequest) or env.sender_id != remote:
                self.inbox.charge(remote, "bad_request")
                return None
        opinion = self.local_opinion(body.value)
        response = OpinionResponse(
            body.request_id,
            body.kind,
            body.value,
            opinion.score,
            opinion.confidence,
            opinion.evidence_types[:32],
            opinion.evidence,
        )
        with self._lock:
            self.counts["opinions_served"] += 1
            return self.outbox.seal(response, now)

    def ask(self, ip: str) -> list[dict[str, Any]]:
        """Ask every connected peer for its opinion about `ip` (blocking)."""
        answers: list[dict[str, Any]] = []
        for peer in self.node.peers():
            if not peer.connected:
                continue
            request_id = self.random_bytes(16)
            with self._lock:
                data = self.outbox.seal(OpinionRequest(request_id, "ip", ip), self.clock())
            try:
                reply = self.node.request(peer.peer_id, data)
                env = decode(reply)
            except (P2PError, RemoteProtocolError) as exc:
                answers.append({"peer": peer.peer_id, "error": str(exc)})
                continue
            body = env.body
            if (
                env.sender_id != peer.peer_id
                or not isinstance(body, OpinionResponse)
                or body.request_id != request_id
            ):
                with self._lock:
                    self.inbox.charge(peer.peer_id, "bad_response")
                answers.append({"peer": peer.peer_id, "error": "invalid response"})
                continue
            answers.append(
                {
                    "peer": peer.peer_id,
                    "score": body.score,
                    "confidence": body.confidence,
                    "evidence_types": list(body.evidence_types),
                    "evidence": body.evidence,
                    "signed_at": env.ts,
                }
            )
        return answers

    # -- introspection -------------------------------------------------------------------------

    def peers_view(self) -> dict[str, Any]:
        peers = self.node.peers()
        self._peer_ips = {ip for p in peers for a in p.addrs if (ip := _peer_ip(a))}
        with self._lock:
            penalties = {k: dict(v) for k, v in self.inbox.penalties.items()}
            received = dict(self.inbox.received_from)
            dropped = dict(self.inbox.dropped)
            accepted = self.inbox.accepted
            hellos = {k: v.agent for k, v in self.hellos.items()}
        known = {p.peer_id for p in peers} | set(penalties) | set(received)
        by_id = {p.peer_id: p for p in peers}
        rows = []
        for pid in sorted(known):
            p = by_id.get(pid)
            rows.append(
                {
                    "peer_id": pid,
                    "connected": bool(p and p.connected),
                    "addrs": list(p.addrs) if p else [],
                    "agent": hellos.get(pid),
                    "messages_accepted": received.get(pid, 0),
                    "dropped": penalties.get(pid, {}),
                }
            )
        return {
            "self": {"peer_id": self.peer_id, "addrs": self.node.addrs},
            "peers": rows,
            "messages": {"accepted": accepted, "dropped": dropped},
            "node": self.node.stats(),
            "shared": dict(self.counts),
            "share_refused": dict(self.sharer.refused),
        }
