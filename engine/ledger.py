"""Per-account cash, positions, tax lots and realized gains, by the rules in tax_rules.md.

Pure and deterministic: events arrive in time order and every figure is a ``Decimal`` in cents
(ROUND_HALF_UP); float prices from events enter as their shortest repr (``4.1`` → ``Decimal("4.1")``).

What the ledger does with each event (one option contract = ``multiplier`` shares):
- option SELL opens a short lot (or closes a long one first, FIFO); the premium, net of commission,
  goes to cash but is *deferred* in the lot's ``basis`` (rule 1). BUY closes short lots FIFO:
  premium − cost is a ST gain or loss (rule 3), else it opens a long lot at cost.
- expiration of a short lot: the premium is a ST gain dated the expiration (rule 2); of a long lot:
  its cost is a loss, ST/LT by how long it was held.
- assignment of a short put: a stock lot at strike × shares − premium, held from the assignment
  date, no option gain (rule 4); of a short call: the shares are sold FIFO for strike × shares +
  premium, ST/LT by each stock lot's holding period (rule 5).
- stock SELL consumes lots FIFO. A loss is washed (rule 6) against stock or bought calls acquired
  30 days before to 30 days after the sale: in sale order, replacements in purchase order, each
  replacement share absorbing one wash sale. A replacement that arrives after the sale updates the
  earlier ``Realized`` record. The unsold rest of the purchase the sold shares came from is not a
  replacement (Rev. Rul. 56-602: selling part of a lot reduces the holding). By default the window
  spans every account of the ledger (they are one taxpayer's, and Pub 550 applies the rule across
  a taxpayer's accounts); ``wash_sales_across_accounts=False`` confines it to the selling account.
- a split (``split``): stock lots hold ``ratio`` × the shares at the same total basis (per share ÷
  ratio) and holding period; option lots move to the adjusted contract (strike ÷ ratio) with
  ``ratio`` × the contracts at the same total basis; pending wash-sale losses count split shares.
- a cash dividend (``dividend``): each account holding the stock at the ex-date's open gets
  amount × shares in cash, recorded as `DividendIncome` (ordinary income, not a capital gain:
  kept apart from ``realized()``).
Not modelled: short stock, exercising bought options, written puts as wash-sale replacements.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, TypeAlias

from alluse.engine.errors import DataError, EventError
from alluse.engine.events import Assignment, Event, Expiration, Fill, OptionContract

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
Character = Literal["ST", "LT"]
Key: TypeAlias = str | OptionContract  # a stock symbol or an option contract


def money(value: Decimal | float | int) -> Decimal:
    """Cents, rounding half up; floats through their shortest repr, never their binary value."""
    dec = value if isinstance(value, Decimal) else Decimal(repr(value))
    return dec.quantize(CENT, rounding=ROUND_HALF_UP)


def _dec(value: float) -> Decimal:
    return Decimal(repr(value))


def is_long_term(start: date, sold: date) -> bool:
    """Held more than one year: sold after the anniversary of the start (Feb 29 → Feb 28)."""
    try:
        anniversary = start.replace(year=start.year + 1)
    except ValueError:
        anniversary = start.replace(year=start.year + 1, day=28)
    return sold > anniversary


@dataclass(frozen=True, slots=True)
class Lot:
    """An open position piece. Stock: ``quantity`` shares. Options: contracts, negative when short;
    a short lot's ``basis`` is the deferred premium received (net of commission), a long lot's the
    cost paid. Basis is the lot's total, not per share."""

    account: str
    symbol: str
    quantity: int
    basis: Decimal
    holding_period_start: date
    expiry: date | None = None
    strike: float | None = None
    right: Literal["P", "C"] | None = None


@dataclass(frozen=True, slots=True)
class Realized:
    """A taxable result. ``amount`` is after the wash-sale ``disallowed`` part was added back."""

    date: date
    account: str
    symbol: str
    amount: Decimal
    character: Character
    disallowed: Decimal
    kind: Literal["option_expired", "option_closed", "stock_sold", "called_away"]
    quantity: int  # shares, or contracts for option results
    contract: OptionContract | None = None


