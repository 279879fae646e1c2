"""The network opinion about one indicator, from reports weighted by reputation.

Theory of operation
-------------------
Given the reports peers sent about one indicator (at most one per reporter:
its latest), each reporter gets the weight `ReputationBook.weight` (a new or
lying identity weighs ~0). The opinion is

* `score`: the weighted median of the reported scores (robust: a minority of
  weight cannot drag it, however extreme its claims);
* `support`: the total weight of reporters whose score is at least
  `malicious_score`;
* `trusted_reporters`: how many distinct reporters are trusted — weight at
  least `min_weight` and reputation at least `min_reputation` (`is_trusted`);
* `confidence`: `1 - prod(1 - w_i * c_i)` over reporters (independent
  evidence accumulates, weightless reporters add nothing), capped at 0.99.

`verdict` says whether the opinion may drive a block on peer evidence alone:
at least `min_reporters` trusted reporters, `support >= min_support`, the
weighted median malicious — and never for an indicator the caller marks
`protected` (allowlisted or canary). Every opinion carries its explanation:
each contributing report with the reporter's weight.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from trust.reputation import ReputationBook

__all__ = [
    "AggregationParams",
    "Contribution",
    "NetworkOpinion",
    "PeerClaim",
    "aggregate",
    "is_trusted",
]


@dataclass(frozen=True, slots=True)
class AggregationParams:
    min_reporters: int = 3
    min_weight: float = 0.28
    # ... and a reputation floor: weight alone lets a peer with many confirmations
    # carry a few proven lies; a trusted reporter must be right >= 3 times in 4.
    min_reputation: float = 0.75
    min_support: float = 1.2
    malicious_score: float = 0.5


@dataclass(frozen=True, slots=True)
class PeerClaim:
    reporter: str
    score: float
    confidence: float
    ts: float


@dataclass(frozen=True, slots=True)
class Contribution:
    reporter: str
    score: float
    confidence: float
    weight: float
    reputation: float = 0.5
    trusted: bool = False


def is_trusted(book: ReputationBook, peer: str, now: float, params: AggregationParams) -> bool:
    """A reporter whose word counts toward a block: enough weight, and a reputation that
    says it is right far more often than wrong."""
    return book.passes(peer, now, params.min_weight, params.min_reputation)


@dataclass(frozen=True, slots=True)
class NetworkOpinion:
    indicator: str
    score: float
    confidence: float
    support: float
    trusted_reporters: int
    block: bool
    reason: str
    contributions: tuple[Contribution, ...]


def _weighted_median(pairs: list[tuple[float, float]]) -> float:
    total = sum(w for _, w in pairs)
    if total <= 0:
        return 0.0
    acc = 0.0
    for value, w in sorted(pairs):
        acc += w
        if acc >= total / 2:
            return value
    return sorted(pairs)[-1][0]


def aggregate(
    indicator: str,
    claims: Iterable[PeerClaim],
    book: ReputationBook,
    now: float,
    params: AggregationParams | None = None,
    *,
    protected: bool = False,
) -> NetworkOpinion:
    p = params or AggregationParams()
    latest: dict[str, PeerClaim] = {}
    for c in claims:
        prev = latest.get(c.reporter)
        if prev is None or c.ts >= prev.ts:
            latest[c.reporter] = c
    contributions = tuple(
        Contribution(
            c.reporter,
            c.score,
            c.confidence,
            book.weight(c.reporter, now),
            book.reputation(c.reporter, now),
            is_trusted(book, c.reporter, now, p),
        )
        for c in sorted(latest.values(), key=lambda c: c.reporter)
    )
    weighted = [(c.score, c.weight) for c in contributions if c.weight > 0]
    score = _weighted_median(weighted)
    support = sum(c.weight for c in contributions if c.score >= p.malicious_score)
    trusted = sum(1 for c in contributions if c.trusted and c.score >= p.malicious_score)
    miss = 1.0
    for contribution in contributions:
        miss *= 1.0 - min(1.0, contribution.weight * contribution.confidence)
    confidence = min(0.99, 1.0 - miss)
    if protected:
        block, reason = (
            False,
            "protected indicator (allowlisted or canary): never blocked on peer reports",
        )
    elif trusted < p.min_reporters:
        block, reason = False, f"{trusted} trusted reporters, {p.min_reporters} needed"
    elif support < p.min_support:
        block, reason = False, f"support {support:.2f} below {p.min_support}"
    elif score < p.malicious_score:
        block, reason = False, f"weighted median score {score:.2f} below {p.malicious_score}"
    else:
        block, reason = (
            True,
            f"{trusted} trusted reporters, support {support:.2f}, score {score:.2f}",
        )
    return NetworkOpinion(
        indicator, score, confidence, support, trusted, block, reason, contributions
    )
