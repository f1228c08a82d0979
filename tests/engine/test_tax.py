"""Capital-gains tax: netting per year (rule 8, example E), the fork figure (rule 7), and one
five-year replay whose withholdings and tax by year are recomputed here from the ledger."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine.core import Engine
from alluse.engine.events import Expiration, Fill, OptionContract
from alluse.engine.ledger import Ledger, Realized
from alluse.engine.tax import ForkCursor, TaxRates, fork_gain, tax_by_year, unrealized_gain
from alluse.engine.testing import EventBuilder
from alluse.runtime.replay import Replay, ReplayParams

ET = timezone(timedelta(hours=-5))
GEN, REV = "GEN-ACC-001", "REV-ACC-001"
RATES = TaxRates(Decimal("0.37"), Decimal("0.20"))
POLICIES = Path(str(default_policy_dir()))


def D(text: str) -> Decimal:  # short: reads like a literal
    return Decimal(text)


def result(day: str, amount: str, character: str = "ST", account: str = GEN) -> Realized:
    return Realized(date.fromisoformat(day), account, "X", D(amount), character,  # type: ignore[arg-type]
                    D("0.00"), "stock_sold", 100)


def ts(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=ET)


def stock(day: str, side: str, qty: int, price: float, account: str = GEN) -> Fill:
    return Fill(ts(day), account, "X", None, None, None, side, qty, price)  # type: ignore[arg-type]


def put(day: str, side: str, expiry: str, price: float, account: str = GEN) -> Fill:
    return Fill(ts(day), account, "X", date.fromisoformat(expiry), 80.0, "P", side, 1, price)  # type: ignore[arg-type]


def expire(expiry: str, account: str = GEN) -> Expiration:
    return Expiration(ts(expiry, 16), account, "X", date.fromisoformat(expiry), 80.0, "P", 1)


def book(*events: Any) -> Ledger:
    ledger = Ledger({GEN: D("1000000.00"), REV: D("1000000.00")})
    for ev in events:
        ledger.apply(ev)
    return ledger


# -- netting per year (rule 8) ----------------------------------------------------------------------
def test_example_e_carries_the_st_loss_left_after_the_deduction_and_taxes_only_3000_lt():
    """Example E: year 1 tax 0, 3,000 deducted, 8,000 ST carried; year 2 tax on 3,000 LT only."""
    records = [result("2026-02-02", "10000"), result("2026-03-02", "-25000"),
               result("2026-04-01", "4000", "LT"),
               result("2027-02-01", "5000"), result("2027-03-01", "6000", "LT")]
    years = tax_by_year(records, D("0.37"), D("0.20"))
    one, two = years[2026], years[2027]
    assert ((D("-15000"), D("4000"), D("0.00"), D("3000.00"), D("8000.00"), D("0.00"))
            == (one.st, one.lt, one.tax, one.deduction, one.carry_st, one.carry_lt))
    assert ((D("8000.00"), D("0"), D("3000"), D("600.00"), D("0.00"), D("0.00"))
            == (two.carried_in_st, two.taxable_st, two.taxable_lt, two.tax, two.carry_st,
                two.carry_lt))


def test_a_short_term_loss_is_never_credited_against_a_long_term_gain_at_the_short_term_rate():
    """ST −1,000 and LT +4,000 tax 3,000 at the LT rate (600), not 800 − 370; ST −10,000: tax 0."""
    small = tax_by_year([result("2026-02-02", "-1000"), result("2026-03-02", "4000", "LT")], 0.37, 0.2)
    large = tax_by_year([result("2026-02-02", "-10000"), result("2026-03-02", "4000", "LT")], 0.37, 0.2)
    assert ((D("600.00"), D("3000")), (D("0.00"), D("3000.00"), D("3000.00"))) == (
        (small[2026].tax, small[2026].taxable_lt),
        (large[2026].tax, large[2026].deduction, large[2026].carry_st))


def test_an_lt_loss_left_after_offsetting_st_gains_carries_as_lt():
    """LT −9,000 against ST +2,000: the 7,000 left is LT; 3,000 deducted; 4,000 LT carried."""
    year = tax_by_year([result("2026-02-02", "2000"), result("2026-03-02", "-9000", "LT")],
                       0.37, 0.2)[2026]
    assert (D("0.00"), D("3000.00"), D("0.00"), D("4000.00")) == (
        year.tax, year.deduction, year.carry_st, year.carry_lt)


def test_a_year_without_results_still_deducts_from_the_loss_carried_through_it():
    """A 10,000 loss in 2026, nothing in 2027, +5,000 in 2028: 3,000 deducted in 2026 and in 2027,
    so 4,000 is left to offset 2028's gain: tax on 1,000."""
    years = tax_by_year([result("2026-02-02", "-10000"), result("2028-02-02", "5000")], 0.37, 0.2)
    assert ([2026, 2027, 2028], D("3000.00"), D("4000.00"), D("1000.00"), D("370.00")) == (
        list(years), years[2027].deduction, years[2027].carry_st, years[2028].taxable_st,
        years[2028].tax)


