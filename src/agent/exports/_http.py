"""The one HTTP port of the exporters (Slack, TAXII): urllib, in the exporter's thread.

Error handling
--------------
Every failure becomes `HttpError`, whose `retryable` says whose fault it is:
the network, a 5xx or a 429 (the remote side, maybe temporary) are retried;
any other 4xx (our request or our credentials) is not. No urllib, ssl or
socket exception escapes this module. `with_retries` backs off exponentially
(capped) and gives up early when the exporter is closing (`give_up`).
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

__all__ = ["HttpError", "Response", "request", "ssl_context", "with_retries"]

_T = TypeVar("_T")
_MAX_BACKOFF = 60.0
_MAX_BODY = 4 * 1024 * 1024


class HttpError(Exception):
    def __init__(self, reason: str, message: str, *, retryable: bool, status: int | None = None):
        super().__init__(message)
        self.reason = reason  # short, for counters: "http_500", "connect", "timeout", …
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def ssl_context(verify: bool, ca_file: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    context: ssl.SSLContext | None = None,
) -> Response:
    """One HTTP request; a 2xx answer is returned, anything else raises HttpError."""
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))  # noqa: S310 - URL scheme checked in the config (http/https only)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310
            data = resp.read(_MAX_BODY)
            return Response(resp.status, data, dict(resp.headers.items()))
    except urllib.error.HTTPError as exc:
        status = exc.code
        detail = ""
        try:
            detail = exc.read(500).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            pass
        finally:
            exc.close()
        retryable = status >= 500 or status in (408, 429)
        raise HttpError(
            f"http_{status}", f"{method} {url}: HTTP {status} {detail}".strip(),
            retryable=retryable, status=status,
        ) from None  # fmt: skip
    except TimeoutError:
        raise HttpError("timeout", f"{method} {url}: timed out", retryable=True) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        kind = "tls" if isinstance(reason, ssl.SSLError) else "connect"
        if isinstance(reason, TimeoutError):
            kind = "timeout"
        raise HttpError(kind, f"{method} {url}: {reason}", retryable=kind != "tls") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise HttpError("connect", f"{method} {url}: {exc}", retryable=True) from None


def with_retries(
    fn: Callable[[], _T],
    *,
    retries: int,
    backoff: float,
    give_up: threading.Event,
    on_retry: Callable[[HttpError], None] | None = None,
) -> _T:
    """`fn()`, retried `retries` times on retryable errors with doubling delays.

    The wait is cut short (and the last error raised) once `give_up` is set.
    """
    delay = backoff
    attempt = 0
    while True:
        try:
            return fn()
        except HttpError as exc:
            if not exc.retryable or attempt >= retries or give_up.is_set():
                raise
            if on_retry is not None:
                on_retry(exc)
            attempt += 1
            if give_up.wait(delay):
                raise
            delay = min(delay * 2, _MAX_BACKOFF)
