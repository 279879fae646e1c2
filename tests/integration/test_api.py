"""The agent's local API against a running agent: auth, validation, opinions from peers."""

from __future__ import annotations

import urllib.request
from pathlib import Path

SCANNER = "46.166.151.160"


def test_auth_validation_and_peer_opinions(agents, wait_until, scan_log, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    zeek = tmp_path / "zeek"
    zeek.mkdir()
    seer = agents.start("seer", zeek_dir=zeek)
    asker = agents.start("asker", bootstrap=[seer.addrs[0]])

    # Authentication: health is open, everything else needs the exact token.
    with urllib.request.urlopen(asker.api + "/api/v1/health", timeout=10) as resp:
        assert resp.status == 200
    for token in ("", "wrong-token-0123456789", asker.token + "x"):
        status, body = asker.get("/api/v1/peers", token=token)
        assert status == 401 and set(body) == {"error"}
    assert asker.get("/metrics", token="nope")[0] == 401

    # Validation: clear 4xx messages.
    status, body = asker.get("/api/v1/ip/not-an-ip")
    assert status == 400 and "not an IP address" in body["error"]
    status, body = asker.post("/api/v1/reports", b"{not json")
    assert status == 400 and "JSON" in body["error"]
    status, body = asker.post("/api/v1/reports", {"ip": SCANNER, "colour": "red"})
    assert status == 400 and "colour" in body["error"]
    status, body = asker.post("/api/v1/reports", {"ip": SCANNER, "score": 7})
    assert status == 400 and "score" in body["error"]
    status, body = asker.post("/api/v1/reports", {"ip": "192.168.1.10"})
    assert status == 422 and "not a globally routable" in body["error"]

    # The seer detects a scan locally; the asker asks its peers about the scanner.
    assert wait_until(
        lambda: any(p["connected"] for p in asker.get("/api/v1/peers")[1]["peers"]), 30
    )
    (zeek / "conn.log").write_text(scan_log(SCANNER))
    assert wait_until(lambda: seer.get(f"/api/v1/ip/{SCANNER}")[1]["local"]["evidence"] >= 2, 30)
    status, body = asker.get(f"/api/v1/ip/{SCANNER}?ask=1")
    assert status == 200
    (opinion,) = [o for o in body["peer_opinions"] if o["peer"] == seer.peer_id]
    assert opinion["score"] == 0.8 and opinion["evidence"] >= 2
    assert opinion["evidence_types"] == ["horizontal_port_scan"]

    # Metrics carry no IP addresses.
    req = urllib.request.Request(
        asker.api + "/metrics", headers={"Authorization": f"Bearer {asker.token}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
    assert "starling_p2p_messages_accepted_total" in text and SCANNER not in text
