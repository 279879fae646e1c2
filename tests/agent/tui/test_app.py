"""`starling tui` driven by textual's pilot against real running agents (`tui_mesh`).

Every assertion reads a widget (a table's cells, a label's text) and compares it
with what the agent's API answers at the same time, so the tests follow the data,
not hard-coded values.
"""

from __future__ import annotations

import asyncio
import signal
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Static

from agent.tui.app import StarlingTui

SIZE = (170, 50)


async def until(pilot: Pilot[Any], check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Let the app run until `check()` is truthy (fails after `timeout` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        result = check()
        if result:
            return result
        await pilot.pause(0.05)
    result = check()
    assert result, f"timed out waiting for {what}"
    return result


def text(app: StarlingTui, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def rows(app: StarlingTui, selector: str) -> list[list[str]]:
    table = app.query_one(selector, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def column(app: StarlingTui, selector: str, name: str) -> list[str]:
    table = app.query_one(selector, DataTable)
    index = [str(c.label) for c in table.columns.values()].index(name)
    return [r[index] for r in rows(app, selector)]


async def loaded(pilot: Pilot[Any], app: StarlingTui) -> None:
    """Live on the stream, first refresh done and drawn, the token's role known."""
    await until(
        pilot,
        lambda: (
            app.link == "live"
            and app.last_refresh is not None
            and app.role is not None
            and "overview" not in app.pending_views
        ),
        "the first load",
    )


def run(coro: Any) -> None:
    asyncio.run(coro)


# -- overview ----------------------------------------------------------------------------


def test_overview_shows_the_agents_counts_sparkline_and_top_attacker(tui_mesh: Any) -> None:
    seer = tui_mesh.seer

    async def go() -> None:
        app = StarlingTui(seer.api, seer.token, refresh=3600)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            evidence = seer.get("/api/v1/evidence?limit=1000")["items"]
            alerts = seer.get("/api/v1/alerts?limit=1000")["items"]
            counts = text(app, "#counts")
            assert f"evidence {len(evidence)}" in counts
            assert f"alerts {len(alerts)}" in counts
            assert "peers 1/1 connected" in counts  # the neighbour; the agent itself not counted
            metrics = await asyncio.to_thread(seer.http, "GET", "/metrics")
            lost = [
                line.rsplit(" ", 1)[1]
                for line in metrics[2].decode().splitlines()
                if line.startswith("starling_detector_state_overflow_total{")
            ]
            assert lost and f"detector state overflow {sum(float(n) for n in lost):.0f}" in counts
            assert "skipped lines 0" in counts and "detector errors 0" in counts
            spark = app.query_one("#spark-evidence").data  # type: ignore[attr-defined]
            assert sum(spark) == len(evidence) and len(spark) == 60
            assert f"{len(evidence)} in all" in str(app.query_one("#spark-evidence-label").render())
            top = rows(app, "#top-table")
            assert top[0][0] == tui_mesh.scanner == alerts[0]["profile"]
            assert top[0][1:3] == [str(len(alerts)), str(len(evidence))]
            assert "horizontal_port_scan" in top[0][4]
            table = app.query_one("#top-table", DataTable)
            widths = {str(c.label): c.get_render_width(table) for c in table.columns.values()}
            assert widths["attacker"] > len(top[0][0])  # shown whole, not clipped
            assert "● live" in text(app, "#status") and "token admin" in text(app, "#status")

    run(go())


# -- alerts and drill-down ---------------------------------------------------------------


def test_alerts_table_and_drill_down_to_the_evidence_and_flows(tui_mesh: Any) -> None:
    seer = tui_mesh.seer

    async def go() -> None:
        app = StarlingTui(seer.api, seer.token, refresh=3600)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            await pilot.press("2")
            assert app.active_tab == "alerts"
            assert app.focused is app.query_one("#alerts-table")
            alert = seer.get("/api/v1/alerts?order=desc&limit=1")["items"][0]
            assert column(app, "#alerts-table", "profile")[0] == alert["profile"]
            assert column(app, "#alerts-table", "evidence types")[0] == ", ".join(
                alert["evidence_types"]
            )
            await pilot.press("enter")
            await until(
                pilot, lambda: app.query_one("#alert-evidence", DataTable).row_count, "drill"
            )
            wanted = {
                e["id"]: e
                for e in seer.get("/api/v1/evidence?limit=1000")["items"]
                if e["id"] in alert["evidence_ids"]
            }
            assert len(wanted) == len(alert["evidence_ids"])
            assert [
                str(k.value) for k in app.query_one("#alert-evidence", DataTable).rows
            ] == sorted(wanted, key=lambda i: wanted[i]["ts"])
            assert set(column(app, "#alert-evidence", "type")) == {
                e["type"] for e in wanted.values()
            }
            detail = text(app, "#alert-detail")
            assert alert["id"] in detail and all(u in detail for u in alert["uids"])
            # i: from the selected alert to its address
            await pilot.press("i")
            await until(pilot, lambda: app.ip_view is not None, "the IP view")
            assert app.active_tab == "ip" and app.ip_shown == alert["profile"]

    run(go())


# -- IP view ---------------------------------------------------------------------------


def test_ip_view_timeline_decision_and_each_peers_weight(tui_mesh: Any) -> None:
    seer, neighbour, ip = tui_mesh.seer, tui_mesh.neighbour, tui_mesh.scanner

    async def go() -> None:
        # On the seer: the local story (evidence timeline, verdict, its own decision).
        app = StarlingTui(seer.api, seer.token, refresh=3600)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            await pilot.press("3", "slash")
            assert app.focused is app.query_one("#ip-input")
            await pilot.press(*ip, "enter")
            await until(pilot, lambda: app.ip_view is not None, "the IP view")
            await until(pilot, lambda: app.query_one("#ip-evidence", DataTable).row_count, "rows")
            view = seer.get(f"/api/v1/ip/{ip}")
            summary = text(app, "#ip-summary")
            assert summary.startswith(f"{ip}  {view['local']['verdict']}")
            assert "threat intel: not listed" in summary
            assert (
                "decision: blocked (dry-run)" in summary and view["decision"]["origin"] in summary
            )
            assert set(column(app, "#ip-evidence", "type")) == set(view["local"]["evidence_types"])
            assert len(rows(app, "#ip-evidence")) == len(view["local"]["recent_evidence"])
            # Escape leaves the input, so digits switch views again
            await pilot.press("slash", "escape", "4")
            assert app.active_tab == "peers"

        # On the neighbour: the seer's report, its reputation and weight in the opinion.
        app = StarlingTui(neighbour.api, neighbour.token, refresh=3600)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            app.open_ip(ip)
            await until(pilot, lambda: app.query_one("#ip-contrib", DataTable).row_count, "opinion")
            opinion = neighbour.get(f"/api/v1/ip/{ip}")["network_opinion"]
            contrib = {c["reporter"]: c for c in opinion["contributions"]}
            table = rows(app, "#ip-contrib")
            assert [r[0] for r in table] == list(contrib) and seer.peer_id in contrib
            mine = next(r for r in table if r[0] == seer.peer_id)
            assert mine[3] == f"{contrib[seer.peer_id]['reputation']:.2f}"
            assert mine[4] == f"{contrib[seer.peer_id]['weight']:.4f}"
            assert opinion["reason"] in text(app, "#ip-opinion")
            assert "peer reports: 1 from 1 peers" in text(app, "#ip-summary")

    run(go())


# -- peers -------------------------------------------------------------------------------


def test_peers_table_shows_each_peers_reputation_reports_and_drops(tui_mesh: Any) -> None:
    seer, neighbour = tui_mesh.seer, tui_mesh.neighbour

    async def go() -> None:
        app = StarlingTui(neighbour.api, neighbour.token, refresh=3600)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            await pilot.press("4")
            assert app.active_tab == "peers"
            view = neighbour.get("/api/v1/peers")
            api_row = next(p for p in view["peers"] if p["peer_id"] == seer.peer_id)
            table = {r[0]: r for r in rows(app, "#peers-table")}
            assert neighbour.peer_id not in table  # the agent itself is not its own peer
            row = table[seer.peer_id]
            t = api_row["trust"]
            assert row[1] == "yes"
            assert row[3] == f"{t['reputation']:.2f}"
            assert row[6:10] == [
                str(t[k]) for k in ("reports", "confirmed", "contradicted", "faults")
            ]
            assert row[10] == str(sum(api_row["dropped"].values()))
            assert t["reports"] >= 1  # the seer's report about the scanner
            assert neighbour.peer_id in text(app, "#peers-summary")
            # Enter: the peer's detail (its last reports)
            await pilot.press("enter")
            await until(pilot, lambda: seer.peer_id in text(app, "#peer-detail"), "peer detail")
            assert "horizontal_port_scan" in text(app, "#peer-detail")

    run(go())


# -- decisions: live, unblock, read-only -------------------------------------------------


def _active(agent: Any, value: str) -> list[dict[str, Any]]:
    q = urllib.parse.urlencode({"value": value, "active": "true"})
    return agent.get(f"/api/v1/decisions?{q}")["items"]


def test_a_decision_added_through_the_api_appears_live_and_unblock_lifts_it(
    tui_mesh: Any,
) -> None:
    seer = tui_mesh.seer
    value = "203.0.113.77"

    async def go() -> None:
        # refresh=3600: after the first load only the event stream can bring news
        app = StarlingTui(seer.api, seer.token, refresh=3600)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            assert app.role == "admin"
            assert not app.query_one("#unblock", Button).disabled
            await pilot.press("5")
            assert value not in column(app, "#decisions-table", "value")
            status, body = await asyncio.to_thread(
                seer.call, "POST", "/api/v1/decisions", body={"value": value, "ttl": 600}
            )
            assert status == 201, body
            await until(
                pilot, lambda: value in column(app, "#decisions-table", "value"), "the live row"
            )
            table = app.query_one("#decisions-table", DataTable)
            index = table.get_row_index(body["decision"]["id"])
            assert rows(app, "#decisions-table")[index][4].startswith("active")
            while table.cursor_row != index:  # arrow keys to the new ban
                await pilot.press("down" if table.cursor_row < index else "up")
            await pilot.press("u")
            await until(pilot, lambda: app.screen.id != "_default", "the confirmation")
            await pilot.press("y")
            await until(pilot, lambda: not _active(seer, value), "the ban lifted in the agent")
            await until(
                pilot,
                lambda: rows(app, "#decisions-table")[table.get_row_index(body["decision"]["id"])][
                    4
                ].startswith("lifted"),
                "the lifted row",
            )
            assert app.message_text == f"lifted 1 ban(s) on {value}"

    run(go())


def test_unblock_is_disabled_and_refused_with_a_read_only_token(tui_mesh: Any) -> None:
    seer = tui_mesh.seer
    value = "203.0.113.78"
    status, body = seer.call("POST", "/api/v1/decisions", body={"value": value, "ttl": 600})
    assert status == 201, body

    async def go() -> None:
        app = StarlingTui(seer.api, seer.read_only, refresh=3600)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            assert app.role == "read-only"
            await pilot.press("5")
            assert app.query_one("#unblock", Button).disabled
            assert "unblock disabled: this token is read-only" in text(app, "#decisions-mode")
            table = app.query_one("#decisions-table", DataTable)
            table.move_cursor(row=table.get_row_index(body["decision"]["id"]))
            await pilot.press("u")
            await pilot.pause(0.2)
            assert app.screen.id == "_default"  # no confirmation: nothing to confirm
            assert "needs the admin token: this token is read-only" in app.message_text
            assert "read-only" in text(app, "#message")
            assert "token read-only" in text(app, "#status")
            # a read-only token still follows the stream
            status2, body2 = await asyncio.to_thread(
                seer.call, "POST", "/api/v1/decisions", body={"value": "203.0.113.79"}
            )
            assert status2 == 201, body2
            await until(
                pilot,
                lambda: "203.0.113.79" in column(app, "#decisions-table", "value"),
                "the live row",
            )
        assert _active(seer, value)  # still banned

    run(go())


# -- failures ----------------------------------------------------------------------------


def test_a_bad_token_shows_a_clear_message(tui_mesh: Any) -> None:
    seer = tui_mesh.seer

    async def go() -> None:
        app = StarlingTui(seer.api, "not-the-token-0123456789", refresh=3600)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.link == "bad-token", "the token error")
            status = text(app, "#status")
            assert "the agent refused the API token" in status and "401" in status
            assert "$STARLING_API_TOKEN" in status
            assert app.query_one("#alerts-table", DataTable).row_count == 0
            await pilot.press("2", "3", "4")  # still usable
            assert app.active_tab == "peers" and app.is_running

    run(go())


def test_the_agent_going_away_shows_disconnected_then_reconnects(
    tmp_path: Any, tui_agent_tools: dict[str, Any]
) -> None:
    start, stop, wait = (
        tui_agent_tools["start"],
        tui_agent_tools["stop"],
        tui_agent_tools["wait_until"],
    )
    agent = start(tmp_path, "lonely")
    port = urllib.parse.urlsplit(agent.api).port
    agents = [agent]
    try:

        async def go() -> None:
            app = StarlingTui(agent.api, agent.token, refresh=0.5)
            async with app.run_test(size=SIZE) as pilot:
                await loaded(pilot, app)
                agent.proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(agent.proc.wait, 30)
                await until(pilot, lambda: app.link == "retrying", "the disconnected state")
                status = text(app, "#status")
                assert status.startswith("○ disconnected, retrying")
                assert str(port) in status  # says which address it cannot reach
                await pilot.pause(1.5)  # refreshes fail meanwhile: no crash, still retrying
                await pilot.press("2", "1")
                assert app.is_running and app.link == "retrying"
                again = await asyncio.to_thread(start, tmp_path, "lonely", api_port=port)
                agents.append(again)
                await until(pilot, lambda: app.link == "live", "the reconnection", timeout=60)
                assert text(app, "#status").startswith("● live")

        run(go())
    finally:
        stop(agents)
    assert wait(lambda: all(a.proc.poll() is not None for a in agents), 5)


@pytest.mark.parametrize("bad", ["ftp://127.0.0.1:1", "127.0.0.1:7710"])
def test_a_bad_api_address_is_refused_before_starting(bad: str) -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        StarlingTui(bad, "token")
