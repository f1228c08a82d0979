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
from typing import Any

from tests.fakegateway import wire
from tests.fakegateway.book import Book, FakeMarket
from tests.fakegateway.handlers import DropPoint, Handlers, Session
from tests.fakegateway.pacing import PacingMonitor
from tests.fakegateway.wire import OrderRecord

SYSTEM_TEXT = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
}


class FakeGateway(Handlers):
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
        self._after: dict[int, list[int]] = {}  # msgId → error codes to send after answering it
        self._sessions: list[Session] = []
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

    def inject_after(self, msg_id: int, code: int) -> None:
        """Send system error ``code`` right after answering the next request of type ``msg_id``."""
        self._call(lambda: self._after.setdefault(msg_id, []).append(code))

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
        session = Session(writer)
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

    def _dispatch(self, s: Session, f: list[str]) -> None:
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
        for code in self._after.pop(msg_id, []):
            s.send(wire.error(-1, code, SYSTEM_TEXT.get(code, "injected")))