@dataclass(frozen=True, slots=True)
class DividendIncome:
    """A cash dividend credited to an account: ``shares`` × ``per_share`` = ``amount`` (cents)."""

    date: date  # the ex-date
    account: str
    symbol: str
    shares: int
    per_share: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Transfer:
    """Cash moved between accounts (a fork or a merge)."""

    ts: datetime
    source: str
    target: str
    amount: Decimal


@dataclass(slots=True, eq=False)
class _Lot:
    account: str
    key: Key
    quantity: int  # signed
    basis: Decimal
    start: date  # holding period start (moved back by a wash sale)
    acquired: date  # when it was really acquired: the wash-sale window looks at this
    origin: int  # the purchase it came from, kept through splits (Rev. Rul. 56-602, below)
    wash_room: int = 0  # shares that can still absorb a washed loss


@dataclass(slots=True, eq=False)
class _Loss:
    index: int  # into Ledger._realized
    account: str
    symbol: str
    sold: date
    shares: int
    left: int  # shares not yet matched with a replacement
    loss: Decimal  # positive
    held_days: int
    origin: int  # the sold shares' purchase: the rest of that purchase is not a replacement
    disallowed: Decimal = field(default=ZERO)


def _allocate(total: Decimal, weights: list[int]) -> list[Decimal]:
    """Split cents in proportion to weights; the last part takes the rounding so parts sum exactly."""
    whole = sum(weights)
    parts = [money(total * w / whole) for w in weights[:-1]]
    return [*parts, total - sum(parts, ZERO)]


