from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trust.aggregate import PeerClaim
from trust.disputes import DisputeLedger, DisputeParams
from trust.reputation import ReputationBook

TRUSTED = "trusted-peer"


def _ledger(**kw: float) -> tuple[DisputeLedger, ReputationBook]:
    book = ReputationBook(pretrusted=frozenset({TRUSTED}))
    return DisputeLedger(book, params=DisputeParams(**kw)), book  # type: ignore[arg-type]


def test_trusted_dispute_contradicts_earlier_and_later_reporters_once() -> None:
    ledger, book = _ledger()
    ledger.add("x", PeerClaim("early", 1.0, 1.0, 0.0), 0.0)
    assert ledger.add("x", PeerClaim(TRUSTED, 0.0, 1.0, 1.0), 1.0) == ["early"]
    assert ledger.add("x", PeerClaim("late", 0.9, 1.0, 2.0), 2.0) == ["late"]
    # repeating the same claims changes nothing more
    assert ledger.add("x", PeerClaim("early", 1.0, 1.0, 3.0), 3.0) == []
    assert ledger.add("x", PeerClaim(TRUSTED, 0.0, 1.0, 4.0), 4.0) == []
    assert book.peers["early"].contradicted == 1
    assert book.peers["late"].contradicted == 1
    assert ledger.indirect_contradictions == 2


def test_a_dispute_from_an_unproven_peer_counts_for_nothing() -> None:
    ledger, book = _ledger()
    ledger.add("x", PeerClaim("honest", 1.0, 1.0, 0.0), 0.0)
    for i in range(50):  # a Sybil swarm disputing an honest report
        ledger.add("x", PeerClaim(f"sybil-{i}", 0.0, 1.0, 1.0), 1.0)
    assert "honest" not in book.peers or book.peers["honest"].contradicted == 0


def test_disputes_never_confirm_anyone() -> None:
    ledger, book = _ledger()
    ledger.add("x", PeerClaim(TRUSTED, 0.0, 1.0, 0.0), 0.0)
    ledger.add("x", PeerClaim("other", 0.1, 1.0, 0.0), 0.0)
    assert all(rec.confirmed == 0 for rec in book.peers.values())


def test_memory_is_bounded_oldest_indicator_first() -> None:
    ledger, _ = _ledger(max_indicators=3)
    for i in range(5):
        ledger.add(f"ip-{i}", PeerClaim("p", 1.0, 1.0, 0.0), 0.0)
    assert list(ledger.claims) == ["ip-2", "ip-3", "ip-4"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", TRUSTED]), st.floats(0, 1), st.sampled_from("xy")
        ),
        max_size=40,
    )
)
def test_reputations_stay_bounded_and_only_fall_through_disputes(
    claims: list[tuple[str, float, str]],
) -> None:
    ledger, book = _ledger()
    before = {p: book.reputation(p, 0.0) for p in ("a", "b", "c", TRUSTED)}
    for t, (who, score, ind) in enumerate(claims):
        ledger.add(ind, PeerClaim(who, score, 1.0, float(t)), float(t))
    for p, r0 in before.items():
        r = book.reputation(p, float(len(claims)))
        assert 0.0 < r < 1.0
        assert r <= r0 + 1e-12


def _confirm(book: ReputationBook, peer: str, times: int, now: float) -> None:
    for _ in range(times):
        book.confirmed(peer, now)


def test_a_dispute_made_before_the_disputer_was_trusted_applies_once_it_is() -> None:
    ledger, book = _ledger()
    ledger.add("x", PeerClaim("liar", 1.0, 1.0, 0.0), 0.0)
    assert ledger.add("x", PeerClaim("newcomer", 0.0, 1.0, 1.0), 1.0) == []  # unproven yet
    assert ledger.retry("newcomer", 2.0) == []  # still unproven: nothing, and kept waiting
    assert "liar" not in book.peers or book.peers["liar"].contradicted == 0
    _confirm(book, "newcomer", 5, 3.0)  # its own reports turn out right
    assert ledger.retry("newcomer", 3.0) == ["liar"]
    weight = book.weight("newcomer", 3.0)
    assert book.peers["liar"].contradicted == 1
    assert abs(book.peers["liar"].bad - 3 * weight) < 1e-9  # weighted like any trusted dispute
    assert ledger.retry("newcomer", 4.0) == []  # once
    # and a later malicious claim about x is disputed by it directly
    assert ledger.add("x", PeerClaim("late", 1.0, 1.0, 5.0), 5.0) == ["late"]


def test_a_withdrawn_dispute_does_not_apply_when_the_disputer_earns_trust() -> None:
    ledger, book = _ledger()
    ledger.add("x", PeerClaim("reporter", 1.0, 1.0, 0.0), 0.0)
    ledger.add("x", PeerClaim("newcomer", 0.0, 1.0, 1.0), 1.0)
    ledger.add("x", PeerClaim("newcomer", 0.9, 1.0, 2.0), 2.0)  # now says malicious too
    _confirm(book, "newcomer", 5, 3.0)
    assert ledger.retry("newcomer", 3.0) == []
    assert "reporter" not in book.peers or book.peers["reporter"].contradicted == 0


def test_waiting_disputes_are_forgotten_with_their_indicators() -> None:
    """An untrusted peer disputing a stream of addresses cannot grow memory: what waits
    for its trust is bounded by the indicators the ledger keeps."""
    ledger, book = _ledger(max_indicators=3)
    for i in range(10):
        ledger.add(f"ip-{i}", PeerClaim("reporter", 1.0, 1.0, 0.0), 0.0)
        ledger.add(f"ip-{i}", PeerClaim("flooder", 0.0, 1.0, 0.0), 0.0)
    assert set(ledger._waiting["flooder"]) <= set(ledger.claims)
    assert sum(len(v) for v in ledger._waiting.values()) <= 3
    _confirm(book, "flooder", 5, 1.0)
    assert ledger.retry("flooder", 1.0) == ["reporter"] * 3  # the kept ones apply
