"""IbMarketData against the fake gateway: the Mag-6 chain collection within the line budget and
50 messages/s, greeks with deadlines and sentinels, 1101 resubscription, daily bars."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest

from alluse.adapters.ib import ConnState
from alluse.adapters.ib.marketdata import around
from alluse.engine.calendar import NY
from alluse.engine.errors import BrokerError
from alluse.engine.events import OptionContract, OptionQuote
from tests.fakegateway import MAG6_PRICES, FakeGateway

MAG6 = ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA"]


def test_mag6_chain_collection_stays_within_the_line_budget_and_50_messages_a_second(make_node):
    """Both rights of every expiry within 30 days, ±3 strikes around the money, for the six
    symbols: the gateway never sees more lines than the budget nor more than 50 messages in any
    second, and every line is cancelled at the end."""
    with FakeGateway(max_lines=20) as gateway:
        node = make_node(gateway, data={"line_budget": 20, "strikes_around": 3})
        gateway.reset_counters()
        started = time.monotonic()
        chains = node.data.collect_chains(MAG6, dt.datetime.now(dt.UTC))
        elapsed = time.monotonic() - started
        near, _beyond_30_days = gateway.market.expiries
        assert {s: 14 for s in MAG6} == {s: len(q) for s, q in chains.items()}
        assert {near} == {q.expiry for quotes in chains.values() for q in quotes}
        tsla = sorted({q.strike for q in chains["TSLA"]})
        assert [235.0, 240.0, 245.0, 250.0, 255.0, 260.0, 265.0] == tsla
        assert all(q.delta is not None and q.iv == 0.35 for qs in chains.values() for q in qs)
        peak_rate = gateway.pacing.peak
        assert _settles(lambda: gateway.lines_open == 0)  # the last cancels may be on the wire
        assert (0, 0) == (len(gateway.pacing.violations), gateway.line_refusals)
        assert gateway.line_peak <= 20 and node.data.budget.peak <= 20
        assert peak_rate <= 50
        messages = len(gateway.received)
        print(f"\nMag-6 collection: {messages} messages in {elapsed:.1f} s, peak {peak_rate} in any "
              f"1 s window, {gateway.line_peak} lines at most")


def _settles(condition: Callable[[], bool], timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _contracts(gateway: FakeGateway, strikes: list[float]) -> list[OptionContract]:
    return [OptionContract("AAPL", gateway.market.expiries[0], k, "P") for k in strikes]


def test_greeks_arriving_after_the_deadline_leave_delta_and_iv_none(make_node):
    """Bid and ask are in, modelGreeks is late: the quote is returned without greeks on time,
    and its line is cancelled."""
    with FakeGateway(greeks_delay=5.0) as gateway:
        node = make_node(gateway, data={"quote_wait": 0.3})
        started = time.monotonic()
        quotes = node.data.quotes(_contracts(gateway, [225.0, 230.0]), dt.datetime.now(dt.UTC))
        assert time.monotonic() - started < 2.0
        assert [(225.0, None, None), (230.0, None, None)] == [(q.strike, q.delta, q.iv) for q in quotes]
        assert all(q.bid > 0 and q.ask >= q.bid for q in quotes)
        assert _settles(lambda: gateway.lines_open == 0)


def test_greek_sentinels_minus_one_and_minus_two_become_none(make_node):
    """IB's "not computed" values (-1 iv, -2 delta) are not numbers to trade on."""
    with FakeGateway(greeks_sentinels=True) as gateway:
        node = make_node(gateway)
        (quote,) = node.data.quotes(_contracts(gateway, [230.0]), dt.datetime.now(dt.UTC))
        assert (None, None) == (quote.delta, quote.iv)


def test_data_lost_1101_requests_the_open_lines_again(make_node):
    """1101 drops every subscription at the gateway: the open lines are requested again and the
    quotes complete with their greeks."""
    with FakeGateway(greeks_delay=1.0) as gateway:
        node = make_node(gateway, data={"quote_wait": 4.0})
        out: list[list[OptionQuote]] = []
        worker = threading.Thread(target=lambda: out.append(node.data.quotes(
            _contracts(gateway, [225.0, 230.0]), dt.datetime.now(dt.UTC))))
        worker.start()
        time.sleep(0.3)
        gateway.inject(1101)  # before the greeks: the gateway forgets them
        worker.join(6)
        (quotes,) = out
        assert [True, True] == [q.delta is not None for q in quotes]
        assert 4 == len(gateway.messages(1))  # two lines, each requested twice
        assert node.connection.wait_until(ConnState.CONNECTED, timeout=1)


def test_daily_bars_are_dated_at_the_close_and_an_identical_request_is_not_repeated(fake, make_node):
    """Bars between start and end (both included) as-of the session close; the same request
    within 15 s is answered from the last reply (IB would call it a pacing violation)."""
    node = make_node(fake)
    today = dt.datetime.now(NY).date()
    start = today - dt.timedelta(days=10)
    bars = node.data.bars("MSFT", start, today)
    again = node.data.bars("MSFT", start, today)
    assert bars == again
    assert all(start <= b.ts.date() <= today and b.ts.time() == dt.time(16) for b in bars)
    assert [b.ts for b in bars] == sorted(b.ts for b in bars)
    assert 6 <= len(bars) <= 9
    assert (1, 0) == (len(fake.messages(20)), fake.historical_refusals)
    assert all(abs(b.close / MAG6_PRICES["MSFT"] - 1) < 0.05 for b in bars)


def test_an_unknown_symbol_is_a_broker_error(fake, make_node):
    node = make_node(fake)
    with pytest.raises(BrokerError, match="IB knows no stock 'ZZZZ'"):
        node.data.option_chain("ZZZZ", dt.datetime.now(dt.UTC), [], ["P"])


def test_market_data_is_refused_while_disconnected(fake, make_node):
    """While the connection is down (and the gateway keeps refusing it) requests fail at once."""
    node = make_node(fake)
    fake.occupy_client_id(17)
    fake.drop_connections()
    assert node.connection.wait_until(ConnState.DISCONNECTED, timeout=2)
    with pytest.raises(BrokerError, match=r"no market data: IB connection is (disconnected|connecting)"):
        node.data.bars("AAPL", dt.date(2026, 1, 2), dt.date(2026, 1, 9))


@pytest.mark.parametrize(("spot", "expected"), [
    (231.0, [225.0, 230.0, 235.0]),
    (232.5, [225.0, 230.0, 235.0]),
    (100.0, [200.0, 205.0]),
    (999.0, [255.0, 260.0]),
])
def test_around_takes_the_nearest_strike_and_n_either_side(spot, expected):
    assert expected == around([260.0, 200.0, 205.0, 225.0, 230.0, 235.0, 255.0], spot, 1)
