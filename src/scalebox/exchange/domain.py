"""The exchange's vocabulary: instruments, participants, orders, the sequenced commands the engine
takes and the events it emits. Prices are integers in ticks and quantities integers in shares."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, NamedTuple

from scalebox.exchange.errors import InvalidConfigError

if TYPE_CHECKING:
    from scalebox.exchange.risk import Position

BPS = 10_000  # basis points in one


class Side(IntEnum):
    BUY = 1
    SELL = 2

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(IntEnum):
    MARKET = 1
    LIMIT = 2
    STOP = 3
    STOP_LIMIT = 4


class TimeInForce(IntEnum):
    DAY = 0
    GTC = 1
    IOC = 3
    FOK = 4


class SelfTradePrevention(IntEnum):
    """What happens when an order would trade with a resting order of the same participant."""

    CANCEL_RESTING = 1
    CANCEL_AGGRESSIVE = 2
    CANCEL_BOTH = 3


class Phase(StrEnum):
    """An instrument's trading phase. Leaving AUCTION uncrosses the book (a call auction)."""

    CLOSED = "closed"
    AUCTION = "auction"
    CONTINUOUS = "continuous"


class ExecType(StrEnum):
    NEW = "new"
    TRADE = "trade"
    CANCELED = "canceled"
    REPLACED = "replaced"
    REJECTED = "rejected"
    EXPIRED = "expired"
    TRIGGERED = "triggered"
    STATUS = "status"


