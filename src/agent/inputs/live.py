"""Live capture without Zeek: a raw AF_PACKET socket feeding the built-in engine.

`LiveCapture(interface)` opens ``socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)``
bound to the interface (Linux; root or CAP_NET_RAW, otherwise
`LiveCaptureError` with what to do), optionally attaches a classic BPF
program, and `records(stop)` yields the engine's records until `stop` is set.
Time is the host's clock at receipt (``time.time()``); when no packet arrives
for `poll_seconds` the engine is told the time, so idle connections still end
on their timeouts. When `stop` is set, every open connection is flushed.

BPF: the kernel takes compiled classic BPF only. `compile_filter(expr)`
compiles a tcpdump expression with ``tcpdump -ddd`` when tcpdump is
installed; `parse_program(text)` reads the same ``-ddd`` output from a file
(so a host without tcpdump can use a program compiled elsewhere). The
program is attached with SO_ATTACH_FILTER before the socket is bound, so no
unfiltered packet is read.

Resource handling: the socket is closed when `records` ends (normally, on
`stop`, or when the consumer closes the generator).
"""

from __future__ import annotations

import contextlib
import ctypes
import queue
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from agent.inputs.follow import DirectoryFollower
from agent.inputs.skips import SkipLog
from agent.inputs.zeek_scripts import usable_scripts
from detection.model import Record
from detection.packets import PacketEngine
from detection.packets.engine import LINKTYPE_ETHERNET, LINKTYPE_RAW

__all__ = [
    "LiveCapture",
    "LiveCaptureError",
    "LivePoller",
    "ZeekLive",
    "compile_filter",
    "parse_program",
]

_ETH_P_ALL = 0x0003
_SO_ATTACH_FILTER = 26
_ARPHRD_ETHER = 1
_ARPHRD_LOOPBACK = 772
_ARPHRD_NONE = 0xFFFE
_ARPHRD_IP_TUNNELS = frozenset({768, 769, 776, _ARPHRD_NONE})  # ipip, ip6 tunnels, sit, tun
_MAX_FRAME = 65535


class LiveCaptureError(Exception):
    """Capture cannot start; the message says why and what to do (one line)."""


def parse_program(text: str) -> list[tuple[int, int, int, int]]:
    """A classic BPF program in ``tcpdump -ddd`` form: a count line, then
    ``code jt jf k`` per instruction."""
    lines = [ln.split() for ln in text.strip().splitlines() if ln.strip()]
    try:
        count = int(lines[0][0])
        prog = [(int(a), int(b), int(c), int(d)) for a, b, c, d in lines[1:]]
    except (IndexError, ValueError) as exc:
        raise LiveCaptureError(f"not a BPF program in tcpdump -ddd form ({exc})") from None
    if count != len(prog) or not 0 < count <= 4096:
        raise LiveCaptureError(f"BPF program says {count} instructions, has {len(prog)}")
    for code, jt, jf, k in prog:
        if not (0 <= code < 1 << 16 and 0 <= jt < 256 and 0 <= jf < 256 and 0 <= k < 1 << 32):
            raise LiveCaptureError("BPF instruction out of range")
    return prog


