"""Two real agents in two network namespaces: a scan seen by agent A becomes, through
the mesh and B's trust in A, a kernel ban in B's namespace; B's own alerts go through
the same policy; a restarted B restores its bans.

Topology (tests/integration/conftest.py `netns_pair`):

    atk ns: A (10.77.0.2), and SCANNER as an extra address  ──veth──  prot ns: B (10.77.0.1)

A follows its own Zeek directory; the scan capture's source is rewritten to SCANNER, so
the packets that B must then drop really come from that address in the attacker's
namespace. B does not know A at first: A's reports change nothing in B's kernel until
B's own detectors have confirmed three of them (trust earned, weight 0.30 >= 0.28);
B needs one trusted reporter, so from then on A's report suffices.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

SCANNER = "46.166.151.160"  # a public address: agents never share private ones
LOCAL_SCANNER = "46.166.151.161"
EARLY = ["46.166.151.170", "46.166.151.171", "46.166.151.172"]  # scanners both see


def several_scans(scan_log: Any, scanners: list[str]) -> str:
    """One Zeek conn.log with the horizontal scan repeated from each scanner."""
    first, *rest = scanners
    text = scan_log(first)
    body = [line for line in scan_log(first).splitlines() if not line.startswith("#")]
    for other in rest:
        text += "\n".join(line.replace(first, other) for line in body) + "\n"
    return text


def banned(pair: Any) -> set[str]:
    proc = pair.run(pair.prot, ["nft", "-j", "list", "set", "inet", "starling", "ban4"])
    if proc.returncode != 0:  # no table (yet)
        return set()
    (entry,) = [e["set"] for e in json.loads(proc.stdout)["nftables"] if "set" in e]
    return {e["elem"]["val"] for e in entry.get("elem", [])}


def ns_api(pair: Any, ns: str, agent: Any, path: str) -> Any:
    """GET the agent's API from inside its namespace (its 127.0.0.1 is not ours)."""
    code = (
        "import sys, urllib.request\n"
        "auth = {'Authorization': 'Bearer ' + sys.argv[2]}\n"
        "r = urllib.request.Request(sys.argv[1], headers=auth)\n"
        "print(urllib.request.urlopen(r, timeout=10).read().decode())\n"
    )
    proc = pair.run(ns, [sys.executable, "-c", code, agent.api + path, agent.token])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def decisions(pair: Any, data_dir: Path) -> list[dict[str, Any]]:
    argv = [sys.executable, "-m", "agent", "block", "list", "-o", "json", "--data-dir"]
    proc = pair.run(pair.prot, [*argv, str(data_dir)])
    assert proc.returncode == 0, proc.stderr
    result: list[dict[str, Any]] = json.loads(proc.stdout)["decisions"]
    return result