def test_tax_by_year_reads_the_ledgers_results_netting_st_and_lt_per_year():
    """+2,000 LT and −500 ST in 2026 tax 1,500 LT; a 2027 +3,000 LT taxes 3,000 (ledger events)."""
    ledger = book(stock("2025-01-06", "BUY", 100, 10.0), stock("2025-01-07", "BUY", 100, 10.0),
                  stock("2026-02-02", "SELL", 100, 30.0),
                  put("2026-03-02", "SELL", "2026-03-20", 1.0), put("2026-03-05", "BUY", "2026-03-20", 6.0),
                  stock("2027-02-02", "SELL", 100, 40.0))
    years = tax_by_year(ledger.realized(GEN), D("0.30"), D("0.15"))
    assert {2026: D("225.00"), 2027: D("450.00")} == {y: t.tax for y, t in years.items()}


def test_a_rate_outside_zero_to_one_is_refused():
    """A rate of 37 (not 0.37) is an error naming the rate."""
    with pytest.raises(ValueError) as info:
        tax_by_year([], 37, 0.2)
    assert "a short-term tax rate is a fraction between 0 and 1, got 37" == str(info.value)


# -- the fork figure (rule 7) -----------------------------------------------------------------------
def test_the_fork_figure_counts_only_results_since_the_cursor_each_with_its_character():
    """An LT gain before the fork does not shelter, nor lower the rate of, a later ST gain."""
    ledger = book(stock("2025-01-06", "BUY", 1000, 100.0), stock("2026-02-02", "SELL", 1000, 200.0))
    first = fork_gain(ledger, GEN, ForkCursor(), RATES)
    ledger.apply(put("2026-03-02", "SELL", "2026-03-20", 9.0))
    ledger.apply(expire("2026-03-20"))
    second = fork_gain(ledger, GEN, first.cursor, RATES)
    assert ((D("100000.00"), D("0"), D("20000.00")), (D("900.00"), D("900.00"), D("0"), D("333.00"),
                                                       D("567.00"))) == (
        (first.realized, first.st, first.tax),
        (second.realized, second.st, second.lt, second.tax, second.post_tax))


def test_a_loss_before_the_fork_does_not_shelter_a_gain_after_it():
    """−500 ST, a fork, then +900 ST: the fork after taxes the whole 900 (333), not 400 (148)."""
    ledger = book(put("2026-03-02", "SELL", "2026-03-20", 1.0), put("2026-03-05", "BUY", "2026-03-20", 6.0))
    cursor = fork_gain(ledger, GEN, ForkCursor(), RATES).cursor
    ledger.apply(put("2026-04-01", "SELL", "2026-04-17", 9.0))
    ledger.apply(expire("2026-04-17"))
    assert (D("148.00"), D("333.00")) == (fork_gain(ledger, GEN, ForkCursor(), RATES).tax,
                                          fork_gain(ledger, GEN, cursor, RATES).tax)


def test_the_fork_figure_nets_its_results_per_year_with_carryforward():
    """Since the fork: −5,000 ST in 2026, +9,000 ST in 2027: 2,000 carried in, tax on 7,000."""
    ledger = book(put("2026-03-02", "SELL", "2026-03-20", 1.0),
                  Fill(ts("2026-03-05"), GEN, "X", date(2026, 3, 20), 80.0, "P", "BUY", 1, 51.0),
                  put("2027-03-01", "SELL", "2027-03-19", 90.0), expire("2027-03-19"))
    fg = fork_gain(ledger, GEN, ForkCursor(), RATES)
    assert (D("4000.00"), D("2000.00"), D("2590.00"), D("2590.00")) == (
        fg.realized, fg.years[2027].carried_in_st, fg.years[2027].tax, fg.tax)


def test_other_accounts_results_are_not_in_the_fork_figure():
    """REV-ACC's loss does not lower GEN-ACC's fork tax."""
    ledger = book(put("2026-03-02", "SELL", "2026-03-20", 1.0, account=REV),
                  Fill(ts("2026-03-05"), REV, "X", date(2026, 3, 20), 80.0, "P", "BUY", 1, 51.0),
                  put("2026-03-06", "SELL", "2026-03-20", 9.0), expire("2026-03-20"))
    assert D("333.00") == fork_gain(ledger, GEN, ForkCursor(), RATES).tax


