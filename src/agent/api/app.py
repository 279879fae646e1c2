"""The local HTTP API: alerts, evidence, an IP's story, peers, decisions, live events.

Every endpoint and its responses are described by the OpenAPI 3.1 document served
at `/api/v1/openapi.json` (`agent.api.openapi`); docs/api.md has an example of each.

Error handling
--------------
Every endpoint except `/api/v1/health` needs `Authorization: Bearer <token>`
(`agent.api.auth`; the web dashboard's static files under `/` and `/dashboard/`
are public too, they hold no data: `agent.api.dashboard_api`): a missing or
wrong token is a 401 with `WWW-Authenticate: Bearer` and no data; a read-only
token on a call that changes something (any method but GET) is a 403. Requests
are rate-limited by token bucket, per token (per remote address without a valid
one): over the limit is a 429 with `Retry-After`. Query strings and bodies are
validated by pydantic models that forbid unknown fields; every 4xx/5xx is JSON
`{"error": "<message>"}` naming the parameter or field and the problem —
including aiohttp's own 404/405/413, which the middleware rewrites. A storage
failure is a 503, a bug a 500 (logged with its traceback, not sent to the
client).

Resource handling
-----------------
Blocking work (store queries, calls into the P2P node's thread, the firewall
backend) runs in worker threads (`asyncio.to_thread`), so one slow request does
not stall the others or the event streams. Lists are paginated: `limit` (1-1000,
default 100) and an opaque `cursor`; a filter the store cannot apply is applied
while scanning, at most `_SCAN_BUDGET` stored records per page (a partial page
then still carries a cursor). Event streams are bounded per subscriber
(`agent.api.stream`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from agent.api.auth import Role, TokenSet
from agent.api.dashboard_api import add_dashboard_routes, is_public
from agent.api.feed import LiveFeed
from agent.api.metrics import CONTENT_TYPE, MetricsInput, P2PCounts, render
from agent.api.models import (
    DecisionRequest,
    DecisionsQuery,
    FindingsQuery,
    IntelQuery,
    IpQuery,
    ManualReport,
    PeersQuery,
    StreamQuery,
    normalise_ip,
    peer_id_ok,
)
from agent.api.openapi import openapi_document
from agent.api.ratelimit import RateLimiter
from agent.api.stream import EVENT_KINDS, TooManySubscribers
from agent.blocking.base import BlockerError
from agent.blocking.decision import Decision
from agent.blocking.service import BlockingService, Refused
from agent.blocking.target import BadTarget
from agent.intel.live import IntelHolder
from agent.peering import PeerService
from agent.store.base import Store, StoreError
from detection.intel.index import IntelMatch
from detection.model import (
    THREAT_WEIGHTS,
    Alert,
    ThreatLevel,
    finding_to_dict,
)
from p2p.reports import VerifiedReport
from p2p.wire import IocReport

__all__ = ["ApiContext", "build_app"]

log = logging.getLogger(__name__)

_LEVELS = list(ThreatLevel)
PUBLIC_PATHS = frozenset({"/api/v1/health"})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SCAN_CHUNK = 1000
_SCAN_BUDGET = 50_000
_KEEPALIVE_SECONDS = 15.0
_WRITE_TIMEOUT = 30.0
_MAX_BODY = 64 * 1024
_DIGITS = re.compile(r"[0-9]{1,15}")  # ASCII only: str.isdigit() accepts "¹" and "٣"
_T = TypeVar("_T")


@dataclass
class ApiContext:
    """Everything the handlers use; the daemon builds one, tests may build their own.

    `token` is the admin token; read-only tokens are read from `data_dir` (see
    `agent.api.auth`). `clock` is wall-clock time (records, decisions), `monotonic`
    drives the rate limiter.
    """

    token: str
    store: Store
    version: str
    peering: PeerService | None = None
    blocking: BlockingService | None = None
    intel: IntelHolder | None = None
    feed: LiveFeed = field(default_factory=LiveFeed)
    data_dir: Path | None = None
    rate_per_second: float = 100.0
    burst: int = 400
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    started_at: float = field(default_factory=time.time)


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _describe(exc: ValidationError, where: str) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            msg = "unknown parameter" if where == "query parameter" else "unknown field"
        else:
            msg = e["msg"].removeprefix("Value error, ")
            given = e.get("input")
            if isinstance(given, str | int | float) and e["type"] != "value_error":
                msg += f" (got {str(given)[:40]!r})"
        label = f"{where} {loc}" if loc else where
        parts.append(f"{label}: {msg}")
    return "; ".join(parts)


_Q = TypeVar("_Q", bound=BaseModel)


def _query(request: web.Request, model: type[_Q]) -> _Q:
    values: dict[str, str] = {}
    for key, value in request.query.items():
        if key in values:
            raise _BadRequest(f"query parameter {key}: given more than once")
        values[key] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise _BadRequest(_describe(exc, "query parameter")) from None


async def _body(request: web.Request, model: type[_Q]) -> _Q:
    try:
        raw = await request.json()
    except ValueError:
        raise _BadRequest("request body is not valid JSON") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _BadRequest(_describe(exc, "body")) from None


def _cursor(text: str | None) -> int:
    if text is None:
        return 0
    if not _DIGITS.fullmatch(text):
        raise _BadRequest("query parameter cursor: not a cursor from a previous page")
    return int(text)


def _next(pos: int | None) -> str | None:
    return None if pos is None else str(pos)


def _scan(
    fetch: Callable[[int, int], Sequence[_T]],
    keep: Callable[[_T], bool] | None,
    start: int,
    limit: int,
) -> tuple[list[_T], int | None]:
    """Up to `limit` kept items from raw position `start`, and where to continue (None: end)."""
    if keep is None:
        rows = list(fetch(start, limit + 1))
        return rows[:limit], (start + limit if len(rows) > limit else None)
    out: list[_T] = []
    pos = start
    while True:
        rows = list(fetch(pos, _SCAN_CHUNK))
        for i, row in enumerate(rows):
            if keep(row):
                out.append(row)
                if len(out) == limit:
                    more = i + 1 < len(rows) or len(rows) == _SCAN_CHUNK
                    return out, (pos + i + 1 if more else None)
        pos += len(rows)
        if len(rows) < _SCAN_CHUNK:
            return out, None
        if pos - start >= _SCAN_BUDGET:
            return out, pos


def _report_json(r: VerifiedReport, now: float) -> dict[str, Any]:
    return {
        "message_id": r.message_id,
        "reporter": r.sender,
        "relay": r.relay,
        "score": r.score,
        "confidence": r.confidence,
        "evidence_types": list(r.evidence_types),
        "window": r.window,
        "ttl": r.ttl,
        "description": r.description,
        "signed_at": r.signed_at,
        "received_at": r.received_at,
        "latency_ms": round((r.received_at - r.signed_at) * 1000, 3),
        "expired": r.expired(now),
        "envelope": base64.b64encode(r.envelope).decode(),
    }


def _match_json(m: IntelMatch) -> dict[str, Any]:
    return {
        "kind": m.kind.value,
        "indicator": m.indicator,
        "observed": m.observed,
        "feed": m.feed.name,
        "threat_level": str(m.threat_level),
        "description": m.description,
        "feeds": m.feeds,
        "parent": m.parent,
    }


def _decision_json(d: Decision) -> dict[str, Any]:
    return asdict(d)


def _peers_page(view: dict[str, Any], q: PeersQuery) -> dict[str, Any]:
    rows = view["peers"]
    if q.connected is not None:
        rows = [r for r in rows if r["connected"] == q.connected]
    start = _cursor(q.cursor)
    page = rows[start : start + q.limit]
    more = start + q.limit < len(rows)
    return {
        **view,
        "peers": page,
        "p2p": "enabled",
        "limit": q.limit,
        "next_cursor": _next(start + q.limit if more else None),
    }


def _p2p_counts(view: dict[str, Any]) -> P2PCounts:
    shared = {k: int(v) for k, v in view["shared"].items()}
    dropped = {str(k): int(v) for k, v in view["messages"]["dropped"].items()}
    if shared.get("graylisted_dropped"):
        dropped["graylisted"] = shared["graylisted_dropped"]
    return P2PCounts(
        known=len(view["peers"]),
        connected=sum(1 for p in view["peers"] if p["connected"]),
        accepted=int(view["messages"]["accepted"]),
        dropped=dropped,
        published=int(view["node"].get("published", 0)),
        publish_dropped=int(view["node"].get("publish_dropped", 0)),
        events=shared,
    )


def _role_name(role: Role | None) -> str:
    return role.value if role is not None else "none"


def build_app(ctx: ApiContext) -> web.Application:
    tokens = TokenSet(ctx.token, data_dir=ctx.data_dir, clock=ctx.monotonic)
    limiter = RateLimiter(ctx.rate_per_second, ctx.burst)
    statuses: Counter[str] = Counter()
    broadcaster = ctx.feed.broadcaster

    def _rate_key(request: web.Request, role: Role | None) -> str:
        if role is None:
            return f"addr:{request.remote}"
        header = request.headers.get("Authorization", "")
        return "token:" + hashlib.sha256(header.encode()).hexdigest()[:32]

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await _guarded(request, handler)
        statuses[f"{response.status // 100}xx"] += 1
        return response

    async def _guarded(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        role = tokens.role(request.headers.get("Authorization", ""))
        wait = limiter.take(_rate_key(request, role), ctx.monotonic())
        if wait > 0:
            return _error(
                429,
                f"rate limit exceeded ({ctx.rate_per_second:g} requests/s, burst {ctx.burst}); "
                f"retry in {wait:.1f} s",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if request.path not in PUBLIC_PATHS and not is_public(request.path):
            if role is None:
                return _error(
                    401,
                    "missing or invalid bearer token",
                    {"WWW-Authenticate": 'Bearer realm="starling"'},
                )
            if role is Role.READ_ONLY and request.method not in _READ_METHODS:
                return _error(
                    403, f"{request.method} {request.path} needs the admin token (read-only given)"
                )
        try:
            return await handler(request)
        except _BadRequest as exc:
            return _error(exc.status, exc.message)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
            message = {
                404: f"no such endpoint: {request.path[:100]} (see /api/v1/openapi.json)",
                405: f"{request.method} is not allowed on {request.path[:100]}"
                f" (allowed: {headers.get('Allow', 'none')})",
                413: f"request body too large (at most {_MAX_BODY} bytes)",
            }.get(exc.status, exc.reason or "error")
            return _error(exc.status, message, headers)
        except StoreError as exc:
            log.error("API %s %s: %s", request.method, request.path, exc)
            return _error(503, f"storage unavailable: {exc}")
        except Exception:
            log.exception("API %s %s failed", request.method, request.path)
            return _error(500, "internal error (logged by the agent)")

    # -- handlers -------------------------------------------------------------------------

    async def health(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "version": ctx.version,
                "peer_id": ctx.peering.peer_id if ctx.peering else None,
                "uptime_seconds": round(ctx.clock() - ctx.started_at, 3),
            }
        )

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(openapi_document(ctx.version))

    async def alerts(request: web.Request) -> web.Response:
        q = _query(request, FindingsQuery)
        start = _cursor(q.cursor)
        desc = q.order == "desc"

        def fetch(offset: int, n: int) -> list[Alert]:
            return ctx.store.alerts(
                ip=q.ip, since=q.since, limit=n, offset=offset, newest_first=desc
            )

        keep: Callable[[Alert], bool] | None = None
        if q.type is not None or q.source:
            wanted, prefix = q.type, q.source or ""

            def keep(a: Alert) -> bool:
                return a.source.startswith(prefix) and (
                    wanted is None or wanted in a.evidence_types
                )

        items, nxt = await asyncio.to_thread(_scan, fetch, keep, start, q.limit)
        return web.json_response(
            {
                "items": [finding_to_dict(a) for a in items],
                "limit": q.limit,
                "next_cursor": _next(nxt),
            }
        )

    async def evidence(request: web.Request) -> web.Response:
        q = _query(request, FindingsQuery)
        start = _cursor(q.cursor)

        def fetch(offset: int, n: int) -> list[Any]:
            return ctx.store.evidence(
                ip=q.ip,
                type=q.type,
                since=q.since,
                source=q.source,
                limit=n,
                offset=offset,
                newest_first=q.order == "desc",
            )

        items, nxt = await asyncio.to_thread(_scan, fetch, None, start, q.limit)
        return web.json_response(
            {
                "items": [finding_to_dict(e) for e in items],
                "limit": q.limit,
                "next_cursor": _next(nxt),
            }
        )

    def _intel_lookup(value: str) -> dict[str, Any]:
        if ctx.intel is None:
            return {"value": value, "enabled": False, "matches": []}
        matches = ctx.intel.get().lookup(value)
        return {"value": value, "enabled": True, "matches": [_match_json(m) for m in matches]}

    def _ban_value(ip: str) -> str:
        if ctx.blocking is None:
            return ip
        try:
            return ctx.blocking.target(ip).value
        except BadTarget:
            return ip

    async def ip_view(request: web.Request) -> web.Response:
        try:
            ip = normalise_ip(request.match_info["ip"])
        except ValueError:
            return _error(400, f"not an IP address: {request.match_info['ip'][:64]!r}")
        ask = _query(request, IpQuery).ask
        now = ctx.clock()

        def gather() -> dict[str, Any]:
            evidence = [e for e in ctx.store.evidence(ip=ip, limit=1000) if e.attacker == ip]
            windows = ctx.store.profiles(ip=ip, limit=10_000)
            active = ctx.store.decisions(value=_ban_value(ip), active_at=now, limit=100)
            return {
                "evidence": evidence,
                "alerts": ctx.store.alerts(ip=ip, limit=100),
                "reports": ctx.store.reports(value=ip, limit=1000),
                "windows": windows,
                "decision": active[-1] if active else None,
                "intel": _intel_lookup(ip),
            }

        data = await asyncio.to_thread(gather)
        evidence, alert_list, reports = data["evidence"], data["alerts"], data["reports"]
        windows = data["windows"]
        top = max((e.threat_level for e in evidence), key=_LEVELS.index, default=None)
        if alert_list:
            verdict = "malicious"
        elif top is not None and THREAT_WEIGHTS[top] >= THREAT_WEIGHTS[ThreatLevel.MEDIUM]:
            verdict = "suspicious"
        else:
            verdict = "no local evidence" if not evidence else "benign-looking"
        profile = {
            "windows": len(windows),
            "first_seen": min((w.start for w in windows), default=None),
            "last_seen": max((w.end for w in windows), default=None),
            "flows_out": sum(w.flows_out for w in windows),
            "flows_in": sum(w.flows_in for w in windows),
            "bytes_out": sum(w.bytes_out for w in windows),
            "bytes_in": sum(w.bytes_in for w in windows),
            "distinct_dsts": max((w.distinct_dsts for w in windows), default=0),
            "distinct_dports": max((w.distinct_dports for w in windows), default=0),
            "max_score": max((w.score for w in windows), default=0.0),
            "alerts": sum(w.alerts for w in windows),
            "recent_windows": [finding_to_dict(w) for w in windows[-10:]],
        }
        body: dict[str, Any] = {
            "ip": ip,
            "local": {
                "verdict": verdict,
                "evidence": len(evidence),
                "alerts": len(alert_list),
                "max_threat_level": top.value if top else None,
                "evidence_types": sorted({e.type for e in evidence}),
                "recent_evidence": [finding_to_dict(e) for e in evidence[-20:]],
                "recent_alerts": [finding_to_dict(a) for a in alert_list[-10:]],
                "profile": profile,
            },
            "intel": data["intel"],
            "decision": _decision_json(data["decision"]) if data["decision"] else None,
            "peer_reports": [_report_json(r, now) for r in reports],
            "reporters": sorted({r.sender for r in reports}),
        }
        if ctx.peering is not None:
            opinion = await asyncio.to_thread(ctx.peering.opinion, ip)
            body["network_opinion"] = {
                "score": round(opinion.score, 4),
                "confidence": round(opinion.confidence, 4),
                "support": round(opinion.support, 4),
                "trusted_reporters": opinion.trusted_reporters,
                "block": opinion.block,
                "reason": opinion.reason,
                "contributions": [
                    {
                        "reporter": c.reporter,
                        "score": c.score,
                        "confidence": c.confidence,
                        "weight": round(c.weight, 4),
                        "reputation": round(c.reputation, 4),
                        "trusted": c.trusted,
                    }
                    for c in opinion.contributions
                ],
            }
        if ask and ctx.peering is not None:
            body["peer_opinions"] = await asyncio.to_thread(ctx.peering.ask, ip)
        return web.json_response(body)

    async def peers(request: web.Request) -> web.Response:
        q = _query(request, PeersQuery)
        if ctx.peering is None:
            return web.json_response(
                {
                    "self": None,
                    "peers": [],
                    "p2p": "disabled",
                    "limit": q.limit,
                    "next_cursor": None,
                }
            )
        view = await asyncio.to_thread(ctx.peering.peers_view)
        return web.json_response(_peers_page(view, q))

    async def peer(request: web.Request) -> web.Response:
        peer_id = request.match_info["peer_id"]
        if not peer_id_ok(peer_id):
            return _error(400, f"not a peer ID: {peer_id[:64]!r}")
        if ctx.peering is None:
            return _error(404, "P2P is disabled on this agent")
        peering = ctx.peering
        now = ctx.clock()

        def gather() -> dict[str, Any] | None:
            rows = [r for r in peering.peers_view()["peers"] if r["peer_id"] == peer_id]
            reports = ctx.store.reports(sender=peer_id, limit=100_000)
            if not rows and not reports:
                return None
            if rows:
                row = rows[0]
            else:  # known only from stored reports (e.g. before a restart)
                row = {
                    "peer_id": peer_id,
                    "connected": False,
                    "addrs": [],
                    "agent": None,
                    "messages_accepted": 0,
                    "dropped": {},
                    "trust": peering.reputation_view(peer_id),
                }
            return {**row, "recent_reports": [_report_json(r, now) for r in reports[-20:]]}

        body = await asyncio.to_thread(gather)
        if body is None:
            return _error(404, f"unknown peer {peer_id}")
        return web.json_response(body)

    async def decisions(request: web.Request) -> web.Response:
        q = _query(request, DecisionsQuery)
        start = _cursor(q.cursor)
        now = ctx.clock()
        active_at = now if q.active else None

        def fetch(offset: int, n: int) -> list[Decision]:
            return ctx.store.decisions(value=q.value, active_at=active_at, limit=n, offset=offset)

        keep: Callable[[Decision], bool] | None = None
        if q.active is False or q.origin is not None or q.since is not None:

            def keep(d: Decision) -> bool:
                return (
                    (q.active is not False or not d.active(now))
                    and (q.origin is None or d.origin == q.origin)
                    and (q.since is None or d.created >= q.since)
                )

        items, nxt = await asyncio.to_thread(_scan, fetch, keep, start, q.limit)
        return web.json_response(
            {
                "items": [_decision_json(d) for d in items],
                "limit": q.limit,
                "next_cursor": _next(nxt),
                "dry_run": ctx.blocking.dry_run if ctx.blocking is not None else None,
            }
        )

    async def add_decision(request: web.Request) -> web.Response:
        req = await _body(request, DecisionRequest)
        if ctx.blocking is None:
            return _error(409, "blocking is not available in this agent")
        blocking = ctx.blocking

        def add() -> Decision:
            return blocking.add(
                req.value,
                ttl=req.ttl,
                reason=req.reason,
                now=ctx.clock(),
                dry_run=blocking.dry_run,
            )

        try:
            decision = await asyncio.to_thread(add)
        except Refused as exc:
            return _error(422, str(exc))
        except BadTarget as exc:
            return _error(400, f"body value: {exc}")
        except BlockerError as exc:
            return _error(502, f"the firewall backend failed: {exc}")
        ctx.feed.decision(decision)
        return web.json_response({"decision": _decision_json(decision)}, status=201)

    async def delete_decision(request: web.Request) -> web.Response:
        raw = request.match_info["value"]
        if ctx.blocking is None:
            return _error(409, "blocking is not available in this agent")
        blocking = ctx.blocking
        try:
            value = blocking.target(raw).value
        except (BadTarget, ValueError):
            return _error(400, f"not an IP address or CIDR range: {raw[:64]!r}")
        try:
            lifted = await asyncio.to_thread(blocking.remove, value, ctx.clock())
        except BlockerError as exc:
            return _error(502, f"the firewall backend failed: {exc}")
        if not lifted:
            return _error(404, f"no active decision for {value}")
        for d in lifted:
            ctx.feed.decision(d)
        return web.json_response({"value": value, "lifted": [_decision_json(d) for d in lifted]})

    async def intel_lookup(request: web.Request) -> web.Response:
        q = _query(request, IntelQuery)
        return web.json_response(await asyncio.to_thread(_intel_lookup, q.value.strip()))

    async def post_report(request: web.Request) -> web.Response:
        if ctx.peering is None:
            return _error(409, "P2P is disabled on this agent")
        req = await _body(request, ManualReport)
        try:
            report = IocReport(
                "ip", req.ip, req.score, req.confidence, ("manual",), 0, req.ttl, req.reason
            )
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            queued = await asyncio.to_thread(ctx.peering.share_manual, report)
        except ValueError as exc:
            return _error(422, str(exc))
        return web.json_response({"shared": queued, "ip": report.value}, status=202)

    async def stream(request: web.Request) -> web.StreamResponse:
        q = _query(request, StreamQuery)
        kinds = [k.strip() for k in q.events.split(",") if k.strip()]
        unknown = sorted(set(kinds) - set(EVENT_KINDS))
        if unknown or not kinds:
            return _error(
                400,
                f"query parameter events: unknown {', '.join(unknown) or 'empty list'} "
                f"(choose among {', '.join(EVENT_KINDS)})",
            )
        last = request.headers.get("Last-Event-ID", "").strip()
        if last and not _DIGITS.fullmatch(last):
            return _error(400, "Last-Event-ID: not an event id from this stream")
        try:
            sub = broadcaster.subscribe(kinds, int(last) if last else None)
        except TooManySubscribers as exc:
            return _error(503, str(exc))
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        try:
            await response.prepare(request)
            await response.write(b"retry: 3000\n: connected\n\n")
            while True:
                event = await broadcaster.next(sub, _KEEPALIVE_SECONDS)
                if event is None and sub.dropped:
                    break
                frame = b": keep-alive\n\n" if event is None else event.encode()
                await asyncio.wait_for(response.write(frame), _WRITE_TIMEOUT)
        except (ConnectionError, TimeoutError):
            pass  # the client went away or stopped reading
        finally:
            broadcaster.unsubscribe(sub)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response

    async def metrics(request: web.Request) -> web.Response:
        now = ctx.clock()

        def gather() -> MetricsInput:
            active: Counter[str] = Counter(
                str(d.origin) for d in ctx.store.decisions(active_at=now, limit=1_000_000)
            )
            p2p = _p2p_counts(ctx.peering.peers_view()) if ctx.peering is not None else None
            return MetricsInput(
                version=ctx.version,
                uptime=now - ctx.started_at,
                feed=ctx.feed.snapshot(),
                store_items=ctx.store.counts(),
                active_decisions=dict(active),
                now=now,
                blocking=dict(ctx.blocking.counts) if ctx.blocking is not None else None,
                dry_run=ctx.blocking.dry_run if ctx.blocking is not None else None,
                p2p=p2p,
                intel=ctx.intel.get().counts() if ctx.intel is not None else None,
                stream_subscribers=broadcaster.subscribers,
                stream_dropped=broadcaster.dropped_subscribers,
                stream_published=dict(broadcaster.published),
                requests=dict(statuses),
                rate_limited=limiter.limited,
            )

        text = render(await asyncio.to_thread(gather))
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    async def on_startup(app: web.Application) -> None:
        broadcaster.bind(asyncio.get_running_loop())

    async def on_shutdown(app: web.Application) -> None:
        broadcaster.close()

    app = web.Application(middlewares=[guard], client_max_size=_MAX_BODY)
    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/api/v1/health", health)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/alerts", alerts)
    app.router.add_get("/api/v1/evidence", evidence)
    app.router.add_get("/api/v1/ip/{ip}", ip_view)
    app.router.add_get("/api/v1/peers", peers)
    app.router.add_get("/api/v1/peers/{peer_id}", peer)
    app.router.add_get("/api/v1/decisions", decisions)
    app.router.add_post("/api/v1/decisions", add_decision)
    app.router.add_delete("/api/v1/decisions/{value:.+}", delete_decision)
    app.router.add_get("/api/v1/stream", stream)
    app.router.add_get("/api/v1/intel/lookup", intel_lookup)
    app.router.add_post("/api/v1/reports", post_report)
    app.router.add_get("/metrics", metrics)

    async def session(request: web.Request) -> web.Response:
        role = _role_name(tokens.role(request.headers.get("Authorization", "")))
        return web.json_response({"role": role, "blocking": ctx.blocking is not None})

    app.router.add_get("/api/v1/session", session)
    # The web dashboard: its static files (public: they hold no data).
    add_dashboard_routes(app)
    return app