class Ledger:
    """Cash, lots and realized results of a tree of accounts; see the module docstring."""

    __persist__ = ("multiplier", "wash_sales_across_accounts", "_cash", "_lots", "_realized",
                   "_losses", "_transfers", "_last_ts", "_purchases", "_dividends")

    def __init__(self, accounts: Mapping[str, Decimal], multiplier: int = 100, *,
                 wash_sales_across_accounts: bool = True) -> None:
        self.multiplier = multiplier
        self.wash_sales_across_accounts = wash_sales_across_accounts
        self._cash: dict[str, Decimal] = {}
        self._lots: dict[tuple[str, Key], list[_Lot]] = defaultdict(list)
        self._realized: list[Realized] = []
        self._losses: list[_Loss] = []
        self._transfers: list[Transfer] = []
        self._dividends: list[DividendIncome] = []
        self._last_ts: datetime | None = None
        self._purchases = 0  # numbers lot origins
        for account, cash in accounts.items():
            self.open_account(account, cash)

    # accounts and cash -------------------------------------------------------------------------
    def open_account(self, account: str, cash: Decimal) -> None:
        if account in self._cash:
            raise EventError(f"account {account!r} already exists", field="account")
        if cash < 0 or money(cash) != cash:
            raise EventError(f"starting cash of {account!r} must be whole cents ≥ 0, got {cash}")
        self._cash[account] = money(cash)

    def transfer(self, source: str, target: str, amount: Decimal, ts: datetime) -> Transfer:
        """Move cash (fork/merge); the sum of all cash is unchanged to the cent."""
        self._check_account(source)
        self._check_account(target)
        self._check_time(ts)
        if amount < 0 or money(amount) != amount or source == target:
            raise EventError(f"transfer of {amount} from {source!r} to {target!r}: the amount must "
                             f"be whole cents ≥ 0 between two accounts")
        if amount > self._cash[source]:
            raise EventError(f"transfer of {amount} exceeds the cash of {source!r} "
                             f"({self._cash[source]})")
        self._last_ts = ts
        self._cash[source] -= amount
        self._cash[target] += amount
        record = Transfer(ts, source, target, money(amount))
        self._transfers.append(record)
        return record

    def accounts(self) -> list[str]:
        return list(self._cash)

    def cash(self, account: str) -> Decimal:
        self._check_account(account)
        return self._cash[account]

    def transfers(self) -> list[Transfer]:
        return list(self._transfers)

    # positions -------------------------------------------------------------------------------
    def positions(self, account: str) -> dict[Key, int]:
        """Net quantity per symbol (shares) and per contract (contracts, negative when short)."""
        self._check_account(account)
        return {key: q for (acct, key), lots in sorted(self._lots.items(), key=_order)
                if acct == account and (q := sum(lot.quantity for lot in lots))}

    def lots(self, account: str | None = None) -> list[Lot]:
        """Open lots by account, then symbol (stock before options), then purchase order."""
        out: list[Lot] = []
        for (acct, key), lots in sorted(self._lots.items(), key=_order):
            if account is not None and acct != account:
                continue
            for lot in lots:
                if isinstance(key, OptionContract):
                    out.append(Lot(acct, key.symbol, lot.quantity, lot.basis, lot.start, key.expiry,
                                   key.strike, key.right))
                else:
                    out.append(Lot(acct, key, lot.quantity, lot.basis, lot.start))
        return out

    def realized(self, account: str | None = None) -> list[Realized]:
        return [r for r in self._realized if account is None or r.account == account]

    def equity(self, account: str, marks: Mapping[Key, float | Decimal]) -> Decimal:
        """Cash + shares × mark + contracts × multiplier × mark (short options count negative)."""
        total = self.cash(account)
        for key, quantity in self.positions(account).items():
            if key not in marks:
                raise DataError(f"no mark for {key} held by {account!r}")
            mark = marks[key]
            per = mark if isinstance(mark, Decimal) else _dec(mark)
            scale = self.multiplier if isinstance(key, OptionContract) else 1
            total += per * quantity * scale
        return money(total)

    def dividends(self, account: str | None = None) -> list[DividendIncome]:
        """Dividends credited (all accounts, or one), in the order they were booked."""
        return [d for d in getattr(self, "_dividends", []) if account is None or d.account == account]

    # corporate actions ---------------------------------------------------------------------------
    def split(self, symbol: str, ratio: int, ts: datetime) -> None:
        """A ``ratio``-for-1 split of ``symbol`` from ``ts`` on (module docstring)."""
        self._check_time(ts)
        if ratio < 2:
            raise EventError(f"split ratio of {symbol} must be a whole number ≥ 2, got {ratio}",
                             field="ratio")
        for (account, key) in sorted(self._lots, key=lambda k: _order((k, []))):
            lots = self._lots[(account, key)]
            if key == symbol:
                for lot in lots:
                    lot.quantity *= ratio
                    lot.wash_room *= ratio
            elif isinstance(key, OptionContract) and key.symbol == symbol:
                del self._lots[(account, key)]
                for lot in lots:
                    lot.key = key.split(ratio)
                    lot.quantity *= ratio
                    lot.wash_room *= ratio
                self._lots[(account, key.split(ratio))].extend(lots)
        for loss in self._losses:
            if loss.symbol == symbol:
                loss.shares *= ratio
                loss.left *= ratio
        self._last_ts = ts

    def dividend(self, symbol: str, per_share: float, ex_date: date, ts: datetime) -> list[DividendIncome]:
        """Credit ``per_share`` × shares to every account holding ``symbol`` (its open lots now,
        before the ex-date's open); returns the credits booked."""
        self._check_time(ts)
        if not per_share > 0:
            raise EventError(f"dividend of {symbol} must be positive, got {per_share}", field="amount")
        rate = _dec(per_share)
        booked: list[DividendIncome] = []
        for account in self._cash:
            shares = sum(lot.quantity for lot in self._lots.get((account, symbol), []))
            if shares <= 0:
                continue
            amount = money(rate * shares)
            self._cash[account] += amount
            booked.append(DividendIncome(ex_date, account, symbol, shares, rate, amount))
        if not hasattr(self, "_dividends"):
            self._dividends = []  # a state saved before dividends existed
        self._dividends += booked
        self._last_ts = ts
        return booked

    # realized figures (their tax: engine/tax.py) ---------------------------------------------------
    def realized_gain(self, account: str, year: int | None = None) -> Decimal:
        """Net realized gain of an account (after wash-sale disallowance), in a year or in all."""
        self._check_account(account)
        return sum((r.amount for r in self._realized
                    if r.account == account and (year is None or r.date.year == year)), ZERO)

    # events ----------------------------------------------------------------------------------
    def apply(self, event: Event) -> list[Realized]:
        """Book a fill, assignment or expiration; returns the results it realized."""
        if not isinstance(event, Fill | Assignment | Expiration):
            raise EventError(f"the ledger books fill, assignment and expiration events, not "
                             f"{event.TYPE!r}", field="type")
        self._check_account(event.account)
        self._check_time(event.ts)
        before = len(self._realized)  # every check runs before the first change: nothing half-booked
        contract = event.contract
        try:
            if isinstance(event, Fill):
                if contract is None:
                    self._stock_fill(event)
                else:
                    self._option_fill(event, contract)
            elif isinstance(event, Expiration):
                self._expire(event)
            else:
                self._assign(event)
        finally:  # closed positions leave no empty entries behind (queries walk every key)
            for key in ((event.account, event.symbol), (event.account, contract)):
                if key in self._lots and not self._lots[key]:
                    del self._lots[key]
        self._last_ts = event.ts
        return self._realized[before:]

    def _check_account(self, account: str) -> None:
        if account not in self._cash:
            known = ", ".join(sorted(self._cash))
            raise EventError(f"unknown account {account!r} (known: {known})", field="account")

    def _check_time(self, ts: datetime) -> None:
        if self._last_ts is not None and ts < self._last_ts:
            raise EventError(f"{ts.isoformat()} is earlier than the previous event "
                             f"({self._last_ts.isoformat()}): events must come in time order",
                             field="ts")

    def _take(self, lots: list[_Lot], units: int) -> list[_Lot]:
        """Remove ``units`` (absolute) from the front of ``lots``; returns the pieces taken."""
        taken: list[_Lot] = []
        while units:
            lot = lots[0]
            n = min(units, abs(lot.quantity))
            sign = 1 if lot.quantity > 0 else -1
            if n == abs(lot.quantity):
                taken.append(lots.pop(0))
            else:
                part = money(lot.basis * n / abs(lot.quantity))
                taken.append(dataclasses.replace(lot, quantity=sign * n, basis=part,
                                                 wash_room=min(lot.wash_room, n * self._scale(lot))))
                lot.quantity -= sign * n
                lot.basis -= part
                lot.wash_room = min(lot.wash_room, abs(lot.quantity) * self._scale(lot))
            units -= n
        return taken

    def _origin(self) -> int:
        self._purchases += 1
        return self._purchases

    def _scale(self, lot: _Lot) -> int:
        return self.multiplier if isinstance(lot.key, OptionContract) else 1

    def _book(self, day: date, account: str, symbol: str, amount: Decimal, character: Character,
              kind: Literal["option_expired", "option_closed", "stock_sold", "called_away"],
              quantity: int, contract: OptionContract | None = None) -> Realized:
        record = Realized(day, account, symbol, amount, character, ZERO, kind, quantity, contract)
        self._realized.append(record)
        return record

    # stock -------------------------------------------------------------------------------------
    def _stock_fill(self, ev: Fill) -> None:
        gross = _dec(ev.price) * ev.quantity
        commission = _dec(ev.commission)
        if ev.side == "BUY":
            cost = money(gross + commission)
            self._cash[ev.account] -= cost
            self._acquire_stock(ev.account, ev.symbol, ev.quantity, cost, ev.ts.date())
        else:
            proceeds = money(gross - commission)
            self._sell_stock(ev.account, ev.symbol, ev.quantity, proceeds, ev.ts.date(), "stock_sold")
            self._cash[ev.account] += proceeds  # after the sale: it raises when the shares are missing

    def _acquire_stock(self, account: str, symbol: str, shares: int, basis: Decimal, day: date) -> None:
        lot = _Lot(account, symbol, shares, basis, day, day, self._origin(), wash_room=shares)
        self._lots[(account, symbol)].append(lot)
        self._absorb_pending(lot)

    def _sell_stock(self, account: str, symbol: str, shares: int, proceeds: Decimal, day: date,
                    kind: Literal["stock_sold", "called_away"]) -> None:
        lots = self._lots[(account, symbol)]
        held = sum(lot.quantity for lot in lots)
        if held < shares:
            raise EventError(f"{account!r} sells {shares} {symbol} shares but holds {held} "
                             f"(short stock is not supported)", field="quantity")
        pieces = self._take(lots, shares)
        for piece, part in zip(pieces, _allocate(proceeds, [p.quantity for p in pieces]), strict=True):
            gain = part - piece.basis
            character: Character = "LT" if is_long_term(piece.start, day) else "ST"
            self._book(day, account, symbol, gain, character, kind, piece.quantity)
            if gain < 0:
                loss = _Loss(len(self._realized) - 1, account, symbol, day, piece.quantity,
                             piece.quantity, -gain, (day - piece.start).days, piece.origin)
                self._losses.append(loss)
                self._wash_with_earlier_purchases(loss)

    # wash sales --------------------------------------------------------------------------------
    def _in_scope(self, loss: _Loss, account: str) -> bool:
        return self.wash_sales_across_accounts or loss.account == account

    def _replacements(self, loss: _Loss) -> list[_Lot]:
        """Open stock lots and bought calls of the symbol acquired in the 30 days up to the sale."""
        found: list[_Lot] = []
        for (account, key), lots in self._lots.items():
            is_call = isinstance(key, OptionContract) and key.right == "C" and key.symbol == loss.symbol
            if (key == loss.symbol or is_call) and self._in_scope(loss, account):
                found += [lot for lot in lots if lot.wash_room and lot.quantity > 0
                          and lot.origin != loss.origin and (loss.sold - lot.acquired).days <= 30]
        return sorted(found, key=lambda lot: (lot.acquired, lot.origin))  # purchase order

    def _wash_with_earlier_purchases(self, loss: _Loss) -> None:
        for lot in self._replacements(loss):
            if not loss.left:
                break
            self._wash(loss, lot)

    def _absorb_pending(self, lot: _Lot) -> None:
        """A new stock lot or bought call replaces earlier losses of the last 30 days, in sale order."""
        symbol = lot.key if isinstance(lot.key, str) else lot.key.symbol
        self._losses = [x for x in self._losses if x.left and (lot.acquired - x.sold).days <= 30]
        current: _Lot | None = lot
        for loss in self._losses:
            if current is None:
                break
            if loss.left and loss.symbol == symbol and self._in_scope(loss, current.account):
                current = self._wash(loss, current)

    def _wash(self, loss: _Loss, lot: _Lot) -> _Lot | None:
        """Disallow the loss on up to ``lot.wash_room`` shares; returns what can still absorb more."""
        shares = min(loss.left, lot.wash_room)
        rest: _Lot | None = lot
        if isinstance(lot.key, str) and shares < lot.quantity:
            # split the stock lot: the washed shares get their own basis and holding period
            lots = self._lots[(lot.account, lot.key)]
            part = money(lot.basis * shares / lot.quantity)
            washed = dataclasses.replace(lot, quantity=shares, basis=part, wash_room=shares)
            lots.insert(lots.index(lot), washed)
            lot.quantity -= shares
            lot.basis -= part
            lot.wash_room = lot.quantity
            lot, rest = washed, lot
        elif isinstance(lot.key, str):
            rest = None
        loss.left -= shares
        amount = loss.loss - loss.disallowed if not loss.left else money(loss.loss * shares / loss.shares)
        loss.disallowed += amount
        if lot.wash_room == abs(lot.quantity) * self._scale(lot):  # first wash of this lot
            lot.start = lot.acquired - timedelta(days=loss.held_days)
        lot.basis += amount
        lot.wash_room -= shares
        record = self._realized[loss.index]
        self._realized[loss.index] = dataclasses.replace(
            record, amount=record.amount + amount, disallowed=record.disallowed + amount)
        return rest if rest is not None and rest.wash_room else None

    # options -----------------------------------------------------------------------------------
    def _option_fill(self, ev: Fill, contract: OptionContract) -> None:
        lots = self._lots[(ev.account, contract)]
        day = ev.ts.date()
        gross = _dec(ev.price) * self.multiplier * ev.quantity
        commission = _dec(ev.commission)
        flow = money(gross - commission) if ev.side == "SELL" else -money(gross + commission)
        self._cash[ev.account] += flow
        selling = ev.side == "SELL"
        opposite = sum(abs(lot.quantity) for lot in lots if (lot.quantity > 0) == selling)
        closing = min(ev.quantity, opposite)
        opening = ev.quantity - closing
        close_flow, open_flow = _allocate(flow, [closing, opening])
        if closing:
            pieces = self._take(lots, closing)
            for piece, part in zip(pieces, _allocate(close_flow, [abs(p.quantity) for p in pieces]),
                                   strict=True):
                # short: premium kept + (negative) buy-back flow; long: sale proceeds − cost
                gain = piece.basis + part if piece.quantity < 0 else part - piece.basis
                long_term = piece.quantity > 0 and is_long_term(piece.start, day)
                self._book(day, ev.account, contract.symbol, gain, "LT" if long_term else "ST",
                           "option_closed", abs(piece.quantity), contract)
        if opening:
            room = opening * self.multiplier if not selling and contract.right == "C" else 0
            # basis: the premium kept (short) or the cost paid (long)
            lot = _Lot(ev.account, contract, -opening if selling else opening,
                       open_flow if selling else -open_flow, day, day, self._origin(), wash_room=room)
            lots.append(lot)
            if room:
                self._absorb_pending(lot)

    def _held(self, ev: Assignment | Expiration, short_only: bool) -> list[_Lot]:
        lots = self._lots[(ev.account, ev.contract)]
        held = sum(lot.quantity for lot in lots)
        if (held >= 0 if short_only else held == 0) or abs(held) < ev.quantity:
            what = "a short position" if short_only else "a position"
            raise EventError(f"{ev.TYPE} of {ev.quantity} {ev.contract} in {ev.account!r}, which "
                             f"holds {held}: needs {what} of at least {ev.quantity}",
                             field="quantity")
        return lots

    def _expire(self, ev: Expiration) -> None:
        day = ev.ts.date()
        if day < ev.expiry:
            raise EventError(f"expiration on {day} is before the contract's expiry {ev.expiry}",
                             field="ts")
        for piece in self._take(self._held(ev, short_only=False), ev.quantity):
            if piece.quantity < 0:  # written: the whole premium, short-term, in this year (rule 2)
                self._book(day, ev.account, ev.symbol, piece.basis, "ST", "option_expired",
                           -piece.quantity, ev.contract)
            else:
                character: Character = "LT" if is_long_term(piece.start, day) else "ST"
                self._book(day, ev.account, ev.symbol, -piece.basis, character, "option_expired",
                           piece.quantity, ev.contract)

    def _assign(self, ev: Assignment) -> None:
        lots = self._held(ev, short_only=True)
        shares = ev.quantity * self.multiplier
        strike_total = money(_dec(ev.strike) * shares)
        day = ev.ts.date()
        if ev.right == "C":  # check the shares before touching anything
            held = sum(lot.quantity for lot in self._lots[(ev.account, ev.symbol)])
            if held < shares:
                raise EventError(f"assignment of {ev.quantity} {ev.contract} in {ev.account!r} "
                                 f"needs {shares} shares but it holds {held}", field="quantity")
        premium = sum((piece.basis for piece in self._take(lots, ev.quantity)), ZERO)
        if ev.right == "P":  # rule 4: basis is the strike cost less the premium received
            self._cash[ev.account] -= strike_total
            self._acquire_stock(ev.account, ev.symbol, shares, strike_total - premium, day)
        else:  # rule 5: the premium is part of the amount realized
            self._cash[ev.account] += strike_total
            self._sell_stock(ev.account, ev.symbol, shares, strike_total + premium, day, "called_away")


def _order(item: tuple[tuple[str, Key], list[_Lot]]) -> tuple[str, str, int, str]:
    (account, key), _ = item
    if isinstance(key, OptionContract):
        return (account, key.symbol, 1, f"{key.expiry}{key.right}{key.strike:020.6f}")
    return (account, key, 0, "")

