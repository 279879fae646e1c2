"""The federated loop with trust: peers' reports weighed by reputation, acted on through
the same decision step, allowlisted addresses protected, reputations learned and kept."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from agent.identity import load_identity

SCANNER = "46.166.151.160"
ALLOWLISTED = "92.205.111.3"  # in the bundled allowlist (an IP-lookup service Slips allowlists)


def test_consensus_of_trusted_peers_becomes_evidence_and_allowlist_is_protected(  # type: ignore[no-untyped-def]
    agents, wait_until, scan_log, tmp_path: Path
) -> None:
    reporters = []
    for i in range(3):
        zeek = tmp_path / f"zeek-r{i}"
        zeek.mkdir()
        boot = [reporters[0][0].addrs[0]] if reporters else []
        # The reporters' own disputes are off: they post "mistakes" about an address
        # they allowlist themselves, and this test counts the observer's judgements.
        reporters.append(
            (
                agents.start(
                    f"r{i}", zeek_dir=zeek, bootstrap=boot, config={"trust": {"disputes": False}}
                ),
                zeek,
            )
        )
    ids = [r.peer_id for r, _ in reporters]
    obs_zeek = tmp_path / "zeek-obs"
    obs_zeek.mkdir()
    load_identity(tmp_path / "obs")  # the observer's identity exists before it starts
    observer = agents.start(
        "obs",
        zeek_dir=obs_zeek,
        bootstrap=[reporters[0][0].addrs[0]],
        config={"trust": {"pretrusted": ids}},
    )

    def all_connected() -> bool:
        peers = observer.get("/api/v1/peers")[1]["peers"]
        return sum(p["connected"] for p in peers) >= 1 and all(
            any(p["connected"] for p in r.get("/api/v1/peers")[1]["peers"]) for r, _ in reporters
        )

    assert wait_until(all_connected, 30)
    time.sleep(3)  # GossipSub mesh

    # Two reporters are not enough (three trusted reporters are required).
    for _, zeek in reporters[:2]:
        (zeek / "conn.log").write_text(scan_log(SCANNER))
    assert wait_until(lambda: len(observer.get(f"/api/v1/ip/{SCANNER}")[1]["reporters"]) == 2, 30)
    view = observer.get(f"/api/v1/ip/{SCANNER}")[1]
    assert view["network_opinion"]["block"] is False
    assert "peer_consensus" not in view["local"]["evidence_types"]

    # The third trusted reporter tips the opinion; it becomes evidence in the pipeline.
    (reporters[2][1] / "conn.log").write_text(scan_log(SCANNER))

    def consensus() -> bool:
        v = observer.get(f"/api/v1/ip/{SCANNER}")[1]
        return v["network_opinion"]["block"] and "peer_consensus" in v["local"]["evidence_types"]

    assert wait_until(consensus, 30), observer.get(f"/api/v1/ip/{SCANNER}")[1]
    view = observer.get(f"/api/v1/ip/{SCANNER}")[1]
    op = view["network_opinion"]
    assert op["trusted_reporters"] == 3
    assert {c["reporter"] for c in op["contributions"]} == set(ids)
    assert all(c["weight"] > 0.3 for c in op["contributions"])
    (ev,) = [e for e in view["local"]["recent_evidence"] if e["type"] == "peer_consensus"]
    assert ev["source"].startswith("peer:") and ev["attacker"] == SCANNER

    # Peers report an allowlisted address: never acted on, and it costs them reputation.
    for r, _ in reporters:
        status, _ = r.post("/api/v1/reports", {"ip": ALLOWLISTED, "reason": "mistake"})
        assert status == 202
    assert wait_until(
        lambda: len(observer.get(f"/api/v1/ip/{ALLOWLISTED}")[1]["reporters"]) == 3, 10
    )
    view = observer.get(f"/api/v1/ip/{ALLOWLISTED}")[1]
    assert view["network_opinion"]["block"] is False
    assert "protected" in view["network_opinion"]["reason"]
    assert view["local"]["evidence"] == 0
    # ... and the observer disputes the lie once (a signed benign report), which the
    # reporters receive as the observer's claim about that address.
    shared = observer.get("/api/v1/peers")[1]["shared"]
    assert shared.get("disputes_sent") == 1, sorted(shared.items())

    def dispute_arrived() -> bool:
        claims = reporters[0][0].get(f"/api/v1/ip/{ALLOWLISTED}")[1]["network_opinion"]
        return any(
            c["reporter"] == observer.peer_id and c["score"] == 0.0 for c in claims["contributions"]
        )

    assert wait_until(dispute_arrived, 30)

    # The observer's own detector sees the scanner: the earlier reporters are confirmed.
    (obs_zeek / "conn.log").write_text(scan_log(SCANNER))

    def trust_of(agent):  # type: ignore[no-untyped-def]
        return {p["peer_id"]: p["trust"] for p in agent.get("/api/v1/peers")[1]["peers"]}

    assert wait_until(
        lambda: all(trust_of(observer).get(i, {}).get("confirmed") == 1 for i in ids), 15
    )
    trust = trust_of(observer)
    for i in ids:
        assert trust[i]["contradicted"] == 1 and trust[i]["pretrusted"] is True

    # Reputations survive a restart.
    observer.proc.send_signal(signal.SIGTERM)
    observer.proc.wait(timeout=20)
    again = agents.start(
        "obs", bootstrap=[reporters[0][0].addrs[0]], config={"trust": {"pretrusted": ids}}
    )
    assert wait_until(
        lambda: any(p["connected"] for p in again.get("/api/v1/peers")[1]["peers"]), 30
    )
    kept = trust_of(again)
    assert kept[reporters[0][0].peer_id]["confirmed"] == 1
    assert kept[reporters[0][0].peer_id]["contradicted"] == 1
