"""Live capture without Zeek (AF_PACKET): a port scan across a veth pair between two
network namespaces is seen by the capture on the other side; without the
capability the error says what to do. Needs root, like the other netns tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from agent.inputs import live
from agent.inputs.live import LiveCapture, LiveCaptureError, parse_program
from agent.store import open_store


def test_without_cap_net_raw_the_message_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(live.socket, "socket", refuse)
    with pytest.raises(LiveCaptureError, match="root or the CAP_NET_RAW capability"):
        next(iter(LiveCapture("eth0").records(threading.Event())))


def test_bpf_program_text() -> None:
    # `tcpdump -ddd tcp` on Ethernet: 4 lines of code jt jf k after the count
    prog = parse_program("6\n40 0 0 12\n21 0 3 2048\n48 0 0 23\n21 0 1 6\n6 0 0 262144\n6 0 0 0\n")
    assert prog[1] == (21, 0, 3, 2048) and len(prog) == 6
    for bad in ("", "2\n1 2 3 4\n", "1\n1 2 3\n", "1\n1 2 3 99999999999\n"):
        with pytest.raises(LiveCaptureError):
            parse_program(bad)


_CAPTURE = textwrap.dedent(
    """
    import sys, threading, orjson
    from agent.inputs.live import LiveCapture
    stop = threading.Event()
    cap = LiveCapture(sys.argv[1], poll_seconds=0.2)
    cap.open()
    print("ready", flush=True)
    threading.Timer(float(sys.argv[2]), stop.set).start()
    for rec in cap.records(stop):
        if type(rec).__name__ == "Flow":
            print(orjson.dumps(rec._asdict()).decode(), flush=True)
    """
)
_SCAN = textwrap.dedent(
    """
    import socket, sys
    for port in range(1000, 1040):
        s = socket.socket()
        s.settimeout(0.3)
        try:
            s.connect((sys.argv[1], port))
        except OSError:
            pass
        s.close()
    """
)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def veth_pair() -> Iterator[tuple[str, str, str]]:
    """(scanner netns, sensor netns, sensor interface) joined by a veth pair."""
    if os.geteuid() != 0:
        pytest.fail("the live capture test creates network namespaces: run it as root")
    tag = os.urandom(3).hex()
    scan, sensor = f"stl-a-{tag}", f"stl-b-{tag}"
    va, vb = f"sla-{tag}", f"slb-{tag}"
    try:
        _ip("netns", "add", scan)
        _ip("netns", "add", sensor)
        _ip("link", "add", va, "netns", scan, "type", "veth", "peer", "name", vb, "netns", sensor)
        for ns, dev, addr in ((scan, va, "10.78.0.2/24"), (sensor, vb, "10.78.0.1/24")):
            _ip("-n", ns, "addr", "add", addr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield scan, sensor, vb
    finally:
        for ns in (scan, sensor):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def test_port_scan_across_veth_is_captured(veth_pair: tuple[str, str, str]) -> None:
    scan, sensor, dev = veth_pair
    cap = subprocess.Popen(
        ["ip", "netns", "exec", sensor, sys.executable, "-c", _CAPTURE, dev, "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert cap.stdout is not None
        assert cap.stdout.readline().strip() == "ready"  # the capture socket is open
        subprocess.run(
            ["ip", "netns", "exec", scan, sys.executable, "-c", _SCAN, "10.78.0.1"],
            check=True,
            timeout=60,
            capture_output=True,
        )
        out, err = cap.communicate(timeout=60)
    finally:
        if cap.poll() is None:
            cap.kill()
            cap.wait()
    assert cap.returncode == 0, err
    flows = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    scanned = [
        f
        for f in flows
        if f["saddr"] == "10.78.0.2" and f["daddr"] == "10.78.0.1" and f["proto"] == "tcp"
    ]
    # closed ports answer SYN with RST: 40 rejected connection attempts
    assert {f["dport"] for f in scanned} == set(range(1000, 1040))
    assert {(f["state"], f["history"]) for f in scanned} == {("REJ", "Sr")}


# `tcpdump -ddd ip and tcp` on Ethernet (IPv4, protocol 6): ARP and UDP are filtered out
_TCP_ONLY = "6\n40 0 0 12\n21 0 3 2048\n48 0 0 23\n21 0 1 6\n6 0 0 262144\n6 0 0 0\n"


def test_starling_analyze_on_an_interface_detects_the_scan(
    veth_pair: tuple[str, str, str], tmp_path: Path
) -> None:
    scan, sensor, dev = veth_pair
    out = tmp_path / "out"
    bpf = tmp_path / "tcp.bpf"
    bpf.write_text(_TCP_ONLY)
    agent = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            sensor,
            sys.executable,
            "-m",
            "agent",
            "analyze",
            "-i",
            dev,
            "--bpf-file",
            str(bpf),
            "-o",
            str(out),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / "alerts.json").exists():  # outputs exist once capture runs
            assert agent.poll() is None, agent.communicate()[1]
            assert time.monotonic() < deadline, "analyze -i did not start"
            time.sleep(0.1)
        subprocess.run(
            ["ip", "netns", "exec", scan, sys.executable, "-c", _SCAN, "10.78.0.1"],
            check=True,
            timeout=60,
            capture_output=True,
        )
        subprocess.run(  # UDP the filter must keep out
            [
                "ip",
                "netns",
                "exec",
                scan,
                sys.executable,
                "-c",
                "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
                "[s.sendto(b'x', ('10.78.0.1', p)) for p in range(2000, 2010)]",
            ],
            check=True,
            timeout=30,
        )
        time.sleep(1.0)
        agent.send_signal(signal.SIGINT)  # stop: open connections are flushed and analysed
        stdout, stderr = agent.communicate(timeout=60)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert agent.returncode == 0, stderr
    summary = orjson.loads(stdout)
    assert summary["formats"] == {"interface": dev} and summary["capture_error"] is None
    evidence = [orjson.loads(x) for x in (out / "alerts.json").read_bytes().splitlines()]
    vertical = [e for e in evidence if e.get("type") == "vertical_port_scan"]
    assert vertical and vertical[0]["attacker"] == "10.78.0.2"
    assert vertical[0]["victim"] == "10.78.0.1"
    assert summary["records_by_type"].get("conn", 0) >= 40
    flows = orjson.loads((out / "summary.json").read_bytes())["records_by_type"]
    assert "ArpRecord" not in flows  # the BPF program kept only IPv4 TCP


def test_analyze_interface_errors_are_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "analyze", "-i", "no-such-if0", "-o", str(tmp_path / "o")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "no-such-if0" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()
    both = subprocess.run(
        [sys.executable, "-m", "agent", "analyze", "x.log", "-i", "eth0"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert both.returncode == 2 and "not both" in both.stderr


def test_starling_agent_on_an_interface_detects_and_stores_the_scan(
    veth_pair: tuple[str, str, str], tmp_path: Path
) -> None:
    scan, sensor, dev = veth_pair
    data_dir = tmp_path / "agent"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("p2p:\n  enabled: false\napi:\n  port: 0\n")
    argv = ["ip", "netns", "exec", sensor, sys.executable, "-m", "agent", "agent", "-i", dev]
    agent = subprocess.Popen(
        [*argv, "-c", str(cfg), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "STARLING_API_TOKEN": "test-token-0123456789abcdef"},
    )
    try:
        assert agent.stdout is not None
        while True:  # the daemon prints one JSON line when it is ready
            line = agent.stdout.readline()
            assert line, "the agent exited before it was ready"
            if line.startswith('{"event":"ready"'):
                break
        subprocess.run(
            ["ip", "netns", "exec", scan, sys.executable, "-c", _SCAN, "10.78.0.1"],
            check=True,
            timeout=60,
            capture_output=True,
        )
        time.sleep(2.0)  # flows of closed ports end at once (REJ): analysed within a poll
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=60)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    with open_store(str(data_dir / "starling.db")) as store:
        found = store.evidence(ip="10.78.0.2", type="vertical_port_scan")
    assert found and found[0].attacker == "10.78.0.2" and found[0].victim == "10.78.0.1"


def test_agent_interface_without_the_device_fails_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "agent",
            "-i",
            "no-such-if0",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "no-such-if0" in proc.stderr and "Traceback" not in proc.stderr


# A stand-in for Zeek on an interface (Zeek is not installed here): it records its
# arguments, writes a conn.log of 40 rejected connections as they "happen", and on
# SIGTERM logs one more (the open connection Zeek flushes when it stops).
_FAKE_ZEEK = textwrap.dedent(
    """\
    #!/usr/bin/env python3
    import json, os, signal, sys, time
    args = sys.argv[1:]
    if args[0] == "-a":  # parse only: refuse the script named in FAKE_ZEEK_REFUSES
        if not os.path.isfile(args[1]):
            sys.exit(1)
        if os.path.basename(args[1]) == os.environ.get("FAKE_ZEEK_REFUSES"):
            print(f"error in {args[1]}, line 9: unknown identifier", file=sys.stderr)
            sys.exit(1)
        sys.exit(0)
    with open("argv.json", "w") as f:
        json.dump(args, f)
    iface = args[args.index("-i") + 1]
    if iface == "bad0":
        print("fatal error: problem with interface bad0", file=sys.stderr)
        sys.exit(1)
    fields = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration "
              "orig_bytes resp_bytes conn_state history orig_pkts resp_pkts").split()
    def line(i, state, hist):
        return "\\t".join([f"{time.time():.6f}", f"Cz{i}", "10.9.9.9", "40000", "10.9.9.1",
                          str(1000 + i), "tcp", "-", "0.001", "0", "0", state, hist, "1",
                          "1"]) + "\\n"
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    with open("conn.log", "w") as f:
        f.write("#separator \\\\x09\\n#set_separator\\t,\\n#empty_field\\t(empty)\\n"
                "#unset_field\\t-\\n#path\\tconn\\n#fields\\t" + "\\t".join(fields) + "\\n")
        for i in range(40):
            f.write(line(i, "REJ", "Sr"))
        f.flush()
        while not stop:
            time.sleep(0.05)
        f.write(line(40, "S0", "S"))
    """
)


_ANALYZE = [sys.executable, "-m", "agent", "analyze"]
_AGENT = [sys.executable, "-m", "agent", "agent"]


@pytest.fixture
def fake_zeek(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    zeek = bin_dir / "zeek"
    zeek.write_text(_FAKE_ZEEK)
    zeek.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def _interrupt_after_the_scan_alert(agent: subprocess.Popen[str], out: Path) -> tuple[str, str]:
    """Wait for the stand-in's port scan to be alerted, then Ctrl-C: (stdout, stderr)."""
    try:
        deadline = time.monotonic() + 60
        while (
            not (out / "alerts.json").exists()
            or b"vertical" not in (out / "alerts.json").read_bytes()
        ):
            assert agent.poll() is None, agent.communicate()
            assert time.monotonic() < deadline, "no evidence from Zeek's log"
            time.sleep(0.1)
        agent.send_signal(signal.SIGINT)
        return agent.communicate(timeout=60)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()


