"""The `exports` section of the configuration: where findings go besides the store.

Every exporter is off by default (each sends what the agent sees to a third
party or a file) and every section is `extra="forbid"`, like the sections of
`agent.config`, so a misspelt key is an error naming it. A section that is
enabled without what it needs (a path, a URL, a collection) is refused when
the configuration is loaded, not when the first finding arrives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "FACILITIES",
    "ExportsConfig",
    "SlackConfig",
    "StixFileConfig",
    "SyslogConfig",
    "TaxiiConfig",
    "ThreatName",
]

ThreatName = Literal["info", "low", "medium", "high", "critical"]

# RFC 5424 section 6.2.1, table 1: facility names and codes.
FACILITIES: dict[str, int] = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "security": 13,
    "console": 14,
    "solaris-cron": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_http_url(name: str, url: str | None) -> None:
    if not url:
        raise ValueError(f"{name} is required when the exporter is enabled")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http:// or https:// URL, got {url!r}")


class _StixSelection(_Section):
    """Which findings become STIX objects (shared by the file and TAXII exporters)."""

    evidence: bool = Field(
        True, description="an indicator for each evidence too, not only for alerts"
    )
    min_threat: ThreatName = Field(
        "medium", description="evidence below this threat level is not exported (alerts always)"
    )
    valid_hours: float | None = Field(
        24.0, gt=0, description="indicators' valid_until = valid_from + this; unset = open-ended"
    )
    skip_private: bool = Field(
        False,
        description="leave out findings whose attacker is a private address (RFC 1918, "
        "fc00::/7): they mean nothing outside your network",
    )


class StixFileConfig(_StixSelection):
    enabled: bool = False
    path: Path | None = Field(None, description="file the STIX objects are written to")
    format: Literal["jsonl", "bundle"] = Field(
        "jsonl",
        description="jsonl: one STIX object per line, appended; bundle: one STIX 2.1 bundle "
        "holding this run's objects, rewritten atomically every period_seconds and at exit",
    )
    period_seconds: float = Field(10.0, gt=0, description="bundle: rewrite at most this often")
    max_objects: int = Field(
        100_000, gt=0, description="bundle: objects kept; the oldest go first (counted)"
    )

    @model_validator(mode="after")
    def _check(self) -> StixFileConfig:
        if self.enabled and self.path is None:
            raise ValueError("path is required when the exporter is enabled")
        return self


class TaxiiConfig(_StixSelection):
    enabled: bool = False
    url: str | None = Field(
        None, description="the TAXII 2.1 API root, e.g. https://taxii.example.org/api1/"
    )
    collection_id: str | None = Field(None, description="a collection the account can write")
    username: str | None = Field(None, description="HTTP basic authentication")
    password: str | None = None
    token: str | None = Field(None, description="bearer token (instead of username/password)")
    verify_tls: bool = True
    ca_file: Path | None = Field(None, description="CA bundle for a private server certificate")
    batch_size: int = Field(100, ge=1, le=10_000, description="objects per POST")
    period_seconds: float = Field(10.0, gt=0, description="push a partial batch after this long")
    timeout_seconds: float = Field(10.0, gt=0)
    retries: int = Field(3, ge=0, description="a failed push is retried this often, backing off")
    backoff_seconds: float = Field(1.0, gt=0, description="first retry delay, doubled each time")
    poll_status: bool = Field(
        False, description="follow a 'pending' status resource until the server is done"
    )

    @model_validator(mode="after")
    def _check(self) -> TaxiiConfig:
        if not self.enabled:
            return self
        _check_http_url("url", self.url)
        if not self.collection_id:
            raise ValueError("collection_id is required when the exporter is enabled")
        if self.token and (self.username or self.password):
            raise ValueError("give either token or username/password, not both")
        if self.password is not None and not self.username:
            raise ValueError("password given without username")
        return self


class SlackConfig(_Section):
    enabled: bool = False
    webhook_url: str | None = Field(None, description="a Slack incoming-webhook URL")
    min_threat: ThreatName = Field("medium", description="findings below this level are not sent")
    alerts_only: bool = Field(True, description="false: evidence is posted too (noisy)")
    timeout_seconds: float = Field(10.0, gt=0)
    retries: int = Field(2, ge=0)
    backoff_seconds: float = Field(1.0, gt=0)
    min_interval_seconds: float = Field(
        1.0, ge=0, description="Slack allows about one message per second per webhook"
    )

    @model_validator(mode="after")
    def _check(self) -> SlackConfig:
        if self.enabled:
            _check_http_url("webhook_url", self.webhook_url)
        return self


class SyslogConfig(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(514, ge=1, le=65535)
    protocol: Literal["udp", "tcp"] = Field(
        "udp", description="udp: one message per datagram (RFC 5426); tcp: octet counting "
        "(RFC 6587)"
    )  # fmt: skip
    facility: str = Field("local0", description="RFC 5424 facility name (kern … local7)")
    app_name: str = "starling"
    hostname: str | None = Field(None, description="HOSTNAME field; unset = this host's name")
    format: Literal["cef"] = Field("cef", description="message payload: ArcSight CEF")
    min_threat: ThreatName = Field("low", description="findings below this level are not sent")
    alerts_only: bool = False
    timeout_seconds: float = Field(5.0, gt=0, description="TCP connect and send timeout")
    max_udp_bytes: int = Field(
        2048, ge=480, le=65507, description="longer UDP messages are truncated (RFC 5426)"
    )

    @model_validator(mode="after")
    def _check(self) -> SyslogConfig:
        if self.facility not in FACILITIES:
            raise ValueError(f"unknown facility {self.facility!r}; one of {', '.join(FACILITIES)}")
        if self.enabled and not self.host:
            raise ValueError("host is required when the exporter is enabled")
        return self


class ExportsConfig(_Section):
    """Optional exports of findings; each fails on its own, never into detection."""

    identity_name: str = Field(
        "Starling", min_length=1, description="name of the STIX identity the exports come from"
    )
    queue_size: int = Field(
        10_000, gt=0, description="findings waiting per exporter; more are dropped (counted)"
    )
    error_log_seconds: float = Field(
        60.0, gt=0, description="each exporter logs at most one error per this period"
    )
    close_timeout_seconds: float = Field(
        10.0, ge=0, description="at exit, time given to deliver what is still queued"
    )
    stix: StixFileConfig = StixFileConfig()
    taxii: TaxiiConfig = TaxiiConfig()
    slack: SlackConfig = SlackConfig()
    syslog: SyslogConfig = SyslogConfig()

    @property
    def any_enabled(self) -> bool:
        return any(s.enabled for s in (self.stix, self.taxii, self.slack, self.syslog))
