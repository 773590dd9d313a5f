"""The operator's controls: trading phases, instrument and market-wide halts and resumes, each a
sequenced command through the venue, so a halt takes effect at one point in the order stream.
Only members with the operator role may use them; anyone may read the instruments' state."""

from __future__ import annotations

from dataclasses import dataclass

from scalebox.core.errors import ForbiddenError, InvalidError
from scalebox.exchange.domain import Command, Halt, Phase, Resume, SetPhase, StatusChange
from scalebox.exchange.errors import UnknownInstrumentError
from scalebox.exchange.market import InstrumentState
from scalebox.exchange.service.directory import Member
from scalebox.exchange.service.venue import Venue

HALT_REASON_CHARS_MAX = 64
ALL_INSTRUMENTS = ""  # the symbol that means every instrument (phases) or the whole market (halts)


@dataclass(frozen=True, slots=True)
class InstrumentStatus:
    symbol: str
    phase: Phase
    halted: bool
    halt_reason: str
    last_price_ticks: int  # 0 = no trade yet
    best_bid_ticks: int | None
    best_ask_ticks: int | None


@dataclass(frozen=True, slots=True)
class MarketStatus:
    instruments: list[InstrumentStatus]
    market_halted: bool
    last_sequence: int


class Operations:
    """Phase and halt controls for operators, and the state they act on."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    def status(self) -> MarketStatus:
        engine = self.venue.engine
        instruments = [_instrument_status(inst) for _, inst in sorted(engine.instruments.items())]
        return MarketStatus(instruments, engine.market_halted, engine.last_sequence)

    async def set_phase(self, member: Member, symbol: str, phase: Phase) -> list[StatusChange]:
        """Move one instrument (or every one, symbol "") to `phase`; leaving AUCTION uncrosses."""
        return await self._submit(member, symbol, SetPhase(symbol, phase))

    async def halt(self, member: Member, symbol: str, reason: str = "operator") -> list[StatusChange]:
        """Halt one instrument, or the whole market (symbol ""): later orders are rejected."""
        reason = reason.strip() or "operator"
        if len(reason) > HALT_REASON_CHARS_MAX or not reason.isprintable():
            raise InvalidError(
                f"a halt reason is 1-{HALT_REASON_CHARS_MAX} printable characters", field="reason"
            )
        return await self._submit(member, symbol, Halt(symbol, reason))

    async def resume(self, member: Member, symbol: str) -> list[StatusChange]:
        return await self._submit(member, symbol, Resume(symbol))

    async def _submit(self, member: Member, symbol: str, command: Command) -> list[StatusChange]:
        if not member.operator:
            raise ForbiddenError("only operators may change phases or halt trading")
        if symbol != ALL_INSTRUMENTS and symbol not in self.venue.engine.instruments:
            raise UnknownInstrumentError(f"no instrument {symbol!r} is listed")
        applied = await self.venue.submit(command)
        return [event for event in applied.events if isinstance(event, StatusChange)]


def _instrument_status(inst: InstrumentState) -> InstrumentStatus:
    book = inst.book
    return InstrumentStatus(
        inst.instrument.symbol, inst.phase, inst.halted, inst.halt_reason, inst.last_price,
        book.best_bid(), book.best_ask(),
    )  # fmt: skip
