"""Starling's configuration: one YAML file, validated, every threshold overridable.

Every section is a pydantic model with `extra="forbid"`, so a misspelt key is
an error naming the key, never a silently ignored setting. Detector sections
reuse each detector's own `Params` model: the detector defines its thresholds
once, and the config schema follows.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from agent.exports.config import ExportsConfig
from detection.heuristics import REGISTRY

__all__ = ["Config", "ConfigError", "load_config"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfilesConfig(_Section):
    window_seconds: float = Field(3600.0, gt=0, description="time window width")
    direction: Literal["out", "all"] = Field(
        "out", description="'out': profiles for flow sources; 'all': destinations too"
    )
    late_windows: int = Field(
        24,
        ge=0,
        description="closed windows whose summaries are kept so late records merge into them",
    )


class AlertsConfig(_Section):
    threshold_per_minute: float = Field(
        0.25, gt=0, description="alert threshold per minute of window (Slips: 0.25 → 15/h)"
    )
    threshold: float | None = Field(
        None, gt=0, description="absolute threshold; overrides threshold_per_minute"
    )


class AllowlistConfig(_Section):
    enabled: bool = True
    file: Path | None = Field(None, description="Slips-format allowlist; default: bundled")
    organizations_dir: Path | None = Field(None, description="default: bundled")


# One section per detector, built from the registry: `detectors.<name>` is that
# detector's own `Params` model (thresholds defined once, in the detector).
if TYPE_CHECKING:
    DetectorsConfig = _Section
else:
    DetectorsConfig = create_model(
        "DetectorsConfig",
        __base__=_Section,
        **{cls.name: (cls.Params, cls.Params()) for cls in REGISTRY},
    )


class ReferenceDataConfig(_Section):
    """Files the detectors consult; unset = the copies bundled in agent/data."""

    services: Path | None = Field(None, description="known services (Slips services.csv)")
    org_ports: Path | None = Field(
        None, description="ports used by specific organisations (ports_used_by_specific_orgs.csv)"
    )
    organizations_dir: Path | None = Field(
        None, description="organizations_info directory (ASNs, domains, IP ranges)"
    )
    tor_exit_nodes: Path | None = Field(
        None, description="Tor exit node addresses, one per line (none bundled)"
    )


class _OnlineService(_Section):
    enabled: bool = True
    per_minute: float = Field(60.0, gt=0, description="lookups per minute (the free tier's)")
    per_day: int | None = Field(None, gt=0, description="daily quota; unset = none")


class VirusTotalConfig(_OnlineService):
    api_key: str | None = Field(None, description="without a key VirusTotal is not asked")
    base_url: str = "https://www.virustotal.com"
    per_minute: float = Field(4.0, gt=0, description="public API: 4 lookups/min, 500/day")
    per_day: int | None = Field(500, gt=0)
    min_engines: int = Field(3, ge=1, description="engines that must say malicious")


class UrlhausConfig(_OnlineService):
    api_key: str | None = Field(None, description="abuse.ch Auth-Key (sent when set)")
    base_url: str = "https://urlhaus-api.abuse.ch"


class CirclConfig(_OnlineService):
    base_url: str = "https://hashlookup.circl.lu"


class DnsblConfig(_OnlineService):
    zone: str = "zen.spamhaus.org"
    resolver: str | None = Field(
        None,
        description="host:port of the DNS resolver; unset = the first nameserver of "
        "/etc/resolv.conf (Spamhaus refuses queries relayed by public resolvers)",
    )


class RdapConfig(_OnlineService):
    base_url: str = "https://rdap.org"
    per_minute: float = Field(10.0, gt=0)
    young_days: float = Field(60.0, gt=0, description="younger domains are evidence (Slips: 60)")


class AsnConfig(_OnlineService):
    zone: str = Field("origin.asn.cymru.com", description="Team Cymru IP-to-ASN zone (IPv4)")
    resolver: str | None = Field(None, description="as dnsbl.resolver")


class OnlineConfig(_Section):
    """Online lookups: asked in the background, never on the hot path; results
    arrive as later evidence. Off by default (they send what you see to third
    parties)."""

    enabled: bool = False
    virustotal: VirusTotalConfig = VirusTotalConfig()
    urlhaus: UrlhausConfig = UrlhausConfig()
    circl: CirclConfig = CirclConfig()
    dnsbl: DnsblConfig = DnsblConfig()
    rdap: RdapConfig = RdapConfig()
    asn: AsnConfig = AsnConfig()
    cache_hours: float = Field(24.0, gt=0, description="how long an answer is reused")
    queue_size: int = Field(10_000, gt=0, description="pending lookups per service; more dropped")
    timeout_seconds: float = Field(10.0, gt=0)
    retries: int = Field(2, ge=0, description="a failed lookup is retried this often, backing off")
    finish_wait_seconds: float = Field(
        5.0, ge=0, description="`starling analyze`: wait this long for pending answers at the end"
    )


class IntelConfig(_Section):
    """Threat intelligence: feed lists, their download cache, local IoC files."""

    enabled: bool = True
    feed_lists: list[Path] | None = Field(
        None,
        description="feed list files (url,threat_level,tags); unset = the bundled "
        "TI_feeds.csv, JA3_feeds.csv, SSL_feeds.csv",
    )
    cache_dir: Path | None = Field(
        None,
        description="last good copy of every feed; unset = <agent data dir>/intel for "
        "`starling agent`, ~/.cache/starling/intel for the other commands",
    )
    local_files: list[Path] | None = Field(
        None,
        description="own IoC files (IPs, CIDRs, domains, ASNs / JA3 / JARM / known-FP "
        "MD5s); unset = the bundled local files",
    )
    period_hours: float = Field(24.0, gt=0, description="download a feed at most this often")
    max_age_days: float | None = Field(
        None, gt=0, description="drop dated feed entries older than this"
    )
    update_timeout_seconds: float = Field(60.0, gt=0)
    max_feed_megabytes: float = Field(200.0, gt=0)
    online: OnlineConfig = OnlineConfig()


class OutputsConfig(_Section):
    errors_log_limit: int = Field(10_000, ge=0, description="lines written to errors.log")
    store_batch: int = Field(5_000, gt=0, description="findings per store transaction")


class InputsConfig(_Section):
    max_line_bytes: int = Field(
        1_048_576, gt=0, description="longer lines are skipped (reason line_too_long)"
    )
    follow_poll_seconds: float = Field(0.2, gt=0)
    max_future_seconds: float = Field(
        86_400.0,
        ge=0,
        description="--follow: records further ahead of the wall clock are skipped (ts_in_future)",
    )
    max_window_jump: int = Field(
        168,
        ge=1,
        description="windows the stream time may jump ahead on one record without confirmation",
    )


class ShareConfig(_Section):
    min_threat: Literal["info", "low", "medium", "high", "critical"] = Field(
        "high", description="share evidence at or above this threat level"
    )
    min_confidence: float = Field(0.6, ge=0, le=1)
    alerts: bool = Field(True, description="always share the attacker of an alert")
    reshare_seconds: float = Field(
        600.0, ge=0, description="share one attacker again only after this long (or if worse)"
    )
    ttl_seconds: int = Field(3600, gt=0, le=30 * 86400, description="validity of a shared IoC")


class P2PConfig(_Section):
    enabled: bool = True
    listen: list[str] = Field(default_factory=lambda: ["/ip4/0.0.0.0/tcp/4710"])
    bootstrap: list[str] = Field(default_factory=list, description="multiaddrs with /p2p/<id>")
    topic: str = "starling/ioc/1"
    heartbeat_seconds: int = Field(1, ge=1)
    mdns: bool = Field(False, description="discover peers on the LAN with mDNS")
    eclipse_protection: bool = Field(
        False, description="libp2p mesh IP-diversity check (needs >= 3 distinct peer IPs)"
    )
    rate_per_second: float = Field(10.0, gt=0, description="per peer and per identity")
    burst: float = Field(50.0, gt=0)
    max_age_seconds: float = Field(300.0, gt=0, description="older signed messages are refused")
    max_future_seconds: float = Field(30.0, ge=0)
    max_message_bytes: int = Field(16 * 1024, gt=0, le=16 * 1024)
    own_addresses: list[str] = Field(
        default_factory=list, description="this host's addresses: never shared as attackers"
    )
    share: ShareConfig = ShareConfig()


class TrustConfig(_Section):
    pretrusted: list[str] = Field(
        default_factory=list, description="peer IDs given a stronger prior (not a frozen trust)"
    )
    min_reporters: int = Field(3, ge=1, description="trusted reporters needed to act on peers")
    min_weight: float = Field(0.28, ge=0, le=1, description="weight that makes a reporter trusted")
    min_support: float = Field(1.2, ge=0, description="total weight of malicious reports needed")
    certainty_k: float = Field(5.0, gt=0, description="evidence for certainty 0.5")
    half_life_days: float = Field(7.0, gt=0, description="decay of reputation evidence")
    act: bool = Field(True, description="turn a blocking network opinion into evidence")
    contradiction_weight: float = Field(
        3.0, ge=1, description="one contradicted report costs this many confirmed ones"
    )
    disputes: bool = Field(
        True,
        description="publish a benign-score report when a peer reports an address we know is "
        "benign (allowlisted), so peers that trust us discount the lie",
    )


_MAX_BAN_SECONDS = 2_147_483  # ipset's limit, applied to every backend (agent.blocking.base)


class BlockingConfig(_Section):
    enabled: bool = Field(
        False, description="apply automatic decisions to the kernel; false: dry-run (log and store)"
    )
    backend: Literal["nftables", "iptables", "memory"] = Field(
        "nftables", description="nftables (table inet starling), iptables + ipset, or memory"
    )
    ttl_seconds: int = Field(3600, gt=0, le=_MAX_BAN_SECONDS, description="first-offence ban")
    escalation_factor: float = Field(
        2.0, ge=1, description="each repeat offence multiplies the ban by this"
    )
    max_ttl_seconds: int = Field(7 * 86400, gt=0, le=_MAX_BAN_SECONDS, description="ban cap")
    jitter: float = Field(0.1, ge=0, lt=1, description="± fraction of random spread on each ban")
    repeat_window_seconds: float = Field(
        30 * 86400.0, gt=0, description="earlier decisions this recent count as repeat offences"
    )
    ipv6_prefix: Literal[64, 128] = Field(128, description="64: ban an IPv6 address's whole /64")
    never_block: list[str] = Field(
        default_factory=list, description="IPs or CIDRs never banned (anti-lockout, with more)"
    )
    dns_servers: list[str] = Field(
        default_factory=list, description="DNS servers never banned, besides /etc/resolv.conf's"
    )
    ssh_ports: list[int] = Field(
        default_factory=lambda: [22], description="sshd ports whose clients are never banned"
    )

    @model_validator(mode="after")
    def _check(self) -> BlockingConfig:
        if self.ttl_seconds > self.max_ttl_seconds:
            raise ValueError("ttl_seconds must not exceed max_ttl_seconds")
        for value in (*self.never_block, *self.dns_servers):
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or CIDR network: {value!r}") from None
        return self


class ApiConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(7710, ge=0, le=65535)
    rate_per_second: float = Field(100.0, gt=0, description="requests per second per token")
    burst: int = Field(400, ge=1, description="requests allowed at once above the rate")


class Config(_Section):
    profiles: ProfilesConfig = ProfilesConfig()
    alerts: AlertsConfig = AlertsConfig()
    allowlist: AllowlistConfig = AllowlistConfig()
    detectors: DetectorsConfig = Field(default_factory=DetectorsConfig)
    reference_data: ReferenceDataConfig = ReferenceDataConfig()
    intel: IntelConfig = IntelConfig()
    inputs: InputsConfig = InputsConfig()
    outputs: OutputsConfig = OutputsConfig()
    p2p: P2PConfig = P2PConfig()
    trust: TrustConfig = TrustConfig()
    api: ApiConfig = ApiConfig()
    blocking: BlockingConfig = BlockingConfig()
    exports: ExportsConfig = ExportsConfig()
    store: str | None = Field(
        None, description="sqlite path or redis://… URL; default: <outdir>/starling.db"
    )

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.alert_threshold <= 0:
            raise ValueError("alert threshold must be positive")
        return self

    @property
    def alert_threshold(self) -> float:
        if self.alerts.threshold is not None:
            return self.alerts.threshold
        return self.alerts.threshold_per_minute * self.profiles.window_seconds / 60.0


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; the message names the key."""


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> Config:
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config {path} is not UTF-8 text") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config {path}: top level must be a mapping of sections")
        data = loaded
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        origin = f"config {path}" if path else "config"
        raise ConfigError(f"{origin}: {_format_errors(exc)}") from None


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
