"""Trust models behind one interface: Starling's and the baselines it must beat.

Each simulated agent owns one model instance: its private view of its peers.
The simulator tells it what happened (a peer reported an indicator; our own
detector confirmed or our own traffic contradicted an indicator; a peer broke
the protocol) and asks it one question: block this indicator on peer evidence?

* `starling` — `trust.reputation` + `trust.aggregate` (the real code).
* `none` — never acts on peers (local detections only).
* `trust-all` — one report is enough.
* `k-reporters` — k distinct reporters (k = 3), no reputation.
* `majority` — reporters must exceed half of the peers heard from so far.
* `eigentrust` — a simplification of EigenTrust (Kamvar et al. 2003).
  EigenTrust's global trust is the fixed point of t = (1-a) C^T t + a p, a
  power iteration over the local-trust rows of *every* peer; a simulated
  agent only has its own row (other peers' rows would need their
  recommendations, which are not exchanged). With one row, C^T t collapses to
  that row, so the agent's "global" trust is its normalised local trust c
  (c_j = max(sat_j, 0) / sum, satisfied minus unsatisfied interactions; c = p
  when no interaction is positive) mixed with the pre-trust distribution:
  t_j = (1-a) c_j + a p_j. p is uniform over the pre-trusted peers, or, when
  nobody is pre-trusted, 1/|view| for *every* peer — the view being the peers
  this agent has heard from or interacted with — so a peer never heard of
  gets the same share as a known liar (cold start: while the view is tiny a
  lone reporter's share is large). Block when the trust of the reporters sums
  to at least `threshold`.
* `fides` — a Fides-style model from its published formulas (Slips' trust
  model): service trust as the forgetting-weighted mean satisfaction of a
  peer's reports (alpha 0.8 per interaction), initial trust from pre-trust or
  0.5 x neutral prior, network opinion score = sum(trust x score) / sum(trust)
  and confidence = mean trust; block when score x confidence >= 0.5.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

from trust.aggregate import AggregationParams, PeerClaim, aggregate
from trust.disputes import DisputeLedger
from trust.reputation import ReputationBook, ReputationParams

__all__ = ["MODELS", "TrustModel", "make_model"]


class TrustModel(Protocol):
    name: str

    def on_report(self, reporter: str, indicator: str, score: float, now: float) -> None: ...
    def on_confirm(self, reporter: str, now: float) -> None: ...
    def on_contradict(self, reporter: str, now: float) -> None: ...
    def on_fault(self, reporter: str, now: float) -> None: ...
    def should_block(self, indicator: str, now: float, protected: bool) -> bool: ...
    def reputation(self, peer: str, now: float) -> float: ...
    def graylisted(self, peer: str, now: float) -> bool: ...


class _Claims:
    def __init__(self) -> None:
        self.claims: dict[str, dict[str, PeerClaim]] = defaultdict(dict)

    def on_report(self, reporter: str, indicator: str, score: float, now: float) -> None:
        self.claims[indicator][reporter] = PeerClaim(reporter, score, 1.0, now)

    def reporters(self, indicator: str, min_score: float = 0.5) -> list[str]:
        return [r for r, c in self.claims.get(indicator, {}).items() if c.score >= min_score]

    def graylisted(self, peer: str, now: float) -> bool:
        return False  # the baselines keep listening to everyone


class StarlingModel(_Claims):
    name = "starling"

    def __init__(self, pretrusted: frozenset[str], params: AggregationParams | None = None) -> None:
        super().__init__()
        self.book = ReputationBook(ReputationParams(), pretrusted)
        self.params = params or AggregationParams()
        self.ledger = DisputeLedger(self.book, self.params)
        self.claims = self.ledger.claims
        # Peers trusted (or within decay's reach of min_weight), refreshed on each observation
        # of that peer, and per indicator the number of malicious claims by such peers:
        # a cheap filter that never under-counts; `aggregate` then decides exactly.
        self.trusted: set[str] = set()
        self.trusted_claims: dict[str, int] = defaultdict(int)
        self.malicious_claims_of: dict[str, set[str]] = defaultdict(set)  # peer -> indicators

    def _refresh(self, peer: str, now: float) -> None:
        p = self.params
        trusted = self.book.passes(peer, now, p.min_weight * 0.99, p.min_reputation)
        if trusted != (peer in self.trusted):
            if trusted:
                self.trusted.add(peer)
            else:
                self.trusted.discard(peer)
            step = 1 if trusted else -1
            for indicator in self.malicious_claims_of.get(peer, ()):
                self.trusted_claims[indicator] += step
        if trusted:  # its disputes made before we trusted it count now (`retry` is exact)
            for reporter in self.ledger.retry(peer, now):
                self._refresh(reporter, now)

    def on_report(self, reporter: str, indicator: str, score: float, now: float) -> None:
        ms = self.params.malicious_score
        per = self.claims.get(indicator)
        prev = per.get(reporter) if per else None
        was_malicious = prev is not None and prev.score >= ms
        contradicted = self.ledger.add(indicator, PeerClaim(reporter, score, 1.0, now), now)
        if contradicted:
            for peer in contradicted:
                self._refresh(peer, now)
        malicious = score >= ms
        if was_malicious != malicious:
            if malicious:
                self.malicious_claims_of[reporter].add(indicator)
            else:
                self.malicious_claims_of[reporter].discard(indicator)
            if reporter in self.trusted:
                self.trusted_claims[indicator] += 1 if malicious else -1
        self.book.reported(reporter, now)

    def on_confirm(self, reporter: str, now: float) -> None:
        self.book.confirmed(reporter, now)
        self._refresh(reporter, now)

    def on_contradict(self, reporter: str, now: float) -> None:
        self.book.contradicted(reporter, now)
        self._refresh(reporter, now)

    def on_fault(self, reporter: str, now: float) -> None:
        self.book.fault(reporter, now)
        self._refresh(reporter, now)

    def should_block(self, indicator: str, now: float, protected: bool) -> bool:
        p = self.params
        if protected or self.trusted_claims.get(indicator, 0) < p.min_reporters:
            return False  # the full opinion would say the same, at more cost
        claims = self.claims.get(indicator)
        if not claims:
            return False
        return aggregate(indicator, claims.values(), self.book, now, p, protected=protected).block

    def reputation(self, peer: str, now: float) -> float:
        return self.book.reputation(peer, now)

    def graylisted(self, peer: str, now: float) -> bool:
        return self.book.graylisted(peer, now)


class NoSharing(_Claims):
    name = "none"

    def on_confirm(self, reporter: str, now: float) -> None: ...
    def on_contradict(self, reporter: str, now: float) -> None: ...
    def on_fault(self, reporter: str, now: float) -> None: ...

    def should_block(self, indicator: str, now: float, protected: bool) -> bool:
        return False

    def reputation(self, peer: str, now: float) -> float:
        return 0.5


class KReporters(NoSharing):
    name = "k-reporters"

    def __init__(self, k: int = 3) -> None:
        super().__init__()
        self.k = k

    def should_block(self, indicator: str, now: float, protected: bool) -> bool:
        return len(self.reporters(indicator)) >= self.k


class TrustAll(KReporters):
    name = "trust-all"

    def __init__(self) -> None:
        super().__init__(1)


class Majority(NoSharing):
    name = "majority"

    def __init__(self) -> None:
        super().__init__()
        self.heard: set[str] = set()

    def on_report(self, reporter: str, indicator: str, score: float, now: float) -> None:
        super().on_report(reporter, indicator, score, now)
        self.heard.add(reporter)

    def should_block(self, indicator: str, now: float, protected: bool) -> bool:
        return len(self.reporters(indicator)) * 2 > max(len(self.heard), 1)


class EigenTrust(_Claims):
    name = "eigentrust"

    def __init__(
        self, pretrusted: frozenset[str], alpha: float = 0.15, threshold: float = 0.05
    ) -> None:
        super().__init__()
        self.pretrusted = pretrusted
        self.alpha = alpha
        self.threshold = threshold
        self.sat: dict[str, float] = defaultdict(float)
        self.view: set[str] = set()  # peers heard from or interacted with
        self._global: dict[str, float] | None = None
        self._unknown = 0.0  # t of a peer outside the view
        # This agent's local row only: peers' rows are not observable without their
        # recommendations, so "global" trust is our row mixed with pre-trust.

    def _see(self, peer: str) -> None:
        if peer not in self.view:
            self.view.add(peer)
            self._global = None

    def on_report(self, reporter: str, indicator: str, score: float, now: float) -> None:
        super().on_report(reporter, indicator, score, now)
        self._see(reporter)

    def on_confirm(self, reporter: str, now: float) -> None:
        self._see(reporter)
        self.sat[reporter] += 1
        self._global = None

    def on_contradict(self, reporter: str, now: float) -> None:
        self._see(reporter)
        self.sat[reporter] -= 1
        self._global = None

    def on_fault(self, reporter: str, now: float) -> None:
        self._see(reporter)
        self.sat[reporter] -= 3
        self._global = None

    def _trust(self) -> dict[str, float]:
        """t = (1-a) c + a p over this agent's own row (see the module docstring)."""
        if self._global is None:
            local = {p: max(0.0, s) for p, s in self.sat.items()}
            total = sum(local.values())
            if self.pretrusted:
                n_pre = len(self.pretrusted)
                pre = {p: (1.0 / n_pre if p in self.pretrusted else 0.0) for p in self.view}
                pre.update(dict.fromkeys(self.pretrusted, 1.0 / n_pre))
                p_unknown = 0.0
            else:
                p_unknown = 1.0 / max(len(self.view), 1)
                pre = dict.fromkeys(self.view, p_unknown)
            c = {p: (local.get(p, 0.0) / total if total > 0 else pre[p]) for p in pre}
            self._global = {p: (1 - self.alpha) * c[p] + self.alpha * pre[p] for p in pre}
            c_unknown = 0.0 if total > 0 else p_unknown
            self._unknown = (1 - self.alpha) * c_unknown + self.alpha * p_unknown
        return self._global

    def _of(self, peer: str) -> float:
        t = self._trust().get(peer)
        return self._unknown if t is None else t

    def should_block(self, indicator: str, now: float, protected: bool) -> bool:
        return sum(self._of(r) for r in self.reporters(indicator)) >= self.threshold

    def reputation(self, peer: str, now: float) -> float:
        return self._of(peer)


