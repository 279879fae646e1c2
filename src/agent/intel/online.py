"""Online lookups, the I/O half: a background service that asks VirusTotal,
URLhaus, CIRCL hashlookup, a DNSBL, RDAP and Team Cymru about what the agent
sees, and turns bad answers into evidence.

Theory of operation
-------------------
The hot path never waits for the internet. `LookupTap` is a detector-shaped
observer added to the pipeline: routing hands it only the flows it can use
(inbound from a public address, outbound to one), and for each value it has
not offered before (a bounded memory) it calls `OnlineLookups.submit`, which
only puts the request on a queue. The service runs its own asyncio loop in a
thread, one worker per service:

* a token bucket per service keeps to its free tier (VirusTotal's public API:
  4/min and 500/day); a request over the daily quota is dropped and counted;
* answers are cached (`cache_hours`), so a value is asked once per period no
  matter how many hosts touch it; the cache is bounded (oldest out first);
* a full queue drops the newest request (counted `queue_full`): under a flood
  the lookups fall behind, detection does not;
* failures (timeouts, HTTP 5xx/429, answers `detection.intel.online` cannot
  interpret) are retried `retries` times with exponential back-off, then
  dropped and counted by reason; the service backs off as a whole after a 429;
* a malicious verdict becomes `Evidence` (`detection.intel.online.evidence_for`)
  handed to `on_evidence`, which the agent puts on the same queue peer
  evidence takes into the pipeline: one decision step for everything.

Everything it sends leaves the machine, so it is off by default
(`intel.online.enabled`) and VirusTotal is asked only with an API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from agent.config import Config, OnlineConfig
from detection.heuristics.base import (
    PRIVATE,
    PUBLIC,
    DetectionContext,
    Detector,
    DetectorParams,
    is_private,
)
from detection.intel.index import IntelIndex
from detection.intel.model import IocKind
from detection.intel.online import (
    QTYPE_A,
    QTYPE_TXT,
    DnsAnswer,
    LookupRequest,
    OnlineError,
    Service,
    Verdict,
    circl_verdict,
    cymru_asn,
    dns_query,
    dnsbl_name,
    evidence_for,
    parse_dns_response,
    rdap_registration,
    registrable_domain,
    spamhaus_verdict,
    urlhaus_verdict,
    virustotal_path,
    virustotal_verdict,
    young_domain_verdict,
)
from detection.model import DnsRecord, Evidence, FilesRecord, Flow, HttpRecord

__all__ = [
    "LookupTap",
    "OnlineLookups",
    "TokenBucket",
    "ask_now",
    "enabled_services",
    "make_online",
    "services_for",
]

log = logging.getLogger(__name__)

_CACHE_CAP = 200_000
_SEEN_CAP = 100_000
_MAX_BACKOFF = 300.0


# -- rate limiting ------------------------------------------------------------------------


class TokenBucket:
    """`per_minute` lookups with a burst of one minute's worth, and an optional
    daily quota (a rolling 24 h window). Time is passed in."""

    def __init__(self, per_minute: float, per_day: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, per_minute)
        self.tokens = self.capacity
        self.updated: float | None = None
        self.per_day = per_day
        self._day: deque[float] = deque()

    def wait_time(self, now: float) -> float | None:
        """Seconds to wait before the next lookup may go (0 = now); None when the
        daily quota is spent. Call `take` when the lookup goes."""
        self._refill(now)
        if self.per_day is not None:
            while self._day and self._day[0] <= now - 86400:
                self._day.popleft()
            if len(self._day) >= self.per_day:
                return None
        if self.tokens >= 1.0:
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0
        if self.per_day is not None:
            self._day.append(now)

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now if self.updated is None else max(self.updated, now)


# -- the service ----------------------------------------------------------------------------


def enabled_services(cfg: OnlineConfig) -> frozenset[Service]:
    """Services that will be asked (VirusTotal only with an API key)."""
    on: set[Service] = set()
    if cfg.virustotal.enabled and cfg.virustotal.api_key:
        on.add(Service.VIRUSTOTAL)
    if cfg.urlhaus.enabled:
        on.add(Service.URLHAUS)
    if cfg.circl.enabled:
        on.add(Service.CIRCL)
    if cfg.dnsbl.enabled:
        on.add(Service.SPAMHAUS)
    if cfg.rdap.enabled:
        on.add(Service.RDAP)
    if cfg.asn.enabled:
        on.add(Service.ASN)
    return frozenset(on)


@dataclass(slots=True)
class _Job:
    request: LookupRequest
    attempts: int = 0


@dataclass(slots=True)
class _ServiceState:
    bucket: TokenBucket
    queue: asyncio.Queue[_Job] | None = None
    backoff_until: float = 0.0
    failures: int = 0
    pending: int = 0  # queued + in flight


def _system_resolver() -> tuple[str, int]:
    try:
        for line in Path("/etc/resolv.conf").read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                return parts[1], 53
    except OSError:
        pass
    return "127.0.0.1", 53


def _parse_resolver(spec: str | None) -> tuple[str, int]:
    if not spec:
        return _system_resolver()
    host, sep, port = spec.rpartition(":")
    if sep and port.isascii() and port.isdigit() and host:
        return host.strip("[]"), int(port)
    return spec, 53


class _DnsClient(asyncio.DatagramProtocol):
    def __init__(self, txid: int) -> None:
        self.txid = txid
        self.answer: asyncio.Future[DnsAnswer] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.answer.done():
            return
        try:
            self.answer.set_result(parse_dns_response(data, self.txid))
        except OnlineError as exc:
            if "not a response to our query" not in str(exc):  # strays are ignored
                self.answer.set_exception(exc)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


class OnlineLookups:
    """The background lookup service (module header). Thread-safe `submit`;
    everything else runs on its own event loop thread."""

    def __init__(
        self,
        cfg: OnlineConfig,
        *,
        window_seconds: float,
        on_evidence: Callable[[Evidence], None],
        intel: Callable[[], IntelIndex] = lambda: IntelIndex().freeze(),
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        retry_base_seconds: float = 2.0,
        rate_limited_seconds: float = 60.0,
        on_verdict: Callable[[Verdict, LookupRequest], None] | None = None,
    ) -> None:
        """`retry_base_seconds`: first retry delay (doubling, jittered);
        `rate_limited_seconds`: first pause of a service after an HTTP 429."""
        self.cfg = cfg
        self.on_verdict = on_verdict  # every answer, bad or not (`starling intel lookup`)
        self.retry_base = retry_base_seconds
        self.rate_limited_pause = rate_limited_seconds
        self.window_seconds = window_seconds
        self.on_evidence = on_evidence
        self.intel = intel
        self.clock = clock
        self.services = enabled_services(cfg)
        self.stats: Counter[str] = Counter()
        self.dropped_full: Counter[Service] = Counter()  # plain counts: the tap's hot path
        self._random = random.Random(seed)  # noqa: S311 - retry jitter, not security
        self._cache: OrderedDict[tuple[Service, str, str], tuple[float, Verdict]] = OrderedDict()
        self._state = {s: _ServiceState(self._bucket(s)) for s in self.services}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._lock = threading.Lock()
        self._inbox: deque[tuple[Service, _Job]] = deque()  # submit -> loop thread
        self._wake_pending = False
        self._dnsbl_resolver = _parse_resolver(cfg.dnsbl.resolver)
        self._asn_resolver = _parse_resolver(cfg.asn.resolver)

    def _bucket(self, service: Service) -> TokenBucket:
        section = {
            Service.VIRUSTOTAL: self.cfg.virustotal,
            Service.URLHAUS: self.cfg.urlhaus,
            Service.CIRCL: self.cfg.circl,
            Service.SPAMHAUS: self.cfg.dnsbl,
            Service.RDAP: self.cfg.rdap,
            Service.ASN: self.cfg.asn,
        }[service]
        return TokenBucket(section.per_minute, section.per_day)

    # -- life cycle (any thread) --------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="online-lookups", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def close(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def pending(self) -> int:
        with self._lock:
            return sum(state.pending for state in self._state.values())

    def drain(self, timeout: float) -> int:
        """Wait up to `timeout` s for pending lookups; returns how many remain."""
        deadline = time.monotonic() + timeout
        while (left := self.pending()) and time.monotonic() < deadline:
            time.sleep(0.02)
        return left

    def summary(self) -> dict[str, Any]:
        with self._lock:
            counts = Counter(self.stats)
        for service, n in self.dropped_full.items():
            counts[f"{service.value}.dropped.queue_full"] += n
        return {
            "services": sorted(s.value for s in self.services),
            "pending": self.pending(),
            **dict(sorted(counts.items())),
        }

    # -- submitting (any thread) --------------------------------------------------------

    def is_full(self, service: Service) -> bool:
        """Would a new lookup be dropped? (A lock-free read: a hint for the tap.)"""
        return self._state[service].pending >= self.cfg.queue_size

    def submit(self, service: Service, request: LookupRequest) -> bool:
        """Queue a lookup; False when the service is off or the request dropped."""
        if service not in self.services or self._loop is None:
            return False
        state = self._state[service]
        key = (service, request.kind.value, request.value)
        now = self.clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                self.stats[f"{service.value}.cached"] += 1
                verdict = cached[1]
            else:
                verdict = None
                if state.pending >= self.cfg.queue_size:
                    self.dropped_full[service] += 1
                    return False
                state.pending += 1
        if verdict is not None:
            self._emit(verdict, request)
            return True
        # Hand-over without waking the loop per request: one wake-up per batch.
        self._inbox.append((service, _Job(request)))
        if not self._wake_pending:
            self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._take_inbox)
            except RuntimeError:  # the loop is closing: what is queued is abandoned
                return False
        return True

    # -- the loop thread ----------------------------------------------------------------

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout, raise_for_status=False) as session:
            self._session = session
            workers = []
            for service, state in self._state.items():
                state.queue = asyncio.Queue()
                workers.append(asyncio.create_task(self._worker(service, state)))
            self._ready.set()
            await self._stopping.wait()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        self._session = None

    def _take_inbox(self) -> None:
        self._wake_pending = False
        inbox = self._inbox
        while inbox:
            service, job = inbox.popleft()
            self._enqueue(service, job)

    def _enqueue(self, service: Service, job: _Job) -> None:
        queue = self._state[service].queue
        assert queue is not None
        queue.put_nowait(job)

    async def _worker(self, service: Service, state: _ServiceState) -> None:
        assert state.queue is not None
        while True:
            job = await state.queue.get()
            try:
                await self._pace(service, state)
                if not await self._attempt(service, state, job):
                    continue  # re-queued for a retry: still pending
            except _QuotaSpent:
                self._count(service, "dropped.daily_quota")
            except Exception:  # a bug must cost one lookup, not the worker
                log.exception("online %s lookup failed", service.value)
                self._count(service, "dropped.internal_error")
            with self._lock:
                state.pending -= 1

    async def _pace(self, service: Service, state: _ServiceState) -> None:
        while True:
            now = self.clock()
            if state.backoff_until > now:
                await asyncio.sleep(state.backoff_until - now)
                continue
            wait = state.bucket.wait_time(now)
            if wait is None:
                raise _QuotaSpent
            if wait <= 0:
                state.bucket.take(now)
                return
            await asyncio.sleep(wait)

    async def _attempt(self, service: Service, state: _ServiceState, job: _Job) -> bool:
        """One try; True when the job is finished (answered or given up)."""
        request = job.request
        try:
            verdict = await self._ask(service, request)
        except _RateLimited:
            self._count(service, "errors.rate_limited")
            state.backoff_until = self.clock() + min(
                _MAX_BACKOFF, self.rate_limited_pause * 2**state.failures
            )
            state.failures += 1
            return self._retry(service, state, job, "rate_limited")
        except (OnlineError, aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            reason = _reason(exc)
            self._count(service, f"errors.{reason}")
            log.debug("online %s %s: %s", service.value, request.value, exc)
            state.failures += 1
            return self._retry(service, state, job, reason)
        state.failures = 0
        self._count(service, "answered")
        now = self.clock()
        with self._lock:
            key = (service, request.kind.value, request.value)
            self._cache[key] = (now + self.cfg.cache_hours * 3600, verdict)
            self._cache.move_to_end(key)
            while len(self._cache) > _CACHE_CAP:
                self._cache.popitem(last=False)
        self._emit(verdict, request)
        return True

    def _retry(self, service: Service, state: _ServiceState, job: _Job, reason: str) -> bool:
        if job.attempts >= self.cfg.retries:
            self._count(service, f"dropped.{reason}")
            return True
        job.attempts += 1
        delay = min(_MAX_BACKOFF, self.retry_base * 2 ** (job.attempts - 1))
        delay *= 0.5 + self._random.random()
        loop = asyncio.get_running_loop()
        loop.call_later(delay, self._enqueue, service, job)
        return False

    def _emit(self, verdict: Verdict, request: LookupRequest) -> None:
        if self.on_verdict is not None:
            self.on_verdict(verdict, request)
        if verdict.known_benign:
            self._count(verdict.service, "known_benign")
        if not verdict.malicious:
            return
        self._count(verdict.service, "malicious")
        evidence = evidence_for(verdict, request, self.window_seconds)
        if evidence is not None:
            try:
                self.on_evidence(evidence)
            except Exception:  # a full queue downstream must not kill the worker
                log.exception("online evidence dropped")
                self._count(verdict.service, "dropped.evidence")

    def _count(self, service: Service, what: str) -> None:
        with self._lock:
            self.stats[f"{service.value}.{what}"] += 1

    # -- asking ---------------------------------------------------------------------------

    async def _ask(self, service: Service, request: LookupRequest) -> Verdict:
        kind, value = request.kind, request.value
        if service is Service.VIRUSTOTAL:
            vt = self.cfg.virustotal
            status, body = await self._http(
                "GET", vt.base_url + virustotal_path(kind, value), {"x-apikey": vt.api_key or ""}
            )
            return virustotal_verdict(kind, value, status, body, min_engines=vt.min_engines)
        if service is Service.URLHAUS:
            uh = self.cfg.urlhaus
            headers = {"Auth-Key": uh.api_key} if uh.api_key else {}
            if kind is IocKind.URL:
                path, form = "/v1/url/", {"url": value}
            else:
                field_name = "sha256_hash" if kind is IocKind.SHA256 else "md5_hash"
                path, form = "/v1/payload/", {field_name: value}
            status, body = await self._http("POST", uh.base_url + path, headers, form)
            return urlhaus_verdict(kind, value, status, body)
        if service is Service.CIRCL:
            url = f"{self.cfg.circl.base_url}/lookup/{kind.value}/{value}"
            status, body = await self._http("GET", url, {"Accept": "application/json"})
            return circl_verdict(kind, value, status, body)
        if service is Service.SPAMHAUS:
            answer = await self._dns(
                dnsbl_name(value, self.cfg.dnsbl.zone), QTYPE_A, self._dnsbl_resolver
            )
            return spamhaus_verdict(value, answer)
        if service is Service.RDAP:
            domain = registrable_domain(value)
            status, body = await self._http(
                "GET",
                f"{self.cfg.rdap.base_url}/domain/{domain}",
                {"Accept": "application/rdap+json"},
            )
            if status == 404:
                return Verdict(Service.RDAP, kind, value, detail="unknown to RDAP")
            if status != 200:
                raise OnlineError(f"RDAP answered HTTP {status}")
            return young_domain_verdict(
                domain, rdap_registration(body), self.clock(), self.cfg.rdap.young_days
            )
        if service is Service.ASN:
            answer = await self._dns(
                dnsbl_name(value, self.cfg.asn.zone), QTYPE_TXT, self._asn_resolver
            )
            asn = cymru_asn(answer.texts) if answer.rcode == 0 else None
            if asn is None:
                return Verdict(Service.ASN, kind, value, detail="no ASN")
            listed = self.intel().lookup_hash(IocKind.ASN, asn)
            if listed is None:
                return Verdict(Service.ASN, kind, value, detail=f"{asn} not listed", asn=asn)
            return Verdict(
                Service.ASN,
                kind,
                value,
                True,
                False,
                listed.threat_level,
                0.8,
                f"listed by {listed.feed.name}"
                + (f": {listed.description}" if listed.description else ""),
                asn=asn,
            )
        raise OnlineError(f"unknown service {service}")

    async def _http(
        self, method: str, url: str, headers: dict[str, str], form: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        assert self._session is not None
        async with self._session.request(method, url, headers=headers, data=form) as resp:
            if resp.status == 429:
                raise _RateLimited
            raw = await resp.content.read(4 * 1024 * 1024 + 1)
            if len(raw) > 4 * 1024 * 1024:
                raise OnlineError("answer larger than 4 MiB")
            if resp.status >= 500:
                raise OnlineError(f"HTTP {resp.status}")
            if resp.status != 200:
                return resp.status, None
            try:
                return resp.status, orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise OnlineError("answer is not JSON") from exc

    async def _dns(self, name: str, qtype: int, resolver: tuple[str, int]) -> DnsAnswer:
        loop = asyncio.get_running_loop()
        txid = secrets.randbelow(1 << 16)  # unpredictable: spoofed answers must guess it
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _DnsClient(txid), remote_addr=resolver
        )
        try:
            transport.sendto(dns_query(name, qtype, txid))
            return await asyncio.wait_for(protocol.answer, self.cfg.timeout_seconds)
        finally:
            transport.close()


class _RateLimited(Exception):
    """HTTP 429: the service wants us to slow down."""


class _QuotaSpent(Exception):
    """The service's daily quota is used up."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OnlineError):
        return "bad_answer"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return "unreachable"
    return "invalid"


