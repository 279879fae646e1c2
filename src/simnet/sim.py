"""The discrete-event simulator: many agents, one virtual clock, one seeded RNG.

Theory of operation
-------------------
Every simulated agent runs the real protocol code: it seals its reports with
its own Ed25519 identity (`p2p.gossip.Outbox`, `p2p.wire`), and every message
it receives goes through its own `p2p.gossip.Inbox` (signature, staleness,
replay and rate checks, with `now` = virtual time). Verification of identical
message bytes is memoised across agents: every copy of one broadcast is the
same bytes, so decoding it once is exact, not an approximation. What each
agent believes about its peers is its own instance of the chosen trust model
(`simnet.models`), fed by the same observations the real agent makes:

* a local detection confirms every peer that reported that indicator earlier
  (and any that report it later) — once per (peer, indicator);
* seeing an indicator as benign in our own traffic (the canaries everyone
  uses, the benign addresses this agent talks to) contradicts every report of
  it, earlier or later — once per accepted report, so a peer that repeats a
  lie is contradicted each time (the inbox has already refused re-deliveries);
* a message refused by the inbox is a protocol fault of its relay;
* a peer the model graylists (`ReputationBook.graylisted`: a proven liar) is
  dropped by that agent: its later messages are no longer sent to it.

The fabric delivers each broadcast to every other online agent after an
exponentially distributed latency (mean `network.latency_ms`), losing each
copy with probability `network.loss`. With `network.churn` > 0 every agent
alternates online and offline stretches (exponential; mean online
`session_seconds`, offline a share `churn` of the time): offline it neither
sends, receives nor sees traffic, and what was sent meanwhile is lost to it.
A `network.partitions` entry cuts a random share of the agents off from the
rest for a while: messages do not cross between the two sides. Blocks are decided by local detection
(every model) or by the model's verdict on peer reports; a peer-based block is
lifted as soon as the agent's own view contradicts it or the model withdraws it.

Time and randomness: `Simulation(scenario)` takes everything from the scenario
(its `seed` drives one `random.Random`); the same scenario gives the same result.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
import operator
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from p2p.errors import RemoteProtocolError
from p2p.gossip import GossipLimits, Inbox, Outbox
from p2p.signing import Identity
from p2p.wire import Envelope, IocReport, decode
from simnet.models import TrustModel, make_model
from simnet.scenario import Scenario

__all__ = ["SimResult", "Simulation"]

_DECODE_CACHE: dict[bytes, Envelope] = {}
MALICIOUS = 0.5  # a report scoring below this is a dispute ("benign in my traffic")
DISPUTE_BACKOFF = 5.0  # seconds: random wait before disputing, so others can suppress us
DISPUTE_SUPPRESS = 3  # disputes of one indicator heard this hour that make ours redundant


def _cached_decode(data: bytes, *, max_bytes: int) -> Envelope:
    env = _DECODE_CACHE.get(data)
    if env is None:
        env = decode(data, max_bytes=max_bytes)  # raises for bad bytes: never cached
        if len(_DECODE_CACHE) > 200_000:
            _DECODE_CACHE.clear()
        _DECODE_CACHE[data] = env
    return env


@dataclass
class Campaign:
    ip: str
    start: float
    exposures: dict[int, float]  # agent index -> exposure time
    kind: str
    end: float
    first_detection: float | None = None
    detections: list[float] = field(default_factory=list)  # honest agents' detection times


@dataclass
class SimAgent:
    index: int
    kind: str  # "honest" or an adversary kind
    identity: Identity
    outbox: Outbox
    inbox: Inbox
    model: TrustModel
    online: bool = True
    detected: set[str] = field(default_factory=set)
    benign_seen: set[str] = field(default_factory=set)
    # ip -> reporter of each accepted, not yet judged report (one entry per report)
    pending: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    confirmed: set[tuple[str, str]] = field(default_factory=set)  # (peer, ip) confirmed
    blocked: dict[str, tuple[float, str]] = field(default_factory=dict)
    peer_blocked: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    captured: list[bytes] = field(default_factory=list)
    pending_benign: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    disputes_heard: dict[tuple[str, int], int] = field(default_factory=dict)  # (ip, hour)
    disputed: set[tuple[str, int]] = field(default_factory=set)
    graylist: set[str] = field(default_factory=set)  # peers whose messages we no longer take
    sybils: list[Identity] = field(default_factory=list)
    # plain attributes, not properties: read for every message copy on the fabric
    honest: bool = field(init=False)
    listens: bool = field(init=False)  # processes what it receives (honest or replayer)

    def __post_init__(self) -> None:
        self.honest = self.kind == "honest"
        self.listens = self.honest or self.kind == "replayer"


@dataclass
class SimResult:
    scenario: Scenario
    metrics: dict[str, Any]
    block_log: list[tuple[float, int, str, str, bool]]  # time, agent, ip, via, malicious
    reputation_samples: list[
        tuple[float, float, float]
    ]  # time, mean honest rep, mean malicious rep


class Simulation:
    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        # Three streams from one seed. The world (who is attacked when, what each
        # detector catches, benign traffic, churn) draws only from `world`, so every
        # trust model faces exactly the same world for a seed: comparisons between
        # models are paired. Adversaries' choices and the fabric (latency, loss,
        # nonces, back-offs), whose use depends on the model, have their own streams.
        self.world = random.Random(scenario.seed)
        self.adversary_rng = random.Random(f"adversaries-{scenario.seed}")
        self.rng = random.Random(f"fabric-{scenario.seed}")
        self.now = 0.0
        self._events: list[tuple[float, int, Callable[[], None] | None, _Stream | None]] = []
        self._seq = itertools.count()
        self.deliveries = 0
        self.disputes = 0
        self.published_iocs = 0
        self.block_log: list[tuple[float, int, str, str, bool]] = []
        self.lifts: list[float] = []
        self.rep_samples: list[tuple[float, float, float]] = []
        self.canaries = [f"198.51.{100 + i // 250}.{i % 250 + 1}" for i in range(scenario.canaries)]
        self.benign = [f"93.184.{i // 250}.{i % 250 + 1}" for i in range(scenario.benign_ips)]
        self.benign_set = set(self.benign) | set(self.canaries)
        self.identity_kind: dict[str, str] = {}
        self.agents = self._make_agents()
        self.campaigns: list[Campaign] = []
        self.traitor_switch = scenario.duration * scenario.traitor_switch
        self.traitor_detected_at: float | None = None
        self._partitions: list[frozenset[int]] = []  # agent sets cut off from the rest

    # -- setup -------------------------------------------------------------------------------

    def _identity(self, kind: str, rng: random.Random | None = None) -> Identity:
        ident = Identity((rng or self.world).randbytes(32))
        self.identity_kind[ident.peer_id] = kind
        return ident

    def _make_agents(self) -> list[SimAgent]:
        n = self.s.agents
        kinds = ["honest"] * n
        order = list(range(n))
        self.world.shuffle(order)
        pos = 0
        for adv in self.s.adversaries:
            k = round(adv.fraction * n)
            for i in order[pos : pos + k]:
                kinds[i] = adv.kind
            pos += k
        honest = [i for i in order if kinds[i] == "honest"]
        pretrusted_n = round(self.s.pretrusted_fraction * n)
        identities = [self._identity(kinds[i]) for i in range(n)]
        pretrusted = frozenset(identities[i].peer_id for i in honest[:pretrusted_n])
        limits = GossipLimits(max_age=300.0, max_future=30.0, rate=10.0, burst=50.0)
        agents = []
        for i in range(n):
            inbox = Inbox(limits)
            agents.append(
                SimAgent(
                    i,
                    kinds[i],
                    identities[i],
                    Outbox(identities[i], self.rng.randbytes),
                    inbox,
                    make_model(self.s.model, pretrusted),
                )
            )
        for a in agents:
            if a.kind == "sybil":
                a.sybils = [self._identity("sybil") for _ in range(self.s.sybil_identities)]
        return agents

    # -- event loop --------------------------------------------------------------------------

    def at(self, t: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._events, (t, next(self._seq), fn, None))

    def run(self) -> SimResult:
        """Events run in (time, sequence number) order. The copies of one broadcast are
        one `_Stream`, sorted by (time, sequence number), of which only the next copy
        sits in the heap: a k-way merge, so the order is exactly that of one event per
        copy, at a fraction of the heap traffic."""
        self._schedule_world()
        # The run allocates millions of long-lived, acyclic objects (claims, records,
        # nonces); the collector's full passes over them took a third of the time. Rare
        # full collections for the run — and for the metrics after it: with the
        # caller's thresholds their first allocations set off a full pass over the
        # whole run (0.9-2.3 s at N = 1,000) — the caller's thresholds restored after.
        # (Switching the collector off altogether was measured slower, 70-73 s vs
        # 66-67 s at N = 1,000 with 10 % liars; why is not established.) Events left
        # beyond `duration` are dropped.
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], 50_000), max(thresholds[1], 50), 1_000)
        try:
            self._loop()
            self._events.clear()
            self.now = self.s.duration
            metrics = self._metrics()
        finally:
            gc.set_threshold(*thresholds)
        return SimResult(self.s, metrics, self.block_log, self.rep_samples)

    def _loop(self) -> None:
        end = self.s.duration
        events = self._events
        pop, push, deliver = heapq.heappop, heapq.heappush, self._deliver
        while events:
            t, _, fn, stream = pop(events)
            if t > end:
                break
            self.now = t
            if stream is None:
                fn()  # type: ignore[misc]  # (an `at` event: fn is set)
                continue
            copies = stream.copies
            i = stream.next
            b = copies[i][2]
            i += 1
            if i < len(copies):
                stream.next = i
                nt, ns, _ = copies[i]
                push(events, (nt, ns, None, stream))
            deliver(b, stream.relay, stream.data)

    def _schedule_world(self) -> None:
        s = self.s
        honest = [a for a in self.agents if a.honest]
        for a in honest:
            for ip in self.canaries:  # everyone talks to the CDN / resolver early and often
                self._plan_contact(a, ip, self.world.uniform(0, 120))
            for ip in self.world.sample(self.benign, min(s.benign_contacts, len(self.benign))):
                self._plan_contact(a, ip, self.world.uniform(0, s.duration))
        n = len(self.agents)
        serial = itertools.count()
        for kind in s.campaigns:
            # Poisson arrivals at kind.per_hour; a campaign starting late may not finish.
            t = self.world.expovariate(kind.per_hour / 3600.0) if kind.per_hour > 0 else math.inf
            while t < s.duration:
                c = next(serial)
                ip = f"45.{(c // 250) % 250}.{c % 250}.{self.world.randrange(1, 255)}"
                lo, hi = kind.exposed
                k = max(kind.min_exposed, round(self.world.uniform(lo, hi) * n))
                exposed = self.world.sample(range(n), min(k, n))
                camp = Campaign(
                    ip,
                    t,
                    {i: t + self.world.uniform(0, kind.spread) for i in exposed},
                    kind.kind,
                    t + kind.spread,
                )
                self.campaigns.append(camp)
                for i, te in camp.exposures.items():
                    caught = self.world.random() < s.detector.tpr
                    delay = self.world.uniform(0, s.detector.delay)
                    self.at(
                        te,
                        lambda i=i, camp=camp, caught=caught, delay=delay: self._exposure(
                            self.agents[i], camp, caught, delay
                        ),
                    )
                t += self.world.expovariate(kind.per_hour / 3600.0)
        for a in self.agents:
            if not a.honest:
                self._schedule_adversary(a)
        self._schedule_fabric()
        step = max(60.0, s.duration / 60)
        for k in range(1, int(s.duration // step) + 1):
            self.at(k * step, self._sample_reputations)

    def _plan_contact(self, a: SimAgent, ip: str, t: float) -> None:
        fp = self.world.random() < self.s.detector.fpr
        self.at(t, lambda: self._benign_contact(a, ip, fp))

    def _schedule_fabric(self) -> None:
        net = self.s.network
        if net.churn > 0:
            down_mean = net.session_seconds * net.churn / (1 - net.churn)
            for a in self.agents:
                t = self.world.expovariate(1 / net.session_seconds)
                while t < self.s.duration:
                    down = self.world.expovariate(1 / down_mean)
                    self.at(t, lambda a=a: setattr(a, "online", False))
                    self.at(t + down, lambda a=a: setattr(a, "online", True))
                    t += down + self.world.expovariate(1 / net.session_seconds)
        for part in net.partitions:
            k = max(1, round(part.fraction * len(self.agents)))
            side = frozenset(self.world.sample(range(len(self.agents)), k))
            self.at(part.start, lambda side=side: self._partitions.append(side))
            self.at(part.start + part.duration, lambda side=side: self._partitions.remove(side))

    def _reachable(self, a: SimAgent, b: SimAgent) -> bool:
        return all((a.index in side) == (b.index in side) for side in self._partitions)

    # -- honest behaviour ---------------------------------------------------------------------

    def _behaves_honestly(self, a: SimAgent) -> bool:
        if a.honest or a.kind == "selective_liar":
            return True
        return a.kind == "traitor" and self.now < self.traitor_switch

    def _exposure(self, a: SimAgent, camp: Campaign, caught: bool, delay: float) -> None:
        if not a.online:
            camp.exposures.pop(a.index, None)  # the host is off: the attack missed it
            return
        if caught and self._behaves_honestly(a):
            self.at(self.now + delay, lambda: self._detect(a, camp.ip, camp))

    def _detect(self, a: SimAgent, ip: str, camp: Campaign | None) -> None:
        if ip in a.detected:
            return
        a.detected.add(ip)
        if camp is not None and a.honest:
            camp.detections.append(self.now)
            if camp.first_detection is None or self.now < camp.first_detection:
                camp.first_detection = self.now
        self._block(a, ip, "local")
        for p in dict.fromkeys(a.pending.pop(ip, ())):
            self._judge(a, p, ip, confirm=True)
        for p in a.pending_benign.pop(ip, ()):
            self._judge(a, p, ip, confirm=False)  # they said benign; we see an attack
        self._publish(a, a.identity, a.outbox, ip, 0.8)

    def _benign_contact(self, a: SimAgent, ip: str, false_positive: bool) -> None:
        if not a.online:
            return
        if false_positive:
            self._detect(a, ip, None)  # an honest false positive
            return
        if ip in a.detected:
            return
        a.benign_seen.add(ip)
        pending = a.pending.pop(ip, ())
        for p in pending:
            self._judge(a, p, ip, confirm=False)
        if pending:  # it was reported malicious before we knew it: say so now
            self._plan_dispute(a, ip)
        if ip in a.blocked and a.blocked[ip][1] == "peers":
            self._lift(a, ip)

    def _judge(self, a: SimAgent, peer: str, ip: str, *, confirm: bool) -> None:
        """Confirmations count once per (peer, ip); contradictions once per report.

        Every call with `confirm=False` stands for one accepted report (judged on
        arrival, or popped from `pending`), so each contradicted report counts.
        """
        if confirm:
            if (peer, ip) in a.confirmed:
                return
            a.confirmed.add((peer, ip))
            a.model.on_confirm(peer, self.now)
        else:
            a.model.on_contradict(peer, self.now)
            self._reconsider(a, peer)
            if a.model.graylisted(peer, self.now):
                a.graylist.add(peer)

    def _reconsider(self, a: SimAgent, peer: str) -> None:
        for ip in list(a.peer_blocked.get(peer, ())):
            peer_block = ip in a.blocked and a.blocked[ip][1] == "peers"
            if peer_block and not a.model.should_block(ip, self.now, ip in a.benign_seen):
                self._lift(a, ip)

    def _block(self, a: SimAgent, ip: str, via: str) -> None:
        if ip in a.blocked and a.blocked[ip][1] == "local":
            return
        if ip in a.blocked and via == "peers":
            return
        a.blocked[ip] = (self.now, via)
        if a.honest:
            self.block_log.append((self.now, a.index, ip, via, ip not in self.benign_set))

    def _lift(self, a: SimAgent, ip: str) -> None:
        since, _ = a.blocked.pop(ip)
        if a.honest and ip in self.benign_set:
            self.lifts.append(self.now - since)

    # -- the network --------------------------------------------------------------------------

    def _publish(self, a: SimAgent, ident: Identity, outbox: Outbox, ip: str, score: float) -> None:
        body = IocReport("ip", ip, score, 0.9, ("simnet",), int(self.now // 3600), 3600)
        data = outbox.seal(body, self.now)
        self.published_iocs += 1
        self._broadcast(a, ident.peer_id, data)

    def _broadcast(self, sender: SimAgent, relay: str, data: bytes) -> None:
        if not sender.online:
            return  # an offline agent's messages never leave it
        mean = self.s.network.latency_ms / 1000.0
        loss = self.s.network.loss
        random_ = self.rng.random
        log = math.log
        now = self.now
        seq = self._seq
        partitions = self._partitions
        copies: list[tuple[float, int, SimAgent]] = []
        sent = 0
        for b in self.agents:
            if b is sender or not b.online or random_() < loss:
                continue
            if partitions and not self._reachable(sender, b):
                continue
            if relay in b.graylist:
                continue  # b dropped this peer (gossipsub graylist): nothing is sent
            sent += 1  # a message on the wire
            if not b.listens:
                continue  # other adversaries ignore what they receive: skip the event
            # exponential latency, drawn as random.expovariate draws it (same stream)
            t = now - mean * log(1.0 - random_()) if mean > 0 else now
            copies.append((t, next(seq), b))
        self.deliveries += sent
        if copies:
            copies.sort(key=_time)  # stable: equal times keep sequence order
            t, n, _ = copies[0]
            heapq.heappush(self._events, (t, n, None, _Stream(copies, relay, data)))

    def _deliver(self, b: SimAgent, relay: str, data: bytes) -> None:
        if not b.online:
            return  # went offline while the message was in flight
        now = self.now
        try:  # Inbox.receive with the memoised decoder: same checks, same counters
            env = b.inbox.receive(data, relay=relay, now=now, decoder=_cached_decode)
        except RemoteProtocolError:
            if b.honest:
                b.model.on_fault(relay, now)
                if b.model.graylisted(relay, now):
                    b.graylist.add(relay)
            return
        if not b.honest:
            if b.kind == "replayer" and len(b.captured) < 1000:
                b.captured.append(data)
            return
        body = env.body
        if not isinstance(body, IocReport):
            return
        peer, ip, score = env.sender_id, body.value, body.score
        b.model.on_report(peer, ip, score, now)
        if score < MALICIOUS:
            self._on_dispute(b, peer, ip)
            return
        if ip in b.detected:
            self._judge(b, peer, ip, confirm=True)
        elif ip in b.benign_seen:
            self._judge(b, peer, ip, confirm=False)
            self._plan_dispute(b, ip)
            return
        else:
            b.pending[ip].append(peer)
        if ip not in b.blocked and b.model.should_block(ip, now, ip in b.benign_seen):
            self._block(b, ip, "peers")
            for p in {peer, *b.pending.get(ip, ())}:
                b.peer_blocked[p].add(ip)

    # -- disputes (trust.disputes) ------------------------------------------------------------

    def _on_dispute(self, b: SimAgent, peer: str, ip: str) -> None:
        hour = int(self.now // 3600)
        b.disputes_heard[(ip, hour)] = b.disputes_heard.get((ip, hour), 0) + 1
        if ip in b.detected:
            self._judge(b, peer, ip, confirm=False)  # our detector says it is malicious
        else:
            b.pending_benign[ip].append(peer)
        peer_block = ip in b.blocked and b.blocked[ip][1] == "peers"
        if peer_block and not b.model.should_block(ip, self.now, ip in b.benign_seen):
            self._lift(b, ip)

    def _plan_dispute(self, b: SimAgent, ip: str) -> None:
        """Dispute a report we know is false, after a random back-off, unless enough
        others already did this hour (suppression keeps a lie from costing N^2 messages)."""
        key = (ip, int(self.now // 3600))
        if key in b.disputed:
            return
        b.disputed.add(key)
        backoff = self.rng.uniform(0, DISPUTE_BACKOFF)
        self.at(self.now + backoff, lambda: self._dispute(b, ip, key))

    def _dispute(self, b: SimAgent, ip: str, key: tuple[str, int]) -> None:
        if b.online and b.disputes_heard.get(key, 0) < DISPUTE_SUPPRESS:
            self.disputes += 1
            self._publish(b, b.identity, b.outbox, ip, 0.0)

    # -- adversaries --------------------------------------------------------------------------

    def _targets(self) -> list[str]:
        return self.canaries + self.benign[:50]

    def _schedule_adversary(self, a: SimAgent) -> None:
        s = self.s
        offset = self.adversary_rng.uniform(0, s.lie_interval)
        t = s.adversary_start + offset
        while t < s.duration:
            self.at(t, lambda a=a: self._adversary_act(a))
            t += s.lie_interval
        if a.kind == "whitewasher":
            t = s.adversary_start + s.rejoin_seconds
            while t < s.duration:
                self.at(t, lambda a=a: self._rejoin(a))
                t += s.rejoin_seconds
        if a.kind == "spammer":
            t = s.adversary_start + self.adversary_rng.uniform(0, 300)
            while t < s.duration:
                self.at(t, lambda a=a: self._spam(a))
                t += 300.0

    def _adversary_act(self, a: SimAgent) -> None:
        kind = a.kind
        targets = self._targets()
        rng = self.adversary_rng
        if kind in ("liar", "whitewasher"):
            self._publish(a, a.identity, a.outbox, rng.choice(targets), 1.0)
        elif kind == "colluder":
            self._publish(
                a,
                a.identity,
                a.outbox,
                targets[int(self.now // self.s.lie_interval) % len(targets)],
                1.0,
            )
        elif kind == "selective_liar":
            if rng.random() < 0.3:
                self._publish(a, a.identity, a.outbox, rng.choice(self.benign[:50] or targets), 1.0)
        elif kind == "traitor":
            if self.now >= self.traitor_switch:
                self._publish(a, a.identity, a.outbox, rng.choice(targets), 1.0)
        elif kind == "slanderer":
            if self.canaries:
                self._publish(a, a.identity, a.outbox, rng.choice(self.canaries), 1.0)
        elif kind == "sybil":
            target = targets[int(self.now // self.s.lie_interval) % len(targets)]
            for ident in a.sybils:
                self._publish(a, ident, Outbox(ident, rng.randbytes), target, 1.0)
        elif kind == "replayer" and a.captured:
            self._broadcast(a, a.identity.peer_id, rng.choice(a.captured))

    def _rejoin(self, a: SimAgent) -> None:
        a.identity = self._identity(a.kind, self.adversary_rng)
        a.outbox = Outbox(a.identity, self.adversary_rng.randbytes)

    def _spam(self, a: SimAgent) -> None:
        for _ in range(self.s.spam_burst):
            self._publish(
                a,
                a.identity,
                a.outbox,
                self.adversary_rng.choice(self.benign or self.canaries),
                1.0,
            )

    # -- measurement --------------------------------------------------------------------------

    def _observers(self) -> list[SimAgent]:
        honest = [a for a in self.agents if a.honest]
        return honest if len(honest) <= 40 else random.Random(self.s.seed + 1).sample(honest, 40)

    def _sample_reputations(self) -> None:
        hon, mal = [], []
        for o in self._observers():
            for pid, kind in self.identity_kind.items():
                if pid == o.identity.peer_id:
                    continue
                (hon if kind == "honest" else mal).append(o.model.reputation(pid, self.now))
        mh = sum(hon) / len(hon) if hon else math.nan
        mm = sum(mal) / len(mal) if mal else math.nan
        self.rep_samples.append((self.now, mh, mm))
        if self.traitor_detected_at is None and self.now > self.traitor_switch:
            traitors = [pid for pid, k in self.identity_kind.items() if k == "traitor"]
            if traitors:
                reps = [
                    o.model.reputation(p, self.now) for o in self._observers() for p in traitors
                ]
                if sum(reps) / len(reps) < 0.5:
                    self.traitor_detected_at = self.now

    def _metrics(self) -> dict[str, Any]:
        from simnet.metrics import compute

        return compute(self)


class _Stream:
    """The pending copies of one broadcast, sorted; `next` indexes the one in the heap."""

    __slots__ = ("copies", "data", "next", "relay")

    def __init__(self, copies: list[tuple[float, int, SimAgent]], relay: str, data: bytes):
        self.copies = copies
        self.relay = relay
        self.data = data
        self.next = 0


_time = operator.itemgetter(0)


def _receive(inbox: Inbox, data: bytes, relay: str, now: float) -> Envelope:
    # Inbox.receive with the memoised decoder: same checks, same counters.
    return inbox.receive(data, relay=relay, now=now, decoder=_cached_decode)
