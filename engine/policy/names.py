"""The variables each kind of expression or template may read, with each one's type.

The engine provides exactly these. A type is ``number`` or ``str``; lint type-checks every
expression against them (`alluse.engine.sandbox.infer_type`): a condition must be boolean, an
order's strike, quantity and limit a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_STR = frozenset({"symbol", "right", "account", "expiry", "outcome", "last_mode"})

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
# Known before the week opens (Monday 08:00 ET): the last completed daily bar, never a price of
# the new week. close is that bar's close; trend_pct is close vs its mean_days mean (data.yaml);
# vix_term_pct is the VIX vs its own mean_days mean (a proxy for the term structure: no VIX
# futures are fed); last_mode/last_return_pct are last week's actual ("" / None before any).
WEEK_PREDICTION = frozenset({
    "symbol", "close", "trend_pct", "atr_pct", "rsi", "macd_hist", "macd_hist_pct", "vix",
    "vix_term_pct", "last_mode", "last_return_pct",
})

# Alert types the engine raises on its own, besides those the policies name (entry.py: proposals
# and rules that fail to evaluate; forking.py and risk.py: forks, merges, circuit breakers;
# wheel.py: a position it cannot monitor). Lint does not call them unused.
ENGINE_ALERT_TYPES = frozenset({"TRADE_OPPORTUNITY", "TECHNICAL_ALERT", "ACCOUNT_MANAGEMENT",
                                "SYSTEM_STATUS"})


def kinds(names: frozenset[str]) -> Mapping[str, str]:
    """Each name's type: ``str`` for the names that hold text, ``number`` for the rest."""
    return MappingProxyType({n: "str" if n in _STR else "number" for n in sorted(names)})


ENTRY_RULE_KINDS = kinds(ENTRY_RULE)
WEEK_MODE_KINDS = kinds(WEEK_MODE)
WEEK_TYPE_KINDS = kinds(WEEK_TYPE)
WEEK_PREDICTION_KINDS = kinds(WEEK_PREDICTION)
