"""The tax ledger: the worked examples of tax_rules.md, wash sales, cash, equity (the tax on its
results: test_tax.py)."""


from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alluse.engine.errors import DataError, EventError
from alluse.engine.events import Assignment, Expiration, Fill, JobDue, OptionContract
from alluse.engine.ledger import Ledger, Lot, Realized, is_long_term

ET = timezone(timedelta(hours=-5))
GEN, REV, COM = "GEN-ACC-001", "REV-ACC-001", "COM-ACC-001"
START = Decimal("100000.00")


def ts(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=ET)


def stock(day: str, side: str, qty: int, price: float, account: str = GEN, symbol: str = "X",
          commission: float = 0.0) -> Fill:
    return Fill(ts(day), account, symbol, None, None, None, side, qty, price,  # type: ignore[arg-type]
                commission)


def option(day: str, side: str, right: str, strike: float, expiry: str, price: float, qty: int = 1,
           account: str = GEN, symbol: str = "X", commission: float = 0.0) -> Fill:
    return Fill(ts(day), account, symbol, date.fromisoformat(expiry), strike, right,  # type: ignore[arg-type]
                side, qty, price, commission)  # type: ignore[arg-type]


def assign(day: str, right: str, strike: float, expiry: str, qty: int = 1, account: str = GEN,
           symbol: str = "X") -> Assignment:
    return Assignment(ts(day, 16), account, symbol, date.fromisoformat(expiry), strike, right,  # type: ignore[arg-type]
                      qty)


def expire(day: str, right: str, strike: float, expiry: str, qty: int = 1, account: str = GEN,
           symbol: str = "X") -> Expiration:
    return Expiration(ts(day, 16), account, symbol, date.fromisoformat(expiry), strike, right,  # type: ignore[arg-type]
                      qty)


def ledger(*events: object, **kwargs: object) -> Ledger:
    book = Ledger({GEN: START, REV: START, COM: START}, **kwargs)  # type: ignore[arg-type]
    for ev in events:
        book.apply(ev)  # type: ignore[arg-type]
    return book


def D(text: str) -> Decimal:  # short: reads like a literal
    return Decimal(text)


# -- the worked examples of tax_rules.md -------------------------------------------------------
def test_example_a_wash_sale_rebuy_gets_1050_basis():
    """A: buy 100 for $1,000, sell for $750, rebuy for $800 within 30 days → basis $1,050."""
    book = ledger(stock("2026-01-05", "BUY", 100, 10.0), stock("2026-02-02", "SELL", 100, 7.5),
                  stock("2026-02-20", "BUY", 100, 8.0))
    assert [Lot(GEN, "X", 100, D("1050.00"), date(2026, 1, 23))] == book.lots()
    assert [Realized(date(2026, 2, 2), GEN, "X", D("0.00"), "ST", D("250.00"), "stock_sold", 100)] \
        == book.realized()
    assert START - 1000 + 750 - 800 == book.cash(GEN)


def test_example_b_assigned_put_basis_is_strike_less_premium():
    """B: put strike 80 sold for 9.00, assigned → basis $7,100 from the assignment date, nothing realized."""
    book = ledger(option("2026-03-02", "SELL", "P", 80, "2026-03-20", 9.0),
                  assign("2026-03-20", "P", 80, "2026-03-20"))
    assert [Lot(GEN, "X", 100, D("7100.00"), date(2026, 3, 20))] == book.lots()
    assert [] == book.realized()
    assert START + 900 - 8000 == book.cash(GEN)


def test_example_c_put_expiring_next_year_is_gain_of_next_year():
    """C: put sold in December of N, expiring in January of N+1 → +P short-term gain in N+1 only."""
    book = ledger(option("2026-12-15", "SELL", "P", 240, "2027-01-15", 2.35))
    assert (D("0"), []) == (book.realized_gain(GEN, 2026), book.realized())
    book.apply(expire("2027-01-15", "P", 240, "2027-01-15"))
    assert D("0") == book.realized_gain(GEN, 2026)
    assert D("235.00") == book.realized_gain(GEN, 2027)
    contract = OptionContract("X", date(2027, 1, 15), 240, "P")
    assert [Realized(date(2027, 1, 15), GEN, "X", D("235.00"), "ST", D("0.00"), "option_expired", 1,
                     contract)] == book.realized()
    assert START + 235 == book.cash(GEN)


