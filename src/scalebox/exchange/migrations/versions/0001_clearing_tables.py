"""clearing tables: trades, executions, daily positions, the clearing's replay point

Revision ID: 0001
Revises:
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_trades",
        sa.Column("trade_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("timestamp_ns", sa.BigInteger(), nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("price_ticks", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("buyer", sa.Text(), nullable=False),
        sa.Column("seller", sa.Text(), nullable=False),
        sa.Column("buy_order_id", sa.BigInteger(), nullable=False),
        sa.Column("sell_order_id", sa.BigInteger(), nullable=False),
        sa.Column("aggressor", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("trade_id", name=op.f("pk_exchange_trades")),
    )
    with op.batch_alter_table("exchange_trades", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_trades_buyer", ["buyer", "trade_id"], unique=False)
        batch_op.create_index("ix_exchange_trades_seller", ["seller", "trade_id"], unique=False)
        batch_op.create_index("ix_exchange_trades_trade_date", ["trade_date"], unique=False)

    op.create_table(
        "exchange_executions",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("timestamp_ns", sa.BigInteger(), nullable=False),
        sa.Column("participant", sa.Text(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("cl_ord_id", sa.Text(), nullable=False),
        sa.Column("orig_cl_ord_id", sa.Text(), nullable=False),
        sa.Column("side", sa.SmallInteger(), nullable=False),
        sa.Column("order_type", sa.SmallInteger(), nullable=False),
        sa.Column("tif", sa.SmallInteger(), nullable=False),
        sa.Column("order_quantity", sa.BigInteger(), nullable=False),
        sa.Column("price_ticks", sa.BigInteger(), nullable=False),
        sa.Column("stop_price_ticks", sa.BigInteger(), nullable=False),
        sa.Column("exec_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("leaves", sa.BigInteger(), nullable=False),
        sa.Column("cum", sa.BigInteger(), nullable=False),
        sa.Column("last_quantity", sa.BigInteger(), nullable=False),
        sa.Column("last_price_ticks", sa.BigInteger(), nullable=False),
        sa.Column("trade_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("sequence", "event_index", name=op.f("pk_exchange_executions")),
    )
    with op.batch_alter_table("exchange_executions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exchange_executions_participant", ["participant", "exec_type", "sequence"], unique=False
        )

    op.create_table(
        "exchange_position_days",
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("participant", sa.Text(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("bought", sa.BigInteger(), nullable=False),
        sa.Column("sold", sa.BigInteger(), nullable=False),
        sa.Column("paid_ticks", sa.BigInteger(), nullable=False),
        sa.Column("received_ticks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "trade_date", "participant", "symbol", name=op.f("pk_exchange_position_days")
        ),
    )
    with op.batch_alter_table("exchange_position_days", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exchange_position_days_participant", ["participant", "symbol"], unique=False
        )

    op.create_table(
        "exchange_clearing_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_clearing_state")),
    )


def downgrade() -> None:
    op.drop_table("exchange_clearing_state")
    with op.batch_alter_table("exchange_position_days", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_position_days_participant")
    op.drop_table("exchange_position_days")
    with op.batch_alter_table("exchange_executions", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_executions_participant")
    op.drop_table("exchange_executions")
    with op.batch_alter_table("exchange_trades", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_trades_trade_date")
        batch_op.drop_index("ix_exchange_trades_seller")
        batch_op.drop_index("ix_exchange_trades_buyer")
    op.drop_table("exchange_trades")
