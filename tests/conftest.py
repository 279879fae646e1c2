"""Fixtures shared by every test package: a real redis-server for the session.

Also the Hypothesis profile. The README test command is CI's gate, so by default every
property test draws the same examples on every run (`derandomize`): a red run means
the code changed, not the dice. Fresh examples — how the fuzzers keep finding bugs —
with ``HYPOTHESIS_PROFILE=explore`` (random seeds; 500 examples where a test sets no
count); a failure it finds becomes an explicit test.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agent_process import Launched
from hypothesis import HealthCheck, settings

# No per-example deadline and no "generation too slow" check: both are timing
# assertions, which fail on a loaded machine for reasons the code did not cause.
_UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("default-derandomized", derandomize=True, **_UNTIMED)
settings.register_profile("explore", derandomize=False, max_examples=500, **_UNTIMED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default-derandomized"))


def _agents_in(value: object) -> Iterator[Launched]:
    """The agent processes a fixture value holds: an agent, a factory's `agents`, or
    the agent fields of a dataclass (a mesh)."""
    if isinstance(value, Launched):
        yield value
    elif isinstance(getattr(value, "agents", None), list):
        yield from (a for a in value.agents if isinstance(a, Launched))  # type: ignore[attr-defined]
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            if isinstance(member := getattr(value, f.name), Launched):
                yield member


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """A failed test's report ends with what each of its agents printed: their log lines
    are the only record of why a real process misbehaved on a CI machine."""
    report = yield
    if report.failed and call.when == "call":
        seen: set[int] = set()
        for value in getattr(item, "funcargs", {}).values():
            for a in _agents_in(value):
                if id(a) in seen:
                    continue
                seen.add(id(a))
                code = a.proc.poll()
                state = "running" if code is None else f"exited with {code}"
                report.sections.append((f"agent {a.name} ({state})", "".join(a.output[-60:])))
    return report


@pytest.fixture(autouse=True)
def _detector_errors_fail_the_test(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In production a detector's exception is counted and the record goes on to the
    other detectors (agent.pipeline, "A detector that raises"). In an in-process test it
    fails the test, so the isolation cannot hide a bug, unless the test is about it
    (marker `isolated_detector_errors`)."""
    if request.node.get_closest_marker("isolated_detector_errors") is not None:
        return
    from agent.pipeline import Pipeline

    def reraise(self: object, det: object, where: str, exc: Exception) -> None:
        raise exc

    monkeypatch.setattr(Pipeline, "_failed", reraise)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def unused_port() -> int:
    """A loopback TCP port nobody listens on (free when checked)."""
    return _free_port()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail(
            "redis-server is not on PATH; the redis store tests need a real server "
            "(apt-get install redis-server), or deselect them with -m 'not redis'",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("redis")
    log = workdir / "redis.log"
    port = _free_port()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(workdir), "--logfile", str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _answers_ping(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                output = log.read_text() if log.exists() else "(no log)"
                pytest.fail(f"redis-server on port {port} never answered PING:\n{output}")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


CAPTURES = Path(__file__).parent / "data" / "captures"


@pytest.fixture
def scan_log() -> Callable[[str], str]:
    """The Zeek horizontal port-scan capture with its (private) scanner replaced.

    Agents never share private addresses, so mesh tests give the scan a public source.
    """
    text = (CAPTURES / "zeek" / "port-scans" / "horizontal" / "conn.log").read_text()
    return lambda scanner: text.replace("10.0.2.112", scanner)
