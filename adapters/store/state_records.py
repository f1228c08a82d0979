"""The engine's inputs and state as store records: journal entries, positions and tax lots.

Any driver that writes batches (replay, the node) builds its `record_batch` arguments here, so
positions are keyed, opened and closed the same way whatever runs the engine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal

from alluse.adapters.store.records import EventRecord, PositionRecord, TaxLotRecord
from alluse.engine.events import Assignment, Event, Expiration, Fill, Split, event_to_dict
from alluse.engine.ledger import Lot
from alluse.engine.protocol import ShortOption

OPEN = "open"


def event_records(events: Iterable[tuple[int, Event]], start: int = 0) -> list[EventRecord]:
    """Journal entries for (engine index, event) pairs, leaving out those before `start`."""
    return [EventRecord(i, ev.ts, ev.TYPE, event_to_dict(ev)) for i, ev in events if i >= start]


def tax_lot_records(lots: Iterable[Lot], as_of: dt.date) -> list[TaxLotRecord]:
    """The ledger's open lots (`Ledger.lots()`), as held on `as_of`."""
    return [TaxLotRecord(lot.account, lot.symbol, lot.quantity, lot.basis, lot.holding_period_start,
                         as_of, lot.expiry, _strike(lot.strike), lot.right or "") for lot in lots]


def _strike(strike: float | None) -> Decimal | None:
    return None if strike is None else Decimal(repr(strike))


def _option_key(account: str, symbol: str, expiry: dt.date, strike: float, right: str) -> str:
    # the same text as ShortOption.key, so a long and a short option key alike
    return f"{account}:{symbol}:{expiry.isoformat()}:{strike:g}{right}"


def open_positions(shorts: Iterable[ShortOption], lots: Iterable[Lot],
                   now: dt.datetime) -> dict[str, PositionRecord]:
    """Every open position by key: short options (with their protocol level), long options and
    stock holdings from the ledger's lots. `opened_at` of a holding is `now` (the store keeps the
    first one it was given)."""
    out: dict[str, PositionRecord] = {}
    for p in shorts:
        out[p.key] = PositionRecord(p.key, p.account, p.symbol, -p.quantity, p.opened_at, OPEN, p.level,
                                    p.expiry, _strike(p.strike), p.right)
    shares: dict[tuple[str, str], int] = {}
    for lot in lots:
        if lot.expiry is None:
            shares[lot.account, lot.symbol] = shares.get((lot.account, lot.symbol), 0) + lot.quantity
        elif lot.quantity > 0 and lot.strike is not None and lot.right is not None:
            key = _option_key(lot.account, lot.symbol, lot.expiry, lot.strike, lot.right)
            quantity = lot.quantity + (out[key].quantity if key in out else 0)
            out[key] = PositionRecord(key, lot.account, lot.symbol, quantity, now, OPEN, 0, lot.expiry,
                                      _strike(lot.strike), lot.right)
    for (account, symbol), quantity in shares.items():
        if quantity:
            key = f"{account}:{symbol}"
            out[key] = PositionRecord(key, account, symbol, quantity, now, OPEN)
    return out


def _ended_by(pos: PositionRecord, ev: Event) -> str | None:
    """How `ev` ends `pos` (expired, assigned, called_away, closed, split), or None if it does not.
    A split ends an option position's row: the adjusted contract (its own key) carries it on."""
    if isinstance(ev, Split):
        return "split" if ev.symbol == pos.symbol and pos.expiry is not None else None
    if not isinstance(ev, Fill | Assignment | Expiration):
        return None
    if (ev.account, ev.symbol) != (pos.account, pos.symbol):
        return None
    if pos.expiry is None:  # stock: called away, or sold
        if isinstance(ev, Assignment):
            return "called_away" if ev.right == "C" else None
        return "closed" if isinstance(ev, Fill) and ev.expiry is None and ev.side == "SELL" else None
    if (ev.expiry, ev.right, _strike(ev.strike)) != (pos.expiry, pos.right, pos.strike):
        return None
    if isinstance(ev, Expiration):
        return "expired"
    if isinstance(ev, Assignment):
        return "assigned"
    return "closed"


def _opened_by(pos: PositionRecord, ev: Event) -> bool:
    """Whether `ev` acquires holding `pos` (stock: a bought or assigned put; a bought option)."""
    if not isinstance(ev, Fill | Assignment) or (ev.account, ev.symbol) != (pos.account, pos.symbol):
        return False
    if isinstance(ev, Assignment):
        return pos.expiry is None and ev.right == "P"
    same = ev.expiry == pos.expiry and (ev.strike is None) == (pos.strike is None) and (
        ev.strike is None or _strike(ev.strike) == pos.strike) and (ev.right or "") == pos.right
    return ev.side == "BUY" and same


def may_close_positions(events: Iterable[Event]) -> bool:
    """Whether any event can end a position (a fill, an assignment, an expiration, a split).
    Without one, the stored open positions are not needed to build a batch's positions."""
    return any(isinstance(ev, Fill | Assignment | Expiration | Split) for ev in events)


def position_records(current: dict[str, PositionRecord], stored_open: Iterable[PositionRecord],
                     events: Sequence[Event], now: dt.datetime) -> list[PositionRecord]:
    """The batch's positions to upsert: every open one (a held one keeps its stored `opened_at`;
    a new holding is dated by the batch's event that acquired it) and every stored open one that
    is gone, with closed_at and state from the batch's event that ended it (else `now`, closed)."""
    stored = {p.key: p for p in stored_open}
    out = []
    for key, pos in current.items():
        if key in stored:
            pos = dataclasses.replace(pos, opened_at=stored[key].opened_at)
        elif pos.quantity > 0:
            opener = next((ev.ts for ev in events if _opened_by(pos, ev)), now)
            pos = dataclasses.replace(pos, opened_at=opener)
        out.append(pos)
    for key, pos in stored.items():
        if key in current:
            continue
        state, closed_at = "closed", now
        for ev in reversed(events):
            how = _ended_by(pos, ev)
            if how is not None:
                state, closed_at = how, ev.ts
                break
        out.append(dataclasses.replace(pos, state=state, closed_at=closed_at))
    return out
