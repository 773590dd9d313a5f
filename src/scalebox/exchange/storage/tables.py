"""The exchange's post-trade tables (SQLAlchemy Core), shared by SQLite and PostgreSQL; Alembic
migrates them (`scalebox.exchange.migrations`, version table `alembic_version_exchange`).

Times are the sequencer's nanosecond timestamps, kept as integers (regulatory precision); prices
are ticks and cash is ticks x shares, as everywhere in the exchange."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, Index, Integer, SmallInteger, String, Table, Text

from scalebox.core.db import make_metadata

metadata = make_metadata()

trades = Table(
    "exchange_trades",
    metadata,
    Column("trade_id", BigInteger, primary_key=True, autoincrement=False),
    Column("sequence", BigInteger, nullable=False),
    Column("timestamp_ns", BigInteger, nullable=False),
    Column("trade_date", Date, nullable=False),
    Column("symbol", Text, nullable=False),
    Column("price_ticks", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("buyer", Text, nullable=False),
    Column("seller", Text, nullable=False),
    Column("buy_order_id", BigInteger, nullable=False),
    Column("sell_order_id", BigInteger, nullable=False),
    Column("aggressor", SmallInteger, nullable=True),  # Side; NULL for an auction trade
    Index("ix_exchange_trades_buyer", "buyer", "trade_id"),
    Index("ix_exchange_trades_seller", "seller", "trade_id"),
    Index("ix_exchange_trades_trade_date", "trade_date"),
)

# Every execution report, in sequence order; (sequence, event_index) names one event of one command.
executions = Table(
    "exchange_executions",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("event_index", Integer, primary_key=True, autoincrement=False),
    Column("timestamp_ns", BigInteger, nullable=False),
    Column("participant", Text, nullable=False),
    Column("symbol", Text, nullable=False),
    Column("order_id", BigInteger, nullable=False),
    Column("cl_ord_id", Text, nullable=False),
    Column("orig_cl_ord_id", Text, nullable=False),
    Column("side", SmallInteger, nullable=False),
    Column("order_type", SmallInteger, nullable=False),
    Column("tif", SmallInteger, nullable=False),
    Column("order_quantity", BigInteger, nullable=False),
    Column("price_ticks", BigInteger, nullable=False),
    Column("stop_price_ticks", BigInteger, nullable=False),
    Column("exec_type", String(16), nullable=False),
    Column("status", String(20), nullable=False),
    Column("leaves", BigInteger, nullable=False),
    Column("cum", BigInteger, nullable=False),
    Column("last_quantity", BigInteger, nullable=False),
    Column("last_price_ticks", BigInteger, nullable=False),
    Column("trade_id", BigInteger, nullable=False),
    Column("reason", SmallInteger, nullable=True),  # RejectReason
    Index("ix_exchange_executions_participant", "participant", "exec_type", "sequence"),
)

# Bought, sold and the cash for them, per trade date, participant and instrument: positions are the
# sum over dates, and a date's rows are what end-of-day netting nets.
position_days = Table(
    "exchange_position_days",
    metadata,
    Column("trade_date", Date, primary_key=True),
    Column("participant", Text, primary_key=True),
    Column("symbol", Text, primary_key=True),
    Column("bought", BigInteger, nullable=False),
    Column("sold", BigInteger, nullable=False),
    Column("paid_ticks", BigInteger, nullable=False),
    Column("received_ticks", BigInteger, nullable=False),
    Index("ix_exchange_position_days_participant", "participant", "symbol"),
)

# One row: the last sequence whose trades and executions are stored (the replay point after a restart).
clearing_state = Table(
    "exchange_clearing_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_sequence", BigInteger, nullable=False),
)