class OrdStatus(StrEnum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"


class RejectReason(IntEnum):
    """Why an order, cancel or replace was refused (or why the rest of an order was cancelled)."""

    UNKNOWN_SYMBOL = 1
    UNKNOWN_PARTICIPANT = 2
    INVALID_QUANTITY = 3
    INVALID_PRICE = 4
    MAX_ORDER_SIZE = 5
    MAX_NOTIONAL = 6
    PRICE_COLLAR = 7
    CREDIT_LIMIT = 8
    POSITION_LIMIT = 9
    DUPLICATE_ORDER = 10
    UNKNOWN_ORDER = 11
    HALTED = 12
    MARKET_CLOSED = 13
    NOT_IN_AUCTION = 14
    NO_LIQUIDITY = 15
    NOT_FILLABLE = 16
    SELF_TRADE = 17
    VOLATILITY_HALT = 18
    END_OF_DAY = 19
    UNSUPPORTED = 20


REJECT_TEXT: dict[RejectReason, str] = {
    RejectReason.UNKNOWN_SYMBOL: "unknown symbol",
    RejectReason.UNKNOWN_PARTICIPANT: "unknown participant",
    RejectReason.INVALID_QUANTITY: "quantity must be a positive multiple of the lot size",
    RejectReason.INVALID_PRICE: "price must be a positive multiple of the tick size",
    RejectReason.MAX_ORDER_SIZE: "order size over the instrument's maximum",
    RejectReason.MAX_NOTIONAL: "order notional over the instrument's maximum",
    RejectReason.PRICE_COLLAR: "price outside the collar around the reference price",
    RejectReason.CREDIT_LIMIT: "credit limit exceeded",
    RejectReason.POSITION_LIMIT: "position limit exceeded",
    RejectReason.DUPLICATE_ORDER: "duplicate ClOrdID for a live order",
    RejectReason.UNKNOWN_ORDER: "unknown order (or already done)",
    RejectReason.HALTED: "trading is halted",
    RejectReason.MARKET_CLOSED: "the market is closed",
    RejectReason.NOT_IN_AUCTION: "IOC and FOK orders are not accepted during an auction call",
    RejectReason.NO_LIQUIDITY: "no liquidity for the rest of the order",
    RejectReason.NOT_FILLABLE: "fill or kill: not fillable in full",
    RejectReason.SELF_TRADE: "self-trade prevented",
    RejectReason.VOLATILITY_HALT: "volatility halt: price left the band",
    RejectReason.END_OF_DAY: "day order expired at the close",
    RejectReason.UNSUPPORTED: "unsupported order characteristic",
}


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable symbol and its rules. Notional limits are in ticks x shares."""

    symbol: str
    tick_size: Decimal = Decimal("0.01")
    lot_size: int = 1
    reference_price_ticks: int = 10_000
    max_order_quantity: int = 1_000_000
    max_notional_ticks: int = 0  # 0 = no limit
    collar_bps: int = 1_000  # limit prices within +-10% of the reference price
    band_bps: int = 500  # a trade more than 5% from the rolling reference halts the instrument
    band_window_seconds: int = 300  # the rolling reference averages trades over this window

    def __post_init__(self) -> None:
        # Checked here, before a definition can reach the journal: a zero lot size would make
        # every later order (and every replay of it) divide by zero.
        if self.tick_size <= 0 or self.lot_size < 1 or self.reference_price_ticks < 1:
            raise InvalidConfigError(f"{self.symbol}: tick, lot size and reference price must be positive")
        if self.max_order_quantity < 1 or self.max_notional_ticks < 0 or self.band_window_seconds < 1:
            raise InvalidConfigError(f"{self.symbol}: order and window limits must be positive")
        if not 0 <= self.collar_bps <= BPS or not 0 <= self.band_bps <= BPS:
            raise InvalidConfigError(f"{self.symbol}: collar and band are between 0 and 10000 bps")


@dataclass(frozen=True, slots=True)
class Participant:
    """A member firm's limits. Credit bounds the notional of its open orders (ticks x shares);
    the position limit bounds |position + open quantity on the same side| per instrument."""

    participant_id: str
    credit_limit_ticks: int = 0  # 0 = no limit
    position_limit: int = 0  # 0 = no limit


HOME_NONE, HOME_BOOK, HOME_STOPS, HOME_AUCTION = 0, 1, 2, 3


class Order:
    """A new order, as submitted (the NewOrderSingle command), and then the live order itself.

    The request fields (participant to stp) are what the sequencer journals. When the engine
    accepts the order it adopts this very object and fills in the state fields (order id,
    leaves, ...), as LMAX-style engines reuse their input entries: one object per order rather
    than two is a measurable share of the hot path. Only the engine mutates it; cl_ord_id, price
    and quantity change on a replace.
    """

    __slots__ = (
        "cl_ord_id",
        "cum",
        "display",
        "home",
        "leaves",
        "order_id",
        "order_type",
        "participant",
        "position",
        "price",
        "priority",
        "quantity",
        "reserve",
        "side",
        "stop_price",
        "stp",
        "symbol",
        "tif",
        "visible",
    )

    def __init__(  # noqa: PLR0917 (positional: called per order on the hot path, or a CLI command's options)
        self,
        participant: str,
        symbol: str,
        cl_ord_id: str,
        side: Side,
        order_type: OrderType,
        tif: TimeInForce,
        quantity: int,
        price: int = 0,
        stop_price: int = 0,
        display: int = 0,
        stp: SelfTradePrevention = SelfTradePrevention.CANCEL_AGGRESSIVE,
    ) -> None:
        self.participant = participant
        self.symbol = symbol
        self.cl_ord_id = cl_ord_id
        self.side = side
        self.order_type = order_type
        self.tif = tif
        self.quantity = quantity  # the order's total size (FIX OrderQty), filled part included
        self.price = price  # limit price in ticks; 0 for market and stop orders
        self.stop_price = stop_price
        self.display = display  # iceberg tranche size; 0 = fully displayed
        self.stp = stp
        # State, set by the engine when it accepts the order.
        self.order_id = 0
        self.leaves = 0
        self.cum = 0
        self.visible = 0
        self.priority = 0  # time priority within a price level; lower is earlier
        self.home = HOME_NONE  # where the engine keeps it: book, stop book or auction queue
        self.reserve = 0  # the price its credit is reserved at (risk.reserve_price)
        self.position: Position | None = None

    def request(self) -> tuple[object, ...]:
        """The submitted fields, in constructor order (what a journal records)."""
        return (
            self.participant,
            self.symbol,
            self.cl_ord_id,
            self.side,
            self.order_type,
            self.tif,
            self.quantity,
            self.price,
            self.stop_price,
            self.display,
            self.stp,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Order):
            return NotImplemented
        return self.request() == other.request() and self.order_id == other.order_id

    __hash__ = object.__hash__

    @property
    def status(self) -> OrdStatus:
        if self.leaves == 0:
            return OrdStatus.FILLED if self.cum == self.quantity else OrdStatus.CANCELED
        return OrdStatus.PARTIALLY_FILLED if self.cum else OrdStatus.NEW

    def __repr__(self) -> str:
        return (
            f"Order({self.order_id} {self.participant} {self.cl_ord_id} {self.side.name} {self.leaves}/"
            f"{self.quantity} {self.symbol} @{self.price} vis={self.visible})"
        )


NewOrder = Order  # the command that submits an order is the order


# -- commands: what the sequencer journals and the engine applies, in sequence order -------------


@dataclass(frozen=True, slots=True)
class CancelOrder:
    participant: str
    symbol: str
    cl_ord_id: str
    orig_cl_ord_id: str = ""
    order_id: int = 0  # when set, wins over orig_cl_ord_id


@dataclass(frozen=True, slots=True)
class ReplaceOrder:
    participant: str
    symbol: str
    cl_ord_id: str
    orig_cl_ord_id: str
    quantity: int
    price: int = 0
    order_id: int = 0


@dataclass(frozen=True, slots=True)
class SetPhase:
    symbol: str  # "" = every instrument
    phase: Phase


@dataclass(frozen=True, slots=True)
class Halt:
    symbol: str  # "" = market-wide
    reason: str = "operator"


@dataclass(frozen=True, slots=True)
class Resume:
    symbol: str  # "" = lift the market-wide halt


@dataclass(frozen=True, slots=True)
class DefineInstrument:
    instrument: Instrument


@dataclass(frozen=True, slots=True)
class DefineParticipant:
    participant: Participant


Command = (
    NewOrder | CancelOrder | ReplaceOrder | SetPhase | Halt | Resume | DefineInstrument | DefineParticipant
)


# -- events: what the engine emits, in order; the output stream is a pure function of the input --


class Execution(NamedTuple):
    """A change of an order's state (FIX ExecutionReport). The order's own fields (id, ClOrdID,
    price, quantity, side, ...) are read from `order`, as they stand when the engine returns the
    event's batch; what changes between events of one batch (leaves, cum, status) is carried."""

    exec_type: ExecType
    order: Order
    status: OrdStatus
    leaves: int
    cum: int
    last_quantity: int = 0
    last_price: int = 0
    trade_id: int = 0
    reason: RejectReason | None = None
    orig_cl_ord_id: str = ""  # the ClOrdID a cancel or replace referred to


class CancelReject(NamedTuple):
    """A cancel or replace that could not be done (FIX OrderCancelReject)."""

    participant: str
    symbol: str
    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: int
    reason: RejectReason
    is_replace: bool
    status: OrdStatus | None  # the order's status when it is known


class Trade(NamedTuple):
    trade_id: int
    symbol: str
    price: int
    quantity: int
    buy_order_id: int
    sell_order_id: int
    buyer: str
    seller: str
    aggressor: Side | None  # None for an auction trade


class BookAction(IntEnum):
    ADD = 1  # a new visible order at the back of its price level
    UPDATE = 2  # visible quantity changed, priority kept
    DELETE = 3


class BookUpdate(NamedTuple):
    """One order-by-order change of the visible book (L3); L2 and L1 are aggregates of these."""

    symbol: str
    action: BookAction
    order_id: int
    side: Side
    price: int
    visible: int


class StatusChange(NamedTuple):
    symbol: str  # "" = market-wide
    phase: Phase
    halted: bool
    reason: str


Event = Execution | CancelReject | Trade | BookUpdate | StatusChange
