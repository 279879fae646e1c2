"""The libp2p host: the only module that imports libp2p (and trio).

Theory of operation
-------------------
py-libp2p is trio-only, the agent is asyncio and threads, so the host runs in
its own thread with its own `trio.run()`. Everything crosses the boundary
through three narrow doors, all safe to call from any thread:

* `publish(data)` puts bytes on a bounded trio channel; a publisher task in
  the node sends them on the IoC topic. A full channel is a counted drop
  (`stats()["publish_dropped"]`), never a block and never silent.
* `request(peer_id, data)` opens an opinion stream to a peer, writes one
  length-prefixed request and returns the length-prefixed answer.
* Incoming gossip goes through `validator(data, publisher)` — the agent's
  sans-IO `p2p.gossip.Inbox` behind a lock — as a libp2p topic validator, so a
  message we refuse is also never forwarded to our mesh peers. Accepting it is
  the validator's job (it hands the envelope to the agent); the node only
  drains the subscription.

Settings fixed against py-libp2p 0.8.1's defaults (measured, see issue 3):
Noise is the only security transport (no plaintext, no secio); GossipSub
heartbeat 1 s instead of 120 s; libp2p's own per-peer spam protection (which
silently drops a peer's messages above 10/s) is off — our inbox rate-limits
and counts instead; eclipse protection wants ≥ 3 distinct IPs in the mesh,
which a loopback test mesh never has, so it is configurable.

Error handling: libp2p exceptions never leave this module; they become
`P2PError` with the peer and what was attempted. Shutdown cancels the trio
nursery; py-libp2p may raise "Nursery is closed" from background services
while it tears down, which is logged and ignored.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import multiaddr  # type: ignore[import-untyped]
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.tools.anyio_service import background_trio_service

__all__ = ["NodeConfig", "P2PError", "P2PNode", "PeerInfo"]

log = logging.getLogger(__name__)

GOSSIPSUB_PROTOCOL = TProtocol("/meshsub/1.0.0")
OPINION_PROTOCOL = TProtocol("/starling/opinion/1.0.0")
_MAX_FRAME = 64 * 1024


class P2PError(RuntimeError):
    """A libp2p operation failed; the message says which and with whom."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    listen: Sequence[str] = ("/ip4/127.0.0.1/tcp/0",)
    bootstrap: Sequence[str] = ()
    topic: str = "starling/ioc/1"
    heartbeat_seconds: int = 1
    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    publish_queue: int = 1024
    mdns: bool = False
    eclipse_protection: bool = False
    bootstrap_retry_seconds: float = 2.0
    request_timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class PeerInfo:
    peer_id: str
    addrs: tuple[str, ...]
    connected: bool


Validator = Callable[[bytes, str], bool]  # (data, publisher peer id) -> accept
OpinionHandler = Callable[[bytes, str], bytes | None]  # (request, remote peer id) -> reply


@dataclass
class _Stats:
    published: int = 0
    publish_dropped: int = 0
    publish_failed: int = 0
    received: int = 0
    validator_errors: int = 0
    requests_served: int = 0
    requests_failed: Counter[str] = field(default_factory=Counter)


