"""SSH password guessing: many login attempts from one client to one SSH server.

Counted per (client, server, server port, window):

* from ssh.log: every connection whose authentication did not succeed adds
  its ``auth_attempts`` (at least 1 when Zeek saw it fail; an undecided one
  with no attempt, e.g. a banner grab, adds nothing);
* without ssh.log (a sensor that only has flows), an established flow to an
  SSH port (`ports`, or a flow the sensor labelled ``ssh``) that carried at
  least `min_client_bytes` from the client (a key exchange, not a banner grab)
  and at most `max_attempt_bytes` in total counts as one attempt: a session
  that ends after the key exchange and a few password prompts is small, a
  real one grows past Slips' 4290-byte "successful login" mark. Once the
  detector has seen ssh.log for a pair, that pair's flows are not counted
  twice.

Reported at `min_attempts` (9, Slips' ``ssh_attempt_threshold``), then at each
of `rereport_at` and every tenfold after (log steps: a 100k-attempt attack
gives a handful of evidence with growing counts). MEDIUM; confidence 0.5 at
the threshold rising to 0.9 at `confident_attempts` (30, where Slips reaches
1.0 and where Zeek raises its own notice), +0.1 when the client banner names
an automation library or attack tool (`automation_clients`: libssh,
paramiko, Go, JSch, …; people type passwords in OpenSSH or PuTTY, scripts use
libraries).

Zeek's own ``SSH::Password_Guessing`` notice (notice.log; Zeek decides after
30 failed logins) is evidence by itself: HIGH, confidence 0.9, victim the
server Zeek sampled most, once per (client, window). It also confirms the
counted evidence of that client in the window, which is then HIGH.
ATT&CK T1110.001 (Brute Force: Password Guessing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from detection.heuristics._protocols import (
    drop_closed,
    make_evidence,
    report_crossed,
    ssh_software,
)
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import Evidence, Flow, NoticeRecord, SshRecord, ThreatLevel

__all__ = ["SshPasswordGuessing", "SshPasswordGuessingParams", "sampled_servers"]

_TECHNIQUE = "T1110.001"
_NOTE = "SSH::Password_Guessing"


class SshPasswordGuessingParams(DetectorParams):
    min_attempts: int = 9
    rereport_at: tuple[int, ...] = (30, 100, 1000)
    confident_attempts: int = 30
    ports: tuple[int, ...] = (22,)
    min_client_bytes: int = 300
    max_attempt_bytes: int = 4290
    automation_clients: tuple[str, ...] = (
        "libssh", "paramiko", "go", "jsch", "asyncssh", "twisted", "russh", "sshj",
        "ssh2js", "node", "ruby", "phpseclib", "granados", "hydra", "medusa", "ncrack",
        "nmap", "zgrab", "masscan",
    )  # fmt: skip
    max_pairs: int = 50_000  # pairs tracked per window (bounded memory)


class _Pair:
    __slots__ = ("attempts", "automation", "from_ssh_log", "uids")

    def __init__(self) -> None:
        self.attempts = 0
        self.from_ssh_log = False
        self.automation = ""  # the automation banner seen, if any
        self.uids: list[str] = []


def sampled_servers(rec: NoticeRecord) -> list[str]:
    """The servers a Password_Guessing notice names ("Sampled servers: a, b, …")."""
    for text in (rec.sub, rec.msg):
        at = text.lower().find("servers:")
        if at >= 0:
            break
    else:
        return []
    rest = text[at + len("servers:") :]
    out = []
    for raw in rest.replace(",", " ").split():
        token = raw.strip(" .;()")
        looks_like_ip = ":" in token or ("." in token and token.replace(".", "").isdigit())
        if looks_like_ip and token != rec.src:
            out.append(token)
    return out


def _connections_in(msg: str) -> int | None:
    """N of Zeek's "… (seen in N connections)." when the notice's `n` is unset."""
    _, sep, rest = msg.partition("seen in ")
    number = rest.partition(" ")[0]
    digits = sep and number.isascii() and number.isdigit()  # (str.isdigit accepts "²")
    return int(number) if digits and len(number) < 10 else None


class SshPasswordGuessing(Detector):
    name = "ssh_password_guessing"
    consumes = (SshRecord, Flow, NoticeRecord)
    Params = SshPasswordGuessingParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, SshPasswordGuessingParams)
        self.p = params
        self._ports = frozenset(params.ports)
        self._tools = tuple(t.lower() for t in params.automation_clients if t)
        self._pairs: dict[tuple[str, str, int | None, int], _Pair] = {}
        self._confirmed: dict[tuple[str, int], None] = {}  # (client, window) Zeek noticed

    # -- observation --------------------------------------------------------------------

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return dport in self._ports or "ssh" in service

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if type(record) is Flow:  # the hot path: most flows leave on the next line
            if record.dport in self._ports or "ssh" in record.service:
                return self._flow(record, window)
            return None
        if type(record) is SshRecord:
            return self._ssh(record, window)
        return self._notice(record, window)  # type: ignore[arg-type]

    def _pair(self, key: tuple[str, str, int | None, int]) -> _Pair | None:
        pair = self._pairs.get(key)
        if pair is None:
            if len(self._pairs) < self.p.max_pairs:
                pair = self._pairs[key] = _Pair()
            else:
                self.overflowed("pairs_refused")
        return pair

    def _flow(self, flow: Flow, window: int) -> Sequence[Evidence] | None:
        if not flow.established or not flow.saddr or flow.proto != "tcp":
            return None
        if flow.sbytes < self.p.min_client_bytes:
            return None
        if flow.sbytes + flow.dbytes > self.p.max_attempt_bytes:
            return None
        pair = self._pair((flow.saddr, flow.daddr, flow.dport, window))
        if pair is None or pair.from_ssh_log:
            return None
        return self._count(pair, 1, flow, window)

    def _ssh(self, rec: SshRecord, window: int) -> Sequence[Evidence] | None:
        if rec.auth_success is True or not rec.saddr:
            return None
        attempts = max(rec.auth_attempts, 0)
        if rec.auth_success is False:
            attempts = max(attempts, 1)
        pair = self._pair((rec.saddr, rec.daddr, rec.dport, window))
        if pair is None:
            return None
        if not pair.from_ssh_log:  # ssh.log speaks for this pair: drop the flow estimate
            pair.from_ssh_log = True
            pair.attempts = 0
            pair.uids.clear()
        if not pair.automation:
            software = ssh_software(rec.client).lower()
            if software.startswith(self._tools):
                pair.automation = ssh_software(rec.client)[:40]
        if attempts == 0:
            return None
        return self._count(pair, attempts, rec, window)

    def _count(
        self, pair: _Pair, attempts: int, rec: Flow | SshRecord, window: int
    ) -> Sequence[Evidence] | None:
        before = pair.attempts
        pair.attempts = n = before + attempts
        if len(pair.uids) < 10:
            pair.uids.append(rec.uid)
        if not report_crossed(before, n, self.p.min_attempts, self.p.rereport_at):
            return None
        return (self._evidence(pair, rec, window),)

    # -- evidence -----------------------------------------------------------------------

    def _evidence(self, pair: _Pair, rec: Flow | SshRecord, window: int) -> Evidence:
        n = pair.attempts
        p = self.p
        span = max(1, p.confident_attempts - p.min_attempts)
        confidence = 0.5 + 0.4 * min(1.0, max(0, n - p.min_attempts) / span)
        if pair.automation:
            confidence += 0.1
        confirmed = (rec.saddr, window) in self._confirmed
        where = "ssh.log" if pair.from_ssh_log else "SSH-sized flows"
        tool = f", client {pair.automation!r}" if pair.automation else ""
        zeek = ", confirmed by Zeek's Password_Guessing notice" if confirmed else ""
        return make_evidence(
            self,
            attacker=rec.saddr,
            victim=rec.daddr,
            level=ThreatLevel.HIGH if confirmed else ThreatLevel.MEDIUM,
            confidence=1.0 if confirmed else confidence,
            ts=rec.ts,
            window=window,
            description=(
                f"SSH password guessing from {rec.saddr} to {rec.daddr}:{rec.dport}: "
                f"{n} failed login attempts in this window ({where}{tool}{zeek})"
            ),
            technique=_TECHNIQUE,
            uids=pair.uids,
            dport=rec.dport,
            proto="tcp",
            count=n,
        )

    def _notice(self, rec: NoticeRecord, window: int) -> Sequence[Evidence] | None:
        attacker = rec.src or rec.saddr
        if rec.note != _NOTE or not attacker:
            return None
        key = (attacker, window)
        if key in self._confirmed:
            return None
        if len(self._confirmed) < self.p.max_pairs:
            self._confirmed[key] = None
        else:
            self.overflowed("confirmed_refused")
        servers = Counter(sampled_servers(rec))
        victim = servers.most_common(1)[0][0] if servers else (rec.dst or rec.daddr or None)
        sample = ", ".join(s if c == 1 else f"{s} x{c}" for s, c in servers.most_common(5))
        n = rec.n if rec.n else _connections_in(rec.msg)
        seen = f"{n} connections" if n else "many connections"
        return (
            make_evidence(
                self,
                attacker=attacker,
                victim=victim,
                level=ThreatLevel.HIGH,
                confidence=0.9,
                ts=rec.ts,
                window=window,
                description=(
                    f"SSH password guessing by {attacker} reported by Zeek "
                    f"(SSH::Password_Guessing, {seen}); sampled servers: {sample or 'none'}"
                ),
                technique=_TECHNIQUE,
                uids=(rec.uid,),
                dport=rec.dport,
                proto="tcp",
                count=n,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        drop_closed(self._pairs, window)
        drop_closed(self._confirmed, window)
        return None
