"""Disputes: a trusted peer's first-hand "this is benign" as counter-evidence.

Theory of operation
-------------------
Our own view can contradict only the lies about indicators *we* know (our
allowlist, the canaries, addresses we talk to). A selective liar lies about
indicators we cannot check, and keeps its reputation (Fides' selective liars
keep 0.24). But somebody in the mesh usually can check: an honest agent that
talks to an address every day and sees a report calling it malicious
contradicts the reporter in its own book and publishes a *dispute* — an
ordinary signed IoC report with a benign score (`score < malicious_score`).

Every agent treats a dispute as a recommendation, weighted by how good the
disputer has been for *us*:

* a dispute from a peer we trust (`trust.aggregate.is_trusted`) contradicts,
  in our book, every malicious claim about that indicator, earlier or later,
  with weight `w(disputer) x factor` (once per disputer, reporter, indicator);
  a dispute from a peer we have not learned to trust counts for nothing, so
  colluders and fresh identities cannot slander honest reporters this way —
  until the disputer earns our trust: then its earlier disputes apply
  (`retry`, called when a peer is confirmed), so an honest newcomer's
  first-hand knowledge is not lost for having arrived before its record;
* disputes are claims like any other: they enter the weighted median of the
  network opinion (`trust.aggregate`), so a trusted "benign" pulls it down;
* a dispute that our own detectors later prove wrong is a contradiction of
  the disputer (the caller judges it, as for any report), so a peer that
  disputes true reports loses the weight its disputes carry;
* a dispute never earns a confirmation: saying "benign" about an address
  everybody knows is benign costs nothing, so it must not buy reputation.

All methods take `now`; nothing here reads a clock.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from trust.aggregate import AggregationParams, PeerClaim, is_trusted
from trust.reputation import ReputationBook

__all__ = ["DisputeLedger", "DisputeParams"]


@dataclass(frozen=True, slots=True)
class DisputeParams:
    factor: float = 1.0  # a trusted dispute counts as `factor x weight` contradictions
    max_indicators: int = 200_000  # memory bound: oldest indicators are forgotten first


class DisputeLedger:
    """The latest claim of every reporter per indicator, and the disputes applied."""

    def __init__(
        self,
        book: ReputationBook,
        aggregation: AggregationParams | None = None,
        params: DisputeParams | None = None,
    ) -> None:
        self.book = book
        self.aggregation = aggregation or AggregationParams()
        self.params = params or DisputeParams()
        self.claims: dict[str, dict[str, PeerClaim]] = {}
        # per indicator: reporters whose latest claim is benign (disputers) / malicious
        self._benign: dict[str, set[str]] = defaultdict(set)
        self._malicious: dict[str, set[str]] = defaultdict(set)
        self._applied: dict[str, set[tuple[str, str]]] = defaultdict(set)
        # disputes that wait for their disputer to be trusted (`retry` applies them),
        # by disputer and by indicator (so a claim skips them without asking the book)
        self._waiting: dict[str, set[str]] = defaultdict(set)
        self._waiting_on: dict[str, set[str]] = defaultdict(set)
        self.indirect_contradictions = 0

    def add(self, indicator: str, claim: PeerClaim, now: float) -> list[str]:
        """Record a claim (replacing the reporter's earlier one) and apply disputes.

        Returns the reporters this contradicted (their reputation changed)."""
        per = self.claims.get(indicator)
        if per is None:
            if len(self.claims) >= self.params.max_indicators:
                oldest = next(iter(self.claims))
                del self.claims[oldest]
                for index in (self._benign, self._malicious, self._applied):
                    index.pop(oldest, None)
                for d in self._waiting_on.pop(oldest, ()):  # bounded with the claims
                    waits = self._waiting.get(d)
                    if waits is not None:
                        waits.discard(oldest)
                        if not waits:
                            del self._waiting[d]
            per = self.claims[indicator] = {}
        reporter = claim.reporter
        per[reporter] = claim
        if claim.score >= self.aggregation.malicious_score:
            benign = self._benign.get(indicator)
            if benign:
                benign.discard(reporter)
            self._malicious[indicator].add(reporter)
            if not benign:
                return []
            # every disputer of this indicator against the one reporter (`_dispute`,
            # inlined: this loop runs for every malicious claim of a disputed indicator)
            done = self._applied[indicator]
            book = self.book
            a = self.aggregation
            mw, mr = a.min_weight, a.min_reputation
            waiting = self._waiting_on.get(indicator, ())
            out: list[str] = []
            for d in benign:  # (never the reporter: discarded above)
                key = (d, reporter)
                if key in done or d in waiting:
                    continue  # applied already / waits for `retry`
                if not book.passes(d, now, mw, mr):
                    self._wait(d, indicator)
                    continue
                done.add(key)
                book.contradicted(reporter, now, weight=book.weight(d, now) * self.params.factor)
                self.indirect_contradictions += 1
                out.append(reporter)
            return out
        malicious = self._malicious.get(indicator)
        if malicious:
            malicious.discard(reporter)
        self._benign[indicator].add(reporter)
        if not malicious:
            return []
        # One disputer against every malicious reporter: whether we trust it is asked
        # once (contradicting the reporters changes their records, never the disputer's).
        done = self._applied[indicator]
        for r in malicious:
            if (reporter, r) not in done:
                break
        else:
            return []  # applied against every one of them already
        if reporter in self._waiting_on.get(indicator, ()):
            return []  # waits for `retry` already
        if not is_trusted(self.book, reporter, now, self.aggregation):
            self._wait(reporter, indicator)
            return []
        return [r for r in list(malicious) if self._dispute(indicator, reporter, r, now)]

    def retry(self, disputer: str, now: float) -> list[str]:
        """Apply the disputes `disputer` made before we trusted it, if we trust it now.

        Call after anything that can raise a peer's weight (a confirmation).
        Returns the reporters this contradicted. A dispute the disputer has since
        withdrawn (its latest claim is malicious again) no longer applies.
        """
        waiting = self._waiting.get(disputer)
        if not waiting or not is_trusted(self.book, disputer, now, self.aggregation):
            return []
        del self._waiting[disputer]
        out: list[str] = []
        for indicator in waiting:
            self._waiting_on.get(indicator, set()).discard(disputer)
            if disputer not in self._benign.get(indicator, ()):
                continue  # forgotten, or no longer disputed
            for r in list(self._malicious.get(indicator, ())):
                if self._dispute(indicator, disputer, r, now):
                    out.append(r)
        return out

    def _dispute(self, indicator: str, disputer: str, reporter: str, now: float) -> bool:
        if disputer == reporter:
            return False
        key = (disputer, reporter)
        done = self._applied[indicator]
        if key in done:
            return False
        book = self.book
        a = self.aggregation
        if not book.passes(disputer, now, a.min_weight, a.min_reputation):  # is_trusted
            self._wait(disputer, indicator)
            return False
        w = book.weight(disputer, now)
        done.add(key)
        book.contradicted(reporter, now, weight=w * self.params.factor)
        self.indirect_contradictions += 1
        return True

    def _wait(self, disputer: str, indicator: str) -> None:
        """Not (yet) trusted: its dispute of `indicator` waits for `retry`."""
        self._waiting[disputer].add(indicator)
        self._waiting_on[indicator].add(disputer)

    def of(self, indicator: str) -> dict[str, PeerClaim]:
        return self.claims.get(indicator, {})
