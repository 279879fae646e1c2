"""The TUI's API client against a real agent: errors named by who is at fault."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from agent.tui.client import ApiClient, Refused, Unreachable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_reads_roles_and_errors(tui_mesh: Any) -> None:
    seer = tui_mesh.seer

    async def go() -> None:
        async with ApiClient(seer.api, seer.token) as admin:
            assert (await admin.get("/api/v1/health"))["status"] == "ok"
            metrics = await admin.metrics()
            assert metrics.value("starling_up") == 1 and metrics.bad_lines == 0
            assert await admin.role() == "admin"
            with pytest.raises(Refused) as err:
                await admin.get("/api/v1/ip/not-an-ip")
            assert err.value.status == 400 and "not an IP address" in err.value.message
            with pytest.raises(Refused) as err:
                await admin.lift("192.0.2.200")  # nothing active: a 404, nothing changes
            assert err.value.status == 404 and not err.value.bad_token
        async with ApiClient(seer.api, seer.read_only) as ro:
            assert await ro.role() == "read-only"
            with pytest.raises(Refused) as err:
                await ro.lift(tui_mesh.scanner)
            assert err.value.status == 403 and "admin token" in err.value.message
        async with ApiClient(seer.api, "wrong-token-0123456789") as bad:
            with pytest.raises(Refused) as err:
                await bad.metrics()
            assert err.value.bad_token and "bearer token" in err.value.message
            with pytest.raises(Refused) as err:
                async for _ in bad.stream():
                    pass
            assert err.value.bad_token
        port = _closed_port()
        async with ApiClient(f"http://127.0.0.1:{port}", "t") as gone:
            with pytest.raises(Unreachable, match=f"cannot reach http://127.0.0.1:{port}"):
                await gone.get("/api/v1/health")
            with pytest.raises(Unreachable):
                async for _ in gone.stream():
                    pass

    asyncio.run(go())


def test_stream_resumes_after_last_event_id(tui_mesh: Any) -> None:
    """Reconnecting with Last-Event-ID replays what was missed (the agent's ring)."""
    seer = tui_mesh.seer

    async def go() -> None:
        async with ApiClient(seer.api, seer.token) as c:
            opened = asyncio.Event()
            got: list[Any] = []

            async def follow() -> None:
                async for e in c.stream("0", opened.set):
                    got.append(e)

            task = asyncio.create_task(follow())
            await asyncio.wait_for(opened.wait(), 30)
            deadline = asyncio.get_running_loop().time() + 30
            while not any(e.event == "alert" for e in got):
                assert asyncio.get_running_loop().time() < deadline, "no replayed alert"
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            alert = next(e for e in got if e.event == "alert")
            assert tui_mesh.scanner in alert.data and alert.id is not None

    asyncio.run(go())
