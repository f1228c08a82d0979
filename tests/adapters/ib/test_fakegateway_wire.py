"""The fake gateway's messages decode in ib_async 2.1.0 at server version 178, field for field.

Each encoder's output goes through ib_async's own Decoder; a recorder stands in for the wrapper
and keeps what the decoder hands it. A layout off by one field either raises inside the decoder
(logged, and failed by the conftest's oracle) or shifts a value, which the assertions catch.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from ib_async.decoder import Decoder

from tests.fakegateway import wire
from tests.fakegateway.wire import ExecutionRecord, Instrument, OrderRecord

PUT = Instrument(1022, "AAPL", "OPT", "20261204", 230.0, "P", "100")
NOW = dt.datetime(2026, 12, 1, 15, 30, tzinfo=dt.UTC)


class _Recorder:
    """What the decoder calls, by wrapper method name."""

    defaultTimezone = dt.UTC

    class ib:  # the attribute name the decoder reads
        TimezoneTWS = ""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, args))


def decode(fields: list[wire.Field]) -> list[tuple[str, tuple[Any, ...]]]:
    recorder = _Recorder()
    text = wire.frame(fields)[4:].decode().split("\0")[:-1]
    Decoder(recorder, wire.SERVER_VERSION).interpret(text)  # type: ignore[arg-type]
    return recorder.calls


def order(status: str = "Submitted") -> OrderRecord:
    return OrderRecord(7, 17, 900001, PUT, "SELL", 1.0, "LMT", 4.5, "DAY", "DU123456", "O",
                       "node:1:S1-1", status, 1.0 if status == "Filled" else 0.0, 4.5,
                       "20261201 15:30:00 UTC")


def test_open_order_decodes_with_its_status_and_order_ref():
    ((name, (order_id, contract, o, state)),) = decode(wire.open_order(order()))
    assert ("openOrder", 7, 1022, 230.0, "P") == (name, order_id, contract.conId, contract.strike,
                                                  contract.right)
    assert ("SELL", 1.0, "LMT", 4.5, "DAY", "O", "node:1:S1-1", 17, 900001, "DU123456") == (
        o.action, o.totalQuantity, o.orderType, o.lmtPrice, o.tif, o.openClose, o.orderRef,
        o.clientId, o.permId, o.account)
    assert "Submitted" == state.status


def test_completed_order_decodes_with_its_status_and_fill():
    ((name, (contract, o, state)),) = decode(wire.completed_order(order("Filled")))
    assert ("completedOrder", 1022, "node:1:S1-1", 900001, 1.0) == (
        name, contract.conId, o.orderRef, o.permId, o.filledQuantity)
    assert ("Filled", "Filled", "20261201 15:30:00 UTC") == (
        state.status, state.completedStatus, state.completedTime)


def test_order_status_decodes():
    ((name, args),) = decode(wire.order_status(order("Filled")))
    assert ("orderStatus", 7, "Filled", 1.0, 0.0, 4.5, 900001) == (name, *args[:6])


def test_execution_and_commission_decode():
    execution = ExecutionRecord("e.1", order("Filled"), NOW, 1.0, 4.5, 0.65, 1.0)
    ((name, (req_id, contract, ex)),) = decode(wire.exec_details(-1, execution))
    assert ("execDetails", -1, 1022, "e.1", "SLD", 1.0, 4.5, "node:1:S1-1", NOW) == (
        name, req_id, contract.conId, ex.execId, ex.side, ex.shares, ex.price, ex.orderRef, ex.time)
    ((name, (report,)),) = decode(wire.commission_report(execution))
    assert ("commissionReport", "e.1", 0.65, "USD") == (name, report.execId, report.commission,
                                                        report.currency)


def test_position_decodes():
    ((name, (account, contract, qty, cost)),) = decode(wire.position("DU123456", PUT, -1.0, 4.5))
    assert ("position", "DU123456", 1022, "20261204", -1.0, 4.5) == (
        name, account, contract.conId, contract.lastTradeDateOrContractMonth, qty, cost)


def test_contract_details_and_option_parameters_decode():
    ((name, (req_id, details)),) = decode(wire.contract_details(5, PUT, 1001))
    assert ("contractDetails", 5, 1022, 230.0, "P", "100", 1001) == (
        name, req_id, details.contract.conId, details.contract.strike, details.contract.right,
        details.contract.multiplier, details.underConId)
    ((name, args),) = decode(wire.sec_def_opt_params(6, 1001, "AAPL", ["20261204"], [225.0, 230.0]))
    assert ("securityDefinitionOptionParameter", 6, "SMART", ["20261204"], [225.0, 230.0]) == (
        name, args[0], args[1], args[5], args[6])


@pytest.mark.parametrize(("fields", "expected"), [
    (wire.tick_price(3, 1, 4.4, 10), ("priceSizeTick", (3, 1, 4.4, 10.0))),
    (wire.tick_size(3, 0, 12), ("tickSize", (3, 0, 12.0))),
    (wire.error(7, 202, "Order Canceled - reason:"), ("error", (7, 202, "Order Canceled - reason:", ""))),
    (wire.current_time(1764600000), ("currentTime", (1764600000,))),
    (wire.next_valid_id(41), ("nextValidId", (41,))),
    (wire.managed_accounts(["DU1", "DU2"]), ("managedAccounts", ("DU1,DU2,",))),
])
def test_small_messages_decode(fields, expected):
    assert [expected] == decode(fields)


def test_option_computation_keeps_the_sentinels_for_the_wrapper():
    ((name, args),) = decode(wire.option_computation(3, 13, -1, -2, -1, 230.0))
    assert ("tickOptionComputation", 3, 13, -1.0, -2.0, 230.0) == (name, args[0], args[1], args[3],
                                                                   args[4], args[10])


def test_historical_bars_decode():
    fields: list[wire.Field] = [17, 9, "20261130", "20261201", 2,
                                *wire.bar_fields(dt.date(2026, 11, 30), 1, 2, 0.5, 1.5, 100),
                                *wire.bar_fields(dt.date(2026, 12, 1), 1.5, 2.5, 1, 2, 200)]
    calls = decode(fields)
    assert ["historicalData", "historicalData", "historicalDataEnd"] == [c[0] for c in calls]
    bar = calls[1][1][1]
    assert ("20261201", 1.5, 2.5, 1.0, 2.0, 200.0) == (bar.date, bar.open, bar.high, bar.low,
                                                       bar.close, bar.volume)
