"""The fake gateway: an asyncio server on 127.0.0.1 (ephemeral port) in a thread of its own.

Tests drive it from their own thread: every public method runs on the gateway's loop and waits.
Scenario controls: drop the connection at a scripted point of an order's life (`drop_next`),
inject system errors (1100/1101/1102 …), refuse a client id (326, then close), restart the
gateway with nextValidId rolled back, answer a request late or never, fill orders by hand, settle
an expiry. The pacing monitor closes the connection (error 100) past 50 messages in any second.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tests.fakegateway import wire
from tests.fakegateway.book import Book, FakeMarket
from tests.fakegateway.pacing import PacingMonitor
from tests.fakegateway.wire import Field, Instrument, OrderRecord

SYSTEM_TEXT = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
}


class DropPoint(StrEnum):
    ORDER_LOST = "order_lost"  # the placeOrder never reached the gateway
    BEFORE_ACK = "before_ack"  # the gateway took the order; the connection dies before the ack
    BEFORE_COMMISSION = "before_commission"  # the fill went out, its commission report did not


@dataclass(slots=True)
class _Session:
    writer: asyncio.StreamWriter
    client_id: int = -1
    positions: bool = False  # subscribed to position updates
    lines: dict[int, int] = field(default_factory=dict)  # market-data reqId → conId
    pending: list[asyncio.TimerHandle] = field(default_factory=list)
    closed: bool = False

    def send(self, fields: list[Field]) -> None:
        if not self.closed:
            self.writer.write(wire.frame(fields))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for handle in self.pending:
                handle.cancel()
            self.writer.close()


class FakeGateway:
    def __init__(self, *, market: FakeMarket | None = None, book: Book | None = None,
                 auto_fill: bool = True, max_lines: int = 100, pacing_limit: int = 50,
                 greeks_delay: float = 0.0, greeks_sentinels: bool = False) -> None:
        today = dt.datetime.now(dt.UTC).date()
        friday = today + dt.timedelta(days=(4 - today.weekday()) % 7 or 7)
        self.market = market or FakeMarket(expiries=[friday, friday + dt.timedelta(days=35)])
        self.book = book or Book()
        self.auto_fill = auto_fill
        self.max_lines = max_lines
        self.greeks_delay = greeks_delay
        self.greeks_sentinels = greeks_sentinels
        self.pacing = PacingMonitor(limit=pacing_limit)
        self.port = 0
        # what the gateway saw, for assertions
        self.received: list[tuple[float, list[str]]] = []
        self.place_messages: list[list[str]] = []
        self.cancel_messages: list[list[str]] = []
        self.global_cancels = 0
        self.unknown: list[str] = []
        self.line_peak = 0
        self.line_refusals = 0
        self.historical_refusals = 0
        self.logins = 0
        # scenario state
        self._drops: list[DropPoint] = []
        self._delays: dict[int, list[float]] = {}  # msgId → delays of the next replies (inf: never)
        self._occupied: set[int] = set()
        self._sessions: list[_Session] = []
        self._history_seen: dict[tuple[str, ...], float] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-gateway",
                                        daemon=True)
        self._server: asyncio.Server | None = None

    # ------------------------------------------------------------ life cycle
    def start(self) -> FakeGateway:
        self._thread.start()
        self._server = self._call_async(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            for s in list(self._sessions):
                s.close()
            if self._server is not None:
                self._server.close()
        self._call_async(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FakeGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()
        return self._call_async(run())

    def _call_async(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # ------------------------------------------------------------ scenario controls
    def drop_next(self, point: DropPoint) -> None:
        self._call(lambda: self._drops.append(point))

    def delay_reply(self, msg_id: int, seconds: float = math.inf, times: int = 1) -> None:
        """Answer the next ``times`` requests of type ``msg_id`` ``seconds`` late (inf: never)."""
        self._call(lambda: self._delays.setdefault(msg_id, []).extend([seconds] * times))

    def occupy_client_id(self, client_id: int) -> None:
        """Logins with ``client_id`` get error 326 and are closed, as when another session uses it."""
        self._call(lambda: self._occupied.add(client_id))

    def free_client_id(self, client_id: int) -> None:
        self._call(lambda: self._occupied.discard(client_id))

    def inject(self, code: int, req_id: int = -1, text: str = "") -> None:
        def run() -> None:
            for s in self._sessions:
                if code == 1101:  # data lost: the gateway forgets every subscription
                    s.lines.clear()
                    for handle in s.pending:
                        handle.cancel()
                    s.pending.clear()
                s.send(wire.error(req_id, code, text or SYSTEM_TEXT.get(code, "injected")))
        self._call(run)

    def drop_connections(self) -> None:
        self._call(lambda: [s.close() for s in list(self._sessions)])

    def restart(self, *, next_valid_id: int | None = None) -> None:
        """Close every connection; with ``next_valid_id``, come back with that lower id (a gateway
        restart that forgets the ids it issued)."""
        def run() -> None:
            for s in list(self._sessions):
                s.close()
            if next_valid_id is not None:
                self.book.next_valid_id = next_valid_id
        self._call(run)

    def fill(self, order_ref_suffix: str, price: float | None = None) -> None:
        def run() -> None:
            (order,) = [o for o in self.book.open_orders() if o.order_ref.endswith(order_ref_suffix)]
            self._fill(order, price)
        self._call(run)

    def settle(self, symbol: str, expiry: dt.date, strike: float, right: str, *, assigned: bool) -> None:
        """The OCC's overnight run: the option position goes; an assignment moves the shares."""
        def run() -> None:
            (inst,) = self.market.find(0, symbol, "OPT", expiry.strftime("%Y%m%d"), strike, right)
            qty = self.book.positions.get(inst.con_id, 0.0)
            self.book.move_position(inst.con_id, -qty)
            self._push_position(inst)
            if assigned:
                stock = self.market.stock(symbol)
                assert stock is not None
                self.book.move_position(stock.con_id, (qty if right == "C" else -qty) * 100)
                self._push_position(stock)
        self._call(run)

    # ------------------------------------------------------------ observations
    def orders_with_ref(self, suffix: str) -> list[OrderRecord]:
        return self._call(lambda: [o for o in self.book.orders.values() if o.order_ref.endswith(suffix)])

    def messages(self, msg_id: int) -> list[list[str]]:
        return self._call(lambda: [f for _, f in self.received if f[0] == str(msg_id)])

    @property
    def sessions(self) -> int:
        return self._call(lambda: len([s for s in self._sessions if not s.closed]))

    @property
    def lines_open(self) -> int:
        return self._call(lambda: sum(len(s.lines) for s in self._sessions))

    def reset_counters(self) -> None:
        def run() -> None:
            self.received.clear()
            self.pacing.reset()
            self.line_peak = 0
        self._call(run)

    # ------------------------------------------------------------ the connection
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(writer)
        self._sessions.append(session)
        try:
            _low, high = await wire.read_handshake(reader)
            if high < wire.MIN_CLIENT_VERSION:
                return
            session.send(wire.server_hello(dt.datetime.now(dt.UTC)))
            while not session.closed:
                fields = await wire.read_message(reader)
                now = time.monotonic()
                self.received.append((now, fields))
                if not self.pacing.record(now):
                    session.send(wire.error(-1, 100, "Max rate of messages per second has been exceeded"))
                    session.close()
                    return
                self._dispatch(session, fields)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            session.close()
            self._sessions.remove(session)

    def _dispatch(self, s: _Session, f: list[str]) -> None:
        msg_id = int(f[0])
        handler = self._handlers().get(msg_id)
        if handler is None:
            self.unknown.append(f[0])
            return
        delays = self._delays.get(msg_id)
        if delays:
            delay = delays.pop(0)
            if delay != math.inf:
                s.pending.append(self._loop.call_later(delay, handler, s, f))
            return
        handler(s, f)

    def _handlers(self) -> dict[int, Callable[[_Session, list[str]], None]]:
        return {71: self._start_api, 61: self._positions, 64: _ignore, 5: self._open_orders,
                16: self._open_orders, 15: _ignore, 99: self._completed, 6: self._account_updates,
                76: self._account_multi, 77: _ignore, 7: self._executions, 8: self._req_ids,
                9: self._contract_details, 78: self._sec_def, 1: self._mkt_data,
                2: self._cancel_mkt_data, 3: self._place, 4: self._cancel, 49: self._time,
                62: self._account_summary, 63: _ignore, 58: self._global_cancel, 59: _ignore,
                20: self._historical, 25: _ignore}

    def _start_api(self, s: _Session, f: list[str]) -> None:
        s.client_id = int(f[2])
        taken = any(o.client_id == s.client_id and not o.closed for o in self._sessions if o is not s)
        if s.client_id in self._occupied or taken:
            s.send(wire.error(-1, 326, "Unable to connect as the client id is already in use. "
                                       "Retry with a unique client id."))
            s.close()
            return
        self.logins += 1
        s.send(wire.managed_accounts([self.book.account]))
        s.send(wire.next_valid_id(self.book.next_valid_id))
        for code, text in ((2104, "Market data farm connection is OK:usfarm"),
                           (2106, "HMDS data farm connection is OK:ushmds"),
                           (2158, "Sec-def data farm connection is OK:secdefnj")):
            s.send(wire.error(-1, code, text))

    def _req_ids(self, s: _Session, f: list[str]) -> None:
        s.send(wire.next_valid_id(self.book.next_valid_id))

    def _time(self, s: _Session, f: list[str]) -> None:
        s.send(wire.current_time(int(time.time())))

    # ------------------------------------------------------------ account
    def _positions(self, s: _Session, f: list[str]) -> None:
        s.positions = True
        for con_id, qty in self.book.positions.items():
            s.send(wire.position(self.book.account, self.market.instruments[con_id], qty, 1.0))
        s.send([62, 1])

    def _push_position(self, inst: Instrument) -> None:
        qty = self.book.positions.get(inst.con_id, 0.0)
        for s in self._sessions:
            if s.positions:
                s.send(wire.position(self.book.account, inst, qty, 1.0))

    def _account_updates(self, s: _Session, f: list[str]) -> None:
        if f[2] == "1":
            s.send([6, 2, "NetLiquidation", "100000", "USD", self.book.account])
            s.send([54, 1, self.book.account])

    def _account_multi(self, s: _Session, f: list[str]) -> None:
        s.send([74, 1, int(f[2])])

    def _account_summary(self, s: _Session, f: list[str]) -> None:
        s.send([64, 1, int(f[2])])

    # ------------------------------------------------------------ orders
    def _open_orders(self, s: _Session, f: list[str]) -> None:
        every = f[0] == "16"
        for o in self.book.open_orders():
            if every or o.client_id == s.client_id:
                s.send(wire.open_order(o))
                s.send(wire.order_status(o))
        s.send([53, 1])

    def _completed(self, s: _Session, f: list[str]) -> None:
        for o in self.book.completed_orders():
            s.send(wire.completed_order(o))
        s.send([102])

    def _executions(self, s: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        for e in self.book.executions:
            s.send(wire.exec_details(req_id, e))
            s.send(wire.commission_report(e))
        s.send([55, 1, req_id])

    def _order_sessions(self, order: OrderRecord) -> list[_Session]:
        return [s for s in self._sessions if s.client_id == order.client_id and not s.closed]

    def _place(self, s: _Session, f: list[str]) -> None:
        self.place_messages.append(f)
        order_id = int(f[1])
        drop = self._drops.pop(0) if self._drops else None
        if drop is DropPoint.ORDER_LOST:
            s.close()
            return
        if self.book.find_order(s.client_id, order_id) is not None:
            s.send(wire.error(order_id, 103, "Duplicate order id"))
            return
        found = self.market.find(int(f[2] or 0), f[3], f[4], f[5], float(f[6] or 0), f[7])
        if len(found) != 1:
            s.send(wire.error(order_id, 200, "No security definition has been found for the request"))
            return
        order = self.book.add_order(OrderRecord(
            order_id, s.client_id, 0, found[0], f[16], float(f[17]), f[18],
            float(f[19]) if f[19] else None, f[21], f[23] or self.book.account, f[24], f[26]))
        if drop is DropPoint.BEFORE_ACK:
            s.close()
            return
        order.status = "Submitted"
        s.send(wire.open_order(order))
        s.send(wire.order_status(order))
        if self.auto_fill:
            self._fill(order, None, drop_before_commission=drop is DropPoint.BEFORE_COMMISSION)

    def _fill(self, order: OrderRecord, price: float | None, *,
              drop_before_commission: bool = False) -> None:
        if price is None:
            if order.instrument.sec_type == "OPT":
                bid, ask, _ = self.market.quote(order.instrument)
                price = order.limit if order.limit is not None else (bid if order.action == "SELL" else ask)
            else:
                spot = self.market.prices[order.instrument.symbol]
                price = order.limit if order.limit is not None else spot
        execution = self.book.execute(order, price, dt.datetime.now(dt.UTC))
        for s in self._order_sessions(order):
            s.send(wire.exec_details(-1, execution))
            if drop_before_commission:
                s.close()
                continue
            s.send(wire.order_status(order))
            s.send(wire.open_order(order))
            s.send(wire.commission_report(execution))
        self._push_position(order.instrument)

    def _cancel(self, s: _Session, f: list[str]) -> None:
        self.cancel_messages.append(f)
        order = self.book.find_order(s.client_id, int(f[2]))
        if order is None or order.done:
            s.send(wire.error(int(f[2]), 10147, f"OrderId {f[2]} that needs to be cancelled is not found."))
            return
        self._cancel_order(order)

    def _cancel_order(self, order: OrderRecord) -> None:
        order.status = "Cancelled"
        order.completed_at = dt.datetime.now(dt.UTC).strftime("%Y%m%d %H:%M:%S") + " UTC"
        for s in self._order_sessions(order):
            s.send(wire.order_status(order))
            s.send(wire.error(order.order_id, 202, "Order Canceled - reason:"))

    def _global_cancel(self, s: _Session, f: list[str]) -> None:
        self.global_cancels += 1
        for order in self.book.open_orders():
            self._cancel_order(order)

    # ------------------------------------------------------------ contracts and market data
    def _contract_details(self, s: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        found = self.market.find(int(f[3] or 0), f[4], f[5], f[6], float(f[7] or 0), f[8])
        if not found:
            s.send(wire.error(req_id, 200, "No security definition has been found for the request"))
            return
        for inst in found:
            stock = self.market.stock(inst.symbol)
            s.send(wire.contract_details(req_id, inst, stock.con_id if stock else 0))
        s.send([52, 1, req_id])

    def _sec_def(self, s: _Session, f: list[str]) -> None:
        req_id, symbol = int(f[1]), f[2]
        stock = self.market.stock(symbol)
        if stock is None:
            s.send(wire.error(req_id, 200, "No security definition has been found for the request"))
            return
        expiries = [e.strftime("%Y%m%d") for e in self.market.expiries]
        s.send(wire.sec_def_opt_params(req_id, stock.con_id, symbol, expiries, self.market.strikes(symbol)))
        s.send([76, req_id])

    def _mkt_data(self, s: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        inst = self.market.instruments.get(int(f[3] or 0))
        if inst is None:
            s.send(wire.error(req_id, 200, "No security definition has been found for the request"))
            return
        if sum(len(x.lines) for x in self._sessions) >= self.max_lines:
            self.line_refusals += 1
            s.send(wire.error(req_id, 101, "Max number of tickers has been reached"))
            return
        s.lines[req_id] = inst.con_id
        self.line_peak = max(self.line_peak, sum(len(x.lines) for x in self._sessions))
        s.send([58, 1, req_id, 1])
        s.send([81, req_id, 0.01, "9c0001", 3])
        spot = self.market.prices[inst.symbol]
        if inst.sec_type == "STK":
            s.send(wire.tick_price(req_id, 1, round(spot - 0.01, 2), 300))
            s.send(wire.tick_price(req_id, 2, round(spot + 0.01, 2), 200))
            s.send(wire.tick_price(req_id, 4, spot, 100))
            s.send(wire.tick_price(req_id, 9, round(spot * 0.99, 2), 0))
            return
        bid, ask, delta = self.market.quote(inst)
        s.send(wire.tick_price(req_id, 1, bid, 10))
        s.send(wire.tick_price(req_id, 2, ask, 12))
        greeks = (wire.option_computation(req_id, 13, -1, -2, -1, spot) if self.greeks_sentinels
                  else wire.option_computation(req_id, 13, 0.35, delta, (bid + ask) / 2, spot))

        def send_greeks() -> None:
            if req_id in s.lines:
                s.send(greeks)
        if self.greeks_delay:
            s.pending.append(self._loop.call_later(self.greeks_delay, send_greeks))
        else:
            send_greeks()

    def _cancel_mkt_data(self, s: _Session, f: list[str]) -> None:
        s.lines.pop(int(f[2]), None)

    def _historical(self, s: _Session, f: list[str]) -> None:
        req_id = int(f[1])
        key = tuple(f[2:21])
        now = time.monotonic()
        if now - self._history_seen.get(key, -math.inf) < 15:
            self.historical_refusals += 1
            s.send(wire.error(req_id, 162, "Historical Market Data Service error message:"
                                           "pacing violation"))
            return
        self._history_seen[key] = now
        symbol, end_text, duration = f[3], f[15], f[17]
        end = (dt.date(int(end_text[:4]), int(end_text[4:6]), int(end_text[6:8])) if end_text
               else dt.datetime.now(dt.UTC).date())
        count = int(duration.split()[0]) * (365 if duration.endswith("Y") else 1)
        days: list[dt.date] = []
        day = end
        while len(days) < count:
            if day.weekday() < 5:
                days.append(day)
            day -= dt.timedelta(days=1)
        days.reverse()
        base = self.market.prices.get(symbol, 100.0)
        fields: list[Field] = [17, req_id, days[0].strftime("%Y%m%d"), end.strftime("%Y%m%d"), len(days)]
        for i, d in enumerate(days):
            close = round(base * (1 + 0.02 * math.sin(i / 3)), 2)
            fields += wire.bar_fields(d, round(close * 0.995, 2), round(close * 1.01, 2),
                                      round(close * 0.985, 2), close, 1_000_000 + i)
        s.send(fields)


def _ignore(s: _Session, f: list[str]) -> None:
    return None