def compile_filter(expr: str, interface: str) -> list[tuple[int, int, int, int]]:
    """Compile a tcpdump filter expression (needs tcpdump on PATH)."""
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise LiveCaptureError(
            "BPF expressions are compiled with tcpdump, which is not installed "
            "(apt-get install tcpdump), or give a program from `tcpdump -ddd EXPR`"
        )
    proc = subprocess.run(
        [tcpdump, "-ddd", "-i", interface, expr],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        raise LiveCaptureError(f"bad BPF filter {expr!r}: {proc.stderr.strip()[:200]}")
    return parse_program(proc.stdout)


class LiveCapture:
    """Packets from one interface → records (see the module header)."""

    def __init__(
        self,
        interface: str,
        *,
        program: list[tuple[int, int, int, int]] | None = None,
        poll_seconds: float = 0.5,
        engine: PacketEngine | None = None,
    ) -> None:
        self.interface = interface
        self.program = program
        self.poll_seconds = poll_seconds
        self.engine = engine or PacketEngine(seed=f"live:{interface}:{time.time()}")
        self.unsupported_frames = 0
        self._sock: socket.socket | None = None

    def open(self) -> None:
        """Open the socket now (else `records` opens it): errors surface here."""
        if self._sock is None:
            self._sock = self._open()

    def _open(self) -> socket.socket:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        except PermissionError:
            raise LiveCaptureError(
                f"capturing on {self.interface} needs root or the CAP_NET_RAW capability "
                "(e.g. sudo setcap cap_net_raw+ep on the Python binary), or install Zeek"
            ) from None
        except (OSError, AttributeError) as exc:  # AF_PACKET is Linux-only
            raise LiveCaptureError(f"raw packet sockets unavailable here: {exc}") from None
        try:
            if self.program:
                self._attach(sock, self.program)
            sock.bind((self.interface, 0))
            sock.settimeout(self.poll_seconds)
        except OSError as exc:
            sock.close()
            raise LiveCaptureError(
                f"cannot capture on {self.interface!r}: {exc.strerror or exc}"
            ) from None
        return sock

    @staticmethod
    def _attach(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
        raw = b"".join(struct.pack("HBBI", *ins) for ins in program)
        buf = ctypes.create_string_buffer(raw)
        fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)

    def records(self, stop: threading.Event) -> Iterator[Record]:
        self.open()
        sock = self._sock
        assert sock is not None
        engine = self.engine
        try:
            while not stop.is_set():
                try:
                    frame, addr = sock.recvfrom(_MAX_FRAME)
                except TimeoutError:
                    yield from engine.expire(time.time())
                    continue
                except InterruptedError:
                    continue
                hatype = addr[3]
                if hatype in (_ARPHRD_ETHER, _ARPHRD_LOOPBACK):
                    linktype = LINKTYPE_ETHERNET
                elif hatype in _ARPHRD_IP_TUNNELS:
                    linktype = LINKTYPE_RAW
                else:
                    self.unsupported_frames += 1
                    continue
                out = engine.packet(time.time(), linktype, frame)
                if out:
                    yield from out
            yield from engine.finish()
        finally:
            self._sock = None
            sock.close()


class LivePoller:
    """A `LiveCapture` read in a thread, polled like `DirectoryFollower`: the
    analysis loop takes what has arrived (`poll`), so it can also drain peer
    evidence, flush outputs and switch intel indexes while the line is quiet.

    Backpressure, not loss in user space: the queue is bounded; when analysis
    falls behind, the capture thread waits and the kernel's socket buffer
    absorbs (then drops) packets. A capture that fails mid-way ends the input
    (`error` says why)."""

    def __init__(self, capture: LiveCapture, *, max_queued: int = 100_000) -> None:
        self.capture = capture
        self.directory = f"interface {capture.interface}"  # where, in skip messages
        self.lines = 0  # records received
        self.error: str | None = None
        self._queue: queue.Queue[Record | None] = queue.Queue(max_queued)
        self._stop = threading.Event()  # end the capture (open connections are flushed)
        self._abandon = threading.Event()  # and drop what was not taken yet
        self._done = False
        self._thread = threading.Thread(target=self._pump, name="live-capture", daemon=True)

    def start(self) -> None:
        self.capture.open()  # LiveCaptureError now, before anything is created
        self._thread.start()

    def _pump(self) -> None:
        try:
            for rec in self.capture.records(self._stop):
                if not self._put(rec):
                    return
        except (OSError, LiveCaptureError) as exc:
            self.error = f"capture on {self.capture.interface} stopped: {exc}"
        finally:
            self._put(None)

    def _put(self, item: Record | None) -> bool:
        while True:
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                if self._abandon.is_set():
                    return False

    def poll(self, limit: int = 20_000) -> list[Record]:
        batch: list[Record] = []
        while len(batch) < limit:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._done = True
                break
            batch.append(item)
        self.lines += len(batch)
        return batch

    @property
    def finished(self) -> bool:
        """The capture ended (error, or stopped) and everything was polled."""
        return self._done

    def finish(self, timeout: float = 10.0) -> list[Record]:
        """Stop capturing and return what is still on its way: the records
        already queued and the open connections the engine flushes."""
        self._stop.set()
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        while not self._done and time.monotonic() < deadline:
            batch = self.poll()
            out += batch
            if not batch:
                time.sleep(0.02)
        return out

    def close(self) -> None:
        self._stop.set()
        self._abandon.set()
        # unblock a pump waiting on a full queue
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._thread.join(timeout=5)


class ZeekLive:
    """Zeek on a live interface, its logs followed: used instead of the built-in
    engine when `zeek` is on PATH (Zeek knows more protocols and logs
    certificates, files, notices). Same surface as `LivePoller`.

    Zeek writes its logs into `log_dir` (kept: they are the evidence's source);
    its stderr goes to ``zeek.stderr`` there. `finish` stops Zeek with SIGTERM —
    it then writes out its open connections — and reads what it wrote; a Zeek that
    exits by itself ends the input (`error`)."""

    def __init__(
        self,
        zeek: str,
        interface: str,
        log_dir: Path,
        skips: SkipLog,
        *,
        bpf: str | None = None,
        max_line_bytes: int = 1 << 20,
    ) -> None:
        self.interface = interface
        self.directory = str(log_dir)
        self.error: str | None = None
        scripts, problems = usable_scripts(zeek)
        for _ in problems:
            skips.warn("zeek_script_unusable")  # (logged with its message)
        self._argv = [zeek, "-C", "-i", interface, "LogAscii::use_json=F", *scripts]
        if bpf:
            self._argv[1:1] = ["-f", bpf]
        self._log_dir = log_dir
        self._skips = skips
        self._max_line_bytes = max_line_bytes
        self._proc: subprocess.Popen[bytes] | None = None
        self._follower: DirectoryFollower | None = None
        self._done = False

    def start(self) -> None:
        """Start Zeek; `LiveCaptureError` if it cannot run or exits at once."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        err = (self._log_dir / "zeek.stderr").open("wb")
        try:
            self._proc = subprocess.Popen(
                self._argv, cwd=self._log_dir, stdout=subprocess.DEVNULL, stderr=err
            )
        except OSError as exc:
            raise LiveCaptureError(f"cannot run zeek: {exc.strerror or exc}") from None
        finally:
            err.close()
        try:
            self._proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass  # running: good
        else:
            raise LiveCaptureError(f"zeek on {self.interface} exited at once: {self._stderr()}")
        self._follower = DirectoryFollower(
            self._log_dir, self._skips, max_line_bytes=self._max_line_bytes
        )

    def _stderr(self) -> str:
        try:
            text = (self._log_dir / "zeek.stderr").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no stderr)"
        return text.strip().splitlines()[-1][:300] if text.strip() else "(no stderr)"

    @property
    def lines(self) -> int:
        return self._follower.lines if self._follower is not None else 0

    @property
    def finished(self) -> bool:
        return self._done

    def poll(self) -> list[Record]:
        if self._follower is None:
            return []
        batch = self._follower.poll()
        if not batch and self._proc is not None and self._proc.poll() is not None:
            self.error = f"zeek on {self.interface} exited ({self._proc.returncode}): " + (
                self._stderr()
            )
            self._done = True
        return batch

    def finish(self, timeout: float = 10.0) -> list[Record]:
        """Stop Zeek (it logs its open connections) and read the rest."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out: list[Record] = []
        if self._follower is not None:
            while batch := self._follower.poll():
                out += batch
        self._done = True
        return out

    def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if self._follower is not None:
            self._follower.close()