def test_example_d_called_away_realizes_8750_and_gains_1650():
    """D (continues B): call 85 sold for $250, called away → $8,750 realized, $1,650 ST gain."""
    book = ledger(option("2026-03-02", "SELL", "P", 80, "2026-03-20", 9.0),
                  assign("2026-03-20", "P", 80, "2026-03-20"),
                  option("2026-03-23", "SELL", "C", 85, "2026-04-17", 2.5),
                  assign("2026-04-17", "C", 85, "2026-04-17"))
    [gain] = book.realized()
    assert Realized(date(2026, 4, 17), GEN, "X", D("1650.00"), "ST", D("0.00"), "called_away", 100) == gain
    assert D("8750.00") == gain.amount + D("7100.00")
    assert ([], {}) == (book.lots(), book.positions(GEN))
    assert START + 1650 == book.cash(GEN)


# -- short options ------------------------------------------------------------------------------
def test_buy_to_close_below_premium_is_short_term_gain():
    """Rule 3: sold for 4.00, bought back for 1.50 → +$250 ST."""
    book = ledger(option("2026-05-04", "SELL", "P", 245, "2026-05-15", 4.0),
                  option("2026-05-06", "BUY", "P", 245, "2026-05-15", 1.5))
    assert [(D("250.00"), "ST", "option_closed")] == [(r.amount, r.character, r.kind)
                                                      for r in book.realized()]
    assert [] == book.lots()


def test_buy_to_close_above_premium_is_short_term_loss():
    """Rule 3: sold for 4.00, bought back for 6.00 → −$200 ST."""
    book = ledger(option("2026-05-04", "SELL", "P", 245, "2026-05-15", 4.0),
                  option("2026-05-06", "BUY", "P", 245, "2026-05-15", 6.0))
    assert [(D("-200.00"), "ST")] == [(r.amount, r.character) for r in book.realized()]


def test_commissions_reduce_premium_and_add_to_closing_cost():
    """Commission comes off the premium received and is added to the buy-back cost."""
    book = ledger(option("2026-05-04", "SELL", "P", 245, "2026-05-15", 4.0, commission=0.65))
    assert D("399.35") == book.lots()[0].basis
    book.apply(option("2026-05-06", "BUY", "P", 245, "2026-05-15", 1.0, commission=0.65))
    assert D("298.70") == book.realized()[0].amount
    assert START + D("298.70") == book.cash(GEN)


def test_partial_buy_to_close_splits_premium_fifo():
    """Closing 1 of 3 contracts sold at different premiums closes the oldest first."""
    book = ledger(option("2026-05-04", "SELL", "P", 245, "2026-05-15", 4.0, qty=2),
                  option("2026-05-05", "SELL", "P", 245, "2026-05-15", 5.0),
                  option("2026-05-06", "BUY", "P", 245, "2026-05-15", 3.0))
    assert D("100.00") == book.realized()[0].amount
    assert [(-1, D("400.00")), (-1, D("500.00"))] == [(lot.quantity, lot.basis) for lot in book.lots()]


def test_short_option_lot_reports_contract_and_negative_quantity():
    """An open short put is a lot of −contracts carrying its expiry, strike and right."""
    book = ledger(option("2026-05-04", "SELL", "P", 245, "2026-05-15", 4.0, qty=2))
    assert [Lot(GEN, "X", -2, D("800.00"), date(2026, 5, 4), date(2026, 5, 15), 245.0, "P")] == book.lots()
    assert {OptionContract("X", date(2026, 5, 15), 245.0, "P"): -2} == book.positions(GEN)


def test_long_option_sold_is_gain_and_expired_is_loss():
    """A bought call sold higher gains; a bought put expiring loses its cost."""
    book = ledger(option("2026-05-04", "BUY", "C", 250, "2026-06-19", 3.0),
                  option("2026-05-20", "SELL", "C", 250, "2026-06-19", 5.0),
                  option("2026-05-21", "BUY", "P", 200, "2026-06-19", 1.0),
                  expire("2026-06-19", "P", 200, "2026-06-19"))
    assert [D("200.00"), D("-100.00")] == [r.amount for r in book.realized()]


