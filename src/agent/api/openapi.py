"""The OpenAPI 3.1 document of the local API, served at `/api/v1/openapi.json`.

Built once from the pydantic models in `agent.api.models`: the component schemas
are generated (`models_json_schema`), the query parameters come from the `*Query`
models field by field, and the paths are listed here by hand. Records that are
dataclasses (Evidence, Alert, ProfileSummary, Decision) are always serialised with
every field, so their schemas are tightened to "all properties required, no other
property" — the tests then catch a field added to a record without the document
noticing (tests/agent/api validate every real response against this document).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from agent.api import models as m

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_DATACLASS_SCHEMAS = ("Evidence", "Alert", "ProfileSummary", "Decision")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("ErrorBody"), description)


_ERRORS = {
    "400": _error("bad request: the message names the parameter or field and the problem"),
    "401": {
        **_error("missing or wrong bearer token (no data is returned)"),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    "429": {
        **_error("rate limited: retry after the given number of seconds"),
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}
_ADMIN_ERRORS = {
    "403": _error("this call changes something: it needs the admin token"),
    "413": _error("request body too large"),
}


def _params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", ()))
    out = []
    for name, field_schema in schema["properties"].items():
        prop = dict(field_schema)
        description = prop.pop("description", None)
        prop.pop("title", None)
        # `X | None = None` means "may be left out" in a query string, not "may be null".
        branches = [b for b in prop.pop("anyOf", []) if b != {"type": "null"}]
        if len(branches) == 1:
            prop.update(branches[0])
            description = description or prop.pop("description", None)
        elif branches:
            prop["anyOf"] = branches
        if prop.get("default", 0) is None:
            del prop["default"]
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            param["description"] = description
        out.append(param)
    return out


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    query: type[BaseModel] | None = None,
    path: list[dict[str, Any]] | None = None,
    body: str | None = None,
    status: str = "200",
    admin: bool = False,
    extra: dict[str, Any] | None = None,
    public: bool = False,
    tag: str = "agent",
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag]}
    params = [*(path or []), *(_params(query) if query else [])]
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    responses: dict[str, Any] = {status: ok}
    if not public:
        responses.update(_ERRORS)
    if admin:
        responses.update(_ADMIN_ERRORS)
    responses.update(extra or {})
    op["responses"] = dict(sorted(responses.items()))
    if public:
        op["security"] = []
    return op


def _components() -> dict[str, Any]:
    inputs = [(model, "serialization") for model in m.RESPONSE_MODELS]
    inputs += [(model, "validation") for model in m.REQUEST_MODELS]
    _, top = models_json_schema(inputs, ref_template=_REF)  # type: ignore[arg-type]
    schemas: dict[str, Any] = top["$defs"]
    for name in _DATACLASS_SCHEMAS:
        schema = schemas[name]
        schema["required"] = list(schema["properties"])
        schema["additionalProperties"] = False
    return schemas


@functools.cache
def _document() -> dict[str, Any]:
    ip = _path_param("ip", "IPv4 or IPv6 address")
    paths: dict[str, Any] = {
        "/api/v1/health": {
            "get": _op(
                "liveness, version and peer ID (no token)",
                _json(_ref("Health"), "up"),
                public=True,
                extra={"429": _ERRORS["429"]},
            )
        },
        "/api/v1/session": {
            "get": _op(
                "the role of the presented token (admin or read-only): what a client may offer",
                _json(_ref("Session"), "the token's role"),
            )
        },
        "/api/v1/openapi.json": {
            "get": _op("this document", _json({"type": "object"}, "OpenAPI 3.1"))
        },
        "/api/v1/alerts": {
            "get": _op(
                "alerts, oldest first unless order=desc",
                _json(_ref("AlertPage"), "a page of alerts"),
                query=m.FindingsQuery,
            )
        },
        "/api/v1/evidence": {
            "get": _op(
                "evidence, oldest first unless order=desc",
                _json(_ref("EvidencePage"), "a page of evidence"),
                query=m.FindingsQuery,
            )
        },
        "/api/v1/ip/{ip}": {
            "get": _op(
                "everything known about an address: local profile, evidence, alerts, threat "
                "intelligence, peer reports, network opinion with each peer's weight, "
                "the active decision",
                _json(_ref("IpView"), "the address's view"),
                query=m.IpQuery,
                path=[ip],
            )
        },
        "/api/v1/peers": {
            "get": _op(
                "own identity, each peer with reputation and message counters, totals",
                _json(_ref("PeersView"), "peers"),
                query=m.PeersQuery,
            )
        },
        "/api/v1/peers/{peer_id}": {
            "get": _op(
                "one peer: addresses, reputation and its history, reports, drops",
                _json(_ref("PeerDetail"), "the peer"),
                path=[_path_param("peer_id", "libp2p peer ID (base58)")],
                extra={"404": _error("unknown peer, or P2P disabled")},
            )
        },
        "/api/v1/decisions": {
            "get": _op(
                "blocking decisions, oldest first",
                _json(_ref("DecisionPage"), "a page of decisions"),
                query=m.DecisionsQuery,
            ),
            "post": _op(
                "ban an address or range now (admin)",
                _json(_ref("DecisionAdded"), "the decision (dry-run while blocking is off)"),
                body="DecisionRequest",
                status="201",
                admin=True,
                extra={
                    "409": _error("blocking is not available in this agent"),
                    "422": _error("refused: a protected address (the message says why)"),
                    "502": _error("the firewall backend failed"),
                },
            ),
        },
        "/api/v1/decisions/{value}": {
            "delete": _op(
                "lift the active bans on an address or range (admin)",
                _json(_ref("DecisionsLifted"), "the decisions lifted"),
                path=[_path_param("value", "IP address or CIDR range (URL-encode the /)")],
                admin=True,
                extra={
                    "404": _error("no active decision for this value"),
                    "409": _error("blocking is not available in this agent"),
                    "502": _error("the firewall backend failed"),
                },
            )
        },
        "/api/v1/stream": {
            "get": _op(
                "server-sent events: `alert`, `evidence`, `decision` as they happen; "
                "`Last-Event-ID` resumes; a comment line every 15 s keeps it open",
                {
                    "description": "event stream (id, event, data: the JSON record)",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                query=m.StreamQuery,
                extra={"503": _error("too many open streams")},
            )
        },
        "/api/v1/intel/lookup": {
            "get": _op(
                "which threat-intelligence feeds list a value",
                _json(_ref("IntelLookup"), "matches (empty: not listed)"),
                query=m.IntelQuery,
            )
        },
        "/api/v1/reports": {
            "post": _op(
                "share an operator's report about an IP with the mesh (admin)",
                _json(_ref("ReportAccepted"), "queued for gossip"),
                body="ManualReport",
                status="202",
                admin=True,
                extra={
                    "409": _error("P2P is disabled"),
                    "422": _error("refused by the sharing rules (private, own or peer address)"),
                },
            )
        },
        "/metrics": {
            "get": _op(
                "Prometheus text exposition (no addresses in labels)",
                {
                    "description": "metrics",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                tag="metrics",
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Starling agent local API",
            "version": "1",
            "description": "Every endpoint except /api/v1/health needs "
            '`Authorization: Bearer <token>`; errors are `{"error": …}`. See docs/api.md.',
        },
        "servers": [{"url": "http://127.0.0.1:7710"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": _components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def openapi_document(version: str | None = None) -> dict[str, Any]:
    """A copy of the document (with `info.x-agent-version` when given)."""
    doc = copy.deepcopy(_document())
    if version is not None:
        doc["info"]["x-agent-version"] = version
    return doc
