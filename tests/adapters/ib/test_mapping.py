"""The tables from typed commands to IB orders and from IB reports to engine events."""

from __future__ import annotations

import datetime as dt

import pytest
from ib_async import Contract, Execution

from alluse.adapters.ib.mapping import (
    OrderRef,
    account_problem,
    contract_for,
    fill_event,
    ib_order,
    masked,
    option_of,
)
from alluse.engine.commands import (
    BuyStock,
    BuyToClose,
    BuyToOpen,
    OrderCommand,
    SellStock,
    SellToClose,
    SellToOpen,
)
from alluse.engine.errors import BrokerError
from alluse.engine.events import OptionContract

TS = dt.datetime(2026, 3, 5, 15, 0, tzinfo=dt.UTC)
PUT = OptionContract("TSLA", dt.date(2026, 3, 6), 245.0, "P")
REF = OrderRef("node-a", 7, "S12-1")


def command(cls: type[OrderCommand], *, option: OptionContract | None = PUT, order_type: str = "LMT",
            limit: float | None = 3.456) -> OrderCommand:
    return cls("S12-1", "S12", "GEN-ACC-001", "TSLA", option, 2, order_type, limit,  # type: ignore[arg-type]
               245.0, TS, TS + dt.timedelta(hours=2))


@pytest.mark.parametrize(("cls", "action", "open_close"), [
    (SellToOpen, "SELL", "O"), (BuyToClose, "BUY", "C"), (BuyToOpen, "BUY", "O"),
    (SellToClose, "SELL", "C"), (BuyStock, "BUY", ""), (SellStock, "SELL", "")])
def test_each_command_maps_to_its_action_and_open_close(cls, action, open_close):
    """Action, openClose, DAY, the limit rounded to the cent, the orderRef and the account."""
    order = ib_order(command(cls), REF, "DU123456", 41)
    assert (41, action, open_close, 2, "LMT", 3.46, "DAY", "node-a:7:S12-1", "DU123456") == (
        order.orderId, order.action, order.openClose, order.totalQuantity, order.orderType,
        order.lmtPrice, order.tif, order.orderRef, order.account)


def test_a_market_order_carries_no_limit():
    order = ib_order(command(SellToClose, order_type="MKT", limit=None), REF, "DU1", 1)
    assert ("MKT", False) == (order.orderType, order.lmtPrice == 3.46)


@pytest.mark.parametrize("limit", [None, 0.0, -1.0, float("nan")])
def test_a_limit_order_without_a_positive_limit_is_refused(limit):
    with pytest.raises(BrokerError, match="order S12-1: a limit order needs a positive limit"):
        ib_order(command(SellToOpen, limit=limit), REF, "DU1", 1)


def test_contracts_are_smart_routed_usd_with_multiplier_100():
    option = contract_for("TSLA", PUT)
    stock = contract_for("TSLA", None)
    assert ("OPT", "20260306", 245.0, "P", "SMART", "100", "USD") == (
        option.secType, option.lastTradeDateOrContractMonth, option.strike, option.right,
        option.exchange, option.multiplier, option.currency)
    assert ("STK", "SMART", "USD") == (stock.secType, stock.exchange, stock.currency)


@pytest.mark.parametrize(("text", "expected"), [
    ("node-a:7:S12-1", REF),
    ("node-a:7:S12:odd-1", OrderRef("node-a", 7, "S12:odd-1")),
    ("", None), ("manual order", None), ("a:b:c", None), ("a:1:", None)])
def test_order_refs_round_trip_and_foreign_refs_are_not_ours(text, expected):
    assert expected == OrderRef.parse(text)
    if expected is not None:
        assert text == str(expected)


def test_an_execution_becomes_a_fill_of_the_commands_account():
    execution = Execution(execId="e1", time=TS, side="SLD", shares=2.0, price=3.4, orderRef=str(REF))
    fill = fill_event(command(SellToOpen), execution, -1.3)
    assert ("GEN-ACC-001", "S12-1", "SELL", 2, 3.4, 1.3, PUT) == (
        fill.account, fill.order_id, fill.side, fill.quantity, fill.price, fill.commission,
        fill.contract)


def test_positions_map_to_the_engines_keys():
    option = Contract(secType="OPT", symbol="TSLA", lastTradeDateOrContractMonth="20260306",
                      strike=245.0, right="P")
    assert PUT == option_of(option)
    assert "TSLA" == option_of(Contract(secType="STK", symbol="TSLA"))
    assert None is option_of(Contract(secType="FUT", symbol="ES"))


def test_account_kinds_and_masking():
    assert None is account_problem("DU123456", "paper")
    assert None is account_problem("U1234567", "live")
    assert None is account_problem("U1234567", "any")
    assert "U1…67 is a live account" in (account_problem("U1234567", "paper") or "")
    assert "DU…56 is a paper account" in (account_problem("DU123456", "live") or "")
    assert "…" == masked("DU1")
