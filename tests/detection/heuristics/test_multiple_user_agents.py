from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.multiple_user_agents import MultipleUserAgents, MultipleUserAgentsParams
from detection.model import ThreatLevel

AGENTS = [f"Mozilla/5.0 (Windows NT 10.0) Agent/{i}" for i in range(200)]


def _det() -> MultipleUserAgents:
    return MultipleUserAgents(MultipleUserAgentsParams())


def test_five_agents_from_one_host(rec: SimpleNamespace) -> None:
    agents = ["Wget/1.21.2", "curl/8.0", "python-requests/2.31", "Go-http-client/1.1", "Java/17"]
    records = [rec.http(ts=100.0 + i, ua=ua, uid=f"H{i}") for i, ua in enumerate(agents)]
    (ev,) = rec.drive(_det(), records + records)  # repeats add nothing
    assert ev.type == "multiple_user_agents"
    assert (ev.attacker, ev.victim, ev.count) == ("10.0.0.1", None, 5)
    assert ev.threat_level is ThreatLevel.LOW and ev.confidence == 0.3
    assert ev.attack_technique == "T1071.001"
    assert ev.description.startswith("5 different HTTP user agents from 10.0.0.1 in this window")
    assert "'Wget/1.21.2'" in ev.description and ev.uids == ("H0", "H1", "H2", "H3", "H4")


def test_four_agents_and_os_background_agents_stay_quiet(rec: SimpleNamespace) -> None:
    records = [rec.http(ts=100.0 + i, ua=AGENTS[i]) for i in range(4)]
    background = ["Microsoft-CryptoAPI/10.0", "Microsoft BITS/7.8", "Windows-Update-Agent/10.0",
                  "Debian APT-HTTP/1.3 (2.6.1)", "", "-"]  # fmt: skip
    records += [rec.http(ts=200.0 + i, ua=ua) for i, ua in enumerate(background)]
    assert rec.drive(_det(), records) == []


def test_agents_are_counted_per_host_and_window(rec: SimpleNamespace) -> None:
    records = [rec.http(f"10.0.0.{i}", ua=AGENTS[i]) for i in range(10)]  # 10 hosts, 1 each
    records += [rec.http(ts=100.0 + 3600 * i, ua=AGENTS[i]) for i in range(10)]  # 10 windows
    assert rec.drive(_det(), records) == []


def test_no_flood(rec: SimpleNamespace) -> None:
    evs = rec.drive(_det(), [rec.http(ts=100.0 + i, ua=AGENTS[i]) for i in range(200)])
    assert [e.count for e in evs] == [5, 10, 100]
    assert evs[-1].confidence == 0.6
