"""The 2021-2025 replay at 100K on as-traded prices: real strikes, real contract counts, splits
applied, dividends credited, and capital conserved with dividends in the identity."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine.calendar import NY
from alluse.engine.events import Assignment, Dividend, Event, Fill, Split
from alluse.engine.ledger import money
from alluse.runtime.replay import Replay, ReplayParams


class Witness:
    """Shares per account rebuilt from the events alone, and the dividends they earn."""

    def __init__(self) -> None:
        self.shares: dict[tuple[str, str], int] = {}
        self.dividends: dict[tuple[str, str], Decimal] = {}
        self.fills: list[Fill] = []
        self.splits: list[Split] = []

    def __call__(self, ev: Event, _: Any) -> None:
        if isinstance(ev, Fill):
            self.fills.append(ev)
            if ev.contract is None:
                key = (ev.account, ev.symbol)
                self.shares[key] = self.shares.get(key, 0) + (ev.quantity if ev.side == "BUY"
                                                              else -ev.quantity)
        elif isinstance(ev, Assignment):
            key = (ev.account, ev.symbol)
            self.shares[key] = self.shares.get(key, 0) + 100 * ev.quantity * (1 if ev.right == "P" else -1)
        elif isinstance(ev, Split):
            self.splits.append(ev)
            for key in self.shares:
                if key[1] == ev.symbol:
                    self.shares[key] *= ev.ratio
        elif isinstance(ev, Dividend):
            for (account, symbol), n in self.shares.items():
                if symbol == ev.symbol and n > 0:
                    paid = money(Decimal(repr(ev.amount)) * n)
                    self.dividends[(account, symbol)] = self.dividends.get((account, symbol),
                                                                           Decimal(0)) + paid


Run = tuple[Replay, dict[str, Any], Witness]


@pytest.fixture(scope="module")
def run() -> Run:
    ps = load_policy_dir(default_policy_dir())  # type: ignore[arg-type]
    replay = Replay(ps, ReplayParams(dt.date(2021, 1, 4), dt.date(2025, 12, 31), 100_000.0))
    witness = Witness()
    replay.driver.observers.append(witness)
    return replay, replay.run(), witness


def test_every_strike_sold_is_near_the_price_that_printed_that_day(run: Run) -> None:
    """Strikes within ±35% of the as-traded close of the fill's day: none from an adjusted past
    (NVDA at 13), and NVDA strikes before the 2024 split are above 100."""
    replay, _, w = run
    off = []
    for f in w.fills:
        if f.strike is None:
            continue
        day = f.ts.astimezone(NY).date()
        close = replay.history.daily[f.symbol][day].close
        if not 0.65 <= f.strike / close <= 1.35:
            off.append((str(day), f.symbol, f.strike, close))
    nvda_2021 = [f.strike for f in w.fills if f.symbol == "NVDA" and f.strike is not None
                 and f.ts.date() < dt.date(2024, 6, 10)]
    assert ([], True) == (off, all(k > 100 for k in nvda_2021))


def test_contract_counts_are_what_the_account_can_secure(run: Run) -> None:
    """No sale of more puts than twice the account's starting capital secures (strike × 100)."""
    replay, _, w = run
    capital = {a.id: float(a.initial_capital) for a in replay.engine.state.tree.accounts.values()}
    too_many = [(str(f.ts.date()), f.account, f.symbol, f.quantity, f.strike) for f in w.fills
                if f.right == "P" and f.side == "SELL" and f.strike is not None
                and f.quantity * f.strike * 100 > 2 * capital[f.account]]
    assert [] == too_many


def test_splits_of_the_window_reach_the_engine(run: Run) -> None:
    """NVDA 2021, AMZN, GOOGL and TSLA 2022, NVDA 2024: five splits, on their ex-dates."""
    _, _, w = run
    assert [("NVDA", "2021-07-20", 4), ("AMZN", "2022-06-06", 20), ("GOOGL", "2022-07-18", 20),
            ("TSLA", "2022-08-25", 3), ("NVDA", "2024-06-10", 10)] == [
        (s.symbol, s.ts.date().isoformat(), s.ratio) for s in w.splits]


def test_dividends_credited_equal_an_independent_count_of_shares_held(run: Run) -> None:
    """Per account and symbol, the ledger's dividend income = Σ amount × shares held at each
    ex-date from the fills and assignments alone; COM-ACC earns AAPL dividends."""
    replay, result, w = run
    booked: dict[tuple[str, str], Decimal] = {}
    for d in replay.engine.state.ledger.dividends():
        booked[(d.account, d.symbol)] = booked.get((d.account, d.symbol), Decimal(0)) + d.amount
    total = sum(w.dividends.values(), Decimal(0))
    assert (w.dividends, str(total), True) == (
        booked, result["dividends"]["total"], w.dividends.get(("COM-ACC-001", "AAPL"), Decimal(0)) > 0)


def test_capital_is_conserved_with_dividends_in_the_identity(run: Run) -> None:
    """Σ final equity = initial + P&L + dividends (counted independently) − taxes withheld."""
    _, result, w = run
    c = result["conservation"]
    dividends = sum(w.dividends.values(), Decimal(0))
    expected = (Decimal(c["initial_capital"]) + Decimal(c["total_pnl"]) + dividends
                - Decimal(c["taxes_withheld"]))
    assert (expected, True) == (Decimal(c["final_equity_sum"]), c["ok"])
