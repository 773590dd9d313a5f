"""Pre-trade risk: the checks an order passes before it reaches the book, and the exposure
bookkeeping (credit in use, open quantities, net positions) they read. All integer arithmetic."""

from __future__ import annotations

from scalebox.exchange.domain import BPS, Instrument, Order, OrderType, Participant, RejectReason, Side


class Account:
    """A participant's limits and what it has in use. Credit in use is the notional reserved by
    its open orders (ticks x shares); each position tracks one instrument."""

    __slots__ = ("credit_used", "participant", "positions")

    def __init__(self, participant: Participant) -> None:
        self.participant = participant
        self.credit_used = 0
        self.positions: dict[str, Position] = {}

    def position(self, symbol: str) -> Position:
        position = self.positions.get(symbol)
        if position is None:
            position = self.positions[symbol] = Position(self)
        return position


class Position:
    """A participant's net position and open order quantities in one instrument."""

    __slots__ = ("account", "net", "open_buy", "open_sell")

    def __init__(self, account: Account) -> None:
        self.account = account
        self.net = 0
        self.open_buy = 0
        self.open_sell = 0


BUY = Side.BUY  # module constants: enum attribute lookups are slow in Python 3.11
LIMIT, STOP_LIMIT = OrderType.LIMIT, OrderType.STOP_LIMIT


def collar(instrument: Instrument, reference_price: int) -> tuple[int, int]:
    """The lowest and highest limit prices accepted around the reference price."""
    width = reference_price * instrument.collar_bps // BPS
    return max(1, reference_price - width), reference_price + width


def reserve_price(instrument: Instrument, side: Side, order_type: OrderType, price: int, ref: int) -> int:
    """The price an order's credit is reserved at: its limit, else the far edge of the collar."""
    if order_type is LIMIT or order_type is STOP_LIMIT:
        return price
    low, high = collar(instrument, ref)
    return high if side is BUY else low


def check_order(  # noqa: PLR0917 (positional: called per order on the hot path, or a CLI command's options)
    instrument: Instrument,
    account: Account,
    position: Position,
    side: Side,
    order_type: OrderType,
    quantity: int,
    price: int,
    reference_price: int,
) -> RejectReason | None:
    """Size, notional, collar, credit and position checks, cheapest first."""
    if quantity > instrument.max_order_quantity:
        return RejectReason.MAX_ORDER_SIZE
    if order_type is LIMIT or order_type is STOP_LIMIT:
        width = reference_price * instrument.collar_bps // BPS
        if not reference_price - width <= price <= reference_price + width:
            return RejectReason.PRICE_COLLAR
        notional = price * quantity
    else:
        notional = reserve_price(instrument, side, order_type, price, reference_price) * quantity
    if instrument.max_notional_ticks and notional > instrument.max_notional_ticks:
        return RejectReason.MAX_NOTIONAL
    limits = account.participant
    if limits.credit_limit_ticks and account.credit_used + notional > limits.credit_limit_ticks:
        return RejectReason.CREDIT_LIMIT
    if limits.position_limit:
        if side is BUY:
            exposure = position.net + position.open_buy + quantity
        else:
            exposure = position.open_sell + quantity - position.net
        if exposure > limits.position_limit:
            return RejectReason.POSITION_LIMIT
    return None


def settle(order: Order, quantity: int) -> None:
    """A fill: the reserved credit is given back and open quantity becomes position."""
    position = order.position
    position.account.credit_used -= order.reserve * quantity  # type: ignore[union-attr]
    if order.side is BUY:
        position.open_buy -= quantity  # type: ignore[union-attr]
        position.net += quantity  # type: ignore[union-attr]
    else:
        position.open_sell -= quantity  # type: ignore[union-attr]
        position.net -= quantity  # type: ignore[union-attr]