class P2PNode:
    def __init__(
        self,
        seed: bytes,
        config: NodeConfig,
        *,
        validator: Validator,
        opinion_handler: OpinionHandler | None = None,
    ) -> None:
        self.config = config
        self._seed = seed
        self._validator = validator
        self._opinion_handler = opinion_handler
        self._stats = _Stats()
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._stop: trio.Event | None = None
        self._send: trio.MemorySendChannel[bytes] | None = None
        self._host: Any = None
        self._pubsub: Any = None
        self.peer_id = ""
        self.addrs: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="p2p-node", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise P2PError(f"libp2p host did not start within {timeout:.0f} s")
        if self._failed is not None:
            raise P2PError(f"libp2p host failed to start: {self._failed}") from self._failed

    def stop(self, timeout: float = 10.0) -> None:
        if self._token is not None and self._stop is not None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        if self._thread is not None:
            self._thread.join(timeout)

    def _thread_main(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # noqa: BLE001 - reported to start() or logged at shutdown
            if not self._ready.is_set():
                self._failed = exc
                self._ready.set()
            elif "Nursery is closed" not in str(exc):
                log.warning("p2p node stopped with an error: %s", exc)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        send, receive = trio.open_memory_channel[bytes](self.config.publish_queue)
        self._send = send
        key_pair = create_new_key_pair(self._seed)
        noise = NoiseTransport(key_pair, noise_privkey=create_x25519_key_pair().private_key)
        host = new_host(
            key_pair=key_pair,
            sec_opt={NOISE_PROTOCOL_ID: noise},  # Noise only: no plaintext, no secio
            enable_mDNS=self.config.mdns,
        )
        gossipsub = GossipSub(
            protocols=[GOSSIPSUB_PROTOCOL],
            degree=self.config.degree,
            degree_low=self.config.degree_low,
            degree_high=self.config.degree_high,
            heartbeat_initial_delay=0.1,
            heartbeat_interval=self.config.heartbeat_seconds,
            spam_protection_enabled=False,
            eclipse_protection_enabled=self.config.eclipse_protection,
        )
        pubsub = Pubsub(host, gossipsub)
        self._host, self._pubsub = host, pubsub
        listen = [multiaddr.Multiaddr(a) for a in self.config.listen]
        async with host.run(listen_addrs=listen), trio.open_nursery() as nursery:
            host.set_stream_handler(OPINION_PROTOCOL, self._serve_opinion)
            async with background_trio_service(pubsub), background_trio_service(gossipsub):
                await pubsub.wait_until_ready()
                pubsub.set_topic_validator(self.config.topic, self._validate, False)
                subscription = await pubsub.subscribe(self.config.topic)
                self.peer_id = host.get_id().to_base58()
                self.addrs = [f"{a}" if "/p2p/" in str(a) else f"{a}/p2p/{self.peer_id}"
                              for a in host.get_addrs()]  # fmt: skip
                nursery.start_soon(self._drain, subscription)
                nursery.start_soon(self._publisher, receive)
                for addr in self.config.bootstrap:
                    nursery.start_soon(self._keep_connected, addr)
                self._ready.set()
                await self._stop.wait()
                await self._close_connections()
                nursery.cancel_scope.cancel()

    async def _close_connections(self) -> None:
        # py-libp2p leaves peer sockets open when its nursery is cancelled; close
        # them explicitly so a stopped node releases every file descriptor.
        with trio.move_on_after(5):
            for peer in list(self._host.get_connected_peers()):
                try:
                    await self._host.disconnect(peer)
                except Exception as exc:  # noqa: BLE001 - best effort at shutdown
                    log.debug("disconnect %s at shutdown: %s", peer, exc)

    # -- gossip ----------------------------------------------------------------------------

    def _validate(self, forwarder: ID, msg: Any) -> bool:
        try:
            publisher = ID(msg.from_id).to_base58()
        except Exception:  # noqa: BLE001 - a malformed from_id is the publisher's fault
            publisher = forwarder.to_base58()
        try:
            return self._validator(bytes(msg.data), publisher)
        except Exception:
            self._stats.validator_errors += 1
            log.exception("p2p validator failed")
            return False

    async def _drain(self, subscription: Any) -> None:
        while True:
            await subscription.get()
            self._stats.received += 1

    async def _publisher(self, receive: trio.MemoryReceiveChannel[bytes]) -> None:
        async for data in receive:
            try:
                await self._pubsub.publish(self.config.topic, data)
                self._stats.published += 1
            except Exception as exc:  # noqa: BLE001 - counted; the node keeps running
                self._stats.publish_failed += 1
                log.warning("publish failed: %s", exc)

    def publish(self, data: bytes) -> bool:
        """Queue `data` for the IoC topic; False (and counted) if the queue is full."""
        if self._token is None or self._send is None:
            self._stats.publish_dropped += 1
            return False
        try:
            if _in_trio_thread():  # e.g. a dispute sent from inside the gossip validator
                self._send.send_nowait(data)
            else:
                trio.from_thread.run_sync(self._send.send_nowait, data, trio_token=self._token)
        except (trio.WouldBlock, trio.RunFinishedError, trio.ClosedResourceError):
            self._stats.publish_dropped += 1
            return False
        return True

    # -- discovery ---------------------------------------------------------------------------

    async def _keep_connected(self, addr: str) -> None:
        try:
            info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
        except Exception as exc:  # noqa: BLE001 - a bad address from config
            log.warning("ignoring bootstrap address %s: %s", addr, exc)
            return
        while True:
            if info.peer_id not in self._host.get_connected_peers():
                try:
                    await self._host.connect(info)
                except Exception as exc:  # noqa: BLE001 - retried below
                    log.debug("bootstrap %s not reachable yet: %s", addr, exc)
            await trio.sleep(self.config.bootstrap_retry_seconds)

    def connect(self, addr: str) -> None:
        async def _connect() -> None:
            await self._host.connect(info_from_p2p_addr(multiaddr.Multiaddr(addr)))

        self._call(_connect, f"connect to {addr}")

    # -- opinion requests (stream protocol) ---------------------------------------------------

    async def _serve_opinion(self, stream: Any) -> None:
        remote = stream.muxed_conn.peer_id.to_base58()
        try:
            with trio.fail_after(self.config.request_timeout):
                request = await _read_frame(stream)
                handler = self._opinion_handler
                reply = await trio.to_thread.run_sync(handler, request, remote) if handler else None
                if reply is not None:
                    await _write_frame(stream, reply)
            self._stats.requests_served += 1
        except Exception as exc:  # noqa: BLE001 - the requester's problem; counted
            self._stats.requests_failed[type(exc).__name__] += 1
        finally:
            await _close(stream)

    def request(self, peer_id: str, data: bytes) -> bytes:
        """Send one opinion request to `peer_id` and return its answer (blocking)."""

        async def _request() -> bytes:
            with trio.fail_after(self.config.request_timeout):
                stream = await self._host.new_stream(ID.from_base58(peer_id), [OPINION_PROTOCOL])
                try:
                    await _write_frame(stream, data)
                    return await _read_frame(stream)
                finally:
                    await _close(stream)

        reply: bytes = self._call(_request, f"opinion request to {peer_id}")
        return reply

    # -- introspection -----------------------------------------------------------------------

    def peers(self) -> list[PeerInfo]:
        async def _peers() -> list[PeerInfo]:
            connected = {p.to_base58() for p in self._host.get_connected_peers()}
            store = self._host.get_peerstore()
            out = []
            for pid in store.peer_ids():
                name = pid.to_base58()
                if name == self.peer_id:
                    continue
                addrs = tuple(str(a) for a in store.addrs(pid)) if name in connected else ()
                out.append(PeerInfo(name, addrs, name in connected))
            return out

        peers: list[PeerInfo] = self._call(_peers, "list peers")
        return peers

    def mesh_size(self) -> int:
        async def _size() -> int:
            return len(self._pubsub.peer_topics.get(self.config.topic, ()))

        size: int = self._call(_size, "mesh size")
        return size

    def stats(self) -> dict[str, Any]:
        s = self._stats
        return {
            "published": s.published,
            "publish_dropped": s.publish_dropped,
            "publish_failed": s.publish_failed,
            "gossip_received": s.received,
            "validator_errors": s.validator_errors,
            "opinion_requests_served": s.requests_served,
            "opinion_requests_failed": dict(s.requests_failed),
        }

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        if self._token is None:
            raise P2PError(f"{what}: the node is not running")
        try:
            return trio.from_thread.run(fn, trio_token=self._token)
        except trio.RunFinishedError:
            raise P2PError(f"{what}: the node has stopped") from None
        except trio.TooSlowError:
            raise P2PError(f"{what}: timed out") from None
        except Exception as exc:  # noqa: BLE001 - translate libp2p errors at the edge
            raise P2PError(f"{what}: {type(exc).__name__}: {exc}") from None


async def _read_frame(stream: Any) -> bytes:
    header = await _read_exactly(stream, 4)
    size = int.from_bytes(header, "big")
    if size > _MAX_FRAME:
        raise P2PError(f"frame of {size} bytes exceeds {_MAX_FRAME}")
    return await _read_exactly(stream, size)


async def _read_exactly(stream: Any, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = await stream.read(n - len(buf))
        if not chunk:
            raise P2PError("stream closed early")
        buf += chunk
    return buf


async def _write_frame(stream: Any, data: bytes) -> None:
    if len(data) > _MAX_FRAME:
        raise P2PError(f"frame of {len(data)} bytes exceeds {_MAX_FRAME}")
    await stream.write(len(data).to_bytes(4, "big") + data)


async def _close(stream: Any) -> None:
    # Closing a broken stream may fail; there is nothing left to do with it.
    with contextlib.suppress(Exception):
        await stream.close()


def _in_trio_thread() -> bool:
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True
