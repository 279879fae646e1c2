"""SMTP login brute force: `min_failures` refused logins (see `smtp_bad_login`)
from one client to one server within `span_seconds`.

Defaults are Slips' numbers (3 bad logins within 10 s). HIGH: a burst of
refused credentials is password guessing or credential stuffing against the
mail server. Reported when the burst first forms in a window, then again
at 10, 100, … failures (the count grows, the evidence does not flood).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import make_evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.heuristics.smtp_bad_login import is_bad_smtp_login
from detection.model import Evidence, SmtpRecord, ThreatLevel

__all__ = ["SmtpLoginBruteforce", "SmtpLoginBruteforceParams"]


class SmtpLoginBruteforceParams(DetectorParams):
    min_failures: int = 3
    span_seconds: float = 10.0


class _Pair:
    __slots__ = ("recent", "reported", "total", "uids")

    def __init__(self) -> None:
        self.recent: list[float] = []  # the last `min_failures` failure times
        self.total = 0
        self.reported = False
        self.uids: list[str] = []


class SmtpLoginBruteforce(Detector):
    name = "smtp_login_bruteforce"
    consumes = (SmtpRecord,)
    Params = SmtpLoginBruteforceParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, SmtpLoginBruteforceParams)
        self.p = params
        self._pairs: dict[tuple[str, str, int], _Pair] = {}

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: SmtpRecord = record  # type: ignore[assignment]  # routed by `consumes`
        if not rec.saddr or not is_bad_smtp_login(rec.last_reply):
            return None
        key = (rec.saddr, rec.daddr, window)
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pairs[key] = _Pair()
        pair.total += 1
        if len(pair.uids) < 10 and rec.uid not in pair.uids:
            pair.uids.append(rec.uid)
        need = max(1, self.p.min_failures)
        pair.recent.append(rec.ts)
        pair.recent.sort()
        del pair.recent[:-need]
        if not pair.reported:
            span = pair.recent[-1] - pair.recent[0]
            if len(pair.recent) < need or span > self.p.span_seconds:
                return None
            pair.reported = True
        elif not report_due(pair.total, 0, (10, 100, 1000)):
            return None
        else:
            span = pair.recent[-1] - pair.recent[0]
        return (
            make_evidence(
                self,
                attacker=rec.saddr,
                victim=rec.daddr,
                level=ThreatLevel.HIGH,
                confidence=min(1.0, 0.5 + 0.1 * pair.total),
                ts=rec.ts,
                window=window,
                description=(
                    f"SMTP login brute force from {rec.saddr} to {rec.daddr}:{rec.dport}: "
                    f"{need} refused logins within {span:.1f} s, {pair.total} in this window "
                    f"(last reply {rec.last_reply[:60]!r})"
                ),
                technique="T1110.001",  # Brute Force: Password Guessing
                uids=pair.uids,
                dport=rec.dport,
                proto="tcp",
                count=pair.total,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for key in [k for k in self._pairs if k[2] <= window]:
            del self._pairs[key]
        return None