# -- the tap ----------------------------------------------------------------------------------


class LookupTapParams(DetectorParams):
    pass


class LookupTap(Detector):
    """Offers values seen in traffic to `OnlineLookups`; never returns evidence
    itself (the answers arrive later). Lives in the agent, not in detection:
    it exists to cause I/O."""

    name = "online_lookup"
    consumes = (Flow, DnsRecord, HttpRecord, FilesRecord)
    Params = LookupTapParams

    def __init__(
        self,
        lookups: OnlineLookups,
        intel: Callable[[], IntelIndex],
        context: DetectionContext | None = None,
    ) -> None:
        super().__init__(LookupTapParams(), context)
        self.lookups = lookups
        self.intel = intel
        on = lookups.services
        self._seen: dict[Service, OrderedDict[str, None]] = {s: OrderedDict() for s in on}
        self._inbound = tuple(s for s in (Service.SPAMHAUS, Service.ASN) if s in on)
        self._outbound = tuple(s for s in (Service.ASN, Service.VIRUSTOTAL) if s in on)

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return (src_kind == PUBLIC and dst_kind == PRIVATE) or (
            src_kind == PRIVATE and dst_kind == PUBLIC
        )

    def _offer(  # noqa: PLR0917 - the hot path: no request object until one is needed
        self,
        services: Sequence[Service],
        kind: IocKind,
        value: str,
        ts: float,
        uid: str,
        attacker: str,
        victim: str | None,
    ) -> None:
        """Offer a value once per service (bounded memory, oldest forgotten first).
        A value met while the service's queue is full is not remembered: it is
        offered again when it comes back. The request is built only if needed."""
        request: LookupRequest | None = None
        for service in services:
            seen = self._seen.get(service)
            if seen is None or value in seen:
                continue
            if self.lookups.is_full(service):
                self.lookups.dropped_full[service] += 1
                continue
            seen[value] = None
            if len(seen) > _SEEN_CAP:
                seen.popitem(last=False)
            if request is None:
                request = LookupRequest(kind, value, ts, uid, attacker, victim)
            self.lookups.submit(service, request)

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        kind = type(record)
        if kind is Flow:
            self._flow(record)  # type: ignore[arg-type]
        elif kind is DnsRecord:
            self._dns(record)  # type: ignore[arg-type]
        elif kind is HttpRecord:
            self._http(record)  # type: ignore[arg-type]
        elif kind is FilesRecord:
            self._files(record)  # type: ignore[arg-type]
        return None

    def _flow(self, flow: Flow) -> None:
        saddr, daddr = flow.saddr, flow.daddr
        if ":" in saddr or ":" in daddr:
            return  # the DNS zones used here are IPv4-only
        # Routing hands over only public<->private flows; which side is ours?
        if is_private(saddr):  # private -> public: whom we talk to
            self._offer(self._outbound, IocKind.IP, daddr, flow.ts, flow.uid, daddr, saddr)
        else:  # public -> private: who is knocking
            self._offer(self._inbound, IocKind.IP, saddr, flow.ts, flow.uid, saddr, daddr)

    def _dns(self, rec: DnsRecord) -> None:
        name = rec.query.strip().lower().rstrip(".")
        if not name or "." not in name or name.endswith((".arpa", ".local", ".lan", ".home")):
            return
        answer = next((a for a in rec.answers if a.count(".") == 3 and a[0].isdigit()), None)
        attacker, victim = (answer, rec.saddr) if answer else (rec.saddr, None)
        domain = registrable_domain(name)
        self._offer((Service.RDAP,), IocKind.DOMAIN, domain, rec.ts, rec.uid, rec.saddr, None)
        self._offer((Service.VIRUSTOTAL,), IocKind.DOMAIN, name, rec.ts, rec.uid, attacker, victim)

    def _http(self, rec: HttpRecord) -> None:
        host = rec.host.strip().lower()
        if not host:
            return
        uri = rec.uri if rec.uri.startswith("/") else "/" + rec.uri
        self._offer(
            (Service.URLHAUS, Service.VIRUSTOTAL),
            IocKind.URL,
            f"http://{host}{uri}",
            rec.ts,
            rec.uid,
            rec.daddr,
            rec.saddr,
        )

    def _files(self, rec: FilesRecord) -> None:
        sender = rec.tx_hosts[0] if rec.tx_hosts else ""
        receiver = rec.rx_hosts[0] if rec.rx_hosts else None
        if not sender:
            return
        uid = rec.conn_uids[0] if rec.conn_uids else ""
        md5 = rec.md5.strip().lower()
        if md5 and self.intel().is_benign_md5(md5):
            return  # a known false positive (local file)
        if md5:
            both = (Service.CIRCL, Service.URLHAUS)
            self._offer(both, IocKind.MD5, md5, rec.ts, uid, sender, receiver)
        best = rec.sha256.strip().lower() or rec.sha1.strip().lower() or md5
        if best:
            kind = {64: IocKind.SHA256, 40: IocKind.SHA1}.get(len(best), IocKind.MD5)
            self._offer((Service.VIRUSTOTAL,), kind, best, rec.ts, uid, sender, receiver)


