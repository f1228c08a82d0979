"""`EngineState`: everything that affects the engine's future decisions, in one explicit object.

Accounts and their tree, the ledger (cash, lots, realized results, transfers), open short options
with their protocol levels, wheels, pending proposals and their collateral reservations, alert
throttle windows, circuit breakers, per-symbol market state (indicators, quotes), the last
timestamp of each input stream and the learning loop's predicted vs actual weeks.
`Engine.snapshot()` serialises exactly this (`persist`), and `Engine.restore()` rebuilds it,
with the state machines re-attached from the saved states.

Option positions are keyed by ``(account, OptionContract)``: no string keys.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from alluse.engine.accounts import AccountTree
from alluse.engine.alerting import AlertThrottle
from alluse.engine.events import OptionContract
from alluse.engine.learning import WeekHistory
from alluse.engine.ledger import Ledger
from alluse.engine.machines import WheelModel
from alluse.engine.market import SymbolState
from alluse.engine.protocol import ShortOption

PositionKey = tuple[str, OptionContract]  # (account, contract)
TAX_ACCOUNT = "TAX-WITHHELD"
# The owner's share of a period's gains that an account does not reinvest (accounts.yaml
# reinvestment): moved out of the tree, like withheld tax, so it never sizes a trade.
RESERVE_ACCOUNT = "RESERVE"


@dataclass(slots=True)
class Reservation:
    """Collateral of a proposed put, held until it fills, its order ends or its script expires."""

    amount: float
    expires_at: dt.datetime
    order_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class Outcome:
    """How a position ended in a week (input of the week-type classification)."""

    day: dt.date
    account: str
    symbol: str
    right: str
    outcome: str  # expired | assigned | called_away | closed | rolled
    pnl: float


@dataclass(slots=True)
class EngineState:
    capital: Decimal
    tree: AccountTree
    ledger: Ledger
    index: int = -1  # number of the last event taken
    taxes_withheld: Decimal = Decimal(0)
    withdrawn: Decimal = Decimal(0)  # moved to RESERVE_ACCOUNT by reinvestment
    market: dict[str, SymbolState] = field(default_factory=dict)
    shorts: dict[PositionKey, ShortOption] = field(default_factory=dict)
    wheels: dict[tuple[str, str], WheelModel] = field(default_factory=dict)
    proposed: set[tuple[str, str, str, dt.date]] = field(default_factory=set)
    pending: dict[PositionKey, Reservation] = field(default_factory=dict)
    daily_risk: dict[tuple[str, dt.date], float] = field(default_factory=dict)
    loss_streak: dict[str, int] = field(default_factory=dict)
    suspended_on: dict[str, dt.date] = field(default_factory=dict)
    day_start_equity: dict[str, tuple[dt.date, Decimal]] = field(default_factory=dict)
    intraday_symbols: set[str] = field(default_factory=set)
    last_close: dict[tuple[str, str, str], dt.datetime] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    forks: list[dict[str, Any]] = field(default_factory=list)
    merges: list[dict[str, Any]] = field(default_factory=list)
    throttle: AlertThrottle = field(default_factory=AlertThrottle)
    stream_ts: dict[str, dt.datetime] = field(default_factory=dict)
    # strategy → (session it runs on, the closed day it was due): on_market_closed next_trading_day
    deferred_entries: dict[str, tuple[dt.date, dt.date]] = field(default_factory=dict)
    learning: WeekHistory = field(default_factory=WeekHistory)  # predicted vs actual weeks

    def positions_of(self, account: str) -> list[ShortOption]:
        return [p for p in self.shorts.values() if p.account == account]
