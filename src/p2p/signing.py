"""Ed25519 identities and peer IDs.

An agent's identity is one Ed25519 key. The same 32-byte seed gives the libp2p
host its key, so the peer ID that libp2p shows and the sender of every signed
envelope are one and the same. Peer IDs are computed here, without libp2p, the
way libp2p does for Ed25519 keys: base58btc of the identity multihash of the
protobuf-encoded public key ("12D3KooW…").

Verification raises (`BadSignature`); it never returns a bool.
"""

from __future__ import annotations

import functools

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from p2p.errors import BadSignature

__all__ = ["Identity", "peer_id_from_public_key", "verify"]

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# protobuf PublicKey{Type: Ed25519 (1), Data: <32 bytes>} = 08 01 12 20 <key>
_PB_ED25519_PREFIX = b"\x08\x01\x12\x20"


def _b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + "".join(reversed(out))


@functools.lru_cache(maxsize=65536)
def peer_id_from_public_key(public_key: bytes) -> str:
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    encoded = _PB_ED25519_PREFIX + public_key
    return _b58encode(bytes([0x00, len(encoded)]) + encoded)  # identity multihash


class Identity:
    """A private Ed25519 key; `seed` is its 32-byte private form."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self.seed = seed
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.peer_id = peer_id_from_public_key(self.public_key)

    @classmethod
    def generate(cls, random_bytes: bytes) -> Identity:
        """From 32 random bytes supplied by the caller (randomness is a parameter)."""
        return cls(random_bytes)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def verify(public_key: bytes, signature: bytes, data: bytes) -> None:
    """Raise `BadSignature` unless `signature` is `public_key`'s over `data`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature("signature does not verify") from exc