def test_a_loss_washed_after_the_fork_counts_in_the_next_fork():
    """A 2,000 loss netted at a fork and disallowed by a rebuy after it adds 2,000 to the next fork."""
    ledger = book(stock("2026-03-02", "BUY", 100, 100.0), stock("2026-03-10", "SELL", 100, 80.0))
    first = fork_gain(ledger, GEN, ForkCursor(), RATES)
    ledger.apply(stock("2026-03-20", "BUY", 100, 80.0))  # within 30 days: the loss is washed
    second = fork_gain(ledger, GEN, first.cursor, RATES)
    third = fork_gain(ledger, GEN, second.cursor, RATES)
    assert (D("-2000.00"), D("2000.00"), D("740.00"), D("0")) == (
        first.realized, second.realized, second.tax, third.realized)


def test_realized_and_unrealized_counts_the_open_gain_at_the_st_rate_once():
    """+10,000 open is taxed at 37 %; sold later for 1,000 more, the next figure is that 1,000."""
    ledger = book(stock("2025-01-06", "BUY", 100, 100.0))
    first = fork_gain(ledger, GEN, ForkCursor(), RATES, "realized_and_unrealized",
                      marks={"X": 200.0}, as_of=date(2026, 2, 2))
    ledger.apply(stock("2026-02-03", "SELL", 100, 210.0))  # +11,000 LT realized, nothing open
    second = fork_gain(ledger, GEN, first.cursor, RATES, "realized_and_unrealized", marks={},
                       as_of=date(2026, 2, 3))
    assert ((D("10000.00"), D("10000.00"), D("3700.00")),
            (D("11000.00"), D("-10000.00"), D("1000.00"), D("200.00"))) == (
        (first.unrealized, first.st, first.tax),
        (second.realized, second.unrealized, second.gain, second.tax))


def test_the_unrealized_gain_counts_written_options_as_liabilities():
    """Stock +2,000 over its basis, a put written for 900 now at 4.00: +2,000 + 500."""
    ledger = book(stock("2026-01-05", "BUY", 100, 100.0), put("2026-03-02", "SELL", "2026-03-20", 9.0))
    contract = OptionContract("X", date(2026, 3, 20), 80.0, "P")
    assert D("2500.00") == unrealized_gain(ledger, GEN, {"X": 120.0, contract: 4.0})


def test_realized_and_unrealized_without_marks_is_refused():
    """The unrealized basis needs the caller's marks."""
    with pytest.raises(ValueError) as info:
        fork_gain(book(), GEN, ForkCursor(), RATES, "realized_and_unrealized")
    assert "gains_basis realized_and_unrealized needs marks and an as-of date" == str(info.value)


# -- the engine's forks ---------------------------------------------------------------------------
def _held_stock_then_puts(gains_basis: str, tmp_path: Path) -> Engine:
    shutil.copytree(POLICIES, tmp_path / "p", ignore=shutil.ignore_patterns("__*"))
    f = tmp_path / "p" / "accounts.yaml"
    f.write_text(f.read_text().replace("gains_basis: realized ", f"gains_basis: {gains_basis} "))
    engine = Engine(load_policy_dir(tmp_path / "p"), 1_000_000)
    buy = EventBuilder("2025-01-06")
    for e in [*buy.daily_bars("NVDA", [100.0], spread=1.0),
              Fill(buy.at("10:05"), GEN, "NVDA", None, None, None, "BUY", 1000, 100.0)]:  # type: ignore[arg-type]
        engine.handle(e)
    return engine


def test_an_engine_fork_after_an_lt_fork_taxes_the_new_st_gain_at_the_st_rate(tmp_path: Path):
    """+100K LT forks (20K withheld); +80K ST after it withholds 37 % (29,600), not 20 %."""
    engine = _held_stock_then_puts("realized", tmp_path)
    sell = EventBuilder("2026-02-02")
    engine.handle(Fill(sell.at("10:05"), GEN, "NVDA", None, None, None, "SELL", 1000, 200.0))  # type: ignore[arg-type]
    engine.handle(sell.clock("fork_check", "11:05"))
    day = dt.date(2026, 2, 5)
    for _ in range(4):
        expiry = (day + dt.timedelta(days=1)).isoformat()
        engine.handle(EventBuilder(day).sell_put(GEN, "NVDA", expiry, 10.0, 200.0, "10:05"))
        engine.handle(EventBuilder(day).expire(GEN, "NVDA", expiry, 10.0))
        day += dt.timedelta(days=7)
    engine.handle(EventBuilder("2026-03-02").clock("fork_check", "11:05"))
    assert [("20000.00", "80000.00"), ("29600.00", "50400.00")] == [
        (f["tax_withheld"], f["amount"]) for f in engine.state.forks]


