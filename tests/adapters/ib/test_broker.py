"""IbBroker against the fake gateway: fills, idempotency, reconnect-and-reconcile at every scripted
disconnect point, 1100/1102, dry run, settlements and the virtual accounts."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pytest

from alluse.adapters.clock import FixedClock
from alluse.adapters.ib import ConnState, IntentState, MemoryIntentLog
from alluse.engine.commands import OrderCommand, SellToOpen
from alluse.engine.errors import BrokerError
from alluse.engine.events import (
    Assignment,
    BrokerEvent,
    Expiration,
    Fill,
    OptionContract,
    OrderCancelled,
    OrderRejected,
    Right,
)
from tests.adapters.ib.conftest import Node, reconnected
from tests.fakegateway import DropPoint, FakeGateway

ACCOUNT = "GEN-ACC-001"


def put(fake: FakeGateway, strike: float = 230.0, symbol: str = "AAPL") -> OptionContract:
    return OptionContract(symbol, fake.market.expiries[0], strike, "P")


def sell_put(fake: FakeGateway, order_id: str = "S1-1", limit: float | None = 4.5,
             strike: float = 230.0, right: Right = "P",
             cls: type[OrderCommand] = SellToOpen) -> OrderCommand:
    now = dt.datetime.now(dt.UTC)
    option = OptionContract("AAPL", fake.market.expiries[0], strike, right)
    return cls(order_id, order_id.rsplit("-", 1)[0], ACCOUNT, "AAPL", option, 1,
               "LMT" if limit else "MKT", limit, 230.0, now, now + dt.timedelta(hours=6))


def events_until(node: Node, done: Callable[[list[BrokerEvent]], bool],
                 timeout: float = 5.0) -> list[BrokerEvent]:
    seen: list[BrokerEvent] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += node.broker.poll()
        if done(seen):
            return seen
        time.sleep(0.02)
    return seen


def fills(events: list[BrokerEvent]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def test_sell_to_open_is_filled_and_polled_with_order_id_price_and_commission(fake, make_node):
    """A SellToOpen goes out as a DAY limit sell with its orderRef; the fill comes back through
    poll() with the command's order id, the price and the commission report's commission."""
    node = make_node(fake)
    node.broker.submit(sell_put(fake))
    events = events_until(node, lambda ev: bool(fills(ev)))
    (fill,) = fills(events)
    assert (ACCOUNT, "S1-1", "SELL", 1, 4.5, 0.65) == (
        fill.account, fill.order_id, fill.side, fill.quantity, fill.price, fill.commission)
    assert put(fake) == fill.contract
    (placed,) = fake.messages(3)
    assert ("SELL", "LMT", "4.5", "DAY", "O", "test:1:S1-1") == (
        placed[16], placed[18], placed[19], placed[21], placed[24], placed[26])
    assert {ACCOUNT: {put(fake): -1}} == node.broker.positions()
    assert [] == node.broker.differences()


def test_submitting_a_known_order_id_places_nothing(fake, make_node):
    """The Broker contract: an order id seen before is not placed again."""
    node = make_node(fake)
    node.broker.submit(sell_put(fake))
    node.broker.submit(sell_put(fake))
    events_until(node, lambda ev: bool(fills(ev)))
    assert 1 == len(fake.messages(3))


@pytest.mark.parametrize("point", list(DropPoint))
def test_disconnect_at_each_point_reconnects_reconciles_and_leaves_exactly_one_order(fake, make_node, point):
    """The connection dies mid-order (placeOrder lost, before the ack, after the fill before the
    commission): after the reconnect and reconcile the gateway holds exactly one order for the
    intent, and exactly one fill is reported, with its commission."""
    node = make_node(fake)
    fake.drop_next(point)
    node.broker.submit(sell_put(fake))
    assert reconnected(node)
    if point is DropPoint.BEFORE_ACK:  # the order rests at the gateway: it fills now
        fake.fill("S1-1")
    events = events_until(node, lambda ev: bool(fills(ev)))
    assert 1 == len(fake.orders_with_ref("S1-1"))
    assert [("S1-1", 0.65)] == [(f.order_id, f.commission) for f in fills(events)]
    assert [] == fills(events_until(node, lambda ev: False, timeout=0.3))
    assert 1 == node.connection.reconnects


def test_gateway_restart_rolling_next_valid_id_back_never_reuses_an_order_id(fake, make_node):
    """After a restart that hands out nextValidId 1 again, the next order still gets a fresh id
    (the local floor), and the gateway reports no duplicate."""
    node = make_node(fake)
    node.broker.submit(sell_put(fake, "S1-1"))
    events_until(node, lambda ev: bool(fills(ev)))
    first = int(fake.messages(3)[0][1])
    fake.restart(next_valid_id=1)
    assert reconnected(node)
    node.broker.submit(sell_put(fake, "S2-1", strike=225.0))
    events_until(node, lambda ev: bool(fills(ev)))
    second = int(fake.messages(3)[1][1])
    assert second > first
    assert [1, 1] == [len(fake.orders_with_ref("S1-1")), len(fake.orders_with_ref("S2-1"))]


def test_error_1100_refuses_new_orders_and_1102_restores_them(fake, make_node):
    """1100 (IB unreachable) makes the connection degraded: submit raises and nothing is sent;
    1102 (restored) verifies by reconciling, and orders flow again."""
    node = make_node(fake)
    fake.inject(1100)
    assert node.connection.wait_until(ConnState.DEGRADED, timeout=2)
    with pytest.raises(BrokerError, match="degraded"):
        node.broker.submit(sell_put(fake))
    assert [] == fake.messages(3)
    before = len(fake.messages(99))
    fake.inject(1102)
    assert node.connection.wait_until(ConnState.CONNECTED, timeout=2)
    assert before + 1 == len(fake.messages(99))  # the verify re-read the completed orders
    node.broker.submit(sell_put(fake))
    assert 1 == len(fills(events_until(node, lambda ev: bool(fills(ev)))))


def test_cancel_of_a_working_order_reports_order_cancelled(fake, make_node):
    """A resting order cancelled on request comes back as OrderCancelled, once."""
    fake.auto_fill = False
    node = make_node(fake)
    node.broker.submit(sell_put(fake))
    assert [sell_put(fake).order_id] == [c.order_id for c in node.broker.open_orders()]
    node.broker.cancel("S1-1")
    events = events_until(node, lambda ev: any(isinstance(e, OrderCancelled) for e in ev))
    assert ["S1-1"] == [e.order_id for e in events if isinstance(e, OrderCancelled)]
    assert [] == node.broker.open_orders()
    node.broker.cancel("unknown-1")  # unknown ids are ignored
    assert 1 == len(fake.cancel_messages)


def test_an_order_on_an_unknown_contract_is_rejected(fake, make_node):
    """IB's error 200 on a new order becomes OrderRejected with IB's reason."""
    node = make_node(fake)
    node.broker.submit(sell_put(fake, strike=1234.0))
    events = events_until(node, lambda ev: bool(ev))
    (rejected,) = events
    assert isinstance(rejected, OrderRejected)
    assert ("S1-1", True) == (rejected.order_id, "error 200" in rejected.reason)


def test_dry_run_places_and_cancels_nothing(fake, make_node):
    """A dry-run broker refuses submit and cancel before any traffic: the gateway sees no
    placeOrder, cancelOrder or global cancel."""
    node = make_node(fake, dry_run=True)
    with pytest.raises(BrokerError, match="dry run"):
        node.broker.submit(sell_put(fake))
    with pytest.raises(BrokerError, match="dry run"):
        node.broker.cancel("S1-1")
    assert ([], [], 0) == (fake.messages(3), fake.messages(4), fake.global_cancels)
    assert not node.intents.known("S1-1")


def test_a_restarted_node_adopts_its_working_order_instead_of_placing_it_again(fake, make_node):
    """A new broker (a node restart, another epoch) reading the same intent log finds its order
    at the gateway by orderRef and adopts it; the fill that follows is attributed to it."""
    fake.auto_fill = False
    intents = MemoryIntentLog()
    first = make_node(fake, intents=intents)
    first.broker.submit(sell_put(fake))
    first.connection.close()
    second = make_node(fake, intents=intents, epoch=2)
    assert [IntentState.WORKING] == [IntentState(p["state"]) for p in intents.payloads().values()]
    fake.fill("S1-1")
    events = events_until(second, lambda ev: bool(fills(ev)))
    assert ["S1-1"] == [f.order_id for f in fills(events)]
    assert 1 == len(fake.messages(3))


def test_assignment_and_expiration_are_read_from_ib_positions(fake, make_node):
    """A short put and a short call settle: the put's assignment explains the 100 shares IB now
    holds, the call expired; each is booked to the virtual account that held it."""
    clock = FixedClock(dt.datetime.now(dt.UTC))
    node = make_node(fake, clock=clock)
    node.broker.submit(sell_put(fake, "S1-1", strike=230.0))
    node.broker.submit(sell_put(fake, "S2-1", strike=250.0, right="C"))
    events_until(node, lambda ev: len(fills(ev)) == 2)
    expiry = fake.market.expiries[0]
    fake.settle("AAPL", expiry, 230.0, "P", assigned=True)
    fake.settle("AAPL", expiry, 250.0, "C", assigned=False)
    clock.advance_to(dt.datetime.combine(expiry, dt.time(21), tzinfo=dt.UTC))  # after the close
    events = events_until(node, lambda ev: len(ev) >= 2)
    kinds = sorted((type(e).__name__, e.strike, e.account) for e in events
                   if isinstance(e, Assignment | Expiration))
    assert [("Assignment", 230.0, ACCOUNT), ("Expiration", 250.0, ACCOUNT)] == kinds
    assert {ACCOUNT: {"AAPL": 100}} == node.broker.positions()
    assert [] == node.broker.differences()


def test_differences_name_where_ib_and_the_virtual_accounts_disagree(fake, make_node):
    """Shares bought by hand at IB, and a virtual position IB does not hold, are both listed."""
    stock = fake.market.stock("AAPL")
    assert stock is not None
    fake.book.move_position(stock.con_id, 50)
    node = make_node(fake)
    node.broker.seed_positions({ACCOUNT: {put(fake, 225.0): -1}})
    differences = node.broker.differences()
    assert [("AAPL", 50, 0), (put(fake, 225.0), 0, -1)] == [
        (d.key, d.at_ib, d.virtual) for d in differences]
    assert {ACCOUNT: -1} == differences[1].accounts
    assert [] == node.broker.poll()  # before its expiry, a missing option is not settled


def test_a_cancel_asked_for_while_ib_is_away_is_sent_after_the_reconcile(fake, make_node):
    """The order rests at IB; the connection drops; the cancel waits for the reconnect, then
    goes out to the adopted order and comes back as OrderCancelled."""
    fake.auto_fill = False
    node = make_node(fake, reconnect_initial=1.0)
    node.broker.submit(sell_put(fake))
    fake.drop_connections()
    assert node.connection.wait_until(ConnState.DISCONNECTED, timeout=2)
    node.broker.cancel("S1-1")
    assert [] == fake.cancel_messages
    assert node.connection.wait_until(ConnState.CONNECTED, timeout=3)
    events = events_until(node, lambda ev: bool(ev))
    assert [("S1-1", OrderCancelled)] == [(e.order_id, type(e)) for e in events]
    assert 1 == len(fake.cancel_messages)


def test_connectivity_lost_during_the_reconcile_leaves_the_connection_degraded(fake, make_node):
    """A 1100 that arrives while a reconnect is still reconciling is not forgotten: the
    connection comes up degraded, and 1102 lifts it."""
    node = make_node(fake)
    fake.inject_after(99, 1100)
    fake.drop_connections()
    assert node.connection.wait_until(ConnState.DEGRADED, timeout=3)
    with pytest.raises(BrokerError, match="degraded"):
        node.broker.submit(sell_put(fake))
    fake.inject(1102)
    assert node.connection.wait_until(ConnState.CONNECTED, timeout=2)
