"""The variables each kind of expression or template may read. The engine provides exactly these."""

from __future__ import annotations

ENTRY_RULE = frozenset({
    "symbol", "price", "atr", "strike", "premium", "premium_pct", "min_premium_pct",
    "target_weekly_pct", "dte", "delta", "iv", "rsi", "macd_hist", "account_equity",
    "account_cash", "open_positions", "right",
})
# An entry script also knows the sizing and the account.
ENTRY_SCRIPT = ENTRY_RULE | {"quantity", "expiry", "account", "bid", "ask"}

PROTOCOL_SCRIPT = frozenset({
    "symbol", "account", "right", "strike", "expiry", "quantity", "price", "entry_price", "atr",
    "atr_multiple", "level", "previous_level", "bid", "ask", "premium", "covered",
})

WEEK_MODE = frozenset({"week_return_pct", "week_range_pct", "atr_pct"})
WEEK_TYPE = frozenset({"outcome", "right", "pnl"})
