"""The analysis pipeline: records in, findings out. No I/O (but a log line when a
detector raises), no clock.

Theory of operation
-------------------
`Pipeline.feed(record)` routes one parsed record through the allowlist, the
profile tracker and the detectors that consume its type, and returns the
actions the runner must carry out — usually none (a shared empty tuple, so
the hot path allocates nothing):

* `Evidence` — a detector's finding that survived the allowlist;
* `Suppressed` — a finding the allowlist removed (kept for the record);
* `Alert` — a profile's window crossed the alert threshold;
* `ProfileSummary` — a window closed and its profile summary is final.

Time is the records' own: the newest window seen drives closing. A window
closes once the stream is two windows past it (one window of grace for
records that arrive out of order, e.g. across merged Zeek logs); a record
older than that is still analysed, counted as `late_records`, and merged into
its window's profile summary (see `detection.profiles`, "Late records").
`finish()` closes everything at end of input.

Time jumps
----------
One record with a far-future timestamp (a corrupt line, a clock set wrong)
would make its window the newest; every real window would then be "late" and
nothing would ever close again (unbounded memory in follow mode). So a record
more than `inputs.max_window_jump` windows ahead of the newest window does not
advance time on its own. It is held back, unanalysed, until the stream
confirms the jump:

* `_JUMP_CONFIRM` (1000) consecutive records all beyond the old newest window
  by more than `max_window_jump` confirm it (the clock really moved, e.g. a
  capture of next month appended): the held records are analysed, in order,
  and the newest window advances.
* any other record first (one within range) refutes it: the held records are
  dropped and counted in `time_jumps` ("time_jumps_skipped" in summary.json).
* end of input confirms it: no record contradicted the jump, and once input
  has ended there is no window left whose closing a bogus timestamp could
  block. This matters for real data: a Zeek directory whose conn.log has
  relative timestamps (near 0) and whose dhcp.log has absolute ones is merged
  in time order, so the absolute records come last, all after a "jump" of
  decades; they must still be analysed.

At most `_JUMP_CONFIRM` records are held, so memory stays bounded.

The pipeline never drops a record except for refuted time jumps (counted):
back-pressure belongs to the runner, which reads input no faster than `feed`
returns.

A detector that raises
----------------------
One detector's bug on one odd record must not stop the other detectors, or the
agent: every call into a detector (`observe`, `close_window`, `use_intel`) is
isolated. The exception is counted per detector (`detector_errors`, summary.json
and `/metrics`) and logged with its traceback at the 1st, 10th, 100th, … error
of that detector; the record goes on to the next detector. (Python 3.11's
exceptions are zero-cost until raised, so the hot path pays nothing.) The test
suite turns this off (tests/conftest.py): there a detector error fails the test.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from agent.config import Config
from detection.accumulator import Accumulator
from detection.allowlist import Allowlist
from detection.heuristics import REGISTRY, DetectionContext, Detector
from detection.heuristics.base import (
    ADDRESS_KINDS,
    ALL_TRAITS,
    HAS_SOURCE_MAC,
    LONG_FLOW,
    LONG_FLOW_SECONDS,
    PORT_ZERO,
    UNANSWERED,
    report_due,
)
from detection.intel.index import IntelIndex
from detection.model import Alert, DnsRecord, Evidence, Flow, ProfileSummary, Record
from detection.profiles import ProfileTracker

__all__ = ["Action", "Pipeline", "Suppressed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Suppressed:
    evidence: Evidence
    reason: str


Action = Evidence | Alert | ProfileSummary | Suppressed

_NOTHING: tuple[Action, ...] = ()
_MAX_RESOLVED = 200_000  # ip -> domains map for domain allowlisting, bounded
_JUMP_CONFIRM = 1000  # consecutive far-ahead records that confirm a time jump
_MAX_ROUTES = 65_536  # cached routes (`RouteKey`); cleared when full

RouteKey = tuple[str, int | None, str, int, int]  # proto, dport, service, address kinds
# A route's cache key: the `RouteKey` and the flow's traits (`base.flow_traits`).
_CacheKey = tuple[str, int | None, str, int, int, int]
FlowObserver = Callable[[Flow, int], Sequence[Evidence] | None]


def build_detectors(config: Config, context: DetectionContext | None = None) -> list[Detector]:
    detectors: list[Detector] = []
    for cls in REGISTRY:
        params = getattr(config.detectors, cls.name)
        if params.enabled:
            detectors.append(cls(params, context))
    return detectors


class Pipeline:
    def __init__(
        self,
        config: Config,
        allowlist: Allowlist | None = None,
        detectors: Sequence[Detector] | None = None,
        context: DetectionContext | None = None,
        *,
        route_flows: bool = True,
    ) -> None:
        """`route_flows=False` hands every flow to every flow detector (the
        reference behaviour the routing tests compare against)."""
        self.config = config
        self.width = config.profiles.window_seconds
        self.allowlist = allowlist if allowlist is not None and not allowlist.is_empty else None
        # The allowlist as far as flows go: None when no entry has the "flows" scope
        # (then `flow_reason` is None for every flow, and is not asked per flow).
        self._flow_allowlist = (
            self.allowlist
            if self.allowlist is not None
            and any("flows" in e.scopes for e in self.allowlist.entries)
            else None
        )
        self.detectors = (
            list(detectors) if detectors is not None else build_detectors(config, context)
        )
        self.profiles = ProfileTracker(config.profiles.direction, config.profiles.late_windows)
        self._observe_profile = self.profiles.observe_flow  # bound once: called per flow
        self.accumulator = Accumulator(config.alert_threshold)
        self._flow_detectors = [d for d in self.detectors if Flow in d.consumes]
        self._route_flows = route_flows
        # (proto, dport, service, address kinds) -> the bound `observe` of each detector that wants
        # such flows (`Detector.wants_flow`); one dict lookup per flow.
        self._routes: dict[_CacheKey, tuple[FlowObserver, ...]] = {}
        self._by_type: dict[type, list[Detector]] = {}
        for d in self.detectors:
            for t in d.consumes:
                if t is not Flow:
                    self._by_type.setdefault(t, []).append(d)
        self._newest_window: int | None = None
        self._closed_upto: int | None = None  # windows <= this are closed
        self._max_jump = config.inputs.max_window_jump
        self._held: list[Record] = []  # a time jump waiting for confirmation
        self._resolved: dict[str, set[str]] = {}
        # Counters for summary.json
        self.flows = 0  # a plain int on the hot path; see records_by_type
        self._other_records: Counter[str] = Counter()
        self.evidence_by_type: Counter[str] = Counter()
        self.suppressed_by_reason: Counter[str] = Counter()
        self.flows_ignored = 0
        self.alerts = 0
        self.late_records = 0
        self.time_jumps = 0
        self.detector_errors: Counter[str] = Counter()  # by detector name

    @property
    def records_by_type(self) -> dict[str, int]:
        """Records analysed, by type ("conn" for flows), sorted by name."""
        counts = Counter(self._other_records)
        if self.flows:
            counts["conn"] += self.flows
        return dict(sorted(counts.items()))

    def state_overflow(self) -> dict[str, dict[str, int]]:
        """What the detectors' memory caps made them evict or refuse so far
        (detector -> what -> count; only detectors that overflowed)."""
        return {
            d.name: dict(sorted(d.state_overflow.items()))
            for d in sorted(self.detectors, key=lambda d: d.name)
            if d.state_overflow
        }

    # -- feeding ---------------------------------------------------------------------

    def feed(self, record: Record) -> Sequence[Action]:
        window = int(record.ts // self.width)
        out: list[Action] | None = None
        newest = self._newest_window
        if newest is None or window > newest:
            if newest is not None and window - newest > self._max_jump:
                return self._hold(record)
            if self._held:
                self._refute_jump()
            out = self._advance(window)
        else:
            if self._held:
                self._refute_jump()
            if self._closed_upto is not None and window <= self._closed_upto:
                self.late_records += 1
        if type(record) is Flow:
            self.flows += 1
            if self._flow_allowlist is not None and self._flow_allowlist.flow_reason(
                record.saddr, record.daddr, record.smac, record.dmac, domains_of=self._domains_of
            ):
                self.flows_ignored += 1
                return out or _NOTHING
            self._observe_profile(record, window)
            kinds = ADDRESS_KINDS
            dport = record.dport
            key = (
                record.proto,
                dport,
                record.service,
                kinds[record.saddr],
                kinds[record.daddr],
                # `base.flow_traits`, inline
                (HAS_SOURCE_MAC if record.smac else 0)
                | (PORT_ZERO if dport == 0 or record.sport == 0 else 0)
                | (LONG_FLOW if record.duration > LONG_FLOW_SECONDS else 0)
                | (0 if record.established else UNANSWERED),
            )
            observers = self._routes.get(key)
            if observers is None:
                observers = self._route(key[:5], key[5])
            for observe in observers:
                try:
                    found = observe(record, window)
                except Exception as exc:  # noqa: BLE001 - isolated (module header)
                    det = observe.__self__  # type: ignore[attr-defined]
                    self._failed(det, f"observe (a Flow at ts={record.ts})", exc)
                    continue
                if found:
                    out = self._evidence(found, out)
            return out or _NOTHING
        self._other_records[type(record).__name__] += 1
        if type(record) is DnsRecord and self.allowlist is not None:
            self._remember_resolution(record)
        for det in self._by_type.get(type(record), ()):
            try:
                found = det.observe(record, window)
            except Exception as exc:  # noqa: BLE001 - isolated (module header)
                self._failed(det, f"observe (a {type(record).__name__} at ts={record.ts})", exc)
                found = None
            if found:
                out = self._evidence(found, out)
            if det.reroute:  # e.g. its first DNS record: it may want more flows now
                det.reroute = False
                self._routes.clear()
        return out or _NOTHING

    def use_intel(self, index: IntelIndex) -> None:
        """Switch the detectors to a new threat-intelligence index (feeds updated);
        routes are rebuilt (a detector may want more or fewer flows now)."""
        for det in self.detectors:
            try:
                det.use_intel(index)
            except Exception as exc:  # noqa: BLE001 - isolated (module header)
                self._failed(det, "use_intel", exc)
        self._routes.clear()

    def ingest(self, evidence: Evidence) -> Sequence[Action]:
        """Evidence from outside the detectors (the network opinion of peers):
        the same allowlist, profile and accumulation step as local evidence."""
        return self._evidence((evidence,), None)

    def finish(self) -> list[Action]:
        """End of input: close every open window (a held time jump is confirmed)."""
        out: list[Action] = self._confirm_jump() if self._held else []
        for det in self.detectors:
            found = self._close(det, 2**62)
            if found:
                self._evidence(found, out)
        self.accumulator.close_window(2**62)
        out.extend(self.profiles.close(None))
        return out

    # -- internals -------------------------------------------------------------------

    def _close(self, det: Detector, window: int) -> Sequence[Evidence] | None:
        try:
            return det.close_window(window)
        except Exception as exc:  # noqa: BLE001 - isolated (module header)
            self._failed(det, f"close_window({window})", exc)
            return None

    def _failed(self, det: Detector, where: str, exc: Exception) -> None:
        """`det` raised in `where`: count it, log it at the 1st, 10th, 100th, … error."""
        n = self.detector_errors[det.name] = self.detector_errors[det.name] + 1
        if report_due(n, 1, (10, 100, 1000)):
            log.error(
                "detector %s failed in %s (error %d of this detector; it keeps running)",
                det.name,
                where,
                n,
                exc_info=exc,
            )

    def _route(self, key: RouteKey, traits: int = ALL_TRAITS) -> tuple[FlowObserver, ...]:
        """The observers of flows with this route key and these traits (cached)."""
        if len(self._routes) >= _MAX_ROUTES:
            self._routes.clear()  # e.g. a scan of every port: rebuilt as flows come
        observers = tuple(
            det.observe  # type: ignore[misc]  # observe takes any Record; Flows here
            for det in self._flow_detectors
            if not self._route_flows
            or ((not det.needs_traits or det.needs_traits & traits) and det.wants_flow(*key))
        )
        self._routes[(*key, traits)] = observers
        return observers

    def _hold(self, record: Record) -> Sequence[Action]:
        """A record beyond `max_window_jump`: hold it until confirmed (module header)."""
        self._held.append(record)
        if len(self._held) < _JUMP_CONFIRM:
            return _NOTHING
        return self._confirm_jump()

    def _confirm_jump(self) -> list[Action]:
        held, self._held = self._held, []
        limit, self._max_jump = self._max_jump, 2**62
        out: list[Action] = []
        try:
            for rec in held:
                out.extend(self.feed(rec))
        finally:
            self._max_jump = limit
        return out

    def _refute_jump(self) -> None:
        self.time_jumps += len(self._held)
        self._held = []

    def _advance(self, window: int) -> list[Action] | None:
        self._newest_window = window
        close_upto = window - 2
        if self._closed_upto is not None and close_upto <= self._closed_upto:
            return None
        self._closed_upto = close_upto
        if any(d.reroute for d in self._flow_detectors):
            for d in self._flow_detectors:
                d.reroute = False
            self._routes.clear()
        out: list[Action] = []
        for det in self.detectors:
            found = self._close(det, close_upto)
            if found:
                self._evidence(found, out)
        self.accumulator.close_window(close_upto)
        out.extend(self.profiles.close(close_upto))
        return out or None

    def _evidence(self, found: Iterable[Evidence], out: list[Action] | None) -> list[Action]:
        if out is None:
            out = []
        for ev in found:
            if self.allowlist is not None:
                reason = self.allowlist.evidence_reason(ev, self._domains_of)
                if reason:
                    self.suppressed_by_reason[reason.split(" ", 2)[0]] += 1
                    out.append(Suppressed(ev, reason))
                    continue
            self.evidence_by_type[ev.type] += 1
            out.append(ev)
            self.profiles.add_evidence(ev.profile, ev.timewindow, ev.ts, ev.score)
            alert = self.accumulator.add(ev)
            if alert is not None:
                self.alerts += 1
                self.profiles.add_alert(alert.profile, alert.timewindow, alert.ts)
                out.append(alert)
        return out

    def _remember_resolution(self, rec: DnsRecord) -> None:
        if not rec.query or not rec.answers:
            return
        if len(self._resolved) >= _MAX_RESOLVED:
            # Drop the oldest half (dicts keep insertion order): bounded, amortised O(1).
            for ip in list(self._resolved)[: _MAX_RESOLVED // 2]:
                del self._resolved[ip]
        q = rec.query.lower().rstrip(".")
        for answer in rec.answers:
            if answer[:1].isdigit() or ":" in answer:
                self._resolved.setdefault(answer, set()).add(q)

    def _domains_of(self, ip: str) -> Iterable[str]:
        return self._resolved.get(ip, ())
