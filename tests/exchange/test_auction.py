"""Call-auction price discovery: maximum volume, then minimum imbalance, then the price closest to
the reference, then the lower price."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scalebox.exchange.auction import Uncross, find_uncross


def test_find_uncross_returns_none_for_an_empty_book() -> None:
    assert find_uncross([], [], 0, 0, 100) is None


def test_find_uncross_returns_none_when_the_book_does_not_cross() -> None:
    assert find_uncross([(99, 10), (98, 5)], [(100, 10)], 0, 0, 100) is None


def test_find_uncross_returns_none_with_buyers_only() -> None:
    assert find_uncross([(101, 10)], [], 5, 0, 100) is None


def test_find_uncross_picks_the_maximum_volume_price_over_the_reference() -> None:
    # 99 and 100 execute 4; 102 and 103 execute 10 (102 is nearer the reference than 103).
    bids = [(103, 10), (100, 2)]
    asks = [(99, 4), (102, 6)]
    assert find_uncross(bids, asks, 0, 0, 100) == Uncross(102, 10, 0)


def test_find_uncross_breaks_volume_ties_by_smallest_imbalance() -> None:
    # 101 and 102 both execute 10; at 101 demand is 15 against 10, at 102 it is 10 against 10.
    bids = [(102, 10), (101, 5)]
    asks = [(100, 5), (101, 5), (103, 10)]
    assert find_uncross(bids, asks, 0, 0, 100) == Uncross(102, 10, 0)


def test_find_uncross_breaks_imbalance_ties_by_distance_to_the_reference() -> None:
    # Every price from 101 to 104 executes 5 with no imbalance.
    assert find_uncross([(104, 5)], [(101, 5)], 0, 0, 103) == Uncross(104, 5, 0)
    assert find_uncross([(104, 5)], [(101, 5)], 0, 0, 100) == Uncross(101, 5, 0)


def test_find_uncross_breaks_exact_ties_by_the_lower_price() -> None:
    # The candidates are the limit prices, 101 and 103: each executes 5, and each is 1 from 102.
    assert find_uncross([(103, 5)], [(101, 5)], 0, 0, 102) == Uncross(101, 5, 0)


def test_find_uncross_trades_market_orders_alone_at_the_reference() -> None:
    assert find_uncross([], [], 10, 4, 100) == Uncross(100, 4, 6)


def test_find_uncross_trades_market_orders_against_limits() -> None:
    # A market buy of 7 against asks of 5 at 99 and 5 at 101: 101 executes 7, 99 only 5.
    assert find_uncross([], [(99, 5), (101, 5)], 7, 0, 100) == Uncross(101, 7, 3)


def test_find_uncross_adds_up_orders_at_the_same_price_in_any_order() -> None:
    bids = [(100, 3), (101, 2), (100, 4)]
    asks = [(100, 6), (99, 1)]
    assert find_uncross(bids, asks, 0, 0, 100) == find_uncross(bids[::-1], asks[::-1], 0, 0, 100)
    assert find_uncross(bids, asks, 0, 0, 100) == Uncross(100, 7, 2)


BOOK_SIDE = st.lists(st.tuples(st.integers(95, 105), st.integers(1, 20)), max_size=8)


@given(
    bids=BOOK_SIDE,
    asks=BOOK_SIDE,
    market_buy=st.integers(0, 30),
    market_sell=st.integers(0, 30),
    reference=st.integers(90, 110),
)
def test_find_uncross_chooses_the_maximum_volume_then_the_tie_breaks(
    bids, asks, market_buy, market_sell, reference
) -> None:
    result = find_uncross(bids, asks, market_buy, market_sell, reference)
    prices = sorted({p for p, _ in bids} | {p for p, _ in asks})
    if not prices:
        volume = min(market_buy, market_sell)
        expected = Uncross(reference, volume, abs(market_buy - market_sell)) if volume else None
        assert result == expected
        return
    candidates = []
    for price in prices:
        demand = market_buy + sum(q for p, q in bids if p >= price)
        supply = market_sell + sum(q for p, q in asks if p <= price)
        candidates.append((min(demand, supply), abs(demand - supply), price))
    best_volume = max(volume for volume, _, _ in candidates)
    if best_volume == 0:
        assert result is None
        return
    assert result is not None
    assert result.volume == best_volume
    tied = [
        (imbalance, abs(price - reference), price) for v, imbalance, price in candidates if v == best_volume
    ]
    imbalance, _, price = min(tied)
    assert (result.price, result.imbalance) == (price, imbalance)