@pytest.mark.slow
def test_peer_alert_becomes_a_kernel_ban_in_another_namespace(  # type: ignore[no-untyped-def]
    agents, wait_until, scan_log, netns_pair, tmp_path: Path
) -> None:
    p = netns_pair
    assert p.run(p.atk, ["ip", "addr", "add", f"{SCANNER}/32", "dev", p.veth_atk]).returncode == 0
    for host in (SCANNER, LOCAL_SCANNER):
        route = ["ip", "route", "add", f"{host}/32", "dev", p.veth_prot]
        assert p.run(p.prot, route).returncode == 0
    assert p.ping(p.prot4, src=SCANNER) and p.tcp(p.prot4, src=SCANNER)

    zeek_a, zeek_b = tmp_path / "zeek-a", tmp_path / "zeek-b"
    zeek_a.mkdir()
    zeek_b.mkdir()
    a = agents.start(
        "a", zeek_dir=zeek_a, netns=p.atk, config={"p2p": {"listen": [f"/ip4/{p.atk4}/tcp/0"]}}
    )
    b_config = {
        "p2p": {"listen": [f"/ip4/{p.prot4}/tcp/0"]},
        "trust": {"min_reporters": 1, "min_support": 0.2},
        "alerts": {"threshold": 0.1},
        "blocking": {"enabled": True, "backend": "nftables", "ttl_seconds": 600, "jitter": 0},
    }
    b = agents.start("b", zeek_dir=zeek_b, netns=p.prot, bootstrap=a.addrs, config=b_config)

    def connected() -> bool:
        peers = ns_api(p, p.prot, b, "/api/v1/peers")["peers"]
        return any(x["connected"] and x["peer_id"] == a.peer_id for x in peers)

    assert wait_until(connected, 30, 0.5)
    assert wait_until(lambda: banned(p) == set(), 30)  # B set up its table, empty
    time.sleep(3)  # GossipSub mesh

    # A reports three scanners. B does not trust A yet: nothing reaches B's kernel.
    (zeek_a / "conn.log").write_text(several_scans(scan_log, EARLY))

    def reported(ip: str) -> bool:
        return a.peer_id in ns_api(p, p.prot, b, f"/api/v1/ip/{ip}")["reporters"]

    assert wait_until(lambda: all(reported(ip) for ip in EARLY), 30, 0.5)
    opinion = ns_api(p, p.prot, b, f"/api/v1/ip/{EARLY[0]}")["network_opinion"]
    assert opinion["block"] is False and opinion["trusted_reporters"] == 0
    assert banned(p) == set()

    # B's own detectors see the same three scanners: B bans them itself (local-alert)
    # and each confirms A's earlier report, which makes A a trusted reporter.
    (zeek_b / "conn.log").write_text(several_scans(scan_log, EARLY))
    assert wait_until(lambda: banned(p) == set(EARLY), 30, 0.5), "".join(b.output[-40:])

    def trust_in_a() -> dict[str, Any]:
        peers = ns_api(p, p.prot, b, "/api/v1/peers")["peers"]
        return next(x["trust"] for x in peers if x["peer_id"] == a.peer_id)

    assert wait_until(lambda: trust_in_a()["confirmed"] == 3, 15, 0.5), trust_in_a()
    assert trust_in_a()["weight"] >= 0.28

    # Now A's report alone is enough: B raises peer_consensus evidence in its pipeline,
    # alerts, decides, and bans in its own namespace's kernel.
    (zeek_a / "conn.log").write_text(scan_log(SCANNER))
    assert wait_until(lambda: SCANNER in banned(p), 30, 0.5), "".join(b.output[-40:])
    assert not p.ping(p.prot4, src=SCANNER)
    assert not p.tcp(p.prot4, src=SCANNER)
    assert p.ping(p.prot4) and p.tcp(p.prot4)  # A's own address (a peer) still gets through
    by_value = {d["value"]: d for d in decisions(p, b.data_dir)}
    assert {v: d["origin"] for v, d in by_value.items() if v in EARLY} == dict.fromkeys(
        EARLY, "local-alert"
    )
    peer_decision = by_value[SCANNER]
    assert peer_decision["origin"] == "peer-consensus"
    assert peer_decision["evidence_ids"] and peer_decision["dry_run"] is False
    assert 590 <= peer_decision["expires"] - peer_decision["created"] <= 600

    # B's own detector again: the same policy, origin local-alert.
    (zeek_b / "conn.log").write_text(scan_log(LOCAL_SCANNER))
    assert wait_until(lambda: LOCAL_SCANNER in banned(p), 30, 0.5), "".join(b.output[-40:])
    origins = {d["value"]: d["origin"] for d in decisions(p, b.data_dir)}
    assert origins[SCANNER] == "peer-consensus" and origins[LOCAL_SCANNER] == "local-alert"

    # Stop B: its bans stay in the kernel. Lose them (as a reboot would), restart B:
    # it restores both from its store in one batch.
    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(timeout=30) == 0
    everything = {SCANNER, LOCAL_SCANNER, *EARLY}
    assert banned(p) == everything
    assert p.run(p.prot, ["nft", "delete", "table", "inet", "starling"]).returncode == 0
    assert p.ping(p.prot4, src=SCANNER)
    again = agents.start("b", zeek_dir=zeek_b, netns=p.prot, bootstrap=a.addrs, config=b_config)
    ready = json.loads(next(line for line in again.output if line.startswith('{"event":"ready"')))
    assert ready["blocking"] == {"mode": "nftables", "restored": len(everything)}
    assert banned(p) == everything
    assert not p.tcp(p.prot4, src=SCANNER)
