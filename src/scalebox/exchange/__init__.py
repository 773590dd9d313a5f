"""The exchange: a deterministic matching engine behind a sequencer and journal, a FIX 4.4
gateway, market data over WebSocket and UDP, and post-trade (positions, netting, drop copy)."""
