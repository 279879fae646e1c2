"""The Zeek scripts Starling adds when it runs Zeek (`agent/data/zeek/*.zeek`).

Zeek's default scripts leave out fields the detectors read (JA3/JA3S, MAC
addresses, certificate validation, SSH guessing notices). Starling passes its
own scripts on Zeek's command line — but a script Zeek cannot parse (another
Zeek version, a missing policy script) would make Zeek refuse to run at all.
So each script is first checked with `zeek -a` (parse only), once per Zeek
binary and process; one that fails is left out with a warning that carries
Zeek's message, and the capture is analysed without it.
"""

from __future__ import annotations

import functools
import logging
import subprocess
import tempfile
from pathlib import Path

from agent.allowlist_files import bundled_data_dir

__all__ = ["SCRIPTS", "usable_scripts"]

log = logging.getLogger(__name__)

SCRIPT_DIR = bundled_data_dir() / "zeek"
SCRIPTS: tuple[Path, ...] = (SCRIPT_DIR / "starling.zeek", SCRIPT_DIR / "ja3.zeek")
_CHECK_SECONDS = 120.0  # parsing all of Zeek's base scripts takes a few seconds


@functools.cache
def usable_scripts(zeek: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(scripts to pass to `zeek`, one warning per script left out)."""
    usable: list[str] = []
    warnings: list[str] = []
    for script in SCRIPTS:
        problem = _check(zeek, script)
        if problem is None:
            usable.append(str(script))
        else:
            warnings.append(f"zeek cannot load {script.name}, running without it: {problem}")
            log.warning("%s", warnings[-1])
    return tuple(usable), tuple(warnings)


def _check(zeek: str, script: Path) -> str | None:
    if not script.is_file():
        return "the script is missing from the installation"
    try:
        with tempfile.TemporaryDirectory(prefix="starling-zeek-check-") as scratch:
            proc = subprocess.run(  # in a scratch directory: nothing lands in ours
                [zeek, "-a", str(script)],
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=_CHECK_SECONDS,
                check=False,
                stdin=subprocess.DEVNULL,
            )
    except subprocess.TimeoutExpired:
        return f"`zeek -a` did not finish in {_CHECK_SECONDS:.0f} s"
    except OSError as exc:
        return f"cannot run zeek: {exc.strerror or exc}"
    if proc.returncode == 0:
        return None
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return lines[0][:300] if lines else f"`zeek -a` exited with {proc.returncode}"
