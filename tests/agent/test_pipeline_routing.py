"""Flow routing (`Detector.wants_flow`) is an optimisation only: with it, every
capture and every random stream must give exactly the findings of handing
every flow to every detector."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_check import findings, reference

from agent.analyze import iter_records
from agent.config import Config
from agent.pipeline import Pipeline
from detection.heuristics import DetectionContext
from detection.heuristics.base import PRIVATE, PUBLIC
from detection.model import Flow, Record

CAPTURES = Path(__file__).parents[1] / "data" / "captures"
SPECS = sorted(
    [
        *(str(p) for p in (CAPTURES / "zeek").iterdir() if p.name.startswith("test")),
        *(str(p) for p in (CAPTURES / "zeek" / "port-scans").iterdir()),
        *(str(p) for sub in ("argus", "argus-ctu", "suricata", "nfdump")
          for p in (CAPTURES / sub).iterdir()),
    ]
)  # fmt: skip


@pytest.fixture(scope="module")
def setup() -> tuple[Config, DetectionContext]:
    return reference()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: Path(s).name)
def test_routing_changes_no_finding_on_captures(
    spec: str, setup: tuple[Config, DetectionContext]
) -> None:
    config, context = setup
    records = list(iter_records(spec))
    routed = findings(records, config, context, route=True)
    assert routed == findings(records, config, context, route=False)


def test_routing_skips_uninterested_detectors(setup: tuple[Config, DetectionContext]) -> None:
    """The routes really are narrower: an HTTP flow to port 80 does not reach the
    ICMP sweep, GRE or SSH detectors, an ICMP flow does reach the sweep detector."""
    config, context = setup
    pipeline = Pipeline(config, context=context)
    http = {o.__self__.name for o in pipeline._route(("tcp", 80, "http", PRIVATE, PUBLIC))}
    icmp = {o.__self__.name for o in pipeline._route(("icmp", 0, "", PRIVATE, PUBLIC))}
    assert not http & {"icmp_sweep", "gre_tunnel", "gre_scan", "ssh_password_guessing"}
    assert "non_http_port_80" in http and "icmp_sweep" in icmp
    lan = {o.__self__.name for o in pipeline._route(("tcp", 445, "", PRIVATE, PRIVATE))}
    assert "connection_to_private_ip" in lan and "data_upload" not in lan
    assert "ssh_password_guessing" in {
        o.__self__.name for o in pipeline._route(("tcp", 2222, "ssh", PUBLIC, PRIVATE))
    }


_PROTOS = st.sampled_from(["tcp", "tcp", "tcp", "udp", "icmp", "gre", "ipv6-icmp"])
_PORTS = st.sampled_from([0, 22, 23, 25, 53, 80, 443, 2222, 4444, 8080, 31337, 50000, 65000])
_SERVICES = st.sampled_from(["", "", "ssh", "ssl", "http", "dns", "smtp"])
_STATES = st.sampled_from([("S0", "S", False), ("REJ", "Sr", False), ("SF", "ShADadFf", True)])
_ADDRS = st.sampled_from(
    ["10.0.0.5", "192.168.1.7", "10.1.0.9", "8.8.8.8", "93.184.216.34", "1.2.3.4", "224.0.0.251"]
)


@st.composite
def flow_streams(draw: st.DrawFn) -> list[Flow]:
    n = draw(st.integers(1, 300))
    ts = 1_700_000_000.0
    flows: list[Flow] = []
    for i in range(n):
        ts += draw(st.sampled_from([0.0, 0.5, 2.0, 60.0, 700.0]))
        state, history, established = draw(_STATES)
        flows.append(
            Flow(
                ts,
                f"C{i}",
                draw(_ADDRS),
                draw(st.sampled_from([0, 1024, 40000])),
                draw(_ADDRS),
                draw(_PORTS),
                draw(_PROTOS),
                draw(_SERVICES),
                draw(st.sampled_from([0.1, 4000.0])),
                draw(st.sampled_from([0, 1, 600, 200_000_000])),
                draw(st.sampled_from([0, 1, 600])),
                3,
                3,
                state,
                history,
                established,
                draw(st.sampled_from(["", "aa:bb:cc:00:00:01"])),
            )
        )
    return flows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows=flow_streams())
def test_routing_changes_no_finding_on_random_streams(
    flows: list[Flow], setup: tuple[Config, DetectionContext]
) -> None:
    config, context = setup
    records: list[Record] = list(flows)
    assert findings(records, config, context, route=True) == findings(
        records, config, context, route=False
    )
