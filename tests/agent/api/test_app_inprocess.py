"""The app in-process (aiohttp test server, SQLite store, fake clocks): rate limits, an
agent without P2P or blocking, and fuzzed query strings."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from agent.api import app as api_app
from agent.api.app import ApiContext, build_app
from agent.api.models import (
    DecisionsQuery,
    FindingsQuery,
    IntelQuery,
    IpQuery,
    PeersQuery,
    StreamQuery,
)
from agent.api.openapi import openapi_document
from agent.store.sqlite import SqliteStore
from detection.model import Evidence, ThreatLevel

ADMIN = "admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
DOC = openapi_document()
REGISTRY: Registry[Any] = Registry().with_resource(
    "urn:api", Resource.from_contents(DOC, default_specification=DRAFT202012)
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _valid(template: str, method: str, status: int, body: Any) -> None:
    pointer = (
        "/paths/" + template.replace("/", "~1") + f"/{method}/responses/{status}"
        "/content/application~1json/schema"
    )
    validator = Draft202012Validator({"$ref": f"urn:api#{pointer}"}, registry=REGISTRY)
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors, (template, status, errors[:3])


def _serve(
    tmp_path: Path,
    test: Callable[[TestClient[Any, Any], ApiContext, Clock], Awaitable[None]],
    **kw: Any,
) -> None:
    async def run() -> None:
        store = SqliteStore(tmp_path / "starling.db")
        mono = Clock(100.0)
        ctx = ApiContext(token=ADMIN, store=store, version="test", monotonic=mono, **kw)
        try:
            async with TestClient(TestServer(build_app(ctx))) as client:
                await test(client, ctx, mono)
        finally:
            store.close()

    asyncio.run(run())


def test_rate_limit_per_token_and_per_address(tmp_path: Path) -> None:
    async def test(client: TestClient[Any, Any], ctx: ApiContext, mono: Clock) -> None:
        for _ in range(3):
            assert (await client.get("/api/v1/alerts", headers=AUTH)).status == 200
        limited = await client.get("/api/v1/alerts", headers=AUTH)
        assert limited.status == 429
        assert limited.headers["Retry-After"] == "1"
        body = await limited.json()
        assert "rate limit" in body["error"]
        _valid("/api/v1/alerts", "get", 429, body)
        # health is counted per address, apart from the token's bucket
        assert (await client.get("/api/v1/health")).status == 200
        mono.now += 1.0  # one token back
        assert (await client.get("/api/v1/alerts", headers=AUTH)).status == 200
        assert (await client.get("/api/v1/alerts", headers=AUTH)).status == 429
        # wrong tokens share the address's bucket: guessing is throttled too
        statuses = [
            (
                await client.get("/api/v1/alerts", headers={"Authorization": f"Bearer x{i:020d}"})
            ).status
            for i in range(4)
        ]
        assert statuses == [401, 401, 401, 429]  # the address bucket refilled to its burst
        mono.now += 10.0
        metrics = await (await client.get("/metrics", headers=AUTH)).text()
        assert "starling_api_rate_limited_total 3\n" in metrics

    _serve(tmp_path, test, rate_per_second=1.0, burst=3)


def test_an_agent_without_p2p_or_blocking(tmp_path: Path) -> None:
    async def test(client: TestClient[Any, Any], ctx: ApiContext, mono: Clock) -> None:
        ev = Evidence(
            "horizontal_port_scan",
            "45.33.32.156",
            None,
            ThreatLevel.HIGH,
            0.9,
            50.0,
            0,
            "scan",
            "local:horizontal_port_scan",
        )
        ctx.store.add_evidence([ev])
        cases: list[tuple[str, str, str, int, Any]] = [
            ("get", "/api/v1/health", "/api/v1/health", 200, None),
            ("get", "/api/v1/peers", "/api/v1/peers", 200, None),
            (
                "get",
                "/api/v1/peers/12D3KooWAXYh5Gw2JeLUGALPBbZ4sQfWn1zzW7xk8orgxb2mnkdm",
                "/api/v1/peers/{peer_id}",
                404,
                None,
            ),
            ("get", "/api/v1/ip/45.33.32.156", "/api/v1/ip/{ip}", 200, None),
            ("get", "/api/v1/decisions", "/api/v1/decisions", 200, None),
            ("post", "/api/v1/decisions", "/api/v1/decisions", 409, {"value": "45.33.32.156"}),
            ("delete", "/api/v1/decisions/45.33.32.156", "/api/v1/decisions/{value}", 409, None),
            ("post", "/api/v1/reports", "/api/v1/reports", 409, {"ip": "45.33.32.156"}),
            ("get", "/api/v1/intel/lookup?value=x.org", "/api/v1/intel/lookup", 200, None),
            ("get", "/api/v1/evidence?ip=45.33.32.156", "/api/v1/evidence", 200, None),
        ]
        bodies = {}
        for method, url, template, status, payload in cases:
            resp = await client.request(method, url, headers=AUTH, json=payload)
            assert resp.status == status, (url, resp.status, await resp.text())
            bodies[method, url] = await resp.json()
            _valid(template, method, status, bodies[method, url])
        assert bodies["get", "/api/v1/peers"]["p2p"] == "disabled"
        view = bodies["get", "/api/v1/ip/45.33.32.156"]
        assert "network_opinion" not in view and view["local"]["verdict"] == "suspicious"
        assert bodies["get", "/api/v1/intel/lookup?value=x.org"]["enabled"] is False
        assert bodies["get", "/api/v1/decisions"]["dry_run"] is None
        assert [e["id"] for e in bodies["get", "/api/v1/evidence?ip=45.33.32.156"]["items"]] == [
            ev.id
        ]
        metrics = await (await client.get("/metrics", headers=AUTH)).text()
        assert "starling_p2p_messages_in_total" not in metrics  # no P2P, no such family

    _serve(tmp_path, test)


def test_filters_the_store_cannot_apply_are_scanned_page_by_page(tmp_path: Path) -> None:
    async def test(client: TestClient[Any, Any], ctx: ApiContext, mono: Clock) -> None:
        from detection.model import Alert

        alerts = [
            Alert(
                "45.33.32.156",
                i,
                float(i),
                1.0,
                0.5,
                (f"e{i}",),
                ("port_scan" if i % 3 == 0 else "dns_abuse",),
                (),
                (),
                0.9,
                ThreatLevel.HIGH,
                f"alert {i}",
            )
            for i in range(2500)
        ]
        ctx.store.add_alerts(alerts)
        want = [a.id for a in alerts if "port_scan" in a.evidence_types]
        got, cursor = [], None
        while True:
            query = "type=port_scan&limit=300" + (f"&cursor={cursor}" if cursor else "")
            resp = await client.get(f"/api/v1/alerts?{query}", headers=AUTH)
            page = await resp.json()
            got += [a["id"] for a in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert got == want
        resp = await client.get("/api/v1/alerts?order=desc&limit=2", headers=AUTH)
        assert [a["ts"] for a in (await resp.json())["items"]] == [2499.0, 2498.0]

    _serve(tmp_path, test)


_QUERIES = (FindingsQuery, DecisionsQuery, PeersQuery, IpQuery, IntelQuery, StreamQuery)
_KEYS = st.sampled_from(
    [
        "limit",
        "cursor",
        "ip",
        "type",
        "since",
        "source",
        "order",
        "value",
        "active",
        "origin",
        "connected",
        "ask",
        "events",
        "x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(_QUERIES),
    pairs=st.lists(st.tuples(_KEYS | st.text(max_size=5), st.text(max_size=40)), max_size=6),
)
def test_any_query_string_is_a_model_or_a_clear_400(
    model: Any, pairs: list[tuple[str, str]]
) -> None:
    request = make_mocked_request("GET", "/x?" + urllib.parse.urlencode(pairs))
    error: api_app._BadRequest | None = None
    try:
        parsed = api_app._query(request, model)
    except api_app._BadRequest as exc:
        error = exc
    if error is not None:
        assert error.status == 400 and error.message and len(error.message) < 2000
        return
    assert isinstance(parsed, model)
    if isinstance(parsed, FindingsQuery | DecisionsQuery | PeersQuery):
        assert 1 <= parsed.limit <= 1000


@given(st.text(max_size=30))
def test_cursors_are_digits_or_a_400(text: str) -> None:
    if text.isascii() and text.isdigit() and len(text) <= 15:
        assert api_app._cursor(text) == int(text)
    else:
        with pytest.raises(api_app._BadRequest, match="cursor"):
            api_app._cursor(text)


def test_web_exceptions_are_json(tmp_path: Path) -> None:
    async def test(client: TestClient[Any, Any], ctx: ApiContext, mono: Clock) -> None:
        resp = await client.delete("/api/v1/alerts", headers=AUTH)
        assert resp.status == 405 and "GET" in (await resp.json())["error"]
        assert resp.headers["Allow"]

    _serve(tmp_path, test)
    assert isinstance(web.HTTPNotFound(), web.HTTPException)
