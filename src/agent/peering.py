"""The agent's side of the mesh: what it shares, what it accepts, whom it asks.

Resource handling / threads
---------------------------
`PeerService` is called from three threads: the pipeline thread (`share`),
the P2P node's trio thread (`_on_gossip`, `_on_opinion_request`) and the API's
asyncio thread (`ask`, `peers_view`, `stats`). The sans-IO `Inbox` and
`Sharer` are not thread-safe, so each sits behind one lock; no lock is held
while calling into the node (which would deadlock against its thread).

Incoming IoC reports are verified, stored with their envelope and kept as
`VerifiedReport` values, then weighed by the trust layer:

* every report feeds the reporter's reputation: confirmed when our own
  detectors flag (or already flagged) the same attacker, contradicted when the
  indicator is one we know to be benign (allowlisted), faulted when a peer
  breaks the protocol;
* a report calling malicious an address we know is benign (allowlisted) is
  answered with a *dispute*: our own signed report with a benign score
  (`trust.disputes`), at most once per address and hour and not when three
  peers already disputed it this hour; a dispute from a peer we trust
  contradicts, in our book, everyone who called that address malicious, and a
  dispute our own detectors prove wrong contradicts the disputer;
* the network opinion about the indicator (`trust.aggregate`) is recomputed;
  when it says block, it becomes one `peer_consensus` evidence that goes
  through the same decision step as local evidence (the pipeline's allowlist
  and accumulator), never straight to a block;
* evidence that came from peers is never re-shared and never confirms anyone;
* a peer our book graylists (a proven liar, `ReputationBook.graylisted`) has
  its messages rejected: not weighed, not relayed.

Reputations are saved in the store (meta key "reputations") and loaded at start.
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

import orjson

from agent.config import P2PConfig, TrustConfig
from agent.sharing import Sharer, refusal_reason
from agent.store.base import Store
from detection.model import Alert, Evidence, ThreatLevel
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
from trust.aggregate import AggregationParams, NetworkOpinion, PeerClaim, aggregate
from trust.disputes import DisputeLedger
from trust.reputation import PeerRecord, ReputationBook, ReputationParams

__all__ = ["LocalOpinion", "PeerService"]

log = logging.getLogger(__name__)

# Refusals that are a peer's fault (not clock skew, not a newer protocol version).
_FAULTS = frozenset({"bad_signature", "malformed", "replayed", "rate_limited", "oversized"})
_JUDGED_KEPT = 100_000  # judged observations remembered (and persisted), oldest dropped first


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
        trust: TrustConfig | None = None,
        is_protected: Callable[[str], bool] = lambda ip: False,
        window_seconds: float = 3600.0,
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
        trust = trust or TrustConfig()
        self.trust = trust
        self.is_protected = is_protected
        self.window_seconds = window_seconds
        self.book = ReputationBook(
            ReputationParams(
                certainty_k=trust.certainty_k,
                half_life=trust.half_life_days * 86400,
                contradiction_weight=trust.contradiction_weight,
            ),
            pretrusted=frozenset(trust.pretrusted),
        )
        self.aggregation = AggregationParams(
            min_reporters=trust.min_reporters,
            min_weight=trust.min_weight,
            min_support=trust.min_support,
        )
        self.ledger = DisputeLedger(self.book, self.aggregation)
        self._disputed: dict[str, float] = {}  # indicator -> when we last disputed it
        self._disputes_heard: dict[str, list[float]] = {}  # indicator -> recent disputes
        self.on_evidence: Callable[[Evidence], None] | None = None
        # (peer, ip) confirmed, ("contradicted", message_id) charged: kept in insertion
        # order, bounded, and saved with the reputations so a restart never counts the
        # same observation twice.
        self._judged: dict[tuple[str, str], None] = {}
        self._raised: dict[str, float] = {}
        self._last_persist = 0.0
        self._load_reputations()

    @property
    def peer_id(self) -> str:
        return self.identity.peer_id

    def start(self) -> None:
        self.node.start()
        self._publish(Hello(self.version, ("ioc", "opinion")))

    def stop(self) -> None:
        self.node.stop()
        self._maybe_persist(self.clock(), force=True)

    # -- outgoing ----------------------------------------------------------------------------

    def share(self, finding: Evidence | Alert) -> IocReport | None:
        """Called by the pipeline for every finding; shares what policy allows.

        Findings derived from peers are neither re-shared nor used as confirmation.
        """
        if finding.source.startswith("peer:") or (
            isinstance(finding, Alert)
            and all(t == "peer_consensus" for t in finding.evidence_types)
        ):
            return None
        now = self.clock()
        if isinstance(finding, Evidence) and finding.counts_for_profile:
            self._confirm_reporters(finding.attacker, now)
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
                if exc.reason in _FAULTS:
                    self.book.fault(publisher, now)
                return False
            if env.sender_id == self.peer_id:
                return True  # our own message coming back through validation
            if self.book.graylisted(env.sender_id, now):
                # A proven liar: neither weighed nor relayed (gossipsub drops a
                # message its validator rejects), so its lies stop spreading here.
                self.counts["graylisted_dropped"] += 1
                return False
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
        # The inbox's replay memory lives in RAM; the store is the durable guard: a
        # report already stored (e.g. re-gossiped to us after a restart) is not
        # weighed twice.
        known = self.store.reports(value=report.value, sender=report.sender, limit=1000)
        if any(r.message_id == report.message_id for r in known):
            self.counts["reports_already_known"] += 1
            return True
        self.store.add_reports([report])
        self.counts["reports_received"] += 1
        self._weigh(report, now)
        return True

    # -- trust ----------------------------------------------------------------------------

    def _judge(
        self, peer: str, ip: str, now: float, *, confirm: bool, benign_claims: bool = False
    ) -> None:
        """Confirm `peer` once per (peer, ip); contradict it once per report of `ip`.

        A contradiction charges every stored report of `ip` by `peer` not yet
        contradicted (keyed by message_id: re-deliveries never reach here, the
        inbox and the store filter them), so a peer that repeats a lie about a
        protected address pays for each repetition. `benign_claims` selects which
        of its reports are wrong: its malicious ones (a protected address) or
        its benign ones (disputes of an attack our own detectors saw).
        """
        if confirm:
            with self._lock:
                if (peer, ip) in self._judged:
                    return
                self._remember((peer, ip))
                self.book.confirmed(peer, now)
                self.ledger.retry(peer, now)  # its disputes from before we trusted it
            self.counts["confirmations"] += 1
            return
        ms = self.aggregation.malicious_score
        ids = {
            r.message_id
            for r in self.store.reports(value=ip, sender=peer, limit=1000)
            if (r.score < ms) == benign_claims
        }
        if not ids:  # no stored report to charge (not a call from _weigh): once per pair
            ids = {f"{peer}|{ip}"}
        with self._lock:
            fresh = [k for m in ids if (k := ("contradicted", m)) not in self._judged]
            for key in fresh:
                self._remember(key)
            for _ in fresh:
                self.book.contradicted(peer, now)
        self.counts["contradictions"] += len(fresh)

    def _remember(self, key: tuple[str, str]) -> None:
        self._judged[key] = None
        if len(self._judged) > _JUDGED_KEPT:
            del self._judged[next(iter(self._judged))]

    def _confirm_reporters(self, ip: str, now: float) -> None:
        """Our detectors flagged `ip`: its reporters were right, its disputers wrong."""
        ms = self.aggregation.malicious_score
        for r in self.store.reports(value=ip, limit=1000):
            if r.sender != self.peer_id and r.signed_at <= now:
                if r.score >= ms:
                    self._judge(r.sender, ip, now, confirm=True)
                else:
                    self._judge(r.sender, ip, now, confirm=False, benign_claims=True)

    def _weigh(self, report: VerifiedReport, now: float) -> None:
        ip, peer = report.value, report.sender
        malicious = report.score >= self.aggregation.malicious_score
        with self._lock:
            self.book.reported(peer, now)
            self.ledger.add(ip, PeerClaim(peer, report.score, report.confidence, now), now)
        if not malicious:
            if len(self._disputes_heard) > 100_000:
                self._disputes_heard.clear()
            self._disputes_heard.setdefault(ip, []).append(now)
        seen_locally = any(
            e.attacker == ip for e in self.store.evidence(ip=ip, source="local:", limit=100)
        )
        if malicious and self.is_protected(ip):
            self._judge(peer, ip, now, confirm=False)
            self._maybe_dispute(ip, now)
        elif seen_locally:
            self._judge(peer, ip, now, confirm=malicious, benign_claims=not malicious)
        opinion = self.opinion(ip, now)
        if opinion.block and self.trust.act:
            self._raise(opinion, now)
        self._maybe_persist(now)

    def _maybe_dispute(self, ip: str, now: float) -> None:
        """Tell the mesh `ip` is benign here, unless done this hour or enough others did."""
        if not self.trust.disputes:
            return
        last = self._disputed.get(ip)
        heard = [t for t in self._disputes_heard.get(ip, ()) if now - t < 3600.0]
        self._disputes_heard[ip] = heard
        if (last is not None and now - last < 3600.0) or len(heard) >= 3:
            self.counts["disputes_suppressed"] += 1
            return
        if refusal_reason(ip, self.sharer.own, self._peer_ips):
            return  # private, own or a peer's address: not ours to talk about
        if len(self._disputed) > 100_000:
            self._disputed.clear()
        self._disputed[ip] = now
        dispute = IocReport(
            "ip",
            ip,
            0.0,
            0.9,
            ("benign",),
            int(now // self.window_seconds),
            3600,
            "allowlisted here: a report calling it malicious is contradicted",
        )
        if self._publish(dispute):
            self.counts["disputes_sent"] += 1

    def opinion(self, ip: str, now: float | None = None) -> NetworkOpinion:
        """The network opinion about `ip` from unexpired peer reports, explained."""
        now = self.clock() if now is None else now
        claims = [
            PeerClaim(r.sender, r.score, r.confidence, r.signed_at)
            for r in self.store.reports(value=ip, limit=1000)
            if not r.expired(now) and r.sender != self.peer_id
        ]
        with self._lock:
            return aggregate(
                ip, claims, self.book, now, self.aggregation, protected=self.is_protected(ip)
            )

    def _raise(self, opinion: NetworkOpinion, now: float) -> None:
        last = self._raised.get(opinion.indicator)
        if last is not None and now - last < self.window_seconds:
            return  # one consensus evidence per indicator and window
        self._raised[opinion.indicator] = now
        top = max(opinion.contributions, key=lambda c: c.weight)
        reporters = ", ".join(
            f"{c.reporter[-8:]} (w={c.weight:.2f})"
            for c in sorted(opinion.contributions, key=lambda c: -c.weight)[:5]
        )
        evidence = Evidence(
            type="peer_consensus",
            attacker=opinion.indicator,
            victim=None,
            threat_level=ThreatLevel.HIGH if opinion.score >= 0.8 else ThreatLevel.MEDIUM,
            confidence=opinion.confidence,
            ts=now,
            timewindow=int(now // self.window_seconds),
            description=(
                f"Network opinion on {opinion.indicator}: {opinion.trusted_reporters} trusted "
                f"peers, score {opinion.score:.2f}, support {opinion.support:.2f} ({reporters})"
            ),
            source=f"peer:{top.reporter}",
            count=opinion.trusted_reporters,
        )
        self.counts["consensus_evidence"] += 1
        if self.on_evidence is not None:
            self.on_evidence(evidence)
        else:
            self.store.add_evidence([evidence])

    def reputation_view(self, peer: str, now: float | None = None) -> dict[str, Any]:
        now = self.clock() if now is None else now
        with self._lock:
            rec = self.book.peers.get(peer)
            return {
                "reputation": round(self.book.reputation(peer, now), 4),
                "certainty": round(self.book.certainty(peer, now), 4),
                "weight": round(self.book.weight(peer, now), 4),
                "pretrusted": peer in self.book.pretrusted,
                "reports": rec.reports if rec else 0,
                "confirmed": rec.confirmed if rec else 0,
                "contradicted": rec.contradicted if rec else 0,
                "faults": rec.faults if rec else 0,
                "history": [(round(t, 3), round(r, 4)) for t, r in rec.history] if rec else [],
            }

    def _maybe_persist(self, now: float, force: bool = False) -> None:
        if not force and now - self._last_persist < 30.0:
            return
        self._last_persist = now
        with self._lock:
            data = {
                pid: [r.good, r.bad, r.updated, r.confirmed, r.contradicted, r.faults, r.reports]
                for pid, r in self.book.peers.items()
            }
            judged = list(self._judged)
        self.store.set_meta("reputations", orjson.dumps(data).decode())
        self.store.set_meta("judged", orjson.dumps(judged).decode())

    def _load_reputations(self) -> None:
        raw = self.store.get_meta("reputations")
        if not raw:
            return
        try:
            data = orjson.loads(raw)
            for pid, (good, bad, updated, conf, contra, faults, reports) in data.items():
                self.book.peers[pid] = PeerRecord(
                    pid,
                    good,
                    bad,
                    updated,
                    pid in self.book.pretrusted,
                    conf,
                    contra,
                    faults,
                    reports,
                )
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            log.warning("ignoring unreadable saved reputations: %s", exc)
        raw = self.store.get_meta("judged")
        if raw:
            try:
                for a, b in orjson.loads(raw)[-_JUDGED_KEPT:]:
                    self._judged[(str(a), str(b))] = None
            except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
                log.warning("ignoring unreadable saved judgements: %s", exc)

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
        # Our own messages come back through gossip validation and are counted in the
        # inbox like anyone's; we are not our own peer.
        known.discard(self.peer_id)
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
                    "trust": self.reputation_view(pid),
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
