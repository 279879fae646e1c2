"""DirectoryFollower in process: files are tracked by inode, not by name."""

from __future__ import annotations

from pathlib import Path

from agent.inputs.follow import DirectoryFollower
from agent.inputs.skips import SkipLog
from detection.model import Flow

CAPTURE = Path(__file__).parents[2] / "data" / "captures" / "zeek" / "port-scans" / "horizontal"


def parts() -> tuple[str, list[str]]:
    lines = (CAPTURE / "conn.log").read_text().splitlines()
    header = "".join(x + "\n" for x in lines if x.startswith("#") and not x.startswith("#close"))
    return header, [x + "\n" for x in lines if not x.startswith("#")]


def poll_flows(follower: DirectoryFollower) -> list[Flow]:
    return [r for r in follower.poll() if isinstance(r, Flow)]


def test_zeek_rotation_to_a_dated_log_name_is_not_read_twice(tmp_path: Path) -> None:
    header, data = parts()
    conn = tmp_path / "conn.log"
    conn.write_text(header + "".join(data[:20]))
    f = DirectoryFollower(tmp_path, SkipLog(None))
    seen = poll_flows(f)
    with conn.open("a") as fh:
        fh.write("".join(data[20:30]))
    # Zeek's default rotation: the name still matches *.log.
    conn.rename(tmp_path / "conn.2024-01-01-00-00-00.log")
    (tmp_path / "conn.log").write_text(header + "".join(data[30:]))
    seen += poll_flows(f)
    seen += poll_flows(f)
    assert len(seen) == len(data) == 41
    assert len({r.uid for r in seen}) == 41
    assert f.open_tails == 2
    f.close()


def open_fds() -> int | None:
    fd_dir = Path("/proc/self/fd")
    return len(list(fd_dir.iterdir())) if fd_dir.exists() else None


def test_deleted_files_do_not_leak_descriptors(tmp_path: Path) -> None:
    header, data = parts()
    f = DirectoryFollower(tmp_path, SkipLog(None))
    before = open_fds()
    seen = 0
    for i in range(50):
        p = tmp_path / f"conn-{i}.log"
        p.write_text(header + data[i % len(data)])
        seen += len(poll_flows(f))
        p.unlink()
        seen += len(poll_flows(f))
    assert seen == 50
    assert f.open_tails == 0
    if before is not None:
        assert open_fds() == before
    f.close()


def test_a_file_deleted_with_unread_data_is_drained_first(tmp_path: Path) -> None:
    header, data = parts()
    p = tmp_path / "conn.log"
    p.write_text(header + "".join(data[:5]))
    f = DirectoryFollower(tmp_path, SkipLog(None))
    assert len(poll_flows(f)) == 5
    with p.open("a") as fh:
        fh.write("".join(data[5:9]) + data[9].rstrip("\n"))  # last line without newline
    p.unlink()
    assert len(poll_flows(f)) == 5
    assert f.open_tails == 0


def test_a_too_long_line_is_discarded_up_to_its_newline(tmp_path: Path) -> None:
    header, data = parts()
    p = tmp_path / "conn.log"
    p.write_text(header + data[0] + "A" * 5000)
    skips = SkipLog(None)
    f = DirectoryFollower(tmp_path, skips, max_line_bytes=1000)
    assert len(poll_flows(f)) == 1
    with p.open("a") as fh:
        fh.write("B" * 3000 + "\n" + data[1])
    assert len(poll_flows(f)) == 1
    assert dict(skips.counts) == {"line_too_long": 1}
    f.close()
