"""Peer reputation learned from evidence, with decay toward uncertainty.

Theory of operation
-------------------
Each peer has a Beta-distribution belief about how often its reports are
right: `good` and `bad` pseudo-counts on top of a prior (`prior_good`,
`prior_bad`). Every observation moves one of them:

* confirmed  — our own detectors flag an indicator the peer reported (each
  observation has weight 1 for now; weighting by how early the report came, so
  an echo of what everybody already said teaches little, is a planned refinement);
* contradicted — we have our own view of the indicator and it says benign
  (an allowlisted or canary address, or one we watched long enough);
* protocol faults — bad signatures, replays, floods (`fault`), weighted heavily.

Reputation is the Beta mean `(g + p_g) / (g + b + p_g + p_b)`; certainty is
`n / (n + k)` with `n = g + b` the evidence actually seen. A peer's *weight* in
any aggregation is `reputation x certainty`, so a brand-new identity weighs
about nothing whatever it claims: minting identities (Sybil) or re-joining
under a new key (whitewashing) buys no influence, only the slow, honest way
does. A peer whose reputation falls below `graylist_below` with certainty is
*graylisted*: its messages are dropped before they are processed or relayed
(gossipsub's graylist, driven by what the peer's reports proved to be), which
stops a known liar from costing the mesh bandwidth and CPU.
Without fresh interactions the counts decay exponentially toward zero
(half-life `half_life`), so old merit does not last forever and a traitor who
turns pays quickly for new lies. Pre-trusted peers start with a larger prior
(a prior, not a frozen value: evidence still moves them).

All functions take `now`; nothing here reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["PeerRecord", "ReputationBook", "ReputationParams"]

_LN2 = math.log(2)


@dataclass(frozen=True, slots=True)
class ReputationParams:
    prior_good: float = 1.0
    prior_bad: float = 1.0
    pretrusted_prior_good: float = 8.0
    certainty_k: float = 5.0  # evidence needed for certainty 0.5
    half_life: float = 7 * 86400.0  # seconds
    fault_weight: float = 3.0  # one protocol fault counts as this many bad reports
    contradiction_weight: float = 3.0  # one wrong report costs this many right ones
    history: int = 64  # reputation samples kept per peer for the API
    graylist_below: float = 0.1  # reputation under which a peer's messages are ignored
    graylist_certainty: float = 0.5  # ... once we are at least this certain of it


@dataclass(slots=True)
class PeerRecord:
    peer_id: str
    good: float = 0.0
    bad: float = 0.0
    updated: float = 0.0
    pretrusted: bool = False
    confirmed: int = 0
    contradicted: int = 0
    faults: int = 0
    reports: int = 0
    history: list[tuple[float, float]] = field(default_factory=list)


class ReputationBook:
    """Reputations of every peer this agent has heard of."""

    def __init__(
        self, params: ReputationParams | None = None, pretrusted: frozenset[str] = frozenset()
    ) -> None:
        self.params = params or ReputationParams()
        self.pretrusted = pretrusted
        self.peers: dict[str, PeerRecord] = {}
        # weight() is on every aggregation's path; decay over a minute changes it by
        # < 1e-4 at the default half-life, so a cached value is reused for that long
        # and dropped at once when an observation changes the peer's counts.
        self._weights: dict[str, tuple[float, float]] = {}
        self.weight_cache_seconds = 60.0

    def record(self, peer_id: str, now: float) -> PeerRecord:
        rec = self.peers.get(peer_id)
        if rec is None:
            rec = self.peers[peer_id] = PeerRecord(
                peer_id, updated=now, pretrusted=peer_id in self.pretrusted
            )
        elif now > rec.updated:  # (_decay inlined: on the path of every report)
            f = math.exp(-(now - rec.updated) * _LN2 / self.params.half_life)
            rec.good *= f
            rec.bad *= f
            rec.updated = now
        return rec

    def _decay(self, rec: PeerRecord, now: float) -> None:
        dt = now - rec.updated
        if dt > 0:
            f = math.exp(-dt * _LN2 / self.params.half_life)
            rec.good *= f
            rec.bad *= f
            rec.updated = now

    # -- observations -----------------------------------------------------------------------

    def confirmed(self, peer_id: str, now: float, weight: float = 1.0) -> None:
        rec = self.record(peer_id, now)
        rec.good += max(0.0, weight)
        rec.confirmed += 1
        self._sample(rec, now)

    def contradicted(self, peer_id: str, now: float, weight: float = 1.0) -> None:
        rec = self.record(peer_id, now)
        rec.bad += max(0.0, weight) * self.params.contradiction_weight
        rec.contradicted += 1
        self._sample(rec, now)

    def fault(self, peer_id: str, now: float, count: int = 1) -> None:
        rec = self.record(peer_id, now)
        rec.bad += self.params.fault_weight * count
        rec.faults += count
        self._sample(rec, now)

    def reported(self, peer_id: str, now: float) -> None:
        rec = self.peers.get(peer_id)
        if rec is None or now > rec.updated:
            rec = self.record(peer_id, now)
        rec.reports += 1

    def _sample(self, rec: PeerRecord, now: float) -> None:
        self._weights.pop(rec.peer_id, None)
        rec.history.append((now, self.reputation(rec.peer_id, now)))
        if len(rec.history) > self.params.history:
            del rec.history[0]

    # -- views ------------------------------------------------------------------------------

    def _prior(self, rec: PeerRecord | None, peer_id: str) -> tuple[float, float]:
        pre = rec.pretrusted if rec is not None else peer_id in self.pretrusted
        good = self.params.pretrusted_prior_good if pre else self.params.prior_good
        return good, self.params.prior_bad

    def reputation(self, peer_id: str, now: float) -> float:
        rec = self.peers.get(peer_id)
        p = self.params
        if rec is None:
            pg = p.pretrusted_prior_good if peer_id in self.pretrusted else p.prior_good
            return pg / (pg + p.prior_bad)
        if now > rec.updated:  # (_decay and _prior inlined: every aggregation reads this)
            f = math.exp(-(now - rec.updated) * _LN2 / p.half_life)
            rec.good *= f
            rec.bad *= f
            rec.updated = now
        pg = p.pretrusted_prior_good if rec.pretrusted else p.prior_good
        return (rec.good + pg) / (rec.good + rec.bad + pg + p.prior_bad)

    def certainty(self, peer_id: str, now: float) -> float:
        rec = self.peers.get(peer_id)
        if rec is None:
            n = 0.0
        else:
            self._decay(rec, now)
            n = rec.good + rec.bad
        if (rec is not None and rec.pretrusted) or (rec is None and peer_id in self.pretrusted):
            n += self.params.pretrusted_prior_good
        return n / (n + self.params.certainty_k)

    def graylisted(self, peer_id: str, now: float) -> bool:
        """A proven liar or abuser: stop relaying and processing its messages.

        Needs our own evidence (certainty), so a new identity is never graylisted
        on arrival, and a pre-trusted peer only after its prior is outweighed."""
        return (
            self.reputation(peer_id, now) < self.params.graylist_below
            and self.certainty(peer_id, now) >= self.params.graylist_certainty
        )

    def weight(self, peer_id: str, now: float) -> float:
        """Influence of this peer's reports: reputation x certainty, in [0, 1)."""
        cached = self._weights.get(peer_id)
        if cached is not None and 0.0 <= now - cached[1] < self.weight_cache_seconds:
            return cached[0]
        return self._fresh_weight(peer_id, now)[0]

    def _fresh_weight(self, peer_id: str, now: float) -> tuple[float, float]:
        """(weight, reputation) computed now, and the weight cached: `reputation x
        certainty` in one pass over the record (the same arithmetic as the two views)."""
        p = self.params
        rec = self.peers.get(peer_id)
        if rec is None:
            pre = peer_id in self.pretrusted
            pg = p.pretrusted_prior_good if pre else p.prior_good
            r = pg / (pg + p.prior_bad)
            n = 0.0
        else:
            if now > rec.updated:
                f = math.exp(-(now - rec.updated) * _LN2 / p.half_life)
                rec.good *= f
                rec.bad *= f
                rec.updated = now
            pre = rec.pretrusted
            pg = p.pretrusted_prior_good if pre else p.prior_good
            r = (rec.good + pg) / (rec.good + rec.bad + pg + p.prior_bad)
            n = rec.good + rec.bad
        if pre:
            n += p.pretrusted_prior_good
        w = r * (n / (n + p.certainty_k))
        weights = self._weights
        if len(weights) > 100_000:
            weights.clear()
        weights[peer_id] = (w, now)
        return w, r

    def passes(self, peer_id: str, now: float, min_weight: float, min_reputation: float) -> bool:
        """`weight(peer) >= min_weight and reputation(peer) >= min_reputation`, with one
        look-up of the record (the trusted-reporter test on the path of every claim)."""
        cached = self._weights.get(peer_id)
        if cached is not None and 0.0 <= now - cached[1] < self.weight_cache_seconds:
            if cached[0] < min_weight:
                return False
            return self.reputation(peer_id, now) >= min_reputation
        w, r = self._fresh_weight(peer_id, now)
        # the record is decayed to `now` already: reputation() would return this same r
        return w >= min_weight and r >= min_reputation
