"""Successful SSH login: a client logged in to an SSH server.

Zeek's ssh.log says so (``auth_success`` true), or, when Zeek could not tell
(``auth_success`` unset: it only guesses from packet sizes), the connection
is judged by its size as Slips does: a session that moved more than
`min_session_bytes` (4290, Slips' ``ssh_succesful_detection_threshold``) in
both directions together got past authentication. The connection's flow is
joined by uid, whichever of the two records arrives first (per-window
buffers, capped by `max_pending`).

A login is normal administration, so this is INFO (weight 0: it never makes
an alert by itself) with confidence 0.8 when Zeek saw it, 0.5 when judged
by size; it is LOW when the same client failed `failures_before_low` (9,
the password-guessing threshold) logins to that server earlier in the
window: a login after a run of failures is how a guessed password looks.
One evidence per (client, server, window), re-reported at 10, 100, …
logins. ATT&CK T1021.004 (Remote Services: SSH). Without ssh.log nothing is
reported: flows alone cannot tell a login from a refused one.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import conn_evidence, count_due, drop_closed
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import Evidence, Flow, SshRecord, ThreatLevel

__all__ = ["SshSuccessfulLogin", "SshSuccessfulLoginParams"]


class SshSuccessfulLoginParams(DetectorParams):
    min_session_bytes: int = 4290
    failures_before_low: int = 9
    max_pending: int = 50_000  # ssh records / flows waiting for their partner, per window


class SshSuccessfulLogin(Detector):
    name = "ssh_successful_login"
    consumes = (SshRecord, Flow)
    Params = SshSuccessfulLoginParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, SshSuccessfulLoginParams)
        self.p = params
        self._undecided: dict[tuple[str, int], SshRecord] = {}  # (uid, window) -> ssh record
        self._flow_bytes: dict[tuple[str, int], int] = {}  # (uid, window) -> bytes
        self._failures: dict[tuple[str, str, int], int] = {}
        self._logins: dict[tuple[str, str, int], int] = {}

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return dport == 22 or "ssh" in service

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if type(record) is Flow:
            if record.dport == 22 or "ssh" in record.service:
                return self._flow(record, window)
            return None
        rec: SshRecord = record  # type: ignore[assignment]
        if not rec.saddr:
            return None
        if rec.auth_success is True:
            return self._login(rec, window, by_size=None)
        if rec.auth_success is False:
            key = (rec.saddr, rec.daddr, window)
            self._failures[key] = self._failures.get(key, 0) + max(1, rec.auth_attempts)
            return None
        size = self._flow_bytes.pop((rec.uid, window), None)
        if size is not None:
            return self._judge(rec, size, window)
        if rec.uid:
            if len(self._undecided) < self.p.max_pending:
                self._undecided[(rec.uid, window)] = rec
            else:
                self.overflowed("ssh_records_refused")
        return None

    def _flow(self, flow: Flow, window: int) -> Sequence[Evidence] | None:
        size = flow.sbytes + flow.dbytes
        for w in (window, window - 1, window + 1):  # the ssh record may sit in a neighbour
            rec = self._undecided.pop((flow.uid, w), None)
            if rec is not None:
                return self._judge(rec, size, w)
        if flow.uid:
            if len(self._flow_bytes) < self.p.max_pending:
                self._flow_bytes[(flow.uid, window)] = size
            else:
                self.overflowed("flows_refused")
        return None

    def _judge(self, rec: SshRecord, size: int, window: int) -> Sequence[Evidence] | None:
        if size <= self.p.min_session_bytes:
            return None
        return self._login(rec, window, by_size=size)

    def _login(self, rec: SshRecord, window: int, by_size: int | None) -> Sequence[Evidence] | None:
        key = (rec.saddr, rec.daddr, window)
        n = count_due(self._logins, key)
        if n is None:
            return None
        failures = self._failures.get(key, 0)
        after = failures >= self.p.failures_before_low
        how = (
            "Zeek saw the authentication succeed"
            if by_size is None
            else f"{by_size} bytes moved (authentication result unknown)"
        )
        logins = "1 login" if n == 1 else f"{n} logins"
        failed = f", after {failures} failed attempts" if failures else ""
        client = f", client {rec.client[:60]!r}" if rec.client else ""
        return conn_evidence(
            self,
            rec,
            window,
            level=ThreatLevel.LOW if after else ThreatLevel.INFO,
            confidence=0.8 if by_size is None else 0.5,
            description=(
                f"Successful SSH login from {rec.saddr} to {rec.daddr}:{rec.dport} "
                f"({logins} in this window{failed}; {how}{client})"
            ),
            technique="T1021.004",  # Remote Services: SSH
            count=n,
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for state in (self._undecided, self._flow_bytes, self._failures, self._logins):
            drop_closed(state, window)
        return None
