from __future__ import annotations

import contextlib
import random

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2p.errors import BadSignature, DecodeError, MalformedMessage, Oversized, UnsupportedVersion
from p2p.signing import Identity, peer_id_from_public_key
from p2p.wire import (
    VERSION,
    Hello,
    IocReport,
    MessageType,
    OpinionRequest,
    OpinionResponse,
    Retraction,
    decode,
    encode,
    seal,
)

ALICE = Identity(bytes(range(32)))
MALLORY = Identity(bytes(range(1, 33)))
NONCE = b"n" * 16


def report(value: str = "46.166.151.160") -> IocReport:
    return IocReport("ip", value, 0.9, 0.8, ("horizontal_port_scan",), 474_000, 3600, "scan")


def test_known_peer_id_matches_libp2p_format() -> None:
    assert ALICE.peer_id.startswith("12D3KooW")
    assert peer_id_from_public_key(ALICE.public_key) == ALICE.peer_id


def test_round_trip_every_type() -> None:
    bodies = [
        report(),
        OpinionRequest(b"r" * 16, "ip", "1.2.3.4"),
        OpinionResponse(b"r" * 16, "ip", "1.2.3.4", 0.5, 0.25, ("x",), 3),
        Retraction("ip", "1.2.3.4", "false positive"),
        Hello("starling 0.1.0", ("ioc", "opinion")),
    ]
    for body in bodies:
        data = seal(ALICE, body, now=1000.5, nonce=NONCE)
        env = decode(data)
        assert env.body == body
        assert env.sender_id == ALICE.peer_id and env.ts == 1000.5 and env.nonce == NONCE
        assert encode(env) == data


def test_values_are_normalised() -> None:
    assert report("::ffff:1.2.3.4").value == "1.2.3.4"
    with pytest.raises(ValueError, match="does not appear"):
        report("not-an-ip")


def test_forged_signature_is_refused() -> None:
    data = seal(ALICE, report(), now=1.0, nonce=NONCE)
    version, payload, signature = msgpack.unpackb(data)
    forged = msgpack.packb([version, payload, MALLORY.sign(payload)])
    with pytest.raises(BadSignature):
        decode(forged)
    tampered = msgpack.packb([version, payload.replace(b"46.166", b"46.167"), signature])
    with pytest.raises(BadSignature):
        decode(tampered)


def test_unknown_version_and_oversize() -> None:
    data = seal(ALICE, report(), now=1.0, nonce=NONCE)
    _, payload, signature = msgpack.unpackb(data)
    with pytest.raises(UnsupportedVersion):
        decode(msgpack.packb([VERSION + 1, payload, signature]))
    with pytest.raises(Oversized):
        decode(b"\x00" * 20_000)


def test_body_type_checks() -> None:
    inner = [VERSION, "ioc", ALICE.public_key, 1.0, NONCE, {"kind": "ip", "value": "1.2.3.4"}]
    payload = msgpack.packb(inner)
    with pytest.raises(MalformedMessage, match="misses"):
        decode(msgpack.packb([VERSION, payload, ALICE.sign(payload)]))
    inner[5] = {"kind": "ip", "value": "1.2.3.4", "score": True, "confidence": 0.5,
                "evidence_types": [], "window": 1, "ttl": 5}  # fmt: skip
    payload = msgpack.packb(inner)
    with pytest.raises(MalformedMessage, match="score"):
        decode(msgpack.packb([VERSION, payload, ALICE.sign(payload)]))
    inner[1] = "gossip-of-the-day"
    payload = msgpack.packb(inner)
    with pytest.raises(MalformedMessage, match="unknown message type"):
        decode(msgpack.packb([VERSION, payload, ALICE.sign(payload)]))


@given(
    value=st.ip_addresses().map(str),
    score=st.floats(0, 1),
    conf=st.floats(0, 1),
    types=st.lists(st.text(max_size=30), max_size=10).map(tuple),
    window=st.integers(-(2**40), 2**40),
    ttl=st.integers(1, 30 * 86400),
    now=st.floats(0, 4e9),
    nonce=st.binary(min_size=16, max_size=16),
)
def test_property_round_trip(
    value: str, score: float, conf: float, types: tuple[str, ...], window: int, ttl: int,
    now: float, nonce: bytes,
) -> None:  # fmt: skip
    body = IocReport("ip", value, score, conf, types, window, ttl)
    env = decode(seal(ALICE, body, now=now, nonce=nonce))
    assert env.body == body and env.ts == now and env.type is MessageType.IOC


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_any_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(data)


@settings(max_examples=1000, deadline=None)
@given(st.data())
def test_fuzz_mutated_real_envelopes(data: st.DataObject) -> None:
    raw = bytearray(seal(ALICE, report(), now=5.0, nonce=NONCE))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    for _ in range(data.draw(st.integers(1, 8))):
        op = rng.randrange(3)
        pos = rng.randrange(len(raw))
        if op == 0:
            raw[pos] = rng.randrange(256)
        elif op == 1:
            del raw[pos]
        else:
            raw.insert(pos, rng.randrange(256))
    try:
        env = decode(bytes(raw))
    except DecodeError:
        return
    # Anything that still decodes must carry a valid signature over what it says.
    assert env.sender_id == ALICE.peer_id


_msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.text(max_size=10) | st.binary(max_size=40),
    lambda c: st.lists(c, max_size=6) | st.dictionaries(st.text(max_size=8), c, max_size=6),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(_msgpack_values)
def test_fuzz_structured_msgpack(value: object) -> None:
    with contextlib.suppress(DecodeError):
        decode(msgpack.packb(value))