# -- stock and holding periods --------------------------------------------------------------------
def test_called_away_after_more_than_a_year_is_long_term():
    """Rule 5: shares assigned 2025-03-20 and called away 2026-03-23 give a LT gain."""
    book = ledger(option("2025-03-03", "SELL", "P", 80, "2025-03-20", 9.0),
                  assign("2025-03-20", "P", 80, "2025-03-20"),
                  option("2026-03-02", "SELL", "C", 85, "2026-03-23", 2.5),
                  assign("2026-03-23", "C", 85, "2026-03-23"))
    assert [(D("1650.00"), "LT")] == [(r.amount, r.character) for r in book.realized()]


def test_one_year_to_the_day_is_still_short_term():
    """More than one year means after the anniversary; Feb 29 counts from Feb 28."""
    assert (False, True) == (is_long_term(date(2025, 3, 20), date(2026, 3, 20)),
                             is_long_term(date(2025, 3, 20), date(2026, 3, 21)))
    assert (False, True) == (is_long_term(date(2024, 2, 29), date(2025, 2, 28)),
                             is_long_term(date(2024, 2, 29), date(2025, 3, 1)))


def test_stock_sales_consume_lots_fifo():
    """Selling 150 of two 100-share lots takes the older lot first."""
    book = ledger(stock("2026-01-05", "BUY", 100, 10.0), stock("2026-01-06", "BUY", 100, 12.0),
                  stock("2026-01-07", "SELL", 150, 13.0))
    assert [D("300.00"), D("50.00")] == [r.amount for r in book.realized()]
    assert [Lot(GEN, "X", 50, D("600.00"), date(2026, 1, 6))] == book.lots()


# -- wash sales -----------------------------------------------------------------------------------
def test_wash_sale_with_replacement_bought_before_the_loss_sale():
    """Shares bought 10 days before a FIFO loss sale replace the sold ones."""
    book = ledger(stock("2026-01-05", "BUY", 100, 10.0), stock("2026-03-06", "BUY", 100, 8.0),
                  stock("2026-03-16", "SELL", 100, 7.0))
    assert [(D("0.00"), D("300.00"))] == [(r.amount, r.disallowed) for r in book.realized()]
    assert [Lot(GEN, "X", 100, D("1100.00"), date(2026, 3, 6) - timedelta(days=70))] == book.lots()


def test_partial_wash_rebuying_half_disallows_half():
    """Sell 100 at a $250 loss, rebuy 50 → $125 disallowed, $125 deductible."""
    book = ledger(stock("2026-01-05", "BUY", 100, 10.0), stock("2026-02-02", "SELL", 100, 7.5),
                  stock("2026-02-20", "BUY", 50, 8.0))
    assert [(D("-125.00"), D("125.00"))] == [(r.amount, r.disallowed) for r in book.realized()]
    assert [Lot(GEN, "X", 50, D("525.00"), date(2026, 1, 23))] == book.lots()


def test_rebuying_more_than_sold_splits_the_replacement_lot():
    """Only the 100 replacement shares take the loss; the other 50 keep their own basis and date."""
    book = ledger(stock("2026-01-05", "BUY", 100, 10.0), stock("2026-02-02", "SELL", 100, 7.5),
                  stock("2026-02-20", "BUY", 150, 8.0))
    assert [Lot(GEN, "X", 100, D("1050.00"), date(2026, 1, 23)),
            Lot(GEN, "X", 50, D("400.00"), date(2026, 2, 20))] == book.lots()


def test_several_losses_are_matched_in_sale_order():
    """With two loss sales and 100 replacement shares, the earlier sale is washed."""
    book = ledger(stock("2025-12-01", "BUY", 100, 10.0), stock("2025-12-02", "BUY", 100, 10.0),
                  stock("2026-02-02", "SELL", 100, 8.0), stock("2026-02-03", "SELL", 100, 9.0),
                  stock("2026-02-10", "BUY", 100, 9.0))
    assert [(D("0.00"), D("200.00")), (D("-100.00"), D("0.00"))] == [
        (r.amount, r.disallowed) for r in book.realized()]
    assert D("1100.00") == book.lots()[0].basis


