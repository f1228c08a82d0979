"""What the fake gateway answers to each client request (server version 178).

`Handlers` is the request half of `FakeGateway`: one method per message id, writing replies to
the session that asked (order updates go to every session of the order's client id).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from tests.fakegateway import wire
from tests.fakegateway.book import Book, FakeMarket
from tests.fakegateway.wire import Field, Instrument, OrderRecord


class DropPoint(StrEnum):
    ORDER_LOST = "order_lost"  # the placeOrder never reached the gateway
    BEFORE_ACK = "before_ack"  # the gateway took the order; the connection dies before the ack
    BEFORE_COMMISSION = "before_commission"  # the fill went out, its commission report did not


@dataclass(slots=True)
class Session:
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




class Handlers:
    """Request handlers; `FakeGateway` holds the state they read and write."""

    book: Book
    market: FakeMarket
    auto_fill: bool
    max_lines: int
    greeks_delay: float
    greeks_sentinels: bool
    logins: int
    line_peak: int
    line_refusals: int
    historical_refusals: int
    global_cancels: int
    place_messages: list[list[str]]
    cancel_messages: list[list[str]]
    _drops: list[DropPoint]
    _occupied: set[int]
    _sessions: list[Session]
    _history_seen: dict[tuple[str, ...], float]
    _loop: asyncio.AbstractEventLoop

    def _handlers(self) -> dict[int, Callable[[Session, list[str]], None]]:
        return {71: self._start_api, 61: self._positions, 64: _ignore, 5: self._open_orders,
                16: self._open_orders, 15: _ignore, 99: self._completed, 6: self._account_updates,
                76: self._account_multi, 77: _ignore, 7: self._executions, 8: self._req_ids,
                9: self._contract_details, 78: self._sec_def, 1: self._mkt_data,
                2: self._cancel_mkt_data, 3: self._place, 4: self._cancel, 49: self._time,
                62: self._account_summary, 63: _ignore, 58: self._global_cancel, 59: _ignore,
                20: self._historical, 25: _ignore}

    def _start_api(self, s: Session, f: list[str]) -> None:
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

    def _req_ids(self, s: Session, f: list[str]) -> None:
        s.send(wire.next_valid_id(self.book.next_valid_id))

    def _time(self, s: Session, f: list[str]) -> None:
        s.send(wire.current_time(int(time.time())))

    # ------------------------------------------------------------ account
    def _positions(self, s: Session, f: list[str]) -> None:
        s.positions = True
        for con_id, qty in self.book.positions.items():
            s.send(wire.position(self.book.account, self.market.instruments[con_id], qty, 1.0))
        s.send([62, 1])

    def _push_position(self, inst: Instrument) -> None:
        qty = self.book.positions.get(inst.con_id, 0.0)
        for s in self._sessions:
            if s.positions:
                s.send(wire.position(self.book.account, inst, qty, 1.0))

    def _account_updates(self, s: Session, f: list[str]) -> None:
        if f[2] == "1":
            s.send([6, 2, "NetLiquidation", "100000", "USD", self.book.account])
            s.send([54, 1, self.book.account])

    def _account_multi(self, s: Session, f: list[str]) -> None:
        s.send([74, 1, int(f[2])])

    def _account_summary(self, s: Session, f: list[str]) -> None:
        s.send([64, 1, int(f[2])])

    # ------------------------------------------------------------ orders
    def _open_orders(self, s: Session, f: list[str]) -> None:
        every = f[0] == "16"
        for o in self.book.open_orders():
            if every or o.client_id == s.client_id:
                s.send(wire.open_order(o))
                s.send(wire.order_status(o))
        s.send([53, 1])

    def _completed(self, s: Session, f: list[str]) -> None:
        for o in self.book.completed_orders():
            s.send(wire.completed_order(o))
        s.send([102])

    def _executions(self, s: Session, f: list[str]) -> None:
        req_id = int(f[2])
        for e in self.book.executions:
            s.send(wire.exec_details(req_id, e))
            s.send(wire.commission_report(e))
        s.send([55, 1, req_id])

    def _order_sessions(self, order: OrderRecord) -> list[Session]:
        return [s for s in self._sessions if s.client_id == order.client_id and not s.closed]

    def _place(self, s: Session, f: list[str]) -> None:
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

    def _cancel(self, s: Session, f: list[str]) -> None:
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

    def _global_cancel(self, s: Session, f: list[str]) -> None:
        self.global_cancels += 1
        for order in self.book.open_orders():
            self._cancel_order(order)

    # ------------------------------------------------------------ contracts and market data
    def _contract_details(self, s: Session, f: list[str]) -> None:
        req_id = int(f[2])
        found = self.market.find(int(f[3] or 0), f[4], f[5], f[6], float(f[7] or 0), f[8])
        if not found:
            s.send(wire.error(req_id, 200, "No security definition has been found for the request"))
            return
        for inst in found:
            stock = self.market.stock(inst.symbol)
            s.send(wire.contract_details(req_id, inst, stock.con_id if stock else 0))
        s.send([52, 1, req_id])

    def _sec_def(self, s: Session, f: list[str]) -> None:
        req_id, symbol = int(f[1]), f[2]
        stock = self.market.stock(symbol)
        if stock is None:
            s.send(wire.error(req_id, 200, "No security definition has been found for the request"))
            return
        expiries = [e.strftime("%Y%m%d") for e in self.market.expiries]
        s.send(wire.sec_def_opt_params(req_id, stock.con_id, symbol, expiries, self.market.strikes(symbol)))
        s.send([76, req_id])

    def _mkt_data(self, s: Session, f: list[str]) -> None:
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
        for message in self.market.ticks(req_id, inst):
            s.send(message)
        if inst.sec_type != "OPT":
            return
        greeks = self.market.greeks(req_id, inst, sentinels=self.greeks_sentinels)

        def send_greeks() -> None:
            if req_id in s.lines:
                s.send(greeks)
        if self.greeks_delay:
            s.pending.append(self._loop.call_later(self.greeks_delay, send_greeks))
        else:
            send_greeks()

    def _cancel_mkt_data(self, s: Session, f: list[str]) -> None:
        s.lines.pop(int(f[2]), None)

    def _historical(self, s: Session, f: list[str]) -> None:
        req_id = int(f[1])
        key = tuple(f[2:21])
        now = time.monotonic()
        if now - self._history_seen.get(key, -math.inf) < 15:
            self.historical_refusals += 1
            s.send(wire.error(req_id, 162, "Historical Market Data Service error message:"
                                           "pacing violation"))
            return
        self._history_seen[key] = now
        end_text, duration = f[15], f[17]
        end = (dt.date(int(end_text[:4]), int(end_text[4:6]), int(end_text[6:8])) if end_text
               else dt.datetime.now(dt.UTC).date())
        count = int(duration.split()[0]) * (365 if duration.endswith("Y") else 1)
        s.send(self.market.daily_bars(req_id, f[3], end, count))


def _ignore(s: Session, f: list[str]) -> None:
    return None
