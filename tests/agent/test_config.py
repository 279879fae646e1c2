from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import Config, ConfigError, dump_config, load_config


def test_defaults_match_slips_reference() -> None:
    cfg = load_config(None)
    assert cfg.profiles.window_seconds == 3600
    assert cfg.alert_threshold == 15.0  # 0.25 per minute x 60 minutes
    assert cfg.detectors.long_connection.threshold_seconds == 1500
    assert cfg.detectors.horizontal_port_scan.min_hosts == 5


def test_threshold_follows_window_unless_absolute() -> None:
    assert load_config(None, {"profiles.window_seconds": 600}).alert_threshold == 2.5
    assert load_config(None, {"alerts.threshold": 7}).alert_threshold == 7


def test_file_overrides_every_threshold(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        yaml.safe_dump({"detectors": {"vertical_port_scan": {"min_ports": 9, "enabled": False}}})
    )
    cfg = load_config(f)
    assert cfg.detectors.vertical_port_scan.min_ports == 9
    assert cfg.detectors.vertical_port_scan.enabled is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profilez: {}", "profilez: unknown key"),
        ("profiles: {direction: sideways}", "profiles.direction"),
        ("alerts: {threshold: -1}", "alerts.threshold"),
        ("- a list", "top level must be a mapping"),
        ("a: [unclosed", "not valid YAML"),
    ],
)
def test_invalid_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=r"c\.yaml") as exc:
        load_config(f)
    assert message in str(exc.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


def test_dump_round_trips() -> None:
    cfg = load_config(None, {"profiles.direction": "all"})
    assert Config.model_validate(yaml.safe_load(dump_config(cfg))) == cfg


def test_config_show_cli(tmp_path: Path, cli: Callable[..., Any]) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("detectors:\n  long_connection:\n    threshold_seconds: 60\n")
    proc = cli("config", "show", "-c", str(f))
    assert proc.returncode == 0, proc.stderr
    shown = yaml.safe_load(proc.stdout)
    assert shown["detectors"]["long_connection"]["threshold_seconds"] == 60
    assert shown["detectors"]["horizontal_port_scan"]["min_hosts"] == 5
