"""The clearing's store over SQLAlchemy Core (SQLite with WAL, or PostgreSQL): captured trades and
executions, per-day holdings and the replay point, written one batch per transaction.

Adapters translate and delegate: which trades make which holdings, and how a day nets, is decided
in `scalebox.exchange.posttrade`; this module only adds up what it is given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scalebox.exchange.domain import ExecType, OrderType, OrdStatus, RejectReason, Side, TimeInForce
from scalebox.exchange.posttrade import ExecutionRecord, Holding, TradeRecord
from scalebox.exchange.storage.tables import clearing_state, executions, position_days, trades

MIGRATIONS = "scalebox.exchange.migrations"
VERSION_TABLE = "alembic_version_exchange"
_UPSERT_ROWS_MAX = 500  # rows per multi-row upsert: well under SQLite's bound variables limit
_STATE_ID = 1


class SqlClearingStore:
    """ClearingStore over an AsyncEngine whose schema `scalebox.core.db.upgrade(engine, MIGRATIONS,
    version_table=VERSION_TABLE)` has brought up to date."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def last_sequence(self) -> int:
        async with self._engine.connect() as conn:
            value = await conn.scalar(
                select(clearing_state.c.last_sequence).where(clearing_state.c.id == _STATE_ID)
            )
        return int(value or 0)

    async def store(
        self,
        last_sequence: int,
        trade_records: Sequence[TradeRecord],
        execution_records: Sequence[ExecutionRecord],
        holdings: Mapping[tuple[date, str, str], Holding],
    ) -> None:
        """Add one batch and move the replay point to `last_sequence`, all in one transaction."""
        async with self._engine.begin() as conn:
            if trade_records:
                await conn.execute(trades.insert(), [_trade_row(record) for record in trade_records])
            if execution_records:
                await conn.execute(
                    executions.insert(), [_execution_row(record) for record in execution_records]
                )
            rows = [_holding_row(day, holding) for (day, _, _), holding in sorted(holdings.items())]
            for start in range(0, len(rows), _UPSERT_ROWS_MAX):
                await conn.execute(_add_holdings(conn, rows[start : start + _UPSERT_ROWS_MAX]))
            await conn.execute(_set_last_sequence(conn, last_sequence))

    async def holdings(self, participant: str | None = None) -> list[Holding]:
        """Holdings summed over every trade date, by participant and symbol."""
        c = position_days.c
        query = select(
            c.participant, c.symbol, func.sum(c.bought), func.sum(c.sold), func.sum(c.paid_ticks),
            func.sum(c.received_ticks),
        ).group_by(c.participant, c.symbol).order_by(c.participant, c.symbol)  # fmt: skip
        if participant is not None:
            query = query.where(c.participant == participant)
        return [_holding(row) for row in await self._rows(query)]

    async def day_holdings(self, trade_date: date) -> list[Holding]:
        c = position_days.c
        query = select(c.participant, c.symbol, c.bought, c.sold, c.paid_ticks, c.received_ticks).where(
            c.trade_date == trade_date
        )
        return [_holding(row) for row in await self._rows(query.order_by(c.participant, c.symbol))]

    async def trade_dates(self, limit: int) -> list[date]:
        """The newest trade dates with trades, newest first."""
        query = select(position_days.c.trade_date).distinct().order_by(position_days.c.trade_date.desc())
        return [row[0] for row in await self._rows(query.limit(limit))]

    async def trades(
        self, participant: str | None, limit: int, symbol: str | None = None
    ) -> list[TradeRecord]:
        """The newest trades (of `participant`, as buyer or seller, and in `symbol`, when given),
        newest first."""
        query = select(trades).order_by(trades.c.trade_id.desc()).limit(limit)
        if symbol is not None:
            query = query.where(trades.c.symbol == symbol)
        if participant is not None:
            query = query.where(or_(trades.c.buyer == participant, trades.c.seller == participant))
        return [_trade_record(row._mapping) for row in await self._rows(query)]

    async def executions(
        self, participant: str, limit: int, exec_type: ExecType | None = None
    ) -> list[ExecutionRecord]:
        """A participant's newest execution reports (of one type, when given), newest first."""
        c = executions.c
        query = select(executions).where(c.participant == participant)
        if exec_type is not None:
            query = query.where(c.exec_type == exec_type.value)
        query = query.order_by(c.sequence.desc(), c.event_index.desc()).limit(limit)
        return [_execution_record(row._mapping) for row in await self._rows(query)]

    async def _rows(self, query: Select[Any]) -> list[Row[Any]]:
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            return list(result.all())


