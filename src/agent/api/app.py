"""The local HTTP API: what do my peers think of IP x, and who are my peers.

Error handling
--------------
Every endpoint except `/api/v1/health` needs `Authorization: Bearer <token>`;
a missing or wrong token is a 401 with no data (compared in constant time).
Bad input is a 400 with a JSON `{"error": …}` naming the problem; unknown
fields in a request body are rejected, not ignored. Blocking work (SQLite
reads, calls into the P2P node's thread) runs in worker threads so one slow
request does not stall the others.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.peering import PeerService
from agent.store.base import Store
from detection.model import THREAT_WEIGHTS, ThreatLevel, finding_to_dict
from p2p.reports import VerifiedReport
from p2p.wire import IocReport

__all__ = ["ApiContext", "build_app"]

_LEVELS = list(ThreatLevel)


@dataclass
class ApiContext:
    token: str
    store: Store
    version: str
    peering: PeerService | None = None
    started_at: float = field(default_factory=time.time)


class ManualReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ip: str
    score: float = Field(0.8, ge=0, le=1)
    confidence: float = Field(1.0, ge=0, le=1)
    reason: str = Field("manual", max_length=200)
    ttl: int = Field(3600, gt=0, le=30 * 86400)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _parse_ip(text: str) -> str:
    ip = ipaddress.ip_address(text)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


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


def build_app(ctx: ApiContext) -> web.Application:
    expected = f"Bearer {ctx.token}".encode()

    @web.middleware
    async def auth(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path != "/api/v1/health":
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return _error(401, "missing or invalid bearer token")
        return await handler(request)

    async def health(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "version": ctx.version,
                "peer_id": ctx.peering.peer_id if ctx.peering else None,
                "uptime_seconds": round(time.time() - ctx.started_at, 3),
            }
        )

    async def peers(request: web.Request) -> web.Response:
        if ctx.peering is None:
            return web.json_response({"self": None, "peers": [], "p2p": "disabled"})
        view = await asyncio.to_thread(ctx.peering.peers_view)
        return web.json_response(view)

    async def ip_view(request: web.Request) -> web.Response:
        try:
            ip = _parse_ip(request.match_info["ip"])
        except ValueError:
            return _error(400, f"not an IP address: {request.match_info['ip'][:64]!r}")
        ask = request.query.get("ask", "") in ("1", "true", "yes")

        def gather() -> dict[str, Any]:
            evidence = [e for e in ctx.store.evidence(ip=ip, limit=1000) if e.attacker == ip]
            alerts = ctx.store.alerts(ip=ip, limit=100)
            reports = ctx.store.reports(value=ip, limit=1000)
            return {"evidence": evidence, "alerts": alerts, "reports": reports}

        data = await asyncio.to_thread(gather)
        evidence, alerts, reports = data["evidence"], data["alerts"], data["reports"]
        top = max((e.threat_level for e in evidence), key=_LEVELS.index, default=None)
        if alerts:
            verdict = "malicious"
        elif top is not None and THREAT_WEIGHTS[top] >= THREAT_WEIGHTS[ThreatLevel.MEDIUM]:
            verdict = "suspicious"
        else:
            verdict = "no local evidence" if not evidence else "benign-looking"
        now = time.time()
        body: dict[str, Any] = {
            "ip": ip,
            "local": {
                "verdict": verdict,
                "evidence": len(evidence),
                "alerts": len(alerts),
                "max_threat_level": top.value if top else None,
                "evidence_types": sorted({e.type for e in evidence}),
                "recent_evidence": [finding_to_dict(e) for e in evidence[-20:]],
            },
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

    async def post_report(request: web.Request) -> web.Response:
        if ctx.peering is None:
            return _error(409, "P2P is disabled on this agent")
        try:
            raw = await request.json()
        except ValueError:
            return _error(400, "request body is not valid JSON")
        try:
            req = ManualReport.model_validate(raw)
            report = IocReport(
                "ip", req.ip, req.score, req.confidence, ("manual",), 0, req.ttl, req.reason
            )
        except ValidationError as exc:
            fields = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            return _error(400, fields)
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            queued = await asyncio.to_thread(ctx.peering.share_manual, report)
        except ValueError as exc:
            return _error(422, str(exc))
        return web.json_response({"shared": queued, "ip": report.value}, status=202)

    async def metrics(request: web.Request) -> web.Response:
        lines = [
            "# HELP starling_up 1 while the agent runs",
            "# TYPE starling_up gauge",
            "starling_up 1",
        ]
        counts = await asyncio.to_thread(ctx.store.counts)
        lines += ["# TYPE starling_store_items gauge"]
        lines += [f'starling_store_items{{kind="{k}"}} {v}' for k, v in sorted(counts.items())]
        if ctx.peering is not None:
            view = await asyncio.to_thread(ctx.peering.peers_view)
            msgs = view["messages"]
            lines += [
                "# TYPE starling_p2p_messages_accepted_total counter",
                f"starling_p2p_messages_accepted_total {msgs['accepted']}",
                "# TYPE starling_p2p_messages_dropped_total counter",
            ]
            lines += [
                f'starling_p2p_messages_dropped_total{{reason="{r}"}} {n}'
                for r, n in sorted(msgs["dropped"].items())
            ]
            node = view["node"]
            lines += [
                "# TYPE starling_p2p_published_total counter",
                f"starling_p2p_published_total {node['published']}",
                "# TYPE starling_p2p_publish_dropped_total counter",
                f"starling_p2p_publish_dropped_total {node['publish_dropped']}",
                "# TYPE starling_p2p_peers_connected gauge",
                f"starling_p2p_peers_connected {sum(p['connected'] for p in view['peers'])}",
            ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    app = web.Application(middlewares=[auth], client_max_size=64 * 1024)
    app.router.add_get("/api/v1/health", health)
    app.router.add_get("/api/v1/peers", peers)
    app.router.add_get("/api/v1/ip/{ip}", ip_view)
    app.router.add_post("/api/v1/reports", post_report)
    app.router.add_get("/metrics", metrics)
    return app
