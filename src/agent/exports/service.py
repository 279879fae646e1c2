"""`Exporters`: findings out to STIX files, TAXII, Slack and syslog, off the hot path.

Theory of operation
-------------------
The detection thread calls `Exporters.on_finding` for every finding. That
call only decides which exporters want the finding (a type and threat-level
check) and puts it on each one's bounded queue; it never formats, never does
I/O, never waits, and never raises (an unexpected error is counted as
``internal_errors`` and logged once per period).

Each enabled exporter is a `_Channel`: its own queue and its own thread,
which formats and sends. Channels share nothing, so a Slack webhook that
hangs for its whole timeout, or a TAXII server that is down, delays and fills
only its own queue: syslog keeps delivering. A full queue drops the finding
and counts it (``dropped_queue_full``): detection never slows down for an
export.

Alerts carry ids, not evidence; for STIX the sighting's first/last seen and
the indicator's ATT&CK references come from the evidence itself, so when a
STIX exporter is on, `Exporters` remembers the most recent evidence (bounded,
oldest out) and hands an alert's known evidence along with it.

Error handling / resource handling
----------------------------------
A channel catches every exception of its exporter, counts it by reason
(``errors_by_reason``) and logs at most one line per ``error_log_seconds``
(with the number of errors it did not log). Network exporters retry
retryable failures with exponential back-off inside their own thread.

`close(timeout)` stops accepting findings, lets each channel drain its queue
and flush (the STIX bundle is written, a partial TAXII batch pushed) until
the deadline; a channel still busy then is told to give up (retries stop,
what is still queued is dropped and counted as ``abandoned``) and gets a
short grace to finish. Channel threads are daemons, so a wedged socket can
never keep the process alive.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from agent.exports import stix
from agent.exports._http import HttpError
from agent.exports.config import (
    FACILITIES,
    ExportsConfig,
    SlackConfig,
    StixFileConfig,
    SyslogConfig,
    TaxiiConfig,
    ThreatName,
)
from agent.exports.slack import SlackSender, slack_payload
from agent.exports.syslog import (
    SYSLOG_SEVERITY,
    SyslogError,
    SyslogSender,
    cef_for,
    cef_message,
    default_hostname,
    rfc5424,
)
from agent.exports.taxii import TaxiiClient
from detection.heuristics.base import is_private
from detection.model import Alert, Evidence, ThreatLevel

__all__ = ["Exporters", "make_exporters"]

log = logging.getLogger(__name__)

_RANK = {level: n for n, level in enumerate(ThreatLevel)}
_RECENT_EVIDENCE = 50_000
_GRACE = 2.0  # seconds a channel gets to stop once told to give up
_IDLE_WAKE = 0.25  # how often an idle channel checks whether it is closing


def _at_least(level: ThreatLevel, minimum: ThreatName) -> bool:
    return _RANK[level] >= _RANK[ThreatLevel(minimum)]


class _Job(NamedTuple):
    finding: Evidence | Alert
    related: tuple[Evidence, ...]  # an alert's evidence still remembered (STIX only)


class _Channel:
    """One exporter: a bounded queue, a thread, its counters. Subclasses implement
    `wants` (detection thread: cheap), `handle`, `tick` and `finish` (own thread)."""

    name = "channel"
    period: float | None = None  # seconds between `tick` calls; None = never

    def __init__(self, queue_size: int, error_log_seconds: float) -> None:
        self.queue: queue.Queue[_Job] = queue.Queue(maxsize=queue_size)
        self.error_log_seconds = error_log_seconds
        self.give_up = threading.Event()
        self.closing = threading.Event()
        self.counts: Counter[str] = Counter()
        self.errors_by_reason: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._last_logged = -float("inf")
        self._unlogged = 0
        self.thread = threading.Thread(target=self._run, name=f"export-{self.name}", daemon=True)

    # -- detection thread ---------------------------------------------------------------

    def wants(self, finding: Evidence | Alert) -> bool:
        raise NotImplementedError

    def offer(self, job: _Job) -> None:
        if self.closing.is_set():
            self._count("dropped_closed")
            return
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            self._count("dropped_queue_full")
        else:
            self._count("queued")

    # -- own thread ------------------------------------------------------------------------

    def handle(self, job: _Job) -> None:
        raise NotImplementedError

    def tick(self) -> None:
        """Periodic work (flush a batch, rewrite a file)."""

    def finish(self) -> None:
        """Last flush, then release resources."""

    def _run(self) -> None:
        next_tick = time.monotonic() + self.period if self.period else float("inf")
        while True:
            wait = max(0.0, min(next_tick - time.monotonic(), _IDLE_WAKE))
            try:
                job: _Job | None = self.queue.get(timeout=wait)
            except queue.Empty:
                job = None
                if self.closing.is_set():
                    break
            if job is not None:
                if self.give_up.is_set():
                    self._count("abandoned")
                    continue
                self._guard(lambda job=job: self.handle(job))
            if self.period and time.monotonic() >= next_tick:
                self._guard(self.tick)
                next_tick = time.monotonic() + self.period
        self._guard(self.finish)

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except (HttpError, SyslogError) as exc:
            self.error(getattr(exc, "reason", "send"), str(exc))
        except OSError as exc:
            self.error("io", f"{type(exc).__name__}: {exc}")
        except stix.StixError as exc:
            self.error("unexportable", str(exc))
        except Exception as exc:  # noqa: BLE001 - an exporter bug must not stop the others
            self.error("internal", f"{type(exc).__name__}: {exc}")

    # -- counters and the error log -----------------------------------------------------

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def _set(self, key: str, value: int) -> None:
        with self._lock:
            self.counts[key] = value

    def error(self, reason: str, message: str) -> None:
        with self._lock:
            self.counts["errors"] += 1
            self.errors_by_reason[reason] += 1
        now = time.monotonic()
        if now - self._last_logged >= self.error_log_seconds:
            more = (
                f" ({self._unlogged} more errors since the last report)" if self._unlogged else ""
            )
            log.warning("export %s: %s%s", self.name, message, more)
            self._last_logged = now
            self._unlogged = 0
        else:
            self._unlogged += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                k: self.counts[k]
                for k in ("queued", "sent", "errors", "dropped_queue_full", "abandoned")
            }
            out.update(self.counts)
            out["errors_by_reason"] = dict(self.errors_by_reason)
        out["pending"] = self.queue.qsize()
        return out


# -- STIX selection shared by the file and TAXII channels ------------------------------


class _StixChannel(_Channel):
    def __init__(
        self, cfg: StixFileConfig | TaxiiConfig, identity_name: str, queue_size: int,
        error_log_seconds: float,
    ) -> None:  # fmt: skip
        super().__init__(queue_size, error_log_seconds)
        self.select = cfg
        self.identity = stix.identity(identity_name)
        self.valid_seconds = cfg.valid_hours * 3600.0 if cfg.valid_hours is not None else None

    def wants(self, finding: Evidence | Alert) -> bool:
        if isinstance(finding, Alert):
            return not (self.select.skip_private and is_private(finding.profile))
        if self.select.skip_private and is_private(finding.attacker):
            return False
        return self.select.evidence and _at_least(finding.threat_level, self.select.min_threat)

    def objects(self, job: _Job) -> list[dict[str, Any]]:
        f = job.finding
        if isinstance(f, Alert):
            objs = stix.alert_objects(
                f, self.identity, related=job.related, valid_seconds=self.valid_seconds
            )
        else:
            objs = stix.evidence_objects(f, self.identity, valid_seconds=self.valid_seconds)
        if not objs:
            self._count("not_exportable")
        return objs


class _StixFileChannel(_StixChannel):
    name = "stix"

    def __init__(self, cfg: StixFileConfig, identity_name: str, queue_size: int,
                 error_log_seconds: float) -> None:  # fmt: skip
        super().__init__(cfg, identity_name, queue_size, error_log_seconds)
        assert cfg.path is not None  # checked by the config
        self.path: Path = cfg.path
        self.cfg = cfg
        self.period = cfg.period_seconds if cfg.format == "bundle" else None
        self._file: Any = None
        self._kept: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._dirty = False

    def _open(self) -> Any:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
            self._file.write(orjson.dumps(self.identity) + b"\n")
        return self._file

    def handle(self, job: _Job) -> None:
        objs = self.objects(job)
        if not objs:
            return
        if self.cfg.format == "jsonl":
            f = self._open()
            try:
                f.write(b"".join(orjson.dumps(o) + b"\n" for o in objs))
                f.flush()
            except OSError:
                self._close_file()
                raise
        else:
            for o in objs:
                self._kept[o["id"]] = o
                self._kept.move_to_end(o["id"])
            while len(self._kept) > self.cfg.max_objects:
                self._kept.popitem(last=False)
                self._count("evicted")
            self._dirty = True
        self._count("sent", len(objs))

    def tick(self) -> None:
        if self._dirty:
            self._write_bundle()

    def _write_bundle(self) -> None:
        data = orjson.dumps(
            stix.bundle([self.identity, *self._kept.values()]), option=orjson.OPT_INDENT_2
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)
        self._dirty = False
        self._count("bundle_writes")

    def _close_file(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            with contextlib.suppress(OSError):
                f.close()

    def finish(self) -> None:
        try:
            if self.cfg.format == "bundle" and self._dirty:
                self._write_bundle()
        finally:
            self._close_file()


class _TaxiiChannel(_StixChannel):
    name = "taxii"

    def __init__(self, cfg: TaxiiConfig, identity_name: str, queue_size: int,
                 error_log_seconds: float) -> None:  # fmt: skip
        super().__init__(cfg, identity_name, queue_size, error_log_seconds)
        self.cfg = cfg
        self.period = cfg.period_seconds
        self.client = TaxiiClient(cfg, self.give_up)
        self.pending: list[dict[str, Any]] = [self.identity]
        self._cap = cfg.batch_size * 10  # objects kept while the server is unreachable
        self._quiet_until = 0.0  # after a failed push, wait for the next period

    def handle(self, job: _Job) -> None:
        self.pending += self.objects(job)
        if len(self.pending) >= self.cfg.batch_size and time.monotonic() >= self._quiet_until:
            self._push()

    def tick(self) -> None:
        if self.pending:
            self._push()

    def _push(self) -> None:
        while self.pending:
            batch = self.pending[: self.cfg.batch_size]
            try:
                result = self.client.push(batch)
            except HttpError as exc:
                self._quiet_until = time.monotonic() + self.cfg.period_seconds
                if exc.retryable and not self.give_up.is_set():
                    overflow = len(self.pending) - self._cap
                    if overflow > 0:  # keep the newest; the oldest are lost, counted
                        del self.pending[:overflow]
                        self._count("dropped_unreachable", overflow)
                else:
                    # 401/403/404: the collection refuses us, not this batch: drop everything
                    n = len(self.pending) if exc.status in (401, 403, 404) else len(batch)
                    del self.pending[:n]
                    self._count("dropped_rejected", n)
                raise
            finally:
                self._set("retries", self.client.retried)
            del self.pending[: len(batch)]
            self._count("pushes")
            self._count("sent", result.success)
            if result.failure:
                self._count("refused_by_server", result.failure)
            if result.pending:
                self._count("pending_on_server", result.pending)

    def finish(self) -> None:
        if self.give_up.is_set():
            if self.pending:
                self._count("abandoned", len(self.pending))
                self.pending = []
            return
        if self.pending:
            self._push()


class _SlackChannel(_Channel):
    name = "slack"

    def __init__(self, cfg: SlackConfig, agent_name: str, queue_size: int,
                 error_log_seconds: float) -> None:  # fmt: skip
        super().__init__(queue_size, error_log_seconds)
        assert cfg.webhook_url is not None  # checked by the config
        self.cfg = cfg
        self.agent_name = agent_name
        self.sender = SlackSender(
            cfg.webhook_url,
            timeout=cfg.timeout_seconds,
            retries=cfg.retries,
            backoff=cfg.backoff_seconds,
            give_up=self.give_up,
        )
        self._last_sent = -float("inf")

    def wants(self, finding: Evidence | Alert) -> bool:
        if self.cfg.alerts_only and not isinstance(finding, Alert):
            return False
        return _at_least(finding.threat_level, self.cfg.min_threat)

    def handle(self, job: _Job) -> None:
        payload = slack_payload(job.finding, agent=self.agent_name)
        wait = self._last_sent + self.cfg.min_interval_seconds - time.monotonic()
        if wait > 0:
            self.give_up.wait(wait)
        self._last_sent = time.monotonic()
        try:
            self.sender.send(payload)
        finally:
            self._set("retries", self.sender.retried)
        self._count("sent")


class _SyslogChannel(_Channel):
    name = "syslog"

    def __init__(self, cfg: SyslogConfig, version: str, queue_size: int,
                 error_log_seconds: float) -> None:  # fmt: skip
        super().__init__(queue_size, error_log_seconds)
        self.cfg = cfg
        self.version = version
        self.facility = FACILITIES[cfg.facility]
        self.hostname = cfg.hostname or default_hostname()
        self.procid = str(os.getpid())
        self.sender = SyslogSender(
            cfg.host, cfg.port, cfg.protocol, timeout=cfg.timeout_seconds,
            max_udp_bytes=cfg.max_udp_bytes,
        )  # fmt: skip

    def wants(self, finding: Evidence | Alert) -> bool:
        if self.cfg.alerts_only and not isinstance(finding, Alert):
            return False
        return _at_least(finding.threat_level, self.cfg.min_threat)

    def handle(self, job: _Job) -> None:
        f = job.finding
        data = rfc5424(
            cef_message(cef_for(f, self.version)),
            facility=self.facility,
            severity=SYSLOG_SEVERITY[f.threat_level],
            ts=f.ts,
            hostname=self.hostname,
            app_name=self.cfg.app_name,
            procid=self.procid,
            msgid="alert" if isinstance(f, Alert) else "evidence",
        )
        self.sender.send(data)
        self._count("sent")
        self._set("truncated", self.sender.truncated)

    def finish(self) -> None:
        self.sender.close()


# -- the service ----------------------------------------------------------------------------


class Exporters:
    """Every enabled exporter behind one `on_finding`; see the module header."""

    def __init__(
        self,
        channels: Sequence[_Channel],
        *,
        error_log_seconds: float = 60.0,
        failed: dict[str, str] | None = None,
    ) -> None:
        self.channels = list(channels)
        self.failed = dict(failed or {})
        self._remember = any(isinstance(c, _StixChannel) for c in self.channels)
        self._recent: OrderedDict[str, Evidence] = OrderedDict()
        self._lock = threading.Lock()
        self.internal_errors = 0
        self._error_log_seconds = error_log_seconds
        self._last_logged = -float("inf")
        self._started = False
        self._closed = False

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.channels]

    def start(self) -> Exporters:
        if not self._started:
            self._started = True
            for c in self.channels:
                c.thread.start()
        return self

    def on_finding(self, finding: Evidence | Alert) -> None:
        """Hand a finding to every exporter that wants it. Never blocks, never raises."""
        try:
            related: tuple[Evidence, ...] = ()
            if self._remember:
                with self._lock:
                    if isinstance(finding, Evidence):
                        self._recent[finding.id] = finding
                        if len(self._recent) > _RECENT_EVIDENCE:
                            self._recent.popitem(last=False)
                    else:
                        related = tuple(
                            e for i in finding.evidence_ids if (e := self._recent.get(i))
                        )
            job = _Job(finding, related)
            for c in self.channels:
                if c.wants(finding):
                    c.offer(job)
        except Exception:  # exports must never break detection
            self.internal_errors += 1
            now = time.monotonic()
            if now - self._last_logged >= self._error_log_seconds:
                self._last_logged = now
                log.exception("exports: a finding could not be queued (%d so far)",
                              self.internal_errors)  # fmt: skip

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {c.name: c.stats() for c in self.channels}
        out.update({name: {"failed": reason} for name, reason in self.failed.items()})
        out["internal_errors"] = self.internal_errors
        return out

    def close(self, timeout: float = 10.0) -> dict[str, Any]:
        """Deliver what can be delivered within `timeout` seconds, then stop; returns stats."""
        if self._closed:
            return self.stats()
        self._closed = True
        for c in self.channels:
            c.closing.set()
        if self._started:
            deadline = time.monotonic() + timeout
            for c in self.channels:
                c.thread.join(max(0.0, deadline - time.monotonic()))
            late = [c for c in self.channels if c.thread.is_alive()]
            for c in late:
                c.give_up.set()
            grace = time.monotonic() + _GRACE
            for c in late:
                c.thread.join(max(0.0, grace - time.monotonic()))
                if c.thread.is_alive():
                    log.warning("export %s: still busy at exit; %d findings not delivered",
                                c.name, c.queue.qsize())  # fmt: skip
        else:  # never started: nothing was delivered
            for c in self.channels:
                c._count("abandoned", c.queue.qsize())
        return self.stats()


def make_exporters(cfg: ExportsConfig, version: str) -> Exporters | None:
    """The configured exporters, started; None when none is enabled.

    An exporter that cannot even be set up (say, an unreadable `ca_file`) is
    logged and left out, shown in `stats()` as ``{"failed": reason}``: a broken
    export never stops detection from starting.
    """
    qs, els = cfg.queue_size, cfg.error_log_seconds
    builders: list[tuple[str, bool, Any]] = [
        ("stix", cfg.stix.enabled, lambda: _StixFileChannel(cfg.stix, cfg.identity_name, qs, els)),
        ("taxii", cfg.taxii.enabled, lambda: _TaxiiChannel(cfg.taxii, cfg.identity_name, qs, els)),
        ("slack", cfg.slack.enabled, lambda: _SlackChannel(cfg.slack, cfg.identity_name, qs, els)),
        ("syslog", cfg.syslog.enabled, lambda: _SyslogChannel(cfg.syslog, version, qs, els)),
    ]
    channels: list[_Channel] = []
    failed: dict[str, str] = {}
    for name, enabled, build in builders:
        if not enabled:
            continue
        try:
            channels.append(build())
        except Exception as exc:  # noqa: BLE001 - reported, and detection goes on
            failed[name] = f"{type(exc).__name__}: {exc}"
            log.error("export %s disabled: %s", name, failed[name])
    if not channels and not failed:
        return None
    exporters = Exporters(channels, error_log_seconds=els, failed=failed).start()
    log.info("exports: %s", ", ".join(exporters.names) or "none working")
    return exporters
