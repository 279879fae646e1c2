"""Run records through a `Pipeline` and list its findings, for the tests that compare
flow routing on and off (tests/agent/test_pipeline_routing.py, ..._rerouting.py)."""

from __future__ import annotations

import functools

from agent.config import Config, load_config
from agent.pipeline import Pipeline
from agent.reference_data import load_reference_data
from detection.heuristics import DetectionContext
from detection.model import Evidence, Record

__all__ = ["findings", "reference"]


@functools.cache
def reference() -> tuple[Config, DetectionContext]:
    """The default configuration and the bundled reference data (loaded once)."""
    config = load_config(None)
    context, _ = load_reference_data(config)
    return config, context


def findings(
    records: list[Record], config: Config, context: DetectionContext, *, route: bool
) -> list[tuple[object, ...]]:
    """Every evidence the pipeline raises, as comparable tuples."""
    pipeline = Pipeline(config, context=context, route_flows=route)
    actions = [a for r in records for a in pipeline.feed(r)]
    actions.extend(pipeline.finish())
    return [
        (e.type, e.attacker, e.victim, e.ts, e.description, e.uids, e.confidence, e.count)
        for e in actions
        if isinstance(e, Evidence)
    ]
