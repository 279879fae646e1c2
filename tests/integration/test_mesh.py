"""Five real agents on 127.0.0.1: a scan seen by one is reported by all the others."""

from __future__ import annotations

import time
from pathlib import Path

SCANNER = "46.166.151.160"  # a real scanner address (Argus test3); the capture's own is private


def test_five_agents_share_a_scan_within_five_seconds(
    agents, wait_until, scan_log, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    zeek = tmp_path / "zeek1"
    zeek.mkdir()
    first = agents.start("a1", zeek_dir=zeek)
    chain = [first]
    for i in range(2, 6):
        chain.append(agents.start(f"a{i}", bootstrap=[chain[-1].addrs[0]]))

    def connected() -> bool:
        return all(
            sum(p["connected"] for p in a.get("/api/v1/peers")[1]["peers"])
            >= (1 if a in (chain[0], chain[-1]) else 2)
            for a in chain
        )

    assert wait_until(connected, 30), [a.get("/api/v1/peers")[1] for a in chain]
    time.sleep(3)  # a few GossipSub heartbeats for the mesh to form
    start = time.monotonic()
    (zeek / "conn.log").write_text(scan_log(SCANNER))

    def everyone_knows() -> bool:
        for a in chain[1:]:
            status, body = a.get(f"/api/v1/ip/{SCANNER}")
            assert status == 200
            if first.peer_id not in body["reporters"]:
                return False
        return True

    assert wait_until(everyone_knows, 5.0), "not every agent got the report within 5 s"
    elapsed = time.monotonic() - start
    for a in chain[1:]:
        _, body = a.get(f"/api/v1/ip/{SCANNER}")
        (report,) = [r for r in body["peer_reports"] if r["reporter"] == first.peer_id]
        assert report["evidence_types"] == ["horizontal_port_scan"]
        assert report["score"] == 0.8 and report["envelope"]
        assert body["local"]["verdict"] == "no local evidence"
    _, own = first.get(f"/api/v1/ip/{SCANNER}")
    assert own["local"]["evidence"] >= 1 and own["peer_reports"] == []
    print(f"report reached 4 agents {elapsed:.2f} s after the log was written")
