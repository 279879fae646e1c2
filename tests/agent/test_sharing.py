from __future__ import annotations

import pytest

from agent.config import ShareConfig
from agent.sharing import Sharer, refusal_reason
from detection.model import Evidence, ThreatLevel


def ev(attacker: str = "46.166.151.160", level: ThreatLevel = ThreatLevel.HIGH, conf: float = 1.0,
       ts: float = 0.0, **kw: object) -> Evidence:  # fmt: skip
    return Evidence(type="horizontal_port_scan", attacker=attacker, victim="10.0.0.5",
                    threat_level=level, confidence=conf, ts=ts, timewindow=1,
                    description="scan", source="local:t", **kw)  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("10.1.2.3", "not a globally routable address"),
        ("192.168.0.1", "not a globally routable address"),
        ("127.0.0.1", "not a globally routable address"),
        ("169.254.1.1", "not a globally routable address"),
        ("224.0.0.251", "not a globally routable address"),
        ("fe80::1", "not a globally routable address"),
        ("::ffff:10.0.0.1", "not a globally routable address"),
        ("203.0.113.5", "not a globally routable address"),  # documentation range
        ("8.8.4.4", "one of this host's addresses"),
        ("1.1.1.1", "a Starling peer's address"),
        ("46.166.151.160", None),
    ],
)
def test_refusal_rules(ip: str, reason: str | None) -> None:
    assert refusal_reason(ip, {"8.8.4.4"}, {"1.1.1.1"}) == reason


def test_share_policy_thresholds_and_victims() -> None:
    s = Sharer(ShareConfig())
    report = s.consider(ev(), now=0.0)
    assert report is not None and report.value == "46.166.151.160" and report.score == 0.8
    assert "10.0.0.5" not in repr(report)  # victims never leave the host
    assert Sharer(ShareConfig()).consider(ev(level=ThreatLevel.MEDIUM), 0.0) is None
    assert Sharer(ShareConfig()).consider(ev(conf=0.5), 0.0) is None
    assert Sharer(ShareConfig()).consider(ev(profile="9.9.9.9"), 0.0) is None  # about someone else


def test_reshare_only_after_interval_or_when_worse() -> None:
    s = Sharer(ShareConfig(reshare_seconds=600, min_threat="medium"))
    assert s.consider(ev(level=ThreatLevel.MEDIUM), 0.0) is not None
    assert s.consider(ev(level=ThreatLevel.MEDIUM), 10.0) is None
    assert s.consider(ev(level=ThreatLevel.HIGH), 20.0) is not None  # worse: at once
    assert s.consider(ev(level=ThreatLevel.HIGH), 30.0) is None
    assert s.consider(ev(level=ThreatLevel.HIGH), 700.0) is not None


def test_private_attackers_are_counted_not_shared() -> None:
    s = Sharer(ShareConfig(), own_addresses=["46.166.151.161"])
    assert s.consider(ev("10.0.2.112"), 0.0) is None
    assert s.consider(ev("46.166.151.161"), 0.0) is None
    assert s.refused == {"not a globally routable address": 1, "one of this host's addresses": 1}