def test_zeek_on_path_runs_on_the_interface_and_its_logs_are_followed(
    fake_zeek: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    agent = subprocess.Popen(
        [*_ANALYZE, "-i", "fake0", "--bpf", "tcp port 1000", "-o", str(out), "--json"],
        env=fake_zeek,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = _interrupt_after_the_scan_alert(agent, out)
    assert agent.returncode == 0, stderr
    summary = orjson.loads(stdout)
    assert summary["capture_engine"] == "zeek" and summary["capture_error"] is None
    assert summary["flows"] == 41  # 40 while running + the one Zeek logs when stopped
    argv = orjson.loads((out / "zeek" / "argv.json").read_bytes())
    assert argv[argv.index("-i") + 1] == "fake0" and "tcp port 1000" in argv
    # Starling's scripts (JA3, MACs, certificate validation, SSH guessing) are loaded
    scripts = [Path(a) for a in argv if a.endswith(".zeek")]
    assert [p.name for p in scripts] == ["starling.zeek", "ja3.zeek"]
    assert all(p.is_file() for p in scripts)
    assert "ja3s" in scripts[1].read_text() and "mac-logging" in scripts[0].read_text()
    assert (out / "zeek" / "conn.log").exists()  # Zeek's logs are kept with the outputs


def test_a_script_zeek_cannot_parse_is_left_out_with_zeeks_message(
    fake_zeek: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    agent = subprocess.Popen(
        [*_ANALYZE, "-i", "fake0", "-o", str(out), "--json"],
        env={**fake_zeek, "FAKE_ZEEK_REFUSES": "ja3.zeek"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = _interrupt_after_the_scan_alert(agent, out)
    assert agent.returncode == 0, stderr
    argv = orjson.loads((out / "zeek" / "argv.json").read_bytes())
    assert [Path(a).name for a in argv if a.endswith(".zeek")] == ["starling.zeek"]
    assert "zeek cannot load ja3.zeek, running without it" in stderr
    assert "line 9: unknown identifier" in stderr  # Zeek's own words
    assert orjson.loads(stdout)["warnings"]["zeek_script_unusable"] == 1


def test_zeek_failing_on_the_interface_is_one_line_and_builtin_can_be_forced(
    fake_zeek: dict[str, str], tmp_path: Path
) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "agent", "analyze", "-i", "bad0", "-o", str(tmp_path / "o")],
        env=fake_zeek,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "problem with interface bad0" in bad.stderr
    assert "Traceback" not in bad.stderr
    builtin = subprocess.run(
        [*_ANALYZE, "-i", "no-such-if0", "--engine", "builtin", "-o", str(tmp_path / "o2")],
        env=fake_zeek,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert builtin.returncode == 2 and "cannot capture on 'no-such-if0'" in builtin.stderr


def test_starling_agent_runs_zeek_on_the_interface_when_it_is_installed(
    fake_zeek: dict[str, str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "agent"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("p2p:\n  enabled: false\napi:\n  port: 0\n")
    agent = subprocess.Popen(
        [*_AGENT, "-i", "fake0", "-c", str(cfg), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**fake_zeek, "STARLING_API_TOKEN": "test-token-0123456789abcdef"},
    )
    try:
        assert agent.stdout is not None
        while not agent.stdout.readline().startswith('{"event":"ready"'):
            assert agent.poll() is None, "the agent exited before it was ready"
        deadline = time.monotonic() + 60
        while not list(data_dir.glob("analysis/*/zeek/conn.log")):
            assert time.monotonic() < deadline, "zeek was not started"
            time.sleep(0.1)
        time.sleep(2.0)  # the follower's polls pick the log up
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=60)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    with open_store(str(data_dir / "starling.db")) as store:
        found = store.evidence(ip="10.9.9.9", type="vertical_port_scan")
    assert found and found[0].victim == "10.9.9.1"
