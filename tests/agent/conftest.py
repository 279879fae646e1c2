from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

DATA = Path(__file__).parents[1] / "data" / "captures"


def run_cli(
    *args: str, stdin: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `starling` entry point in a subprocess (as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        input=stdin.decode("utf-8", "surrogateescape") if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        check=False,
    )


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    return run_cli
