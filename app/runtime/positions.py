"""Positions as a trader counts them, for the replay's "trades" and "win rate".

A position is one account's holding of one contract or of one stock, from the fill (or the put
assignment) that takes its quantity away from zero to the event that brings it back to zero:
a buy-back or sale, an expiration, or an assignment. Adding to a held position is not a new one.
"Trades" are the positions opened; the win rate is the share of closed positions whose P&L is
above zero.

A position's P&L is its cash from open to close: premiums received less buy-backs paid,
commissions included; stock sold less stock bought. An assignment closes the option at its
intrinsic value at the underlying's price then (a put: (strike − price) × shares paid; a call:
(price − strike) × shares paid) and delivers the stock at that price, so a put that is assigned
below its strike is a loss even when its premium is kept for tax (tax_rules.md rule 4), and the
stock bought by the assignment is a position of its own from that price. The positions' P&L of
an account add up to its trading P&L: the strike cash of an assignment is split between the
option and the stock, never counted twice. Not seen here: dividends, and contracts re-keyed by
a split (a position carried across a split stays open under its old contract).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from alluse.engine.calendar import NY
from alluse.engine.events import Assignment, Expiration, Fill, OptionContract

Key = str | OptionContract  # a stock symbol or a contract


@dataclass(slots=True)
class Position:
    account: str
    key: Key
    opened: dt.date
    quantity: int = 0  # signed: shares, or contracts (negative when written)
    pnl: float = 0.0  # cash so far (see the module docstring)
    closed: dt.date | None = None
    how: str = ""  # closed | sold | expired | assigned | called_away


@dataclass(slots=True)
class PositionBook:
    """Open positions by (account, key); closed positions kept in the order they closed."""

    open: dict[tuple[str, Key], Position] = field(default_factory=dict)
    closed: list[Position] = field(default_factory=list)
    opened: dict[str, int] = field(default_factory=dict)  # positions opened per account

    def apply(self, ev: Fill | Assignment | Expiration, price: Callable[[str], float | None]) -> None:
        """Book one broker event; ``price(symbol)`` is the underlying's price at that moment."""
        day = ev.ts.astimezone(NY).date()
        if isinstance(ev, Fill):
            sign = 1 if ev.side == "BUY" else -1
            contract = ev.contract
            if contract is None:
                cash = -sign * ev.price * ev.quantity - ev.commission
                self._trade(ev.account, ev.symbol, sign * ev.quantity, cash, day, "sold")
            else:
                cash = -sign * ev.price * 100 * ev.quantity - ev.commission
                self._trade(ev.account, contract, sign * ev.quantity, cash, day, "closed")
            return
        settled = ev.contract
        held = self.open.get((ev.account, settled))
        if isinstance(ev, Expiration):
            if held is not None:
                self._trade(ev.account, settled, ev.quantity if held.quantity < 0 else
                            -ev.quantity, 0.0, day, "expired")
            return
        shares = 100 * ev.quantity
        px = price(ev.symbol)
        at = ev.strike if px is None else px
        # the written option closes at its intrinsic value (skipped if its opening was not seen)
        if ev.right == "P":  # the holder puts the shares to the account at the strike
            if held is not None and held.quantity < 0:
                self._trade(ev.account, settled, ev.quantity, -(ev.strike - at) * shares, day,
                            "assigned")
            self._trade(ev.account, ev.symbol, shares, -at * shares, day, "sold")
        else:  # the holder calls the shares away at the strike
            if held is not None and held.quantity < 0:
                self._trade(ev.account, settled, ev.quantity, -(at - ev.strike) * shares, day,
                            "assigned")
            self._trade(ev.account, ev.symbol, -shares, at * shares, day, "called_away")

    def _trade(self, account: str, key: Key, quantity: int, cash: float, day: dt.date,
               how: str) -> None:
        pos = self.open.get((account, key))
        if pos is not None and (pos.quantity > 0) != (quantity > 0):
            closing = min(abs(quantity), abs(pos.quantity))
            part = cash * closing / abs(quantity)
            pos.pnl += part
            pos.quantity += closing if quantity > 0 else -closing
            if pos.quantity == 0:
                pos.closed, pos.how = day, how
                self.closed.append(pos)
                del self.open[(account, key)]
            cash -= part
            quantity += -closing if quantity > 0 else closing
            if quantity == 0:
                return
            pos = None  # the rest opens the other way
        if pos is None:
            pos = self.open[(account, key)] = Position(account, key, day)
            self.opened[account] = self.opened.get(account, 0) + 1
        pos.quantity += quantity
        pos.pnl += cash

    def win_rate(self, account: str) -> tuple[int, int]:
        """(closed positions with P&L above zero, closed positions) of an account."""
        mine = [p for p in self.closed if p.account == account]
        return sum(1 for p in mine if p.pnl > 0), len(mine)


__all__ = ["Position", "PositionBook"]
