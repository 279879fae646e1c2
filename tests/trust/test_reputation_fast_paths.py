"""The one-pass views of ReputationBook give exactly what the two-step views give.

`passes` (the trusted-reporter test on the path of every claim) must return what
`weight(p) >= w and reputation(p) >= r` returns, leave the book in the same state
(records decayed the same, the same cached weights), for any history."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trust.aggregate import AggregationParams, is_trusted
from trust.reputation import ReputationBook

PEERS = ["a", "b", "pre"]
steps = st.lists(
    st.tuples(
        st.sampled_from(["confirmed", "contradicted", "fault", "reported", "check", "weight"]),
        st.sampled_from([*PEERS, "stranger"]),
        st.floats(0, 90),  # seconds since the previous step (the weight cache lasts 60)
        st.floats(0.0, 0.7),
        st.floats(0.0, 1.0),
    ),
    max_size=80,
)


def state(book: ReputationBook) -> tuple[object, ...]:
    recs = tuple(
        (p, r.good, r.bad, r.updated, r.reports, tuple(r.history))
        for p, r in sorted(book.peers.items())
    )
    return recs, tuple(sorted(book._weights.items()))


@settings(max_examples=300)
@given(steps)
def test_passes_equals_weight_and_reputation_and_leaves_the_same_state(
    seq: list[tuple[str, str, float, float, float]],
) -> None:
    fast = ReputationBook(pretrusted=frozenset({"pre"}))
    slow = ReputationBook(pretrusted=frozenset({"pre"}))
    t = 0.0
    for op, peer, dt, min_w, min_r in seq:
        t += dt
        if op == "check":
            expected = slow.weight(peer, t) >= min_w and slow.reputation(peer, t) >= min_r
            assert fast.passes(peer, t, min_w, min_r) == expected
        elif op == "weight":
            assert fast.weight(peer, t) == slow.weight(peer, t)
        else:
            getattr(fast, op)(peer, t)
            getattr(slow, op)(peer, t)
        assert state(fast) == state(slow)


def test_is_trusted_needs_three_confirmations_and_no_recent_lie() -> None:
    book = ReputationBook()
    p = AggregationParams()
    for i in range(3):
        assert not is_trusted(book, "x", float(i), p)
        book.confirmed("x", float(i))
    assert is_trusted(book, "x", 3.0, p)
    book.contradicted("x", 4.0)
    assert not is_trusted(book, "x", 4.0, p)  # the cached weight is dropped on evidence
