"""The `exports` configuration section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from agent.exports.config import ExportsConfig
from agent.exports.service import make_exporters


def test_everything_is_off_by_default() -> None:
    cfg = ExportsConfig()
    assert not cfg.any_enabled
    assert make_exporters(cfg, "0.1.0") is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"stix": {"enabled": True}}, "path is required"),
        ({"taxii": {"enabled": True, "collection_id": "c"}}, "url is required"),
        ({"taxii": {"enabled": True, "url": "ftp://x/", "collection_id": "c"}}, "http"),
        ({"taxii": {"enabled": True, "url": "https://x/api1/"}}, "collection_id is required"),
        (
            {
                "taxii": {
                    "enabled": True,
                    "url": "https://x/a/",
                    "collection_id": "c",
                    "token": "t",
                    "username": "u",
                }
            },
            "either token or username",
        ),
        ({"slack": {"enabled": True}}, "webhook_url is required"),
        ({"syslog": {"facility": "local9"}}, "unknown facility"),
        ({"syslog": {"protocol": "sctp"}}, "protocol"),
        ({"slack": {"min_threat": "severe"}}, "min_threat"),
        ({"stix": {"enabled": True, "path": "x", "colour": "red"}}, "colour"),
    ],
)
def test_bad_sections_are_refused_with_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ExportsConfig.model_validate(section)


def test_the_documented_example_is_valid() -> None:
    """The YAML example of docs/exports.md, kept in step with the schema."""
    doc = (Path(__file__).parents[3] / "docs" / "exports.md").read_text()
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = ExportsConfig.model_validate(yaml.safe_load(block)["exports"])
    assert cfg.stix.enabled and cfg.taxii.enabled and cfg.slack.enabled and cfg.syslog.enabled
    assert cfg.syslog.facility == "local4" and cfg.taxii.batch_size == 100
