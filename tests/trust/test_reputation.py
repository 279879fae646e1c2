from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trust.aggregate import AggregationParams, PeerClaim, aggregate
from trust.reputation import ReputationBook, ReputationParams

DAY = 86400.0
events = st.lists(
    st.tuples(st.sampled_from(["confirm", "contradict", "fault"]), st.floats(0, 10)), max_size=60
)


def apply(book: ReputationBook, peer: str, evs: list[tuple[str, float]], t0: float = 0.0) -> float:
    t = t0
    for kind, dt in evs:
        t += dt
        getattr(
            book, {"confirm": "confirmed", "contradict": "contradicted", "fault": "fault"}[kind]
        )(peer, t)
    return t


@given(events)
def test_bounds(evs: list[tuple[str, float]]) -> None:
    book = ReputationBook()
    t = apply(book, "p", evs)
    assert 0.0 < book.reputation("p", t) < 1.0
    assert 0.0 <= book.certainty("p", t) < 1.0
    assert 0.0 <= book.weight("p", t) < 1.0


@given(events)
def test_confirmation_never_lowers_and_contradiction_never_raises(
    evs: list[tuple[str, float]],
) -> None:
    book = ReputationBook()
    t = apply(book, "p", evs)
    before = book.reputation("p", t)
    book.confirmed("p", t)
    assert book.reputation("p", t) >= before - 1e-12
    before = book.reputation("p", t)
    book.contradicted("p", t)
    assert book.reputation("p", t) <= before + 1e-12


@given(st.integers(1, 50), st.floats(1, 365))
def test_decay_moves_toward_the_prior_and_loses_certainty(n: int, days: float) -> None:
    book = ReputationBook()
    for i in range(n):
        book.confirmed("p", float(i))
    r0, c0 = book.reputation("p", n), book.certainty("p", n)
    later = n + days * DAY
    assert 0.5 <= book.reputation("p", later) <= r0 + 1e-12
    assert book.certainty("p", later) <= c0 + 1e-12


def test_new_identity_weighs_nothing_and_earns_weight_slowly() -> None:
    book = ReputationBook()
    assert book.weight("fresh", 0.0) < 0.01
    for i in range(5):
        book.confirmed("honest", float(i))
    assert 0.3 < book.weight("honest", 5.0) < 0.6
    for i in range(30):
        book.confirmed("honest", float(i))
    assert book.weight("honest", 30.0) > 0.8


def test_liar_falls_below_point_one_within_twenty_reports() -> None:
    book = ReputationBook()
    for i in range(20):
        book.contradicted("liar", float(i))
    assert book.reputation("liar", 20.0) < 0.1


def test_pretrusted_is_a_prior_not_a_frozen_value() -> None:
    book = ReputationBook(ReputationParams(), pretrusted=frozenset({"org"}))
    assert book.weight("org", 0.0) > 0.5
    for i in range(30):
        book.contradicted("org", float(i))
    assert book.reputation("org", 30.0) < 0.3


def test_aggregate_needs_independent_trusted_reporters_and_respects_protection() -> None:
    book = ReputationBook()
    for peer in ("a", "b", "c"):
        for i in range(30):
            book.confirmed(peer, float(i))
    claims = [PeerClaim(p, 0.9, 0.9, 30.0) for p in ("a", "b")]
    assert not aggregate("x", claims, book, 30.0).block
    claims.append(PeerClaim("c", 0.9, 0.9, 30.0))
    opinion = aggregate("x", claims, book, 30.0)
    assert opinion.block and opinion.trusted_reporters == 3
    assert {c.reporter for c in opinion.contributions} == {"a", "b", "c"}
    assert not aggregate("x", claims, book, 30.0, protected=True).block


def test_sybils_cannot_outvote_trusted_peers() -> None:
    book = ReputationBook()
    for peer in ("a", "b", "c"):
        for i in range(30):
            book.confirmed(peer, float(i))
    sybils = [PeerClaim(f"s{i}", 1.0, 1.0, 30.0) for i in range(500)]
    assert not aggregate("canary", sybils, book, 30.0).block
    honest_deny = [PeerClaim(p, 0.0, 0.9, 30.0) for p in ("a", "b", "c")]
    assert aggregate("x", sybils + honest_deny, book, 30.0).score == 0.0


@given(
    st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(0, 1), st.floats(0, 1)), max_size=30)
)
def test_aggregate_bounds(claims: list[tuple[str, float, float]]) -> None:
    book = ReputationBook()
    for i, p in enumerate("abcd"):
        for j in range(i * 5):
            book.confirmed(p, float(j))
    o = aggregate(
        "x", [PeerClaim(p, s, c, 1.0) for p, s, c in claims], book, 50.0, AggregationParams()
    )
    assert 0.0 <= o.score <= 1.0 and 0.0 <= o.confidence <= 0.99 and o.support >= 0.0


def test_three_confirmations_spread_in_time_make_a_trusted_reporter() -> None:
    book = ReputationBook()
    claims = []
    for i, peer in enumerate(["a", "b", "c"]):
        for k in range(3):  # confirmations minutes apart: decay leaves 0.29997, not 0.3
            book.confirmed(peer, 60.0 * (3 * i + k))
        claims.append(PeerClaim(peer, 0.9, 1.0, 600.0))
    assert 0.28 < book.weight("a", 600.0) < 0.3
    op = aggregate("203.0.113.9", claims, book, 600.0, AggregationParams())
    assert op.trusted_reporters == 3
    # they count as trusted; blocking still needs support >= 1.2 (3 x 0.3 = 0.9 is short)
    assert not op.block and op.reason.startswith("support 0.90")
    for i, peer in enumerate(["e", "f"]):
        for k in range(3):
            book.confirmed(peer, 60.0 * (9 + 3 * i + k))
        claims.append(PeerClaim(peer, 0.9, 1.0, 900.0))
    op = aggregate("203.0.113.9", claims, book, 900.0, AggregationParams())
    assert op.trusted_reporters == 5 and op.block
    for i in range(2):
        book.confirmed("d", float(i))
    assert book.weight("d", 2.0) < AggregationParams().min_weight  # two are not enough
