"""The terminal view's asynchronous client of the local API (aiohttp).

The view never opens the agent's store: everything it shows comes through these
calls. aiohttp's exceptions stop here (STYLE 5) and become one of two errors,
named by who is at fault:

* `Unreachable` — no answer: the agent is down, the address is wrong, the
  connection broke or timed out. The view says "disconnected, retrying".
* `Refused` — the agent answered with an error status; `message` is the API's
  `{"error": …}` text. A 401 (`bad_token`) means the token is wrong; a 403 that
  the token is read-only for that call.

`stream()` follows `GET /api/v1/stream` and yields decoded events
(`agent.tui.sse`), resuming after `last_event_id` when given.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp

from agent.tui.promtext import Metrics, parse_metrics
from agent.tui.sse import SseDecoder, SseEvent

__all__ = ["ApiClient", "ApiError", "Refused", "Role", "Unreachable"]

Role = Literal["admin", "read-only", "admin-no-blocking"]

_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=20, sock_connect=5)
# The agent writes a keep-alive comment every 15 s: 45 s of silence is a dead stream.
_STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=45)


class ApiError(Exception):
    """Base of the client's errors."""


class Unreachable(ApiError):
    """The agent did not answer (down, wrong address, connection lost, timeout)."""


class Refused(ApiError):
    """The agent answered an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message

    @property
    def bad_token(self) -> bool:
        return self.status == 401


def _message(status: int, raw: bytes) -> str:
    try:
        text = json.loads(raw)["error"]
        if isinstance(text, str):
            return text
    except (ValueError, KeyError, TypeError):
        pass
    return raw[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"


class ApiClient:
    """One aiohttp session to one agent. Use as `async with ApiClient(url, token):`."""

    def __init__(self, base: str, token: str) -> None:
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"the API address must be an http:// or https:// URL, got {base!r}")
        self.base = base.rstrip("/")
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self, method: str, path: str, query: dict[str, object] | None = None
    ) -> tuple[int, bytes]:
        params = {k: _qs(v) for k, v in (query or {}).items() if v is not None}
        try:
            async with self._sess().request(
                method, self.base + path, params=params, timeout=_REQUEST_TIMEOUT
            ) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise Unreachable(_reason(exc, self.base)) from None

    async def get(self, path: str, query: dict[str, object] | None = None) -> Any:
        """The decoded JSON of a GET; `Refused` on an error status."""
        status, raw = await self._request("GET", path, query)
        if status >= 400:
            raise Refused(status, _message(status, raw))
        try:
            return json.loads(raw)
        except ValueError:
            raise Refused(status, "the agent's answer is not JSON") from None

    async def metrics(self) -> Metrics:
        status, raw = await self._request("GET", "/metrics")
        if status >= 400:
            raise Refused(status, _message(status, raw))
        return parse_metrics(raw.decode("utf-8", "replace"))

    async def lift(self, value: str) -> Any:
        """DELETE /api/v1/decisions/{value}: lift the active bans on an address or range."""
        path = "/api/v1/decisions/" + urllib.parse.quote(value, safe="/")
        status, raw = await self._request("DELETE", path)
        if status >= 400:
            raise Refused(status, _message(status, raw))
        return json.loads(raw)

    async def role(self) -> Role:
        """What the token may do (`GET /api/v1/session`)."""
        status, raw = await self._request("GET", "/api/v1/session")
        if status != 200:
            raise Refused(status, _message(status, raw))
        try:
            doc = json.loads(raw)
            role, blocking = doc["role"], doc["blocking"]
        except (ValueError, KeyError, TypeError):
            raise Refused(status, "the agent's /api/v1/session answer is not understood") from None
        if role == "read-only":
            return "read-only"
        if role != "admin":
            raise Refused(status, f"unknown token role {str(role)[:40]!r}")
        return "admin" if blocking else "admin-no-blocking"

    async def stream(
        self, last_event_id: str | None = None, on_open: Any = None
    ) -> AsyncIterator[SseEvent]:
        """Follow the event stream until it ends (`Unreachable` when it breaks).

        `on_open()` is called once the agent accepted the stream."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        decoder = SseDecoder()
        try:
            async with self._sess().get(
                self.base + "/api/v1/stream", headers=headers, timeout=_STREAM_TIMEOUT
            ) as resp:
                if resp.status >= 400:
                    raise Refused(resp.status, _message(resp.status, await resp.read()))
                if on_open is not None:
                    on_open()
                async for chunk in resp.content.iter_any():
                    for event in decoder.feed(chunk):
                        yield event
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise Unreachable(_reason(exc, self.base)) from None


def _qs(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _reason(exc: BaseException, base: str) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return f"no answer from {base} (timed out)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot reach {base}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return f"{base} closed the connection"
    return f"{base}: {exc.__class__.__name__}: {exc}"
