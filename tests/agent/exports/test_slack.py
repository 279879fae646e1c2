"""Slack export: the webhook JSON, delivered to a local stand-in for the webhook."""

from __future__ import annotations

from typing import Any

from agent.exports.config import ExportsConfig
from agent.exports.service import make_exporters
from agent.exports.slack import mrkdwn_escape, slack_payload


def _cfg(url: str, **extra: Any) -> ExportsConfig:
    slack = {"enabled": True, "webhook_url": url, "min_interval_seconds": 0, **extra}
    return ExportsConfig.model_validate({"slack": slack, "identity_name": "sensor-1"})


def test_payload_for_an_alert(findings: Any) -> None:
    alert = findings.alert
    body = slack_payload(alert, agent="sensor-1")
    assert alert.profile in body["text"] and body["text"].startswith(":red_circle: sensor-1")
    header, section, fields, context = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Alert: 203.0.113.5"},
    }
    assert section["text"]["type"] == "mrkdwn"
    names = [f["text"].split("\n")[0] for f in fields["fields"]]
    assert names == [
        "*Threat*", "*Score*", "*Confidence*", "*Evidence*", "*Victims*", "*Time window*",
        "*Time*", "*Source*",
    ]  # fmt: skip
    assert "*Score*\n2.00 / 1.00" in [f["text"] for f in fields["fields"]]
    assert alert.id in context["elements"][0]["text"]


def test_payload_escapes_and_cuts(evidence_factory: Any) -> None:
    ev = evidence_factory(description="<!channel> & <http://evil|click> " + "x" * 5000)
    body = slack_payload(ev)
    section = body["blocks"][1]["text"]["text"]
    assert (
        "<!channel>" not in section
        and "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in section
    )
    assert len(section) <= 3000 and len(body["text"]) <= 3000
    assert mrkdwn_escape("a\udcffb") == "a?b"  # undecodable input bytes stay JSON-safe
    assert any(f["text"] == "*ATT&CK*\nT1046" for f in body["blocks"][2]["fields"])


def test_alerts_reach_the_webhook(webhook: Any, findings: Any, eventually: Any) -> None:
    exporters = make_exporters(_cfg(webhook.url), "0.1.0")
    assert exporters is not None
    for f in findings.all:
        exporters.on_finding(f)
    assert eventually(lambda: len(webhook.bodies) == 1)
    stats = exporters.close(5)
    assert stats["slack"]["queued"] == 1  # alerts only, by default
    assert stats["slack"]["sent"] == 1 and stats["slack"]["errors"] == 0
    assert webhook.content_types == ["application/json"]
    assert webhook.bodies == [slack_payload(findings.alert, agent="sensor-1")]


def test_evidence_too_when_asked(webhook: Any, findings: Any, eventually: Any) -> None:
    exporters = make_exporters(_cfg(webhook.url, alerts_only=False), "0.1.0")
    assert exporters is not None
    for f in findings.all:
        exporters.on_finding(f)
    assert eventually(lambda: len(webhook.bodies) == 3)
    exporters.close(5)
    assert [b["blocks"][0]["text"]["text"] for b in webhook.bodies] == [
        "horizontal_port_scan: 203.0.113.5",
        "ssh_password_guessing: 203.0.113.5",
        "Alert: 203.0.113.5",
    ]


def test_a_500_is_retried_then_delivered(webhook: Any, findings: Any, eventually: Any) -> None:
    webhook.plan = [500, 503]
    exporters = make_exporters(_cfg(webhook.url, retries=2, backoff_seconds=0.05), "0.1.0")
    assert exporters is not None
    exporters.on_finding(findings.alert)
    assert eventually(lambda: len(webhook.bodies) == 1)
    stats = exporters.close(5)["slack"]
    assert webhook.hits == 3
    assert stats["sent"] == 1 and stats["errors"] == 0 and stats["retries"] == 2


def test_a_webhook_that_keeps_failing_is_counted(
    webhook: Any, findings: Any, eventually: Any
) -> None:
    webhook.plan = [500] * 6 + [404]
    exporters = make_exporters(_cfg(webhook.url, retries=1, backoff_seconds=0.01), "0.1.0")
    assert exporters is not None
    for _ in range(4):  # 3 x (500, 500) then a 404, which is not retried
        exporters.on_finding(findings.alert)
    stats = exporters.close(10)["slack"]
    assert webhook.hits == 7 and webhook.bodies == []
    assert stats["sent"] == 0 and stats["errors"] == 4
    assert stats["errors_by_reason"] == {"http_500": 3, "http_404": 1}
