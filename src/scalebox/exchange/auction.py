"""Call-auction price discovery: the uncross price of a (possibly crossed) book.

The price maximises executable volume; ties go to the smallest imbalance, then to the price
closest to the reference, then to the lower price (so the choice is always unique).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True, slots=True)
class Uncross:
    price: int
    volume: int
    imbalance: int


def find_uncross(
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    market_buy: int,
    market_sell: int,
    reference_price: int,
) -> Uncross | None:
    """`bids` and `asks` are (price, quantity) pairs, any order, quantities including hidden ones.
    Market quantities trade at any price. None when nothing can execute."""
    prices = sorted({price for price, _ in bids} | {price for price, _ in asks})
    if not prices:
        if market_buy and market_sell:
            volume = min(market_buy, market_sell)
            return Uncross(reference_price, volume, abs(market_buy - market_sell))
        return None
    index = {price: i for i, price in enumerate(prices)}
    bid_at = [0] * len(prices)
    ask_at = [0] * len(prices)
    for price, quantity in bids:
        bid_at[index[price]] += quantity
    for price, quantity in asks:
        ask_at[index[price]] += quantity
    # demand(p) = market buys + bids priced >= p; supply(p) = market sells + asks priced <= p.
    demand = list(accumulate(reversed(bid_at)))[::-1]
    supply = list(accumulate(ask_at))
    best: tuple[int, int, int, int] | None = None  # (-volume, imbalance, distance, price)
    for i, price in enumerate(prices):
        buy = market_buy + demand[i]
        sell = market_sell + supply[i]
        volume = min(buy, sell)
        if volume == 0:
            continue
        key = (-volume, abs(buy - sell), abs(price - reference_price), price)
        if best is None or key < best:
            best = key
    if best is None:
        return None
    return Uncross(best[3], -best[0], best[1])
