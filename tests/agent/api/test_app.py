"""The local API against a running two-agent mesh (fixtures in conftest.py).

Every response checked here is validated against the OpenAPI document the agent
serves; `test_every_endpoint_matches_the_openapi_document` walks every documented
operation and fails if one is left out.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from agent.api.auth import add_read_only_token, revoke_read_only_token
from agent.api.openapi import openapi_document

PEER = "12D3KooWAXYh5Gw2JeLUGALPBbZ4sQfWn1zzW7xk8orgxb2mnkdm"
ENDPOINTS_NEEDING_TOKEN = [
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/session"),
    ("GET", "/api/v1/alerts"),
    ("GET", "/api/v1/evidence"),
    ("GET", "/api/v1/ip/46.166.151.160"),
    ("GET", "/api/v1/peers"),
    ("GET", f"/api/v1/peers/{PEER}"),
    ("GET", "/api/v1/decisions"),
    ("POST", "/api/v1/decisions"),
    ("DELETE", "/api/v1/decisions/203.0.113.7"),
    ("GET", "/api/v1/stream"),
    ("GET", "/api/v1/intel/lookup?value=23.253.126.58"),
    ("POST", "/api/v1/reports"),
    ("GET", "/metrics"),
]


def test_served_document_is_the_built_one(openapi: Any) -> None:
    served = dict(openapi.doc)
    info = dict(served["info"])
    assert info.pop("x-agent-version") == "0.1.0"
    built = openapi_document()
    assert {**served, "info": info} == built
    assert served["openapi"] == "3.1.0"
    assert {p for p, _ in openapi.operations()} == set(built["paths"])
    assert len(ENDPOINTS_NEEDING_TOKEN) + 1 == len(openapi.operations())  # + health


def test_missing_or_wrong_token_is_401_without_data(mesh: Any, openapi: Any) -> None:
    seer = mesh.seer
    for method, path in ENDPOINTS_NEEDING_TOKEN:
        body = {"value": "203.0.113.7"} if method == "POST" else None
        for token in ("", "wrong-token-0123456789abcdef", seer.token + "x", seer.token[:-1]):
            reply = seer.request(method, path, token=token, body=body)
            assert reply.status == 401, (method, path, token, reply.status)
            assert reply.json == {"error": "missing or invalid bearer token"}
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    # another scheme carrying the right token is still not a bearer token
    basic = {"Authorization": f"Basic {seer.token}"}
    assert seer.get("/api/v1/alerts", token="", headers=basic).status == 401
    openapi.check("GET", "/api/v1/alerts", seer.get("/api/v1/alerts", token="x" * 20))
    # health is open
    health = openapi.check("GET", "/api/v1/health", seer.get("/api/v1/health", token=""))
    assert health["status"] == "ok" and health["peer_id"] == seer.peer_id


def test_read_only_token_reads_but_cannot_change(mesh: Any, openapi: Any, agent_tools: Any) -> None:
    seer, wait_until = mesh.seer, agent_tools["wait_until"]
    token = add_read_only_token(seer.data_dir)
    assert (seer.data_dir / "api-tokens-readonly").stat().st_mode & 0o777 == 0o600
    # the running agent picks the new token up without a restart
    assert wait_until(lambda: seer.get("/api/v1/alerts", token=token).status == 200, 30)
    page = openapi.check("GET", "/api/v1/alerts", seer.get("/api/v1/alerts", token=token))
    assert page["items"]
    who = openapi.check("GET", "/api/v1/session", seer.get("/api/v1/session", token=token))
    assert who == {"role": "read-only", "blocking": True}
    for method, path, body in (
        ("POST", "/api/v1/decisions", {"value": "203.0.113.50"}),
        ("DELETE", "/api/v1/decisions/203.0.113.50", None),
        ("POST", "/api/v1/reports", {"ip": "203.0.113.50"}),
    ):
        reply = seer.request(method, path, token=token, body=body)
        assert reply.status == 403, (method, path, reply.status, reply.raw)
        assert "admin token" in reply.json["error"]
        template = "/api/v1/decisions/{value}" if method == "DELETE" else path
        openapi.check(method, template, reply)
    # nothing was banned by the refused call
    active = seer.get("/api/v1/decisions?value=203.0.113.50").json["items"]
    assert active == []
    # revoked: refused again, without a restart
    assert revoke_read_only_token(seer.data_dir, token[:8]) == 1
    assert wait_until(lambda: seer.get("/api/v1/alerts", token=token).status == 401, 30)


def test_every_endpoint_matches_the_openapi_document(mesh: Any, openapi: Any, scanner: str) -> None:
    seer, neighbour = mesh.seer, mesh.neighbour
    check = openapi.check
    openapi.checked.clear()  # this test alone must cover every operation
    check("GET", "/api/v1/health", seer.get("/api/v1/health"))
    check("GET", "/api/v1/openapi.json", seer.get("/api/v1/openapi.json"))
    session = check("GET", "/api/v1/session", seer.get("/api/v1/session"))
    assert session == {"role": "admin", "blocking": True}

    # alerts and evidence, with each filter
    alerts = check("GET", "/api/v1/alerts", seer.get("/api/v1/alerts"))["items"]
    assert alerts and all(a["profile"] == scanner for a in alerts)
    for query in (
        f"ip={scanner}",
        "type=horizontal_port_scan",
        "since=0",
        "source=local:",
        "order=desc&limit=1",
        "since=1970-01-01T00:00:00",
    ):
        page = check("GET", "/api/v1/alerts", seer.get(f"/api/v1/alerts?{query}"))
        assert page["items"], query
    assert seer.get("/api/v1/alerts?type=no_such_type").json["items"] == []
    assert seer.get("/api/v1/alerts?source=peer:").json["items"] == []
    assert seer.get("/api/v1/alerts?ip=192.0.2.1").json["items"] == []

    evidence = check("GET", "/api/v1/evidence", seer.get("/api/v1/evidence"))["items"]
    scans = [e for e in evidence if e["type"] == "horizontal_port_scan"]
    assert len(scans) >= 2 and all(e["attacker"] == scanner for e in scans)
    typed = seer.get("/api/v1/evidence?type=horizontal_port_scan&source=local:").json["items"]
    assert [e["id"] for e in typed] == [e["id"] for e in scans]
    newest = check("GET", "/api/v1/evidence", seer.get("/api/v1/evidence?order=desc&limit=1"))
    assert newest["items"][0]["ts"] == max(e["ts"] for e in evidence)
    later = seer.get(f"/api/v1/evidence?since={max(e['ts'] for e in evidence)}").json["items"]
    assert later and all(e["ts"] == max(x["ts"] for x in evidence) for e in later)
    # pagination: pages of one concatenate to the whole list
    ids, cursor = [], None
    while True:
        query = "limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = check("GET", "/api/v1/evidence", seer.get(f"/api/v1/evidence?{query}"))
        ids += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids == [e["id"] for e in evidence]

    # one address: local profile, evidence, intel, decision (seer); peer reports and the
    # network opinion with each contributing peer and its weight (neighbour)
    own = check("GET", "/api/v1/ip/{ip}", seer.get(f"/api/v1/ip/{scanner}"))
    assert own["local"]["verdict"] == "malicious" and own["local"]["alerts"] >= 1
    assert own["decision"]["value"] == scanner and own["decision"]["origin"] == "local-alert"
    assert own["intel"] == {"value": scanner, "enabled": True, "matches": []}
    theirs = check("GET", "/api/v1/ip/{ip}", neighbour.get(f"/api/v1/ip/{scanner}"))
    assert theirs["reporters"] == [seer.peer_id]
    (contribution,) = theirs["network_opinion"]["contributions"]
    assert contribution["reporter"] == seer.peer_id and 0 <= contribution["weight"] <= 1
    asked = check("GET", "/api/v1/ip/{ip}", neighbour.get(f"/api/v1/ip/{scanner}?ask=1"))
    (opinion,) = [o for o in asked["peer_opinions"] if o["peer"] == seer.peer_id]
    assert opinion["evidence"] >= 2
    listed = check("GET", "/api/v1/ip/{ip}", seer.get("/api/v1/ip/23.253.126.58"))
    assert listed["intel"]["matches"][0]["description"] == "Simda CC"
    assert listed["local"]["verdict"] == "no local evidence" and listed["decision"] is None

    # peers
    peers = check("GET", "/api/v1/peers", neighbour.get("/api/v1/peers"))
    assert peers["p2p"] == "enabled" and peers["self"]["peer_id"] == neighbour.peer_id
    row = next(p for p in peers["peers"] if p["peer_id"] == seer.peer_id)
    assert row["connected"] and row["addrs"] and row["trust"]["reports"] >= 1
    # an agent is not its own peer, though its gossip comes back to it
    for agent in (seer, neighbour):
        listed = {p["peer_id"] for p in agent.get("/api/v1/peers").json["peers"]}
        assert agent.peer_id not in listed
    only = check("GET", "/api/v1/peers", neighbour.get("/api/v1/peers?connected=true&limit=1"))
    assert len(only["peers"]) == 1 and only["peers"][0]["connected"]
    detail = check("GET", "/api/v1/peers/{peer_id}", neighbour.get(f"/api/v1/peers/{seer.peer_id}"))
    assert detail["peer_id"] == seer.peer_id and detail["recent_reports"]
    assert detail["recent_reports"][0]["reporter"] == seer.peer_id
    assert isinstance(detail["trust"]["history"], list)
    unknown = check("GET", "/api/v1/peers/{peer_id}", neighbour.get(f"/api/v1/peers/{PEER}"))
    assert "unknown peer" in unknown["error"]
    bad = check("GET", "/api/v1/peers/{peer_id}", neighbour.get("/api/v1/peers/not-a-peer!"))
    assert "not a peer ID" in bad["error"]

    # decisions: the automatic one, then add / list / delete
    auto = check("GET", "/api/v1/decisions", seer.get("/api/v1/decisions?origin=local-alert"))
    assert auto["dry_run"] is True and auto["items"][0]["value"] == scanner
    added = check(
        "POST",
        "/api/v1/decisions",
        seer.request("POST", "/api/v1/decisions", body={"value": "198.51.100.0/24", "ttl": 600}),
    )
    assert added["decision"]["scope"] == "range" and added["decision"]["origin"] == "manual"
    lifted = check(
        "DELETE",
        "/api/v1/decisions/{value}",
        seer.request("DELETE", "/api/v1/decisions/198.51.100.0/24"),
    )
    assert [d["id"] for d in lifted["lifted"]] == [added["decision"]["id"]]

    # intel, reports, stream, metrics
    hit = check(
        "GET", "/api/v1/intel/lookup", seer.get("/api/v1/intel/lookup?value=bncv00.no-ip.info")
    )
    assert hit["matches"][0]["threat_level"] == "critical"
    miss = check("GET", "/api/v1/intel/lookup", seer.get("/api/v1/intel/lookup?value=example.org"))
    assert miss == {"value": "example.org", "enabled": True, "matches": []}
    shared = check(
        "POST",
        "/api/v1/reports",
        seer.request("POST", "/api/v1/reports", body={"ip": "45.33.32.156"}),
    )
    assert shared["ip"] == "45.33.32.156"
    refused = check(
        "POST",
        "/api/v1/reports",
        seer.request("POST", "/api/v1/reports", body={"ip": "192.168.1.10"}),
    )
    assert "not a globally routable" in refused["error"]
    assert mesh.stream.status == 200 and mesh.stream.content_type == "text/event-stream"
    openapi.checked.add(("/api/v1/stream", "get"))  # a stream: checked in its own test
    text = check("GET", "/metrics", seer.get("/metrics"))
    assert text.startswith("# HELP starling_up")

    missing = openapi.operations() - openapi.checked
    assert not missing, f"operations never checked against the document: {sorted(missing)}"


def test_bad_inputs_are_4xx_with_a_message(mesh: Any, openapi: Any) -> None:
    seer, check = mesh.seer, openapi.check
    cases: list[tuple[str, str, str, Any, int, str]] = [
        # method, path, template, body, status, the message must contain
        ("GET", "/api/v1/ip/not-an-ip", "/api/v1/ip/{ip}", None, 400, "not an IP address"),
        ("GET", "/api/v1/ip/999.1.1.1", "/api/v1/ip/{ip}", None, 400, "not an IP address"),
        ("GET", "/api/v1/alerts?ip=300.1.2.3", "/api/v1/alerts", None, 400, "ip: not an IP"),
        ("GET", "/api/v1/alerts?limit=100000", "/api/v1/alerts", None, 400, "limit"),
        ("GET", "/api/v1/evidence?limit=1001", "/api/v1/evidence", None, 400, "1000"),
        ("GET", "/api/v1/evidence?limit=0", "/api/v1/evidence", None, 400, "limit"),
        ("GET", "/api/v1/evidence?limit=ten", "/api/v1/evidence", None, 400, "limit"),
        ("GET", "/api/v1/evidence?colour=red", "/api/v1/evidence", None, 400, "colour: unknown"),
        ("GET", "/api/v1/evidence?since=yesterday", "/api/v1/evidence", None, 400, "since"),
        ("GET", "/api/v1/evidence?since=nan", "/api/v1/evidence", None, 400, "since"),
        ("GET", "/api/v1/evidence?cursor=abc", "/api/v1/evidence", None, 400, "cursor"),
        ("GET", "/api/v1/evidence?order=sideways", "/api/v1/evidence", None, 400, "order"),
        ("GET", "/api/v1/evidence?type=a%20b", "/api/v1/evidence", None, 400, "type"),
        (
            "GET",
            "/api/v1/evidence?ip=1.2.3.4&ip=5.6.7.8",
            "/api/v1/evidence",
            None,
            400,
            "more than once",
        ),
        ("GET", "/api/v1/decisions?value=nope", "/api/v1/decisions", None, 400, "value"),
        ("GET", "/api/v1/decisions?origin=aliens", "/api/v1/decisions", None, 400, "origin"),
        ("GET", "/api/v1/peers?connected=maybe", "/api/v1/peers", None, 400, "connected"),
        ("GET", "/api/v1/ip/1.2.3.4?ask=perhaps", "/api/v1/ip/{ip}", None, 400, "ask"),
        ("GET", "/api/v1/intel/lookup", "/api/v1/intel/lookup", None, 400, "value"),
        ("GET", "/api/v1/stream?events=gossip", "/api/v1/stream", None, 400, "gossip"),
        ("POST", "/api/v1/decisions", "/api/v1/decisions", b"{not json", 400, "JSON"),
        ("POST", "/api/v1/decisions", "/api/v1/decisions", b"[1, 2]", 400, "body"),
        (
            "POST",
            "/api/v1/decisions",
            "/api/v1/decisions",
            {"value": "1.2.3.4", "colour": 1},
            400,
            "colour: unknown field",
        ),
        (
            "POST",
            "/api/v1/decisions",
            "/api/v1/decisions",
            {"value": "banana"},
            400,
            "not an IP address",
        ),
        (
            "POST",
            "/api/v1/decisions",
            "/api/v1/decisions",
            {"value": "1.2.3.4", "ttl": -5},
            400,
            "ttl",
        ),
        ("POST", "/api/v1/decisions", "/api/v1/decisions", {}, 400, "value"),
        ("POST", "/api/v1/decisions", "/api/v1/decisions", {"value": "127.0.0.1"}, 422, "loopback"),
        ("POST", "/api/v1/decisions", "/api/v1/decisions", b"x" * 70_000, 413, "too large"),
        (
            "DELETE",
            "/api/v1/decisions/banana",
            "/api/v1/decisions/{value}",
            None,
            400,
            "not an IP address",
        ),
        (
            "DELETE",
            "/api/v1/decisions/192.0.2.99",
            "/api/v1/decisions/{value}",
            None,
            404,
            "no active decision",
        ),
        ("POST", "/api/v1/reports", "/api/v1/reports", b"{not json", 400, "JSON"),
        ("POST", "/api/v1/reports", "/api/v1/reports", {"ip": "1.2.3.4", "score": 7}, 400, "score"),
    ]
    for method, path, template, body, status, fragment in cases:
        reply = seer.request(method, path, body=body)
        assert reply.status == status, (method, path, reply.status, reply.raw[:200])
        error = check(method, template, reply)["error"]
        assert fragment in error, (path, error)
        assert set(reply.json) == {"error"}
    # not documented, still JSON with a message
    for method, path, status, fragment in (
        ("GET", "/api/v1/nowhere", 404, "no such endpoint"),
        ("PUT", "/api/v1/alerts", 405, "not allowed"),
    ):
        reply = seer.request(method, path)
        assert reply.status == status and fragment in reply.json["error"]


def test_stream_delivers_alerts_evidence_and_decisions(
    mesh: Any, openapi: Any, agent_tools: Any, scanner: str
) -> None:
    seer, stream, wait_until = mesh.seer, mesh.stream, agent_tools["wait_until"]
    assert stream.content_type == "text/event-stream"
    stored = {a["id"] for a in seer.get("/api/v1/alerts").json["items"]}
    streamed = {e["data"]["id"] for e in stream.of("alert")}
    assert streamed and streamed <= stored
    assert all(e["data"]["profile"] == scanner for e in stream.of("alert"))
    # events carry the same records as the API, validated by the same schemas
    alert_schema = {"$ref": "urn:starling-api#/components/schemas/Alert"}
    evidence_schema = {"$ref": "urn:starling-api#/components/schemas/Evidence"}
    decision_schema = {"$ref": "urn:starling-api#/components/schemas/Decision"}
    from jsonschema import Draft202012Validator

    def valid(schema: dict[str, str], data: Any) -> bool:
        return Draft202012Validator(schema, registry=openapi.registry).is_valid(data)

    assert all(valid(alert_schema, e["data"]) for e in stream.of("alert"))
    assert stream.of("evidence") and all(
        valid(evidence_schema, e["data"]) for e in stream.of("evidence")
    )
    automatic = [e["data"] for e in stream.of("decision") if e["data"]["origin"] == "local-alert"]
    assert automatic and automatic[0]["value"] == scanner and valid(decision_schema, automatic[0])
    ids = [int(e["id"]) for e in stream.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    # a manual decision and its lifting reach a stream filtered to decisions only
    only = agent_tools["stream"](seer, "?events=decision")
    try:
        assert (
            seer.request("POST", "/api/v1/decisions", body={"value": "203.0.113.66"}).status == 201
        )
        assert seer.request("DELETE", "/api/v1/decisions/203.0.113.66").status == 200

        def both() -> bool:
            mine = [e["data"] for e in only.of("decision") if e["data"]["value"] == "203.0.113.66"]
            return len(mine) == 2

        assert wait_until(both, 30), only.events
        assert {e["event"] for e in only.events} == {"decision"}
        added, lifted = [
            e["data"] for e in only.of("decision") if e["data"]["value"] == "203.0.113.66"
        ]
        assert added["lifted"] is None and lifted["lifted"] is not None
    finally:
        only.close()

    # Last-Event-ID: a reconnecting client gets what it missed, from the replay ring
    first = stream.events[0]
    resumed = agent_tools["stream"](seer, "", last_event_id=first["id"])
    try:
        expected = [e["id"] for e in stream.events[1:]]
        assert wait_until(
            lambda: [e["id"] for e in resumed.events][: len(expected)] == expected, 10
        )
    finally:
        resumed.close()


def _samples(
    text: str,
) -> tuple[dict[str, str], dict[str, str], list[tuple[str, dict[str, str], float]]]:
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    samples = []
    sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
    label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            types[name] = kind
        else:
            m = sample.match(line)
            assert m, f"not a sample line: {line!r}"
            labels = dict(label.findall(m.group(2) or ""))
            samples.append((m.group(1), labels, float(m.group(3))))
    return helps, types, samples


def test_metrics_are_prometheus_text_without_addresses(mesh: Any, scanner: str) -> None:
    for agent in (mesh.seer, mesh.neighbour):
        reply = agent.get("/metrics")
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = reply.raw.decode()
        helps, types, samples = _samples(text)
        assert set(helps) == set(types)
        assert all(kind in ("counter", "gauge") for kind in types.values())
        for name, labels, _ in samples:
            assert name in types, name
            assert name.startswith("starling_")
            for value in labels.values():
                try:
                    ipaddress.ip_address(value)
                except ValueError:
                    continue
                raise AssertionError(f"{name} has an IP address as a label value: {value}")
        assert scanner not in text and mesh.seer.peer_id not in text
        assert all(types[n] != "counter" or n.endswith("_total") for n in types)
    _, _, samples = _samples(mesh.seer.get("/metrics").raw.decode())
    value = {(n, tuple(sorted(lab.items()))): v for n, lab, v in samples}
    assert value[("starling_evidence_total", (("type", "horizontal_port_scan"),))] >= 2
    assert value[("starling_alerts_total", ())] >= 1
    assert value[("starling_decisions_total", (("origin", "local-alert"),))] >= 1
    assert value[("starling_decisions_active", (("origin", "local-alert"),))] >= 1
    assert value[("starling_peers", (("state", "connected"),))] >= 1
    assert value[("starling_p2p_messages_out_total", ())] >= 1
    assert value[("starling_stream_subscribers", ())] >= 1
    assert value[("starling_store_items", (("kind", "alerts"),))] >= 1
    assert ("starling_p2p_messages_in_total", ()) in value
    assert value[("starling_api_requests_total", (("code", "2xx"),))] >= 1
    overflow = (("detector", "beaconing"), ("state", "first_contacts_evicted"))
    assert value[("starling_detector_state_overflow_total", overflow)] >= 1


def test_lines_the_agent_skips_are_counted_live_in_metrics(mesh: Any, agent_tools: Any) -> None:
    wait_until = agent_tools["wait_until"]

    def skipped() -> float:
        _, _, samples = _samples(mesh.seer.get("/metrics").raw.decode())
        return sum(v for n, _, v in samples if n == "starling_lines_skipped_total")

    before = skipped()
    with (mesh.zeek_dir / "conn.log").open("a") as fh:
        fh.write("1700000000.0\tCbad\tnot-an-address\n")  # a truncated, malformed line
    assert wait_until(lambda: skipped() == before + 1, 30), mesh.seer.output[-20:]