def test_replacement_share_absorbs_only_one_wash_sale():
    """Shares that already absorbed a loss do not absorb a second one."""
    book = ledger(stock("2025-12-01", "BUY", 100, 10.0), stock("2025-12-02", "BUY", 100, 10.0),
                  stock("2026-02-02", "SELL", 100, 9.0), stock("2026-02-05", "BUY", 100, 9.0),
                  stock("2026-02-09", "SELL", 100, 8.0))
    # the 02-09 sale sells the 2025-12-02 lot (FIFO); the 02-05 shares already absorbed a loss
    assert [D("0.00"), D("-200.00")] == [r.amount for r in book.realized()]
    assert [Lot(GEN, "X", 100, D("1000.00"), date(2026, 2, 5) - timedelta(days=63))] == book.lots()


def test_separate_purchase_within_30_days_before_washes_the_fifo_sale():
    """Shares bought in another order 27 days before the sale replace the older shares sold."""
    book = ledger(stock("2026-01-05", "BUY", 100, 10.0), stock("2026-01-06", "BUY", 100, 10.0),
                  stock("2026-02-02", "SELL", 100, 8.0))
    assert [(D("0.00"), D("200.00"))] == [(r.amount, r.disallowed) for r in book.realized()]
    assert [Lot(GEN, "X", 100, D("1200.00"), date(2026, 1, 6) - timedelta(days=28))] == book.lots()


def test_selling_part_of_one_purchase_is_no_wash_with_its_rest():
    """Rev. Rul. 56-602: the unsold rest of the same purchase does not replace the shares sold."""
    book = ledger(stock("2026-01-05", "BUY", 200, 10.0), stock("2026-02-02", "SELL", 100, 9.0))
    assert [(D("-100.00"), D("0.00"))] == [(r.amount, r.disallowed) for r in book.realized()]
    assert [Lot(GEN, "X", 100, D("1000.00"), date(2026, 1, 5))] == book.lots()


def test_purchase_more_than_30_days_after_loss_is_no_wash():
    """The window ends 30 calendar days after the sale."""
    book = ledger(stock("2026-01-05", "BUY", 100, 10.0), stock("2026-02-02", "SELL", 100, 7.5),
                  stock("2026-03-05", "BUY", 100, 8.0))
    assert [(D("-250.00"), D("0.00"))] == [(r.amount, r.disallowed) for r in book.realized()]
    assert D("800.00") == book.lots()[0].basis


def test_put_assignment_after_loss_sale_is_a_replacement():
    """Stock acquired by assignment within 30 days takes the disallowed loss into its basis."""
    book = ledger(stock("2026-01-05", "BUY", 100, 90.0), stock("2026-02-02", "SELL", 100, 80.0),
                  option("2026-02-03", "SELL", "P", 80, "2026-02-20", 2.0),
                  assign("2026-02-20", "P", 80, "2026-02-20"))
    assert [(D("0.00"), D("1000.00"))] == [(r.amount, r.disallowed) for r in book.realized()]
    assert D("8800.00") == book.lots()[0].basis  # 8,000 − 200 premium + 1,000 washed


def test_bought_call_after_loss_sale_is_a_replacement():
    """Buying a call (an option to acquire) within the window washes the loss into the call."""
    book = ledger(stock("2026-01-05", "BUY", 100, 10.0), stock("2026-02-02", "SELL", 100, 7.5),
                  option("2026-02-10", "BUY", "C", 8, "2026-03-20", 0.5))
    assert [D("0.00")] == [r.amount for r in book.realized()]
    assert D("300.00") == book.lots()[0].basis  # 50 paid + 250 washed


def test_wash_sales_span_accounts_unless_confined():
    """A rebuy in another account of the same taxpayer washes the loss, unless confined per account."""
    events = (stock("2026-01-05", "BUY", 100, 10.0), stock("2026-02-02", "SELL", 100, 7.5),
              stock("2026-02-20", "BUY", 100, 8.0, account=COM))
    across, confined = ledger(*events), ledger(*events, wash_sales_across_accounts=False)
    assert (D("0.00"), D("1050.00")) == (across.realized()[0].amount, across.lots(COM)[0].basis)
    assert (D("-250.00"), D("800.00")) == (confined.realized()[0].amount, confined.lots(COM)[0].basis)