def _insert(conn: AsyncConnection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _add_holdings(conn: AsyncConnection, rows: list[dict[str, Any]]) -> Any:
    statement = _insert(conn, position_days).values(rows)
    added = {name: position_days.c[name] + statement.excluded[name] for name in _HOLDING_SUMS}
    return statement.on_conflict_do_update(index_elements=["trade_date", "participant", "symbol"], set_=added)


def _set_last_sequence(conn: AsyncConnection, sequence: int) -> Any:
    statement = _insert(conn, clearing_state).values(id=_STATE_ID, last_sequence=sequence)
    return statement.on_conflict_do_update(index_elements=["id"], set_={"last_sequence": sequence})


_HOLDING_SUMS = ("bought", "sold", "paid_ticks", "received_ticks")


def _holding_row(day: date, holding: Holding) -> dict[str, Any]:
    return {
        "trade_date": day, "participant": holding.participant, "symbol": holding.symbol,
        "bought": holding.bought, "sold": holding.sold, "paid_ticks": holding.paid_ticks,
        "received_ticks": holding.received_ticks,
    }  # fmt: skip


def _trade_row(record: TradeRecord) -> dict[str, Any]:
    return {
        "trade_id": record.trade_id, "sequence": record.sequence, "timestamp_ns": record.timestamp_ns,
        "trade_date": record.trade_date, "symbol": record.symbol, "price_ticks": record.price_ticks,
        "quantity": record.quantity, "buyer": record.buyer, "seller": record.seller,
        "buy_order_id": record.buy_order_id, "sell_order_id": record.sell_order_id,
        "aggressor": None if record.aggressor is None else int(record.aggressor),
    }  # fmt: skip


def _holding(row: Row[Any]) -> Holding:
    participant, symbol, bought, sold, paid, received = tuple(row)
    return Holding(str(participant), str(symbol), int(bought), int(sold), int(paid), int(received))


def _trade_record(row: Mapping[Any, Any]) -> TradeRecord:
    aggressor = row["aggressor"]
    return TradeRecord(
        row["trade_id"], row["sequence"], row["timestamp_ns"], row["symbol"], row["price_ticks"],
        row["quantity"], row["buyer"], row["seller"], row["buy_order_id"], row["sell_order_id"],
        None if aggressor is None else Side(aggressor),
    )  # fmt: skip


def _execution_row(record: ExecutionRecord) -> dict[str, Any]:
    return {
        "sequence": record.sequence, "event_index": record.index, "timestamp_ns": record.timestamp_ns,
        "participant": record.participant, "symbol": record.symbol, "order_id": record.order_id,
        "cl_ord_id": record.cl_ord_id, "orig_cl_ord_id": record.orig_cl_ord_id, "side": int(record.side),
        "order_type": int(record.order_type), "tif": int(record.tif), "order_quantity": record.order_quantity,
        "price_ticks": record.price_ticks, "stop_price_ticks": record.stop_price_ticks,
        "exec_type": record.exec_type.value, "status": record.status.value, "leaves": record.leaves,
        "cum": record.cum, "last_quantity": record.last_quantity, "last_price_ticks": record.last_price_ticks,
        "trade_id": record.trade_id, "reason": None if record.reason is None else int(record.reason),
    }  # fmt: skip


def _execution_record(row: Mapping[Any, Any]) -> ExecutionRecord:
    reason = row["reason"]
    return ExecutionRecord(
        row["sequence"], row["event_index"], row["timestamp_ns"], row["participant"], row["symbol"],
        row["order_id"], row["cl_ord_id"], row["orig_cl_ord_id"], Side(row["side"]),
        OrderType(row["order_type"]), TimeInForce(row["tif"]), row["order_quantity"], row["price_ticks"],
        row["stop_price_ticks"], ExecType(row["exec_type"]), OrdStatus(row["status"]), row["leaves"],
        row["cum"], row["last_quantity"], row["last_price_ticks"], row["trade_id"],
        None if reason is None else RejectReason(reason),
    )  # fmt: skip
