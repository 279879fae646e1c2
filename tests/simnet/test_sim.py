from __future__ import annotations

from pathlib import Path

import pytest

from simnet.metrics import auc, percentile
from simnet.scenario import Adversary, Campaigns, Scenario, ScenarioError, load_scenario
from simnet.sim import Simulation

SMALL = {
    "agents": 20,
    "duration": 1800.0,
    "campaigns": Campaigns(count=25, exposed_min=3, exposed_max=10),
}


def run(**kw: object) -> dict[str, object]:
    return Simulation(Scenario(**{**SMALL, **kw})).run().metrics  # type: ignore[arg-type]


def test_same_seed_same_result_and_other_seed_differs() -> None:
    adv = [Adversary(kind="liar", fraction=0.3)]
    a = run(seed=7, adversaries=adv)
    assert a == run(seed=7, adversaries=adv)
    assert a != run(seed=8, adversaries=adv)


@pytest.mark.parametrize(
    "kind",
    [
        "liar",
        "colluder",
        "selective_liar",
        "traitor",
        "slanderer",
        "sybil",
        "whitewasher",
        "spammer",
        "replayer",
    ],
)
def test_each_adversary_kind_cannot_get_a_canary_blocked(kind: str) -> None:
    m = run(seed=3, adversaries=[Adversary(kind=kind, fraction=0.3)])
    assert m["canary_blocks"] == 0
    assert m["block_precision"] is None or m["block_precision"] >= 0.95
    assert m["block_recall"] is not None and m["block_recall"] >= 0.85


def test_liars_are_separated_from_honest_peers() -> None:
    m = run(seed=5, duration=3600.0, adversaries=[Adversary(kind="liar", fraction=0.3)])
    assert m["reputation_auc"] is not None and m["reputation_auc"] >= 0.95
    assert m["liar_reputation"] is not None and m["liar_reputation"] < 0.25


def test_trusting_everyone_is_poisoned_where_starling_is_not() -> None:
    adv = [Adversary(kind="colluder", fraction=0.5)]
    naive = run(seed=2, model="trust-all", adversaries=adv)
    ours = run(seed=2, model="starling", adversaries=adv)
    assert naive["canary_blocks"] > 0 and naive["block_precision"] < 0.9  # type: ignore[operator]
    assert ours["canary_blocks"] == 0 and ours["block_precision"] >= 0.99  # type: ignore[operator]


def test_replays_and_floods_are_refused_by_the_real_inbox() -> None:
    adversaries = [
        Adversary(kind="replayer", fraction=0.2),
        Adversary(kind="spammer", fraction=0.1),
    ]
    sim = Simulation(Scenario(**{**SMALL, "seed": 4, "adversaries": adversaries}))  # type: ignore[arg-type]
    sim.run()
    dropped: dict[str, int] = {}
    for a in sim.agents:
        if a.honest:
            for reason, n in a.inbox.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + n
    assert dropped.get("replayed", 0) + dropped.get("stale", 0) > 0
    assert dropped.get("rate_limited", 0) > 0


def test_metric_helpers() -> None:
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auc([0.5], [0.5]) == 0.5
    assert percentile([1.0, 2.0, 3.0], 0.5) == 2.0


def test_scenario_files_validate(tmp_path: Path) -> None:
    bundled = Path(__file__).parents[2] / "src" / "simnet" / "scenarios"
    for f in bundled.glob("*.yaml"):
        load_scenario(f)
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: 10\nadversaries: [{kind: gremlin, fraction: 0.1}]\nmodle: x\n")
    with pytest.raises(ScenarioError, match="modle: unknown key"):
        load_scenario(bad)