# -- accounts, cash, errors -------------------------------------------------------------------
def test_transfers_conserve_cash_to_the_cent():
    """A fork moves cash between accounts; the total does not change."""
    book = ledger(option("2026-05-04", "SELL", "P", 245, "2026-05-15", 4.07))
    book.open_account("GEN-ACC-002", D("0"))
    book.transfer(GEN, "GEN-ACC-002", D("25000.33"), ts("2026-05-05"))
    book.transfer("GEN-ACC-002", COM, D("12500.17"), ts("2026-05-06"))
    assert 3 * START + D("407.00") == sum(book.cash(a) for a in book.accounts())
    assert (D("75406.67"), D("12500.16"), D("112500.17")) == (
        book.cash(GEN), book.cash("GEN-ACC-002"), book.cash(COM))


def test_transfer_beyond_cash_is_refused():
    """A transfer cannot overdraw the source account."""
    book = ledger()
    with pytest.raises(EventError) as info:
        book.transfer(GEN, COM, D("100000.01"), ts("2026-05-05"))
    assert "transfer of 100000.01 exceeds the cash of 'GEN-ACC-001' (100000.00)" == str(info.value)


def test_unknown_account_is_an_error_naming_it():
    """An event for an account outside the tree raises EventError naming the account."""
    with pytest.raises(EventError) as info:
        ledger(stock("2026-01-05", "BUY", 100, 10.0, account="GEN-ACC-009"))
    assert ("field 'account': unknown account 'GEN-ACC-009' (known: COM-ACC-001, GEN-ACC-001, "
            "REV-ACC-001)") == str(info.value)


def test_expiring_a_position_not_held_is_an_error():
    """An expiration with no position behind it is impossible."""
    with pytest.raises(EventError) as info:
        ledger(expire("2026-05-15", "P", 245, "2026-05-15"))
    assert ("field 'quantity': expiration of 1 X 2026-05-15 245P in 'GEN-ACC-001', which holds 0: "
            "needs a position of at least 1") == str(info.value)


def test_assigning_a_call_without_the_shares_is_an_error_and_changes_nothing():
    """A naked call assignment is refused before anything is booked."""
    book = ledger(option("2026-05-04", "SELL", "C", 250, "2026-05-15", 3.0))
    with pytest.raises(EventError) as info:
        book.apply(assign("2026-05-15", "C", 250, "2026-05-15"))
    assert ("field 'quantity': assignment of 1 X 2026-05-15 250C in 'GEN-ACC-001' needs 100 shares "
            "but it holds 0") == str(info.value)
    assert (-1, START + 300) == (book.lots()[0].quantity, book.cash(GEN))


def test_selling_shares_not_held_is_an_error_and_changes_nothing():
    """Short stock is not supported: the sale is refused and the cash is untouched."""
    book = ledger(stock("2026-01-05", "BUY", 100, 10.0))
    with pytest.raises(EventError) as info:
        book.apply(stock("2026-01-06", "SELL", 150, 11.0))
    assert ("field 'quantity': 'GEN-ACC-001' sells 150 X shares but holds 100 (short stock is not "
            "supported)") == str(info.value)
    assert (START - 1000, 100) == (book.cash(GEN), book.lots()[0].quantity)


def test_events_out_of_time_order_are_refused():
    """The wash-sale window needs time order."""
    book = ledger(stock("2026-01-06", "BUY", 100, 10.0))
    with pytest.raises(EventError) as info:
        book.apply(stock("2026-01-05", "BUY", 100, 10.0))
    assert ("field 'ts': 2026-01-05T10:00:00-05:00 is earlier than the previous event "
            "(2026-01-06T10:00:00-05:00): events must come in time order") == str(info.value)


def test_ledger_refuses_events_it_does_not_book():
    """Market and clock events are not ledger events."""
    with pytest.raises(EventError) as info:
        ledger(JobDue(ts("2026-01-06"), "entry_scan"))
    assert ("field 'type': the ledger books fill, assignment and expiration events, not 'clock'"
            == str(info.value))


def test_expiration_before_expiry_date_is_refused():
    """An option cannot expire before its expiry date."""
    book = ledger(option("2026-05-04", "SELL", "P", 245, "2026-05-15", 4.0))
    with pytest.raises(EventError) as info:
        book.apply(expire("2026-05-14", "P", 245, "2026-05-15"))
    assert "field 'ts': expiration on 2026-05-14 is before the contract's expiry 2026-05-15" == str(
        info.value)