class Fides(_Claims):
    name = "fides"

    def __init__(self, pretrusted: frozenset[str], forgetting: float = 0.8) -> None:
        super().__init__()
        self.pretrusted = pretrusted
        self.forgetting = forgetting
        self.trust: dict[str, float] = {}

    def _get(self, peer: str) -> float:
        return self.trust.get(peer, 0.95 if peer in self.pretrusted else 0.25)

    def _update(self, peer: str, satisfaction: float) -> None:
        self.trust[peer] = self.forgetting * self._get(peer) + (1 - self.forgetting) * satisfaction

    def on_confirm(self, reporter: str, now: float) -> None:
        self._update(reporter, 1.0)

    def on_contradict(self, reporter: str, now: float) -> None:
        self._update(reporter, 0.0)

    def on_fault(self, reporter: str, now: float) -> None:
        self._update(reporter, 0.0)

    def should_block(self, indicator: str, now: float, protected: bool) -> bool:
        claims = self.claims.get(indicator)
        if not claims:
            return False
        weights = {r: self._get(r) for r in claims}
        total = sum(weights.values())
        if total <= 0:
            return False
        score = sum(weights[r] * c.score for r, c in claims.items()) / total
        confidence = total / len(claims)
        return score * confidence >= 0.5

    def reputation(self, peer: str, now: float) -> float:
        return self._get(peer)


MODELS = ("starling", "none", "trust-all", "majority", "k-reporters", "eigentrust", "fides")


def make_model(name: str, pretrusted: frozenset[str]) -> TrustModel:
    if name == "starling":
        return StarlingModel(pretrusted)
    if name == "none":
        return NoSharing()
    if name == "trust-all":
        return TrustAll()
    if name == "majority":
        return Majority()
    if name == "k-reporters":
        return KReporters(3)
    if name == "eigentrust":
        return EigenTrust(pretrusted)
    if name == "fides":
        return Fides(pretrusted)
    raise ValueError(f"unknown model {name!r} (one of {', '.join(MODELS)})")
