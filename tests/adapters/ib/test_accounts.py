"""Virtual sub-accounts: booking, differences against IB, assignments and expirations."""

from __future__ import annotations

import datetime as dt

from alluse.adapters.ib.accounts import (
    Holdings,
    apply_event,
    position_differences,
    settlements,
)
from alluse.engine.events import Assignment, Expiration, Fill, OptionContract

TS = dt.datetime(2026, 3, 6, 22, 0, tzinfo=dt.UTC)
FRI = dt.date(2026, 3, 6)
PUT = OptionContract("TSLA", FRI, 245.0, "P")
PUT2 = OptionContract("TSLA", FRI, 240.0, "P")
CALL = OptionContract("TSLA", FRI, 260.0, "C")
LATER = OptionContract("TSLA", dt.date(2026, 3, 13), 245.0, "P")


def sold(account: str, contract: OptionContract, qty: int = 1) -> Fill:
    return Fill(TS, account, contract.symbol, contract.expiry, contract.strike, contract.right,
                "SELL", qty, 3.0)


def book(*fills: Fill) -> Holdings:
    holdings: Holdings = {}
    for f in fills:
        apply_event(holdings, f)
    return holdings


def test_fills_are_booked_per_virtual_account_and_differences_compare_the_sum():
    holdings = book(sold("GEN-ACC-001", PUT), sold("REV-ACC-001", PUT, 2))
    assert {"GEN-ACC-001": {PUT: -1}, "REV-ACC-001": {PUT: -2}} == holdings
    assert [] == position_differences({PUT: -3}, holdings)
    (diff,) = position_differences({PUT: -2, "TSLA": 100}, holdings)[1:]
    assert (PUT, -2, -3, {"GEN-ACC-001": -1, "REV-ACC-001": -2}) == (
        diff.key, diff.at_ib, diff.virtual, diff.accounts)
    assert "TSLA 2026-03-06 245P: IB holds -2, the virtual accounts -3" in diff.describe()


def test_an_assigned_put_and_an_expired_call_are_told_apart_by_the_shares():
    holdings = book(sold("GEN-ACC-001", PUT), sold("COM-ACC-001", CALL))
    events = settlements({"TSLA": 100}, holdings, busy=set(), today=FRI, ts=TS)
    assert [Assignment(TS, "GEN-ACC-001", "TSLA", FRI, 245.0, "P", 1),
            Expiration(TS, "COM-ACC-001", "TSLA", FRI, 260.0, "C", 1)] == events
    for e in events:
        apply_event(holdings, e)
    assert {"GEN-ACC-001": {"TSLA": 100}, "COM-ACC-001": {}} == holdings


def test_two_puts_of_which_one_was_assigned_are_ambiguous_and_left_to_the_differences():
    holdings = book(sold("GEN-ACC-001", PUT), sold("GEN-ACC-001", PUT2))
    assert [] == settlements({"TSLA": 100}, holdings, busy=set(), today=FRI, ts=TS)


def test_an_option_gone_before_its_expiry_without_shares_is_not_an_expiration():
    holdings = book(sold("GEN-ACC-001", LATER))
    assert [] == settlements({}, holdings, busy=set(), today=FRI, ts=TS)


def test_an_early_assignment_is_recognised_before_the_expiry():
    holdings = book(sold("GEN-ACC-001", LATER))
    assert [Assignment(TS, "GEN-ACC-001", "TSLA", LATER.expiry, 245.0, "P", 1)] == settlements(
        {"TSLA": 100}, holdings, busy=set(), today=FRI, ts=TS)


def test_symbols_with_orders_in_flight_are_left_alone():
    holdings = book(sold("GEN-ACC-001", PUT))
    assert [] == settlements({}, holdings, busy={"TSLA"}, today=FRI, ts=TS)
