"""Positions opened and closed, their P&L from open to close, expiry or assignment."""

from __future__ import annotations

import datetime as dt

from alluse.engine.calendar import NY
from alluse.engine.events import Assignment, Expiration, Fill
from alluse.runtime.positions import PositionBook

ACC = "GEN-ACC-001"
FRI1, FRI2, FRI3 = dt.date(2024, 3, 8), dt.date(2024, 3, 15), dt.date(2024, 3, 22)


def _ts(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=NY)


def _option(day: dt.date, side: str, strike: float, right: str, expiry: dt.date, price: float,
            quantity: int = 1) -> Fill:
    return Fill(_ts(day), ACC, "TSLA", expiry, strike, right, side, quantity, price,  # type: ignore[arg-type]
                commission=1.0)


def _wheel() -> tuple[PositionBook, dict[str, float]]:
    """A put that expires, a put assigned at 190, a call on the stock, called away at 197."""
    book = PositionBook()
    prices = {"TSLA": 0.0}
    price = prices.get
    book.apply(_option(dt.date(2024, 3, 4), "SELL", 200.0, "P", FRI1, 3.0), price)
    book.apply(Expiration(_ts(FRI1, 16), ACC, "TSLA", FRI1, 200.0, "P", 1), price)
    book.apply(_option(dt.date(2024, 3, 11), "SELL", 200.0, "P", FRI2, 2.0), price)
    prices["TSLA"] = 190.0
    book.apply(Assignment(_ts(FRI2, 16), ACC, "TSLA", FRI2, 200.0, "P", 1), price)
    book.apply(_option(dt.date(2024, 3, 18), "SELL", 195.0, "C", FRI3, 1.5), price)
    prices["TSLA"] = 197.0
    book.apply(Assignment(_ts(FRI3, 16), ACC, "TSLA", FRI3, 195.0, "C", 1), price)
    return book, prices


def test_a_wheel_opens_four_positions_and_closes_each_with_its_own_pnl() -> None:
    """Put expired +299; put assigned at 190: 199 − (200 − 190) × 100 = −801; stock 190 → 197: +700;
    call called away at 197: 149 − (197 − 195) × 100 = −51."""
    book, _ = _wheel()
    closed = [(str(p.key), p.how, round(p.pnl, 2)) for p in book.closed]
    assert [("TSLA 2024-03-08 200P", "expired", 299.0), ("TSLA 2024-03-15 200P", "assigned", -801.0),
            ("TSLA 2024-03-22 195C", "assigned", -51.0), ("TSLA", "called_away", 700.0)] == closed
    assert ({ACC: 4}, (2, 4), {}) == (book.opened, book.win_rate(ACC), book.open)


def test_the_positions_pnl_adds_up_to_the_cash_the_account_made() -> None:
    """Premiums 299 + 199 + 149, stock bought at 200 × 100 and called away at 195 × 100: +147."""
    book, _ = _wheel()
    cash = (3.0 * 100 - 1) + (2.0 * 100 - 1) - 200.0 * 100 + (1.5 * 100 - 1) + 195.0 * 100
    assert round(cash, 2) == round(sum(p.pnl for p in book.closed), 2)


def test_adding_to_a_position_is_not_a_new_trade_and_a_partial_close_keeps_it_open() -> None:
    """Sell 1, sell 2 more, buy back 2 at a loss: one position opened, still open (short 1)."""
    book = PositionBook()
    for fill in (_option(dt.date(2024, 3, 4), "SELL", 200.0, "P", FRI1, 3.0),
                 _option(dt.date(2024, 3, 5), "SELL", 200.0, "P", FRI1, 2.0, quantity=2),
                 _option(dt.date(2024, 3, 6), "BUY", 200.0, "P", FRI1, 5.0, quantity=2)):
        book.apply(fill, lambda _s: None)
    [pos] = book.open.values()
    assert ({ACC: 1}, [], -1, 300 - 1 + 400 - 1 - 1000 - 1) == (
        book.opened, book.closed, pos.quantity, round(pos.pnl, 2))


def test_a_roll_closes_one_position_and_opens_another() -> None:
    """Buy back the 200P at a loss and sell the 190P: one loss closed, two positions opened."""
    book = PositionBook()
    book.apply(_option(dt.date(2024, 3, 4), "SELL", 200.0, "P", FRI1, 3.0), lambda _s: None)
    book.apply(_option(dt.date(2024, 3, 6), "BUY", 200.0, "P", FRI1, 9.0), lambda _s: None)
    book.apply(_option(dt.date(2024, 3, 6), "SELL", 190.0, "P", FRI2, 8.0), lambda _s: None)
    assert ({ACC: 2}, (0, 1), [-602.0]) == (
        book.opened, book.win_rate(ACC), [round(p.pnl, 2) for p in book.closed])


def test_an_expiration_of_a_contract_never_opened_here_is_ignored() -> None:
    """A settlement the book did not see open (e.g. re-keyed by a split) opens nothing."""
    book = PositionBook()
    book.apply(Expiration(_ts(FRI1, 16), ACC, "TSLA", FRI1, 200.0, "P", 1), lambda _s: None)
    assert ({}, [], {}) == (book.open, book.closed, book.opened)
