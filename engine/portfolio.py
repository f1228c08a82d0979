"""Pure queries over `EngineState`: holdings, marks, equity, free cash. None of them changes state.

Money has one rounding rule, the ledger's `money` (cents, half up).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from alluse.engine.ledger import Lot, money
from alluse.engine.protocol import ShortOption
from alluse.engine.state import EngineState


def stock_lots(state: EngineState, account: str) -> list[Lot]:
    return [lot for lot in state.ledger.lots(account) if lot.expiry is None]


def shares(state: EngineState, account: str, symbol: str) -> int:
    return sum(lot.quantity for lot in stock_lots(state, account) if lot.symbol == symbol)


def stock_symbols(state: EngineState, account: str) -> set[str]:
    return {lot.symbol for lot in stock_lots(state, account) if lot.quantity > 0}


def held_symbols(state: EngineState) -> set[str]:
    return {sym for acc in state.tree.accounts for sym in stock_symbols(state, acc)}


def basis_per_share(state: EngineState, account: str, symbol: str) -> float:
    lots = [lot for lot in stock_lots(state, account) if lot.symbol == symbol]
    qty = sum(lot.quantity for lot in lots)
    return float(sum(lot.basis for lot in lots)) / qty if qty else 0.0


def contract_mark(state: EngineState, symbol: str, expiry: dt.date, strike: float, right: str,
                  fallback_price: float) -> float:
    """The quote's mid when there is one, else the intrinsic value at the latest price."""
    st = state.market.get(symbol)
    if st is None:
        return 0.0
    q = st.quotes.get((expiry, strike, right))
    if q is not None:
        return q.mid
    price = st.price if st.price is not None else fallback_price
    return max(strike - price, 0.0) if right == "P" else max(price - strike, 0.0)


def option_mark(state: EngineState, pos: ShortOption) -> float:
    return contract_mark(state, pos.symbol, pos.expiry, pos.strike, pos.right, pos.entry_price)


def equity(state: EngineState, account: str) -> Decimal:
    """Cash + stock at the latest price + long options − short options at their mark."""
    total = state.ledger.cash(account)
    for lot in state.ledger.lots(account):
        if lot.expiry is None:
            st = state.market.get(lot.symbol)
            px = st.price if st is not None else None
            total += money(px * lot.quantity) if px is not None else lot.basis
        elif lot.quantity > 0:  # a long option (a protective leg, or a close that overshot)
            mark = contract_mark(state, lot.symbol, lot.expiry, lot.strike or 0.0,
                                 lot.right or "P", lot.strike or 0.0)
            total += money(mark * 100 * lot.quantity)
    for p in state.shorts.values():
        if p.account == account:
            total -= money(option_mark(state, p) * 100 * p.quantity)
    return total


def reserved(state: EngineState, account: str, now: dt.datetime) -> float:
    """Collateral of open short puts and of proposals still pending at ``now``."""
    total = sum((p.strike * 100 * p.quantity for p in state.shorts.values()
                 if p.account == account and p.right == "P"), 0.0)
    total += sum((r.amount for (acc, _), r in state.pending.items()
                  if acc == account and r.expires_at > now), 0.0)
    return total


def free_cash(state: EngineState, account: str, now: dt.datetime) -> Decimal:
    """Cash less reserved collateral, so two proposals in one scan cannot spend the same cash."""
    return state.ledger.cash(account) - money(reserved(state, account, now))


def max_level(state: EngineState, account: str) -> int:
    return max((p.level for p in state.shorts.values() if p.account == account), default=0)


def has_open_positions(state: EngineState, account: str) -> bool:
    return any(p.account == account for p in state.shorts.values()) or bool(
        stock_symbols(state, account))