# -- equity --------------------------------------------------------------------------------------
def test_equity_marks_stock_and_counts_short_options_as_liabilities():
    """Equity = cash + shares × price − short contracts × 100 × option price."""
    book = ledger(option("2026-03-02", "SELL", "P", 80, "2026-03-20", 9.0),
                  assign("2026-03-20", "P", 80, "2026-03-20"),
                  option("2026-03-23", "SELL", "C", 85, "2026-04-17", 2.5))
    call = OptionContract("X", date(2026, 4, 17), 85, "C")
    assert START + 900 - 8000 + 250 + 8200 - 310 == book.equity(GEN, {"X": 82.0, call: 3.1})
    with pytest.raises(DataError):
        book.equity(GEN, {"X": 82.0})


# -- property: cash and basis bookkeeping conserve ---------------------------------------------------
@st.composite
def wheel_events(draw: st.DrawFn) -> tuple[list[object], dict[str, Decimal]]:
    """Random wheels in two accounts: sell put → expire | assign | close; stock → sell call → …"""
    events: list[object] = []
    expected = {GEN: START, COM: START}
    state: dict[str, tuple[str, float, str, int]] = {}  # account -> (stage, strike, expiry, contracts)
    day, closed = date(2026, 1, 2), False  # assignments/expirations come at 16:00, fills at 10:00
    for _ in range(draw(st.integers(1, 40))):
        account = draw(st.sampled_from([GEN, COM]))
        day += timedelta(days=draw(st.integers(1 if closed else 0, 20)))
        closed = False
        stage, strike, expiry, n = state.get(account, ("cash", 0.0, "", 0))
        price = draw(st.integers(1, 2000)) / 100
        fee = draw(st.sampled_from([0.0, 0.65, 1.3]))
        if stage in ("cash", "stock"):
            right = "P" if stage == "cash" else "C"
            n = draw(st.integers(1, 3)) if stage == "cash" else n
            strike = float(draw(st.integers(20, 150)))
            expiry = (day + timedelta(days=7)).isoformat()
            events.append(option(day.isoformat(), "SELL", right, strike, expiry, price, n, account,
                                 commission=fee))
            expected[account] += Decimal(repr(price)) * 100 * n - Decimal(repr(fee))
            state[account] = ("put" if stage == "cash" else "call", strike, expiry, n)
            continue
        right = "P" if stage == "put" else "C"
        ending = draw(st.sampled_from(["expire", "assign", "close"]))
        closed = ending != "close"
        if ending == "expire":
            day = max(day, date.fromisoformat(expiry))
            events.append(expire(day.isoformat(), right, strike, expiry, n, account))
        elif ending == "assign":
            events.append(assign(day.isoformat(), right, strike, expiry, n, account))
            sign = -1 if right == "P" else 1  # buy the shares for a put, deliver them for a call
            expected[account] += sign * Decimal(repr(strike)) * 100 * n
        else:
            events.append(option(day.isoformat(), "BUY", right, strike, expiry, price, n, account,
                                 commission=fee))
            expected[account] -= Decimal(repr(price)) * 100 * n + Decimal(repr(fee))
        holds_stock = (right == "P") == (ending == "assign")
        state[account] = ("stock" if holds_stock else "cash", strike, expiry, n)
    return events, expected


@settings(max_examples=300, deadline=None)
@given(wheel_events())
def test_cash_and_basis_bookkeeping_conserve(case: tuple[list[object], dict[str, Decimal]]):
    """Start + premiums − buy-backs − assigned purchases + call-away proceeds = final cash, and every
    dollar of cash that moved is either realized or sits in an open lot's basis."""
    events, expected = case
    book = ledger(*events)
    assert expected == {GEN: book.cash(GEN), COM: book.cash(COM)}
    moved = sum((book.cash(a) - START for a in book.accounts()), Decimal(0))
    realized = sum((r.amount for r in book.realized()), Decimal(0))
    long_basis = sum((lot.basis for lot in book.lots() if lot.quantity > 0), Decimal(0))
    short_premium = sum((lot.basis for lot in book.lots() if lot.quantity < 0), Decimal(0))
    assert moved == realized - long_basis + short_premium
    assert all(r.disallowed >= 0 for r in book.realized())
