"""`VerifiedReport`: a peer's IoC report that passed every check, as the rest of
the agent sees it (the trust layer, the store, the API).

It keeps the exact envelope bytes so the report can be re-verified wherever it
goes (`wire.decode(report.envelope)`), and who relayed it to us besides who
signed it.
"""

from __future__ import annotations

from dataclasses import dataclass

from p2p.wire import Envelope, IocReport

__all__ = ["VerifiedReport"]


@dataclass(frozen=True, slots=True)
class VerifiedReport:
    message_id: str
    sender: str  # peer ID of the signer
    relay: str  # peer ID of the libp2p publisher that delivered it
    kind: str
    value: str
    score: float
    confidence: float
    evidence_types: tuple[str, ...]
    window: int
    ttl: int
    description: str
    signed_at: float
    received_at: float
    envelope: bytes

    @classmethod
    def from_envelope(
        cls, env: Envelope, data: bytes, *, relay: str, received_at: float
    ) -> VerifiedReport:
        body = env.body
        if not isinstance(body, IocReport):
            raise TypeError(f"not an IoC report: {env.type}")
        return cls(
            message_id=env.message_id,
            sender=env.sender_id,
            relay=relay,
            kind=body.kind,
            value=body.value,
            score=body.score,
            confidence=body.confidence,
            evidence_types=body.evidence_types,
            window=body.window,
            ttl=body.ttl,
            description=body.description,
            signed_at=env.ts,
            received_at=received_at,
            envelope=data,
        )

    def expired(self, now: float) -> bool:
        return now > self.signed_at + self.ttl
