"""The web dashboard in headless Chromium, against two running agents (conftest.py).

Each page is checked against what the agent's API says (the values on screen come
from the store, not from the test), that its graph has drawn elements, that live
events reach it without a reload, that unblocking works with the admin token and
is refused with a read-only one, that no request leaves the loopback host and that
nothing is logged as a console error. Each page's screenshot is written to
docs/screenshots/ (listed in docs/dashboard.md).
"""

from __future__ import annotations

import html.parser
import http.client
import json
import math
import re
import urllib.parse
from typing import Any

import pytest

from agent.api.auth import add_read_only_token, revoke_read_only_token

ASSETS = ("index.html", "app.js", "app.css", "favicon.svg")


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)"
    m = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    assert m, (name, labels)
    return float(m.group(1))


class _Markup(html.parser.HTMLParser):
    """Collects script tags (attributes, whether they have a body) and inline handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, _ in attrs:
            if key.startswith("on") or key == "style":
                self.inline.append(f"<{tag} {key}>")
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_script = True
        if tag == "style":
            self.inline.append("<style>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"<script> body: {data[:40]!r}")


def test_static_files_are_public_with_a_strict_csp(pair: Any) -> None:
    seer = pair.seer
    url = urllib.parse.urlsplit(seer.api)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    for path in ("/", "/dashboard"):
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 302 and resp.headers["Location"] == "/dashboard/", path
    conn.close()
    bodies = {}
    for name in ASSETS:
        path = "/dashboard/" + ("" if name == "index.html" else name)
        status, headers, raw = seer.request("GET", path, token="")
        assert status == 200, (path, status)
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        bodies[name] = raw.decode()
    assert seer.request("GET", "/dashboard/index.html", token="")[0] == 200
    # no inline script, handler or style in the page; every script is a file of ours
    markup = _Markup()
    markup.feed(bodies["index.html"])
    assert markup.inline == []
    assert [s.get("src") for s in markup.scripts] == ["/dashboard/app.js"]
    # the assets name no other host (the SVG namespace is an identifier, never fetched)
    urls = set(re.findall(r"https?://[^\s'\"`)]+", "".join(bodies.values())))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    # only the packaged files are served; the session and every data call need a token
    for path in ("/dashboard/..%2Fapp.py", "/dashboard/dashboard_api.py", "/dashboard/x.js"):
        assert seer.request("GET", path, token="")[0] == 404, path
    assert seer.request("GET", "/api/v1/session", token="")[0] == 401
    assert seer.request("GET", "/api/v1/alerts", token="")[0] == 401
    status, _, raw = seer.request("GET", "/api/v1/session")
    assert status == 200 and json.loads(raw) == {"role": "admin", "blocking": True}


def test_login_refuses_a_wrong_token(pair: Any, dash: Any) -> None:
    d = dash(pair.seer)
    d.page.goto(pair.seer.api + "/")
    d.page.wait_for_selector("#login:not([hidden])")
    d.page.fill("#token", "not-the-token-0123456789")
    d.page.click("#login-form button[type=submit]")
    d.page.wait_for_selector("#login-error:not([hidden])")
    assert "refused" in d.text("#login-error")
    assert d.page.is_hidden("#nav")
    assert d.page.evaluate("sessionStorage.getItem('starling.token')") is None
    d.assert_clean(expected_console=(r"status of 401.*/api/v1/session",))


def test_overview_shows_the_store_and_draws_its_graphs(pair: Any, dash: Any, tools: Any) -> None:
    seer, scanner = pair.seer, tools["scanner"]
    d = dash(seer)
    d.open()
    metrics = seer.request("GET", "/metrics")[2].decode()
    alerts = seer.json("/api/v1/alerts?limit=1000")["items"]
    evidence = seer.json("/api/v1/evidence?limit=1000")["items"]
    assert d.text("#card-alerts .value") == f"{len(alerts):,}"
    assert d.text("#card-evidence .value") == f"{len(evidence):,}"
    assert d.text("#card-flows .value") == f"{int(_metric(metrics, 'starling_flows_total')):,}"
    overflow = 'detector="beaconing",state="first_contacts_evicted"'
    lost = int(_metric(metrics, "starling_detector_state_overflow_total", overflow))
    assert lost > 0 and "starling_lines_skipped_total{" not in metrics  # no bad line here
    assert d.text("#card-flows .sub") == f"{lost:,} detector state overflows"
    assert d.text("#card-peers .value") == "1"
    active = seer.json("/api/v1/decisions?active=true")["items"]
    assert d.text("#card-decisions .value") == str(len(active))
    # top attackers: the scanner, with its counts from the store
    row = d.page.locator(f"#attackers-table tr[data-ip='{scanner}'] td")
    cells = row.all_inner_texts()
    mine = [e for e in evidence if e["attacker"] == scanner]
    assert cells[0] == scanner
    assert cells[1] == str(sum(a["profile"] == scanner for a in alerts))
    assert cells[2] == str(len(mine))
    assert cells[6] == "blocked"
    # the evidence/alerts graph: two series and a dot per non-empty bucket
    paths = d.page.locator("#findings-chart path.series")
    assert paths.count() == 2
    assert d.page.locator("#findings-chart circle.pt").count() >= 2
    # flows/s: a stepped line from the agent's start to the first sample at least
    d.page.wait_for_selector("#flows-chart path.series")
    assert d.page.get_attribute("#flows-chart path.series", "d").count("L") >= 1
    d.screenshot("overview")
    d.assert_clean()


def test_alert_drill_down_shows_its_evidence_and_flows(pair: Any, dash: Any) -> None:
    seer = pair.seer
    alerts = seer.json("/api/v1/alerts?order=desc&limit=1000")["items"]
    d = dash(seer)
    d.open("#/alerts")
    assert d.page.locator("#alerts-table tbody tr").count() == len(alerts)
    chosen = alerts[0]
    d.page.click(f"#alerts-table tr[data-id='{chosen['id']}']")
    d.page.wait_for_selector("#alert-evidence")
    stored = {e["id"]: e for e in seer.json(f"/api/v1/evidence?ip={chosen['profile']}")["items"]}
    expected = [stored[i] for i in chosen["evidence_ids"] if i in stored]
    assert expected, "the alert's evidence is in the store"
    items = d.page.locator("#alert-evidence .evidence-item")
    assert items.count() == len(expected)
    shown = {
        items.nth(i).get_attribute("data-id"): items.nth(i).locator(".description").inner_text()
        for i in range(items.count())
    }
    assert shown == {e["id"]: e["description"] for e in expected}
    uids = d.page.locator("#alert-uids code").all_inner_texts()
    assert uids == chosen["uids"] and uids
    assert chosen["profile"] in d.text("#alert-detail")
    assert d.page.url.endswith(f"#/alerts/{chosen['id']}")
    d.screenshot("alerts")
    d.assert_clean()


def test_ip_page_has_timeline_opinion_intel_and_decision(pair: Any, dash: Any, tools: Any) -> None:
    seer, neighbour, scanner = pair.seer, pair.neighbour, tools["scanner"]
    before = seer.json(f"/api/v1/ip/{scanner}")
    evidence = seer.json(f"/api/v1/evidence?ip={scanner}&limit=1000")["items"]
    alerts = seer.json(f"/api/v1/alerts?ip={scanner}&limit=1000")["items"]
    d = dash(seer)
    d.open(f"#/ip/{scanner}")
    # the page shows the state of one moment: before or after opening (a report may be
    # confirmed meanwhile, which changes the reporter's reputation and weight)
    after = seer.json(f"/api/v1/ip/{scanner}")
    shown = float(d.page.get_attribute("#contributions meter", "value") or "nan")
    view = before if before["network_opinion"]["contributions"][0]["weight"] == shown else after
    assert d.text("#verdict") == view["local"]["verdict"] == "malicious"
    # the timeline: one mark per evidence and per alert
    assert d.page.locator("#ip-timeline circle.mark").count() == len(evidence)
    assert d.page.locator("#ip-timeline path.mark").count() == len(alerts) >= 1
    # the network opinion: the neighbour's contribution with its weight
    (contribution,) = view["network_opinion"]["contributions"]
    assert contribution["reporter"] == neighbour.peer_id
    row = d.page.locator(f"#contributions tr[data-reporter='{neighbour.peer_id}']")
    assert float(row.locator("meter").get_attribute("value")) == contribution["weight"]
    assert abs(float(row.locator("td.weight").inner_text()) - contribution["weight"]) <= 0.0005
    assert view["network_opinion"]["reason"] in d.text("#ip-opinion")
    # the current decision, with an unblock button for the admin
    assert view["decision"]["origin"] in d.text("#ip-decision")
    assert d.page.is_enabled("#ip-decision button.unblock")
    assert "Listed by no loaded feed" in d.text("#ip-intel")
    d.screenshot("ip")
    # a listed address shows its threat-intelligence match
    d.page.fill("#ip-search-input", "23.253.126.58")
    d.page.click("#ip-search button")
    d.page.locator("#ip-title", has_text="23.253.126.58").wait_for()
    match = seer.json("/api/v1/ip/23.253.126.58")["intel"]["matches"][0]
    assert match["description"] in d.text("#ip-intel") and match["feed"] in d.text("#ip-intel")
    assert d.text("#verdict") == "no local evidence"
    d.assert_clean()


def test_peers_view_draws_the_graph_coloured_by_reputation(pair: Any, dash: Any) -> None:
    seer, neighbour = pair.seer, pair.neighbour
    d = dash(seer)
    rows = [
        next(p for p in seer.json("/api/v1/peers")["peers"] if p["peer_id"] == neighbour.peer_id)
    ]
    d.open("#/peers")
    rows.append(
        next(p for p in seer.json("/api/v1/peers")["peers"] if p["peer_id"] == neighbour.peer_id)
    )
    node = d.page.locator(f"#peer-graph g[data-peer='{neighbour.peer_id}'] circle.node")
    assert node.count() == 1
    rep = float(node.get_attribute("data-reputation") or "nan")
    # the page shows one moment, before or after it opened (a confirmation may come between)
    (row,) = [r for r in rows if r["trust"]["reputation"] == rep][:1]
    hue = math.floor(max(0.0, min(1.0, rep)) * 120 + 0.5)
    assert node.get_attribute("fill") == f"hsl({hue}, 70%, 48%)"
    assert d.text("#self-id") == seer.peer_id
    cells = d.page.locator(f"#peers-table tr[data-peer='{neighbour.peer_id}'] td")
    assert cells.nth(1).inner_text() == ("yes" if row["connected"] else "no")
    assert abs(float(cells.nth(3).inner_text()) - row["trust"]["reputation"]) <= 0.0005
    assert cells.nth(6).inner_text() == str(row["trust"]["reports"])
    # trust history: one line, through every stored sample plus the current value
    line = d.page.locator("#trust-history path.series")
    assert line.count() == 1
    points = d.page.locator("#trust-history circle.pt").count()
    assert points == len(row["trust"]["history"]) + 1
    # selecting the node selects the table row
    node.click()
    d.page.wait_for_selector(f"#peers-table tr.selected[data-peer='{neighbour.peer_id}']")
    d.screenshot("peers")
    d.assert_clean()


def test_decisions_update_live_and_unblock_with_the_admin_token(
    pair: Any, dash: Any, tools: Any
) -> None:
    seer, wait_until = pair.seer, tools["wait_until"]
    d = dash(seer)
    d.open("#/decisions")
    stored = seer.json("/api/v1/decisions?limit=1000")["items"]
    assert d.page.locator("#decisions-table tbody tr").count() == len(stored)
    d.page.evaluate("window.__notReloaded = true")
    # a decision added through the API appears without a reload, from the stream
    status, _, raw = seer.request(
        "POST", "/api/v1/decisions", body={"value": "203.0.113.77", "reason": "dashboard test"}
    )
    assert status == 201
    added = json.loads(raw)["decision"]
    row = f"#decisions-table tr[data-id='{added['id']}']"
    d.page.wait_for_selector(row + "[data-state='active']", timeout=30_000)
    assert d.page.evaluate("window.__notReloaded") is True
    assert "dashboard test" in d.text(row)
    d.screenshot("decisions")
    # unblock: the button lifts it through the API
    d.page.click(row + " button.unblock")
    d.page.wait_for_selector(row + "[data-state='lifted']", timeout=30_000)
    assert "Lifted 1 decision" in d.text("#flash")

    def lifted() -> bool:
        items = seer.json("/api/v1/decisions?value=203.0.113.77")["items"]
        return [x["lifted"] is not None for x in items] == [True]

    assert wait_until(lifted, 30)
    assert seer.json("/api/v1/decisions?value=203.0.113.77&active=true")["items"] == []
    d.assert_clean()


def test_read_only_token_cannot_unblock(pair: Any, dash: Any, tools: Any) -> None:
    seer, wait_until = pair.seer, tools["wait_until"]
    token = add_read_only_token(seer.data_dir)
    try:
        assert wait_until(lambda: seer.request("GET", "/api/v1/alerts", token=token)[0] == 200, 30)
        status, _, raw = seer.request("POST", "/api/v1/decisions", body={"value": "203.0.113.88"})
        assert status == 201
        decision = json.loads(raw)["decision"]
        d = dash(seer)
        d.open("#/decisions", token=token)
        assert d.text("#role") == "read-only"
        row = f"#decisions-table tr[data-id='{decision['id']}']"
        d.page.wait_for_selector(row + "[data-state='active']")
        buttons = d.page.locator("#decisions-table button.unblock")
        assert buttons.count() >= 1
        assert all(not buttons.nth(i).is_enabled() for i in range(buttons.count()))
        assert not d.page.is_enabled("#ban-form button[type=submit]")
        # forced (the disabled attribute removed by hand): the agent answers 403, shown
        d.page.eval_on_selector(row + " button.unblock", "b => { b.disabled = false; }")
        d.page.click(row + " button.unblock")
        d.page.wait_for_selector("#flash:not([hidden])")
        message = d.text("#flash")
        assert "403" in message and "admin token" in message
        active = seer.json("/api/v1/decisions?value=203.0.113.88&active=true")["items"]
        assert [x["id"] for x in active] == [decision["id"]]
        d.assert_clean(expected_console=(r"status of 403.*/api/v1/decisions/203\.0\.113\.88",))
    finally:
        revoke_read_only_token(seer.data_dir, token[:8])
        seer.request("DELETE", "/api/v1/decisions/203.0.113.88")


def test_other_hosts_are_unreachable_from_the_page(pair: Any, dash: Any) -> None:
    """The checks above are not vacuous: the page's CSP stops a fetch to another host,
    and the test's interception records (and aborts) a navigation to one."""
    d = dash(pair.seer)
    d.page.goto(pair.seer.api + "/dashboard/")
    outcome = d.page.evaluate(
        "() => fetch('http://192.0.2.1/x').then(() => 'fetched', (e) => e.name)"
    )
    assert outcome == "TypeError"
    assert any("Content Security Policy" in m for m in d.console_errors), d.console_errors
    from playwright.sync_api import Error as PlaywrightError

    with pytest.raises(PlaywrightError, match="ERR_FAILED"):
        d.page.goto("http://192.0.2.1/")
    assert d.external == ["http://192.0.2.1/"]
