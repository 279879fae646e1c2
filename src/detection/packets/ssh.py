"""SSH: version banners, and a guess at authentication from encrypted packet sizes.

Theory of operation
-------------------
Each side opens with a banner line, ``SSH-<protoversion>-<software>`` (RFC
4253 4.2; a server may send other lines first). Then come binary packets
(uint32 length, padding length, payload whose first byte is the message
type) in clear until each side's NEWKEYS (message 21); after it everything
that side sends is encrypted. `SshSession.data()` takes one side's in-order
segment payloads and follows that.

Authentication happens inside the encryption, so, like Zeek, we can only
guess it from the sizes of the server's encrypted segments. The first one
after its NEWKEYS carries SERVICE_ACCEPT (with EXT_INFO, RFC 8308, when
offered); every later one is an answer to an authentication request until
the session starts. USERAUTH_FAILURE lists the methods that may continue, so
all failures of a connection have one size; USERAUTH_SUCCESS has a 1-byte
payload, smaller than any failure. Over the answers ``a0, a1, …``:

* all of one size (including a single answer and then the end): every answer
  is a failure (``auth_success`` False, one attempt each);
* a run of k equal answers, then a smaller one: k failures, then success;
* one answer, then larger ones (session traffic): the first was the success;
* a run of k > 1 equal answers, then a larger one (a keyboard-interactive
  prompt, say): k attempts, outcome unknown (None);
* no answer (no key exchange completed, or the client left first): None, 0.
"""

from __future__ import annotations

import struct

__all__ = ["SshSession", "ssh_version"]

_U32 = struct.Struct("!I")
_MAX_BANNER = 255
_MAX_PACKET = 35000  # RFC 4253 6.1: implementations must handle 35000-byte packets
_MAX_ANSWERS = 64


def ssh_version(banner: str) -> int | None:
    """2 for SSH-2.0 (and 1.99, which speaks 2), 1 for SSH-1.x, None otherwise."""
    if banner.startswith(("SSH-2.0", "SSH-1.99")):
        return 2
    if banner.startswith("SSH-1."):
        return 1
    return None


class _Side:
    __slots__ = ("banner", "buf", "dead", "encrypted")

    def __init__(self) -> None:
        self.banner = ""
        self.buf = b""
        self.encrypted = False
        self.dead = False  # not SSH after all, or past what we follow


class SshSession:
    """One SSH connection, fed in-order payload per side (see the module header)."""

    def __init__(self) -> None:
        self.client = _Side()
        self.server = _Side()
        self.answers: list[int] = []  # sizes of the server's encrypted segments

    @property
    def client_banner(self) -> str:
        return self.client.banner

    @property
    def server_banner(self) -> str:
        return self.server.banner

    @property
    def seen(self) -> bool:
        return bool(self.client.banner or self.server.banner)

    def auth(self) -> tuple[bool | None, int]:
        """(auth_success, auth_attempts) guessed from the server's answers."""
        answers = self.answers[1:]  # the first carried SERVICE_ACCEPT
        if not answers:
            return None, 0
        first = answers[0]
        k = 1
        while k < len(answers) and answers[k] == first:
            k += 1
        if k == len(answers):
            return False, k
        if answers[k] < first:
            return True, k + 1
        if k == 1:
            return True, 1
        return None, k

    def data(self, is_orig: bool, payload: bytes) -> None:
        side = self.client if is_orig else self.server
        if side.dead or not payload:
            return
        if side.encrypted:
            if not is_orig:
                self._server_encrypted(len(payload))
            return
        side.buf += payload
        if not side.banner:
            self._banner(side)
            if not side.banner:
                return
        self._clear_packets(side, is_orig)

    def _banner(self, side: _Side) -> None:
        while True:
            line, sep, rest = side.buf.partition(b"\n")
            if not sep:
                if len(side.buf) > _MAX_BANNER:
                    side.dead = True
                return
            side.buf = rest
            if line.startswith(b"SSH-"):
                side.banner = line[:_MAX_BANNER].rstrip(b"\r").decode("latin-1")
                return
            if len(line) > _MAX_BANNER:
                side.dead = True
                return

    def _clear_packets(self, side: _Side, is_orig: bool) -> None:
        buf = side.buf
        off = 0
        while off + 6 <= len(buf):
            length = _U32.unpack_from(buf, off)[0]
            if length < 2 or length > _MAX_PACKET:
                side.dead = True  # not the clear-text packet layer: stop following
                side.buf = b""
                return
            if off + 4 + length > len(buf):
                break
            msg = buf[off + 5]
            off += 4 + length
            if msg == 21:  # NEWKEYS: what follows is encrypted
                side.encrypted = True
                side.buf = b""
                rest = len(buf) - off
                if rest and not is_orig:
                    self._server_encrypted(rest)
                return
        side.buf = buf[off:]

    def _server_encrypted(self, size: int) -> None:
        self.answers.append(size)
        if len(self.answers) >= _MAX_ANSWERS:
            self.server.dead = True  # far into the session: nothing more to learn
