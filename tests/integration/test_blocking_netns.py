"""`starling block` against the real kernel, inside throw-away network namespaces.

Each test runs the CLI in the protected namespace (`ip netns exec`), exactly as an
operator would on the host, and checks from the attacker namespace that ping and
a TCP connect stop working when banned and work again after removal or expiry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

NetnsPair = Any  # tests/integration/conftest.py: NetnsPair (conftest is not importable)
BACKENDS = ["nftables", "iptables"]


def block(
    pair: NetnsPair, data: Path, *args: str, backend: str = "nftables", config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "agent", "block", *args, "--data-dir", str(data), "-o", "json"]
    if backend:
        argv += ["--backend", backend]
    if config is not None:
        argv += ["-c", str(config)]
    return pair.run(pair.prot, argv)


def ok(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def nft_set(pair: NetnsPair, name: str) -> list[Any]:
    proc = pair.run(pair.prot, ["nft", "-j", "list", "set", "inet", "starling", name])
    assert proc.returncode == 0, proc.stderr
    (entry,) = [e["set"] for e in json.loads(proc.stdout)["nftables"] if "set" in e]
    return [e["elem"]["val"] for e in entry.get("elem", [])]


@pytest.mark.parametrize("backend", BACKENDS)
def test_ban_cuts_ipv4_and_ipv6_then_removal_restores(
    netns_pair: NetnsPair, tmp_path: Path, backend: str
) -> None:
    p = netns_pair
    assert p.reachable(p.prot4) == (True, True)
    assert p.reachable(p.prot6) == (True, True)

    added = ok(block(p, tmp_path, "add", p.atk4, "--ttl", "600", backend=backend))
    assert (added["value"], added["origin"], added["scope"]) == (p.atk4, "manual", "ip")
    assert p.reachable(p.prot4) == (False, False)
    assert p.reachable(p.prot6) == (True, True)  # only the banned address family and value

    ok(block(p, tmp_path, "add", p.atk6, "--ttl", "600", backend=backend))
    assert p.reachable(p.prot6) == (False, False)
    listed = ok(block(p, tmp_path, "list", backend=backend))
    assert {d["value"] for d in listed["decisions"]} == {p.atk4, p.atk6}
    assert {k["value"] for k in listed["kernel"]} == {p.atk4, p.atk6}
    assert all(500 < k["expires_in"] <= 600 for k in listed["kernel"])

    lifted = ok(block(p, tmp_path, "remove", p.atk4, backend=backend))
    assert [d["value"] for d in lifted] == [p.atk4] and lifted[0]["lifted"] is not None
    assert p.reachable(p.prot4) == (True, True)
    assert p.reachable(p.prot6) == (False, False)
    assert len(ok(block(p, tmp_path, "flush", backend=backend))) == 1
    assert p.reachable(p.prot6) == (True, True)
    assert ok(block(p, tmp_path, "list", backend=backend)) == {
        "decisions": [],
        "backend": backend,
        "kernel": [],
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_ban_expires_in_the_kernel(
    netns_pair: NetnsPair, tmp_path: Path, backend: str, wait_until: Any
) -> None:
    p = netns_pair
    ok(block(p, tmp_path, "add", p.atk4, "--ttl", "2", backend=backend))
    assert p.reachable(p.prot4) == (False, False)
    # No agent is running: only the kernel's timeout can lift it.
    assert wait_until(lambda: p.tcp(p.prot4), 15, 0.2)
    assert p.ping(p.prot4)
    assert ok(block(p, tmp_path, "list", backend=backend))["decisions"] == []


def test_range_ban_and_ipv4_mapped_normalisation(netns_pair: NetnsPair, tmp_path: Path) -> None:
    p = netns_pair
    added = ok(block(p, tmp_path, "add", f"::ffff:{p.atk4}", "--ttl", "600"))
    assert added["value"] == p.atk4  # the IPv4 packets' source, not an IPv6 entry
    assert nft_set(p, "ban4") == [p.atk4] and nft_set(p, "ban6") == []
    assert p.reachable(p.prot4) == (False, False)
    ok(block(p, tmp_path, "remove", p.atk4))
    assert p.reachable(p.prot4) == (True, True)
    # Ranges go to the interval sets; .2/31 and ::2/127 hold the attacker, not us.
    for value, family in (("10.77.0.3/31", "ban4net"), ("fd77::3/127", "ban6net")):
        ranged = ok(block(p, tmp_path, "add", value, "--ttl", "600"))
        assert ranged["scope"] == "range" and ranged["value"] == value.replace("3/", "2/")
        (elem,) = nft_set(p, family)
        assert f"{elem['prefix']['addr']}/{elem['prefix']['len']}" == ranged["value"]
    assert p.reachable(p.prot4) == (False, False)
    assert p.reachable(p.prot6) == (False, False)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("10.77.0.254", "default gateway 10.77.0.254"),
        ("10.77.0.1", "own address 10.77.0.1"),
        ("fd77::1", "own address fd77::1"),
        ("10.77.0.128/25", "default gateway 10.77.0.254"),  # the range covers the gateway
        ("8.8.8.8", "allowlisted (organization google"),
        ("127.0.0.2", "loopback"),
    ],
)
def test_protected_addresses_are_refused(
    netns_pair: NetnsPair, tmp_path: Path, value: str, why: str
) -> None:
    proc = block(netns_pair, tmp_path, "add", value, "--ttl", "60")
    assert proc.returncode == 2
    assert f"starling: refusing to block {value}: {why}" in proc.stderr
    assert "Traceback" not in proc.stderr
    ruleset = netns_pair.run(netns_pair.prot, ["nft", "list", "ruleset"]).stdout
    assert value.split("/", maxsplit=1)[0] not in ruleset  # nothing reached the kernel


def test_configured_never_block_is_refused(netns_pair: NetnsPair, tmp_path: Path) -> None:
    p = netns_pair
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"blocking": {"never_block": [f"{p.atk4}/32"]}}))
    proc = block(p, tmp_path, "add", p.atk4, "--ttl", "60", config=cfg)
    assert proc.returncode == 2
    assert f"refusing to block {p.atk4}: never_block entry {p.atk4}/32" in proc.stderr
    assert p.reachable(p.prot4) == (True, True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "not-an-ip", "--ttl", "60"], "not an IP address or CIDR network: 'not-an-ip'"),
        (["add", "10.77.0.2", "--ttl", "0"], "--ttl must be between 1 and"),
        (["add", "10.77.0.2", "--ttl", "nan"], "--ttl must be between 1 and"),
        (["remove", "10.77.0.2/33"], "not an IP address or CIDR network"),
        (["list", "--backend", "pf"], "unknown --backend 'pf'"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    netns_pair: NetnsPair, tmp_path: Path, args: list[str], message: str
) -> None:
    proc = block(netns_pair, tmp_path, *args, backend="")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_restore_reapplies_bans_after_the_kernel_lost_them(
    netns_pair: NetnsPair, tmp_path: Path, backend: str
) -> None:
    p = netns_pair
    ok(block(p, tmp_path, "add", p.atk4, "--ttl", "600", backend=backend))
    ok(block(p, tmp_path, "add", p.atk6, "--ttl", "600", backend=backend))
    # A reboot (or someone flushing the firewall) empties the kernel; the store remembers.
    if backend == "nftables":
        assert p.run(p.prot, ["nft", "delete", "table", "inet", "starling"]).returncode == 0
    else:
        for name in ("starling4", "starling6"):
            assert p.run(p.prot, ["ipset", "flush", name]).returncode == 0
    assert p.reachable(p.prot4) == (True, True)
    restored = ok(block(p, tmp_path, "restore", backend=backend))
    assert restored == {"applied": 2, "refused": 0, "failed": 0}
    assert p.reachable(p.prot4) == (False, False)
    assert p.reachable(p.prot6) == (False, False)
    # setup is idempotent: restoring again neither duplicates rules nor drops bans.
    ok(block(p, tmp_path, "restore", backend=backend))
    assert len(ok(block(p, tmp_path, "list", backend=backend))["kernel"]) == 2
    if backend == "nftables":
        rules = p.run(p.prot, ["nft", "list", "chain", "inet", "starling", "input"]).stdout
        assert rules.count("drop") == 4
