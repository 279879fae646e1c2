"""Anti-lockout: what is protected, why, overlap both ways, fail closed; the facts parsers."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.blocking.facts import (
    parse_ip_addr,
    parse_resolv,
    parse_routes,
    parse_ss,
    parse_ssh_env,
    system_sources,
)
from agent.blocking.guard import FactError, Guard
from agent.blocking.target import parse_target
from detection.allowlist import AllowEntry, Allowlist


def check(guard: Guard, value: str) -> str | None:
    return guard.check(parse_target(value))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("255.255.255.255", "broadcast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("1.0.0.0/7", "too broad"),
        ("2001:db8::/31", "too broad"),
    ],
)
def test_always_protected(value: str, why: str) -> None:
    reason = check(Guard(), value)
    assert reason is not None and why in reason


def test_entries_overlap_either_way() -> None:
    guard = Guard([("10.0.0.1", "default gateway"), ("192.168.0.0/16", "never_block entry")])
    assert check(guard, "10.0.0.1") == "default gateway 10.0.0.1"
    assert check(guard, "10.0.0.0/24") == "default gateway 10.0.0.1"  # a range covering it
    assert check(guard, "192.168.7.7") == "never_block entry 192.168.0.0/16"  # inside a range
    assert check(guard, "10.0.0.2") is None
    assert check(guard, "10.0.1.0/24") is None
    assert check(guard, "203.0.113.5") is None


def test_many_entries_nested_and_disjoint() -> None:
    entries = [(f"10.{i}.0.0/16", f"e{i}") for i in range(0, 200, 2)]
    entries += [("10.4.5.6", "inner"), ("10.0.0.0/8", "outer")]
    guard = Guard(entries)
    assert check(guard, "10.5.0.1") == "outer 10.0.0.0/8"
    assert check(guard, "11.0.0.1") is None
    only_disjoint = Guard([(f"10.{i}.0.0/16", f"e{i}") for i in range(0, 200, 2)])
    assert check(only_disjoint, "10.5.0.1") is None
    assert check(only_disjoint, "10.6.0.1") == "e6 10.6.0.0/16"
    assert check(only_disjoint, "10.5.0.0/15") == "e4 10.4.0.0/16"


def test_allowlist_entries_and_organisations() -> None:
    allowlist = Allowlist([AllowEntry("ip", "198.51.100.0/24"), AllowEntry("ip", "192.0.2.7")])
    guard = Guard(allowlist=allowlist)
    assert "allowlist entry" in (check(guard, "198.51.100.9") or "")
    assert "allowlist entry" in (check(guard, "192.0.2.0/24") or "")  # range covers an entry
    assert check(guard, "192.0.3.1") is None


def test_sources_are_refreshed_and_failure_closes() -> None:
    now = [0.0]
    facts: list[tuple[str, str]] = [("10.9.9.9", "SSH client")]
    broken = [False]

    def source() -> list[tuple[str, str]]:
        if broken[0]:
            raise FactError("ss: not found")
        return list(facts)

    guard = Guard(sources=[source], refresh_seconds=5.0, clock=lambda: now[0])
    assert check(guard, "10.9.9.9") == "SSH client 10.9.9.9"
    facts.append(("10.8.8.8", "SSH client"))
    assert check(guard, "10.8.8.8") is None  # not re-read yet
    now[0] = 5.0
    assert check(guard, "10.8.8.8") == "SSH client 10.8.8.8"
    broken[0] = True
    now[0] = 10.0
    assert check(guard, "203.0.113.1") == "cannot verify anti-lockout (ss: not found)"
    broken[0] = False
    guard.refresh()
    assert check(guard, "203.0.113.1") is None


IP_ADDR = """[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1",
"prefixlen":8},{"family":"inet6","local":"::1","prefixlen":128}]},{"ifindex":2,"ifname":"eth0",
"addr_info":[{"family":"inet","local":"10.0.2.15","prefixlen":24},{"family":"inet6",
"local":"fe80::a00:27ff:fe4e:66a1","prefixlen":64}]},{"ifindex":3,"ifname":"down"}]"""
ROUTES = """[{"dst":"default","gateway":"10.0.2.2","dev":"eth0"},
{"dst":"default","nexthops":[{"gateway":"192.168.1.1","dev":"a"},{"gateway":"192.168.2.1"}]},
{"dst":"default","dev":"wg0"}]"""
SS = """0      0       10.0.2.15:22     10.0.2.2:51234
0      0       [::ffff:10.0.2.15]:22    [::ffff:192.0.2.4]:40000
0      0       [fe80::1%eth0]:22    [fe80::2%eth0]:40001
0      0       [2001:db8::1]:22    [2001:db8::99]:40002
"""


def test_parsers() -> None:
    assert parse_ip_addr(IP_ADDR) == ["127.0.0.1", "::1", "10.0.2.15", "fe80::a00:27ff:fe4e:66a1"]
    assert parse_routes(ROUTES) == ["10.0.2.2", "192.168.1.1", "192.168.2.1"]
    assert parse_routes("") == []
    resolv = "# comment\nnameserver 10.255.255.53\nsearch x\nnameserver  2001:4860::8888 \n"
    assert parse_resolv(resolv) == ["10.255.255.53", "2001:4860::8888"]
    assert parse_ss(SS) == ["10.0.2.2", "::ffff:192.0.2.4", "fe80::2", "2001:db8::99"]
    env = {"SSH_CLIENT": "192.0.2.1 5555 22", "SSH_CONNECTION": "192.0.2.2 1 10.0.0.1 22"}
    assert parse_ssh_env(env) == ["192.0.2.1", "192.0.2.2"]
    with pytest.raises(FactError, match="unparsable"):
        parse_ip_addr("not json")


def test_system_sources_feed_the_guard(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\n")
    outputs = {"addr": IP_ADDR, "route": ROUTES, "ss": SS}
    calls: list[list[str]] = []

    def run(argv: list[str]) -> str:
        calls.append(argv)
        return outputs["ss" if argv[0] == "ss" else argv[-2] if argv[-1] == "show" else "route"]

    sources = system_sources(
        ssh_ports=[22, 2222],
        resolv_conf=resolv,
        environ={"SSH_CLIENT": "198.51.100.1 1 22"},
        run=run,
    )
    guard = Guard(sources=sources)
    assert check(guard, "10.0.2.15") == "own address 10.0.2.15"
    assert check(guard, "192.168.2.1") == "default gateway 192.168.2.1"
    assert check(guard, "192.0.2.53") == "DNS server (resolv.conf) 192.0.2.53"
    assert check(guard, "192.0.2.4") == "SSH client ::ffff:192.0.2.4"
    assert check(guard, "198.51.100.1") == "SSH client 198.51.100.1"
    assert check(guard, "2001:db8::99") == "SSH client 2001:db8::99"
    assert check(guard, "198.51.100.2") is None
    assert ["ss", "-Htn", "state", "established", "( sport = :22 or sport = :2222 )"] in calls


def test_a_missing_tool_fails_closed(tmp_path: Path) -> None:
    def run(argv: list[str]) -> str:
        raise FactError(f"{argv[0]}: No such file or directory")

    guard = Guard(sources=system_sources(resolv_conf=tmp_path / "absent", environ={}, run=run))
    reason = check(guard, "203.0.113.1")
    assert reason is not None and reason.startswith("cannot verify anti-lockout")
