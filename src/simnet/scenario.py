"""Scenario files for `starling simnet run`: every key optional, defaults documented."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["DEFAULT_CAMPAIGNS", "CampaignKind", "Scenario", "ScenarioError", "load_scenario"]

AdversaryKind = Literal[
    "liar", "colluder", "selective_liar", "traitor", "slanderer",
    "sybil", "whitewasher", "spammer", "replayer",
]  # fmt: skip
ModelName = Literal[
    "starling", "none", "trust-all", "majority", "k-reporters", "eigentrust", "fides"
]


class _S(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Adversary(_S):
    kind: AdversaryKind
    fraction: float = Field(ge=0, le=1)


CampaignKindName = Literal["scanner", "bruteforcer", "cnc", "generic"]


class CampaignKind(_S):
    """One kind of attack campaign: how often one starts, whom it touches, how fast.

    Each campaign is one attacker IP. It touches a uniformly drawn fraction of all
    agents in `exposed` (at least `min_exposed` agents), each at a uniform time
    within `spread` seconds of the campaign's start.
    """

    kind: CampaignKindName = "generic"
    per_hour: float = Field(ge=0, description="campaigns of this kind started per hour")
    exposed: tuple[float, float] = Field(description="fraction of agents touched (min, max)")
    min_exposed: int = Field(3, ge=1, description="agents touched, at least")
    spread: float = Field(gt=0, description="seconds over which one campaign's exposures fall")

    @model_validator(mode="after")
    def _check(self) -> CampaignKind:
        lo, hi = self.exposed
        if not 0 <= lo <= hi <= 1:
            raise ValueError("exposed must be two fractions 0 <= min <= max <= 1")
        return self


# The default world: an internet-facing fleet. Scanners (Mirai-style bots,
# mass scanners) sweep most of the fleet within a minute; brute-forcers work
# through a few hosts for a quarter of an hour; C&C servers are contacted by
# a handful of infected hosts over half an hour. `docs/trust.md` also measures
# a sparse world (every campaign slow and narrow) where trust forms far slower.
DEFAULT_CAMPAIGNS: tuple[CampaignKind, ...] = (
    CampaignKind(kind="scanner", per_hour=20, exposed=(0.2, 0.8), spread=60),
    CampaignKind(kind="bruteforcer", per_hour=15, exposed=(0.02, 0.15), spread=900),
    CampaignKind(kind="cnc", per_hour=5, exposed=(0.01, 0.05), spread=1800),
)


class Detector(_S):
    tpr: float = Field(0.9, ge=0, le=1, description="chance an exposed agent detects")
    fpr: float = Field(0.001, ge=0, le=1, description="chance a benign contact is flagged")
    delay: float = Field(2.0, ge=0, description="max seconds from exposure to detection")


class Partition(_S):
    """For `duration` seconds from `start`, `fraction` of the agents (drawn at random)
    are cut off from the rest: messages cross between the two sides no more."""

    start: float = Field(ge=0)
    duration: float = Field(gt=0)
    fraction: float = Field(0.5, gt=0, lt=1)


class Network(_S):
    latency_ms: float = Field(30.0, ge=0, description="mean one-way delivery latency")
    loss: float = Field(0.01, ge=0, lt=1)
    churn: float = Field(
        0.0, ge=0, lt=1, description="share of the time an agent is offline (0: never)"
    )
    session_seconds: float = Field(
        1800.0, gt=0, description="mean online stretch of a churning agent (exponential)"
    )
    partitions: list[Partition] = Field(default_factory=list)


class Scenario(_S):
    name: str = "scenario"
    agents: int = Field(50, ge=2)
    duration: float = Field(3600.0, gt=0, description="simulated seconds")
    warmup: float = Field(
        0.0,
        ge=0,
        description="simulated seconds before measurement: campaigns starting earlier are "
        "not counted for recall and time to block (blocks and canary blocks always are)",
    )
    seed: int = 1
    model: ModelName = "starling"
    pretrusted_fraction: float = Field(0.0, ge=0, le=1)
    adversaries: list[Adversary] = Field(default_factory=list)
    campaigns: list[CampaignKind] = Field(default_factory=lambda: list(DEFAULT_CAMPAIGNS))
    canaries: int = Field(5, ge=0, description="benign IPs every agent talks to (CDN, DNS)")
    benign_ips: int = Field(500, ge=0, description="pool of other benign IPs")
    benign_contacts: int = Field(20, ge=0, description="benign IPs each honest agent sees")
    detector: Detector = Detector()
    network: Network = Network()
    lie_interval: float = Field(60.0, gt=0, description="seconds between an adversary's lies")
    sybil_identities: int = Field(10, ge=1, description="identities per Sybil agent")
    rejoin_seconds: float = Field(300.0, gt=0, description="whitewasher identity lifetime")
    spam_burst: int = Field(100, ge=1, description="messages per spammer burst (every 300 s)")
    traitor_switch: float = Field(0.5, ge=0, le=1, description="fraction of duration")
    adversary_start: float = Field(
        0.0,
        ge=0,
        description="simulated second at which the adversaries begin to lie, spam, replay "
        "or rejoin (before it: silent; selective liars and traitors still detect): "
        "adversaries joining a mesh that has run without them",
    )


class ScenarioError(ValueError):
    pass


def load_scenario(path: Path, overrides: dict[str, object] | None = None) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping of keys")
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        msgs = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: "
            f"{'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors()
        )
        raise ScenarioError(f"{path}: {msgs}") from None
