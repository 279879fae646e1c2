"""Findings as Slack incoming-webhook messages.

`slack_payload` is pure: the JSON body Slack expects (``text`` as the
notification fallback, ``blocks`` for the layout: a header, a section with
the description, a fields section, a context line with the ids). Text that
Slack renders as mrkdwn has ``&``, ``<`` and ``>`` escaped (Slack's rule:
otherwise ``<!channel>`` in a description would ping a channel) and is cut
to Slack's block limits (header 150 characters, section 3000, field 2000).

`SlackSender` POSTs it (`agent.exports._http`, urllib) from the exporter's
own thread: Slack answers 200 ``ok``; a 429 or 5xx is retried with back-off,
any other answer is an error counted by the service.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson

from agent.exports._http import request, with_retries
from detection.model import Alert, Evidence, ThreatLevel

__all__ = ["SlackSender", "mrkdwn_escape", "slack_payload"]

_EMOJI = {
    ThreatLevel.INFO: ":information_source:",
    ThreatLevel.LOW: ":large_blue_circle:",
    ThreatLevel.MEDIUM: ":large_orange_circle:",
    ThreatLevel.HIGH: ":red_circle:",
    ThreatLevel.CRITICAL: ":rotating_light:",
}
_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELD_MAX = 2000


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters escaped; lone surrogates become '?' (JSON-safe)."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clean(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(ts: float) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return str(ts)


def slack_payload(finding: Evidence | Alert, *, agent: str = "Starling") -> dict[str, Any]:
    """The webhook body for one finding."""
    level = finding.threat_level
    if isinstance(finding, Alert):
        title = f"Alert: {finding.profile}"
        fields = [
            ("Threat", level.value),
            ("Score", f"{finding.score:.2f} / {finding.threshold:.2f}"),
            ("Confidence", f"{finding.confidence:.2f}"),
            ("Evidence", ", ".join(sorted(set(finding.evidence_types))) or "-"),
            ("Victims", ", ".join(finding.victims[:10]) or "-"),
            ("Time window", str(finding.timewindow)),
            ("Time", _when(finding.ts)),
            ("Source", finding.source),
        ]
    else:
        title = f"{finding.type}: {finding.attacker}"
        fields = [
            ("Threat", level.value),
            ("Confidence", f"{finding.confidence:.2f}"),
            ("Attacker", finding.attacker),
            ("Victim", finding.victim or "-"),
            ("Time", _when(finding.ts)),
            ("Source", finding.source),
        ]
        if finding.attack_technique:
            fields.append(("ATT&CK", finding.attack_technique))
    text = f"{_EMOJI[level]} {agent}: {title} — {finding.description}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(_clean(title), _HEADER_MAX)},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _cut(f"{_EMOJI[level]} {mrkdwn_escape(finding.description)}", _SECTION_MAX),
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*{k}*\n{mrkdwn_escape(v)}", _FIELD_MAX)}
                for k, v in fields[:10]
            ],
        },
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": _cut(mrkdwn_escape(f"{agent} · id {finding.id}"), 300)}
            ],
        },
    ]
    return {"text": _cut(mrkdwn_escape(text), _SECTION_MAX), "blocks": blocks}


class SlackSender:
    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        retries: int,
        backoff: float,
        give_up: threading.Event,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.give_up = give_up
        self.retried = 0

    def _count_retry(self, _exc: object) -> None:
        self.retried += 1

    def send(self, payload: dict[str, Any]) -> None:
        body = orjson.dumps(payload)
        with_retries(
            lambda: request(
                "POST",
                self.url,
                body=body,
                headers={"Content-Type": "application/json"},
                timeout=self.timeout,
            ),
            retries=self.retries,
            backoff=self.backoff,
            give_up=self.give_up,
            on_retry=self._count_retry,
        )
