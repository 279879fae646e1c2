"""Bad SMTP login: the mail server refused a client's credentials.

A reply code 535 (authentication failed), or a 5.7.x rejection (530/550/554)
whose text names authentication (``554 5.7.1 bad smtp-auth user``), in
smtp.log's last reply. One failed login is a typo as often as an attack, so
this is LOW and re-reported per (client, server, window) only at 1, 10, 100, …
failures; repeated failures in a short time are `smtp_login_bruteforce`.
Slips raises BAD_SMTP_LOGIN on the same replies.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import make_evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.model import Evidence, SmtpRecord, ThreatLevel

__all__ = ["SmtpBadLogin", "SmtpBadLoginParams", "is_bad_smtp_login"]

_AUTH_WORDS = ("auth", "login", "password", "credential")


def is_bad_smtp_login(reply: str) -> bool:
    """Does an SMTP reply say the client's login was refused?"""
    code = reply[:3]
    if code == "535":
        return True
    if code in {"530", "550", "554"} and reply[4:8] == "5.7.":
        low = reply.lower()
        return any(w in low for w in _AUTH_WORDS)
    return False


class SmtpBadLoginParams(DetectorParams):
    pass


class SmtpBadLogin(Detector):
    name = "smtp_bad_login"
    consumes = (SmtpRecord,)
    Params = SmtpBadLoginParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        self._seen: dict[tuple[str, str, int], int] = {}

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: SmtpRecord = record  # type: ignore[assignment]  # routed by `consumes`
        if not rec.saddr or not is_bad_smtp_login(rec.last_reply):
            return None
        key = (rec.saddr, rec.daddr, window)
        n = self._seen.get(key, 0) + 1
        self._seen[key] = n
        if not report_due(n, 1, (10, 100, 1000)):
            return None
        times = "1 refused login" if n == 1 else f"{n} refused logins"
        return (
            make_evidence(
                self,
                attacker=rec.saddr,
                victim=rec.daddr,
                level=ThreatLevel.LOW,
                confidence=min(1.0, 0.6 + 0.04 * n),
                ts=rec.ts,
                window=window,
                description=(
                    f"Bad SMTP login from {rec.saddr} to {rec.daddr}:{rec.dport}: "
                    f"{times} in this window, server replied {rec.last_reply[:80]!r}"
                ),
                technique="T1110",  # Brute Force
                uids=(rec.uid,),
                dport=rec.dport,
                proto="tcp",
                count=n,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for key in [k for k in self._seen if k[2] <= window]:
            del self._seen[key]
        return None
