"""A minimal TAXII 2.1 client: add objects to one collection (and follow its status).

Protocol (OASIS TAXII 2.1, sections 5.5 and 4.3): ``POST
{api_root}/collections/{id}/objects/`` with ``Content-Type`` and ``Accept``
``application/taxii+json;version=2.1`` and an envelope ``{"objects": [...]}``;
the server answers 202 with a status resource (``status`` ``complete`` or
``pending``, ``success_count``, ``failure_count``, ``pending_count``,
``failures``). With `poll` the client follows ``GET {api_root}/status/{id}/``
until the status is complete or the poll budget is spent.

A server refuses an object it already holds in the same version (same id and
``modified``); since our ids are deterministic, a re-export shows up as
failures in the status, never as duplicates. The client reports the counts;
it does not treat them as transport errors.

Authentication: HTTP basic (username/password) or a bearer token. All I/O
goes through `agent.exports._http`; its `HttpError` is the only exception.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from agent.exports._http import HttpError, request, ssl_context, with_retries
from agent.exports.config import TaxiiConfig

__all__ = ["MEDIA_TYPE", "PushResult", "TaxiiClient"]

MEDIA_TYPE = "application/taxii+json;version=2.1"
_POLLS = 10


@dataclass(frozen=True, slots=True)
class PushResult:
    status_id: str | None
    status: str
    success: int
    failure: int
    pending: int


def _result(data: dict[str, Any]) -> PushResult:
    def count(key: str) -> int:
        value = data.get(key, 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    sid = data.get("id")
    return PushResult(
        sid if isinstance(sid, str) else None,
        str(data.get("status", "")),
        count("success_count"),
        count("failure_count"),
        count("pending_count"),
    )


class TaxiiClient:
    def __init__(self, cfg: TaxiiConfig, give_up: threading.Event) -> None:
        assert cfg.url is not None  # both checked by the config
        assert cfg.collection_id is not None
        self.api_root = cfg.url if cfg.url.endswith("/") else cfg.url + "/"
        self.objects_url = (
            f"{self.api_root}collections/{quote(cfg.collection_id, safe='')}/objects/"
        )
        self.cfg = cfg
        self.give_up = give_up
        self.retried = 0
        self._context = ssl_context(cfg.verify_tls, cfg.ca_file) if self.api_root.startswith(
            "https:"
        ) else None  # fmt: skip
        self.headers = {"Accept": MEDIA_TYPE}
        if cfg.token:
            self.headers["Authorization"] = f"Bearer {cfg.token}"
        elif cfg.username:
            pair = f"{cfg.username}:{cfg.password or ''}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")

    def _count_retry(self, _exc: object) -> None:
        self.retried += 1

    def _json(self, method: str, url: str, body: bytes | None = None) -> dict[str, Any]:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = MEDIA_TYPE
        resp = request(
            method, url, body=body, headers=headers, timeout=self.cfg.timeout_seconds,
            context=self._context,
        )  # fmt: skip
        try:
            data = orjson.loads(resp.body) if resp.body else {}
        except orjson.JSONDecodeError:
            raise HttpError(
                "bad_response", f"{method} {url}: answer is not JSON", retryable=False
            ) from None
        if not isinstance(data, dict):
            raise HttpError("bad_response", f"{method} {url}: answer is not an object",
                            retryable=False)  # fmt: skip
        return data

    def push(self, objects: Sequence[dict[str, Any]]) -> PushResult:
        """Add `objects` to the collection (one POST, retried); raises HttpError."""
        body = orjson.dumps({"objects": list(objects)})
        data = with_retries(
            lambda: self._json("POST", self.objects_url, body),
            retries=self.cfg.retries,
            backoff=self.cfg.backoff_seconds,
            give_up=self.give_up,
            on_retry=self._count_retry,
        )
        result = _result(data)
        if self.cfg.poll_status and result.status == "pending" and result.status_id:
            result = self._poll(result)
        return result

    def _poll(self, result: PushResult) -> PushResult:
        delay = self.cfg.backoff_seconds
        url = f"{self.api_root}status/{quote(result.status_id or '', safe='')}/"
        for _ in range(_POLLS):
            if self.give_up.wait(delay):
                break
            result = _result(self._json("GET", url))
            if result.status != "pending":
                break
            delay = min(delay * 2, 30.0)
        return result
