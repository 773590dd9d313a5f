"""Prices at the web edge: people and JSON clients write decimals ("100.25"), the engine counts
integer ticks. A price that is not a whole number of ticks is refused, never rounded."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from scalebox.core.errors import InvalidError

PRICE_CHARS_MAX = 32
PRICE_TICKS_MAX = 10**15  # far above any real price; keeps ticks x shares inside 64-bit columns


def parse_price_ticks(
    value: str | int | float | Decimal | None, tick_size: Decimal, *, field: str = "price"
) -> int:
    """The price in ticks; 0 for a blank price. InvalidError (a 422) for anything that is not a
    positive multiple of `tick_size`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    if isinstance(value, bool):
        raise InvalidError(f"{field} must be a decimal number", field=field)
    text = str(value).strip()
    if len(text) > PRICE_CHARS_MAX:
        raise InvalidError(f"{field} is too long", field=field)
    try:
        price = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidError(f"{field} {text!r} is not a decimal number", field=field) from exc
    if not price.is_finite() or price <= 0:
        raise InvalidError(f"{field} must be a positive decimal number", field=field)
    if price > PRICE_TICKS_MAX * tick_size:
        raise InvalidError(f"{field} {text} is too high", field=field)
    # The remainder is exact where a quotient would be rounded to the context's 28 digits.
    if price % tick_size:
        raise InvalidError(f"{field} {text} is not a multiple of the tick size {tick_size}", field=field)
    return int(price / tick_size)


def render_price(ticks: int, tick_size: Decimal) -> str:
    """Ticks as a decimal with the tick size's places ("100.00" for 10000 ticks of 0.01)."""
    places = max(0, -int(tick_size.normalize().as_tuple().exponent))
    return f"{Decimal(ticks) * tick_size:.{places}f}"


def render_amount(cash_ticks: int, tick_size: Decimal) -> str:
    """A cash amount (ticks x shares) in currency, signed, with the tick size's places."""
    return render_price(cash_ticks, tick_size)