def services_for(kind: IocKind, value: str) -> tuple[Service, ...]:
    """The services that can say something about a value of this kind."""
    v4 = kind is IocKind.IP and ":" not in value
    table: dict[IocKind, tuple[Service, ...]] = {
        IocKind.IP: (Service.SPAMHAUS, Service.ASN, Service.VIRUSTOTAL)
        if v4
        else (Service.VIRUSTOTAL,),
        IocKind.DOMAIN: (Service.RDAP, Service.VIRUSTOTAL),
        IocKind.URL: (Service.URLHAUS, Service.VIRUSTOTAL),
        IocKind.MD5: (Service.CIRCL, Service.URLHAUS, Service.VIRUSTOTAL),
        IocKind.SHA1: (Service.CIRCL, Service.VIRUSTOTAL),
        IocKind.SHA256: (Service.URLHAUS, Service.VIRUSTOTAL),
    }
    return table.get(kind, ())


def ask_now(
    cfg: OnlineConfig, kind: IocKind, value: str, *, timeout: float = 30.0
) -> tuple[list[tuple[Verdict, str]], dict[str, Any]]:
    """Ask every applicable service about one value now (the CLI): the verdicts
    (with the evidence description a bad one would make) and the service's
    counters (errors, drops). Services are on even if `cfg.enabled` is off —
    the operator asked — but VirusTotal still needs its key."""
    got: list[tuple[Verdict, str]] = []
    lock = threading.Lock()

    def keep(verdict: Verdict, request: LookupRequest) -> None:
        ev = evidence_for(verdict, request, 3600.0)
        with lock:
            got.append((verdict, ev.description if ev is not None else ""))

    lookups = OnlineLookups(
        cfg.model_copy(update={"enabled": True, "retries": 0}),
        window_seconds=3600.0,
        on_evidence=lambda ev: None,
        on_verdict=keep,
        retry_base_seconds=0.5,
    )
    lookups.start()
    try:
        request = LookupRequest(kind, value, time.time(), "", value, None)
        for service in services_for(kind, value):
            lookups.submit(service, request)
        lookups.drain(timeout)
    finally:
        lookups.close()
    order = {s: i for i, s in enumerate(Service)}
    return sorted(got, key=lambda g: order[g[0].service]), lookups.summary()


def make_online(
    config: Config,
    *,
    on_evidence: Callable[[Evidence], None],
    intel: Callable[[], IntelIndex],
    context: DetectionContext | None = None,
) -> tuple[OnlineLookups, LookupTap] | None:
    """The service and its tap when online lookups are enabled (else None)."""
    cfg = config.intel.online
    if not cfg.enabled:
        return None
    lookups = OnlineLookups(
        cfg, window_seconds=config.profiles.window_seconds, on_evidence=on_evidence, intel=intel
    )
    if not lookups.services:
        log.warning("intel.online is enabled but every service is off")
    return lookups, LookupTap(lookups, intel, context)
