"""Order requests at the web edge: the JSON bodies of the API (pydantic, validated here and no
deeper) and the order-entry form, both translated into the service's OrderTicket with prices in
ticks. Enum values travel as lower-case names ("buy", "stop_limit", "gtc")."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from scalebox.core.errors import InvalidError
from scalebox.exchange.domain import OrderType, Side, TimeInForce
from scalebox.exchange.http.prices import parse_price_ticks
from scalebox.exchange.service.order_entry import CL_ORD_ID_CHARS_MAX, OrderTicket

QUANTITY_MAX = 10**12
_T = TypeVar("_T")
SYMBOL_CHARS_MAX = 12

SIDES = {side.name.lower(): side for side in Side}
ORDER_TYPES = {order_type.name.lower(): order_type for order_type in OrderType}
TIFS = {tif.name.lower(): tif for tif in TimeInForce}

SideName = Literal["buy", "sell"]
OrderTypeName = Literal["market", "limit", "stop", "stop_limit"]
TifName = Literal["day", "gtc", "ioc", "fok"]


class NewOrderBody(BaseModel):
    """POST /api/orders. Prices are decimals (strings or numbers) in the instrument's tick size."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=SYMBOL_CHARS_MAX)
    side: SideName
    type: OrderTypeName = "limit"
    tif: TifName = "day"
    quantity: int = Field(gt=0, le=QUANTITY_MAX)
    price: Decimal | None = None  # limit and stop-limit orders
    stop_price: Decimal | None = None  # stop and stop-limit orders
    display: int = Field(0, ge=0, le=QUANTITY_MAX)  # iceberg: the shown tranche; 0 = all
    cl_ord_id: str = Field("", max_length=CL_ORD_ID_CHARS_MAX)


class ReplaceBody(BaseModel):
    """PATCH /api/orders/{order_id}: the new total quantity and, for priced orders, the new price."""

    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(gt=0, le=QUANTITY_MAX)
    price: Decimal | None = None


def ticket_from_body(body: NewOrderBody, tick_size: Decimal) -> OrderTicket:
    return OrderTicket(
        symbol=body.symbol,
        side=SIDES[body.side],
        order_type=ORDER_TYPES[body.type],
        tif=TIFS[body.tif],
        quantity=body.quantity,
        price_ticks=parse_price_ticks(body.price, tick_size),
        stop_price_ticks=parse_price_ticks(body.stop_price, tick_size, field="stop_price"),
        display=body.display,
        cl_ord_id=body.cl_ord_id,
    )


def ticket_from_form(fields: dict[str, str], tick_size: Decimal) -> OrderTicket:
    """The order-entry form's fields (all text) as a ticket; InvalidError names the bad field."""
    return OrderTicket(
        symbol=fields["symbol"],
        side=_choice(SIDES, fields.get("side", ""), "side"),
        order_type=_choice(ORDER_TYPES, fields.get("type", "limit"), "type"),
        tif=_choice(TIFS, fields.get("tif", "day"), "tif"),
        quantity=parse_count(fields.get("quantity", ""), "quantity", required=True),
        price_ticks=parse_price_ticks(fields.get("price"), tick_size),
        stop_price_ticks=parse_price_ticks(fields.get("stop_price"), tick_size, field="stop_price"),
        display=parse_count(fields.get("display", ""), "display"),
    )


def parse_count(text: str, field: str, *, required: bool = False) -> int:
    """A whole number of shares from a form field; blank is 0 unless required."""
    text = text.strip()
    if not text and not required:
        return 0
    if not text.isdigit() or len(text) > len(str(QUANTITY_MAX)) or (required and int(text) == 0):
        raise InvalidError(f"{field} must be a whole number of shares", field=field)
    return int(text)


def _choice(table: dict[str, _T], name: str, field: str) -> _T:
    try:
        return table[name]
    except KeyError as exc:
        raise InvalidError(f"{field} must be one of {', '.join(table)}", field=field) from exc