def test_an_engine_fork_on_realized_and_unrealized_gains_counts_an_open_gain_once(tmp_path: Path):
    """+90K open forks on realized_and_unrealized (33,300 withheld); selling at that price forks nothing."""
    engine = _held_stock_then_puts("realized_and_unrealized", tmp_path)
    ev = EventBuilder("2026-02-02")
    for e in [*ev.daily_bars("NVDA", [190.0], spread=1.0), ev.clock("fork_check", "11:05"),
              Fill(ev.at("12:00"), GEN, "NVDA", None, None, None, "SELL", 1000, 190.0),  # type: ignore[arg-type]
              ev.clock("fork_check", "13:05")]:
        engine.handle(e)
    assert [("33300.00", "56700.00")] == [(f["tax_withheld"], f["amount"]) for f in engine.state.forks]


# -- a five-year replay, recomputed here ------------------------------------------------------------
def _schedule_d(items: Iterable[tuple[int, str, Decimal]], st_rate: Decimal,
                lt_rate: Decimal) -> dict[int, Decimal]:
    """Rule 8 written out again, independently of engine/tax.py: the tax of each year."""
    items = list(items)
    if not items:
        return {}
    first, last = min(y for y, _, _ in items), max(y for y, _, _ in items)
    carried_st = carried_lt = Decimal(0)  # losses carried in, as positive amounts
    out = {}
    for year in range(first, last + 1):
        st = sum((a for y, c, a in items if y == year and c == "ST"), Decimal(0)) - carried_st
        lt = sum((a for y, c, a in items if y == year and c == "LT"), Decimal(0)) - carried_lt
        if st < 0 and lt > 0:
            st, lt = (Decimal(0), st + lt) if st + lt >= 0 else (st + lt, Decimal(0))
        elif lt < 0 and st > 0:
            st, lt = (st + lt, Decimal(0)) if st + lt >= 0 else (Decimal(0), st + lt)
        tax = st_rate * max(st, Decimal(0)) + lt_rate * max(lt, Decimal(0))
        out[year] = tax.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        loss_st, loss_lt = max(-st, Decimal(0)), max(-lt, Decimal(0))
        deducted = min(Decimal(3000), loss_st + loss_lt)
        carried_st = loss_st - min(loss_st, deducted)
        carried_lt = loss_lt - (deducted - min(loss_st, deducted))
    return out


@pytest.fixture(scope="module")
def ten_million() -> tuple[dict[str, Any], list[Realized], TaxRates]:
    """The 10M five-year replay, run once for the module: (result, realized records, rates)."""
    ps = load_policy_dir(POLICIES)
    replay = Replay(ps, ReplayParams(start=dt.date(2021, 1, 4), end=dt.date(2025, 12, 31),
                                     capital=10_000_000))
    out = replay.run()
    rates = TaxRates.of(ps.accounts.tax.short_term_rate, ps.accounts.tax.long_term_rate)
    return out, replay.engine.state.ledger.realized(), rates


@pytest.mark.slow  # the ~20 s replay fixture
def test_each_fork_of_the_10m_replay_withholds_the_tax_of_its_own_results(
        ten_million: tuple[dict[str, Any], list[Realized], TaxRates]) -> None:
    """Each fork's withholding and amount match rule 7 recomputed over the parent's results
    from its previous fork to this one (a wash sale after a fork would need its snapshot)."""
    out, records, rates = ten_million
    start: dict[str, int] = {}
    expected, got = [], []
    for f in out["forks"]:
        mine = [r for r in records[start.get(f["parent"], 0):f["realized_index"]]
                if r.account == f["parent"]]
        start[f["parent"]] = f["realized_index"]
        tax = sum(_schedule_d(((r.date.year, r.character, r.amount) for r in mine),
                              rates.short_term, rates.long_term).values(), Decimal(0))
        expected.append((tax, sum((r.amount for r in mine), Decimal(0)) - tax))
        got.append((Decimal(f["tax_withheld"]), Decimal(f["amount"])))
    assert (True, expected) == (len(expected) > 0, got)


@pytest.mark.slow  # the ~20 s replay fixture
def test_the_10m_replays_tax_by_year_nets_every_accounts_results_per_year(
        ten_million: tuple[dict[str, Any], list[Realized], TaxRates]) -> None:
    """The reported tax by year is rule 8 over all results, never negative."""
    out, records, rates = ten_million
    expected = _schedule_d(((r.date.year, r.character, r.amount) for r in records),
                           rates.short_term, rates.long_term)
    assert {str(y): str(t) for y, t in expected.items()} == out["taxes"]["accrued_by_year"]
