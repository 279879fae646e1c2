"""Starling's configuration: one YAML file, validated, every threshold overridable.

Every section is a pydantic model with `extra="forbid"`, so a misspelt key is
an error naming the key, never a silently ignored setting. Detector sections
reuse each detector's own `Params` model: the detector defines its thresholds
once, and the config schema follows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from detection.heuristics.horizontal_port_scan import HorizontalPortScanParams
from detection.heuristics.long_connection import LongConnectionParams
from detection.heuristics.vertical_port_scan import VerticalPortScanParams

__all__ = ["Config", "ConfigError", "load_config"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfilesConfig(_Section):
    window_seconds: float = Field(3600.0, gt=0, description="time window width")
    direction: Literal["out", "all"] = Field(
        "out", description="'out': profiles for flow sources; 'all': destinations too"
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


class DetectorsConfig(_Section):
    long_connection: LongConnectionParams = LongConnectionParams()
    horizontal_port_scan: HorizontalPortScanParams = HorizontalPortScanParams()
    vertical_port_scan: VerticalPortScanParams = VerticalPortScanParams()


class OutputsConfig(_Section):
    errors_log_limit: int = Field(10_000, ge=0, description="lines written to errors.log")
    store_batch: int = Field(5_000, gt=0, description="findings per store transaction")


class InputsConfig(_Section):
    max_line_bytes: int = Field(
        1_048_576, gt=0, description="longer lines are skipped (reason line_too_long)"
    )
    follow_poll_seconds: float = Field(0.2, gt=0)


class Config(_Section):
    profiles: ProfilesConfig = ProfilesConfig()
    alerts: AlertsConfig = AlertsConfig()
    allowlist: AllowlistConfig = AllowlistConfig()
    detectors: DetectorsConfig = DetectorsConfig()
    inputs: InputsConfig = InputsConfig()
    outputs: OutputsConfig = OutputsConfig()
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
