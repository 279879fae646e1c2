"""Routes that widen: detectors that want flows only once a DNS or TLS record
taught them something (`connection_without_dns`, `dns_without_connection`,
`pastebin_download`) ask the pipeline to re-route right after that record. Mixed
streams of flows and such records must give exactly the findings of handing
every flow to every detector."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_check import findings, reference

from agent.config import Config
from agent.pipeline import Pipeline
from detection.heuristics import DetectionContext
from detection.heuristics.base import (
    HAS_SOURCE_MAC,
    LONG_FLOW,
    LONG_FLOW_SECONDS,
    PORT_ZERO,
    PRIVATE,
    PUBLIC,
    UNANSWERED,
    flow_traits,
)
from detection.model import DnsRecord, Flow, Record, SslRecord

_CLIENTS = ["10.0.0.5", "192.168.1.7"]
_SERVERS = ["8.8.8.8", "93.184.216.34", "1.2.3.4", "104.20.1.2", "10.1.0.9"]
_NAMES = ["pastebin.com", "www.example.com", "paste.ee", "cdn.example.org"]


@pytest.fixture(scope="module")
def setup() -> tuple[Config, DetectionContext]:
    return reference()


@st.composite
def mixed_streams(draw: st.DrawFn) -> list[Record]:
    n = draw(st.integers(1, 200))
    ts = 1_700_000_000.0
    out: list[Record] = []
    for i in range(n):
        ts += draw(st.sampled_from([0.0, 1.0, 40.0, 900.0, 4000.0]))
        client, server = draw(st.sampled_from(_CLIENTS)), draw(st.sampled_from(_SERVERS))
        kind = draw(st.sampled_from(["flow", "flow", "flow", "dns", "ssl"]))
        if kind == "dns":
            answers = tuple(draw(st.lists(st.sampled_from(_SERVERS), max_size=2)))
            out.append(
                DnsRecord(
                    ts,
                    f"D{i}",
                    client,
                    5353,
                    "10.0.0.1",
                    53,
                    "udp",
                    draw(st.sampled_from(_NAMES)),
                    "A",
                    "NOERROR",
                    answers,
                )
            )
        elif kind == "ssl":
            out.append(
                SslRecord(
                    ts,
                    f"S{i}",
                    client,
                    40000,
                    server,
                    443,
                    "TLSv13",
                    "",
                    draw(st.sampled_from(_NAMES)),
                    True,
                    "",
                    "",
                    "ok",
                )
            )
        else:
            # Few distinct routes, so a route cached before a DNS record is used after it.
            dport = draw(st.sampled_from([53, 443, 4444, 4444]))
            out.append(
                Flow(
                    ts,
                    f"C{i}",
                    client,
                    40000,
                    server,
                    dport,
                    "tcp",
                    draw(st.sampled_from(["", "", "ssl"])),
                    1.0,
                    100,
                    draw(st.sampled_from([0, 800, 5000])),
                    3,
                    3,
                    "SF",
                    "ShADadFf",
                    True,
                )
            )
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=mixed_streams())
def test_widening_routes_change_no_finding(
    records: list[Record], setup: tuple[Config, DetectionContext]
) -> None:
    config, context = setup
    assert findings(records, config, context, route=True) == findings(
        records, config, context, route=False
    )


def test_routes_widen_after_the_first_dns_answer(setup: tuple[Config, DetectionContext]) -> None:
    """A conn-only stream does not reach the DNS detectors (or an empty Tor list);
    the first DNS record re-routes at once, and the very next flow reaches them."""
    config, context = setup
    pipeline = Pipeline(config, context=context)
    key = ("tcp", 4444, "", PRIVATE, PUBLIC)
    flow = Flow(
        1e9,
        "C1",
        "10.0.0.5",
        40000,
        "1.2.3.4",
        4444,
        "tcp",
        "",
        1.0,
        10,
        800,
        3,
        3,
        "SF",
        "ShADadFf",
        True,
    )
    pipeline.feed(flow)
    before = {o.__self__.name for o in pipeline._route(key)}
    assert not before & {"connection_without_dns", "dns_without_connection", "tor_exit_node"}
    assert "pastebin_download" not in before
    pipeline.feed(
        DnsRecord(
            1e9 + 1,
            "D1",
            "10.0.0.5",
            5353,
            "10.0.0.1",
            53,
            "udp",
            "pastebin.com",
            "A",
            "NOERROR",
            ("1.2.3.4",),
        )
    )
    assert not pipeline._routes  # rebuilt from the next flow on
    after = {o.__self__.name for o in pipeline._route(key)}
    assert {"connection_without_dns", "dns_without_connection", "pastebin_download"} <= after


def test_flow_traits_keep_trait_detectors_off_ordinary_flows(
    setup: tuple[Config, DetectionContext],
) -> None:
    """Short flows between non-zero ports without a MAC skip the detectors that
    need a trait; a flow with the trait reaches them (`Detector.needs_traits`)."""
    config, context = setup
    pipeline = Pipeline(config, context=context)
    key = ("tcp", 443, "ssl", PRIVATE, PUBLIC)
    trait_detectors = {
        "long_connection",
        "port_0_connection",
        "device_changing_ip",
        "multiple_reconnection_attempts",
    }
    plain = {o.__self__.name for o in pipeline._route(key, 0)}
    assert not plain & trait_detectors
    for traits, name in (
        (LONG_FLOW, "long_connection"),
        (PORT_ZERO, "port_0_connection"),
        (HAS_SOURCE_MAC, "device_changing_ip"),
        (UNANSWERED, "multiple_reconnection_attempts"),
    ):
        routed = {o.__self__.name for o in pipeline._route(key, traits)}
        assert name in routed
    base = Flow(
        1e9,
        "C1",
        "10.0.0.5",
        40000,
        "1.2.3.4",
        443,
        "tcp",
        "ssl",
        1.0,
        10,
        800,
        3,
        3,
        "SF",
        "ShADadFf",
        True,
    )
    assert flow_traits(base) == 0
    assert flow_traits(base._replace(duration=LONG_FLOW_SECONDS + 1)) == LONG_FLOW
    assert flow_traits(base._replace(sport=0)) == flow_traits(base._replace(dport=0)) == PORT_ZERO
    assert flow_traits(base._replace(smac="aa:bb:cc:00:00:01")) == HAS_SOURCE_MAC
    assert flow_traits(base._replace(established=False)) == UNANSWERED
