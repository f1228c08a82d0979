"""What the fake gateway knows independently of any connection: the listed instruments and their
quotes (`FakeMarket`) and the account's orders, executions and positions (`Book`). Both survive a
client's reconnect and a gateway restart, as IB's servers do."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from tests.fakegateway import wire
from tests.fakegateway.wire import ExecutionRecord, Field, Instrument, OrderRecord

MAG6_PRICES = {"AAPL": 230.0, "MSFT": 420.0, "GOOGL": 170.0, "AMZN": 190.0, "NVDA": 120.0,
               "TSLA": 250.0}


@dataclass(slots=True)
class FakeMarket:
    """Stocks with a price, and for each a grid of listed options (weekly expiries, fixed strike
    step). Option quotes come from a crude model: intrinsic value plus time value."""

    prices: dict[str, float] = field(default_factory=lambda: dict(MAG6_PRICES))
    expiries: list[dt.date] = field(default_factory=list)
    strikes_each_side: int = 10
    strike_step: float = 5.0
    instruments: dict[int, Instrument] = field(default_factory=dict)
    _keys: dict[tuple[str, str, float, str], int] = field(default_factory=dict)
    _next_con_id: int = 1000

    def __post_init__(self) -> None:
        for symbol in sorted(self.prices):
            self._add(Instrument(0, symbol, "STK"))
            for expiry in self.expiries:
                for strike in self.strikes(symbol):
                    for right in ("P", "C"):
                        self._add(Instrument(0, symbol, "OPT", expiry.strftime("%Y%m%d"), strike,
                                             right, "100"))

    def _add(self, proto: Instrument) -> None:
        self._next_con_id += 1
        inst = Instrument(self._next_con_id, proto.symbol, proto.sec_type, proto.expiry,
                          proto.strike, proto.right, proto.multiplier)
        self.instruments[inst.con_id] = inst
        self._keys[(inst.symbol, inst.expiry, inst.strike, inst.right)] = inst.con_id

    def strikes(self, symbol: str) -> list[float]:
        atm = round(self.prices[symbol] / self.strike_step) * self.strike_step
        n = self.strikes_each_side
        return [atm + k * self.strike_step for k in range(-n, n + 1)]

    def stock(self, symbol: str) -> Instrument | None:
        con_id = self._keys.get((symbol, "", 0.0, ""))
        return self.instruments[con_id] if con_id else None

    def find(self, con_id: int, symbol: str, sec_type: str, expiry: str, strike: float,
             right: str) -> list[Instrument]:
        """The instruments a contract request matches (blank fields match anything)."""
        if con_id:
            hit = self.instruments.get(con_id)
            return [hit] if hit else []
        out = []
        for inst in self.instruments.values():
            if inst.symbol != symbol or (sec_type and inst.sec_type != sec_type):
                continue
            if expiry and inst.expiry != expiry:
                continue
            if strike and not math.isclose(inst.strike, strike):
                continue
            if right and inst.right != right[:1]:
                continue
            out.append(inst)
        return out

    def quote(self, inst: Instrument) -> tuple[float, float, float]:
        """(bid, ask, delta) of an option."""
        spot = self.prices[inst.symbol]
        intrinsic = max(0.0, inst.strike - spot) if inst.right == "P" else max(0.0, spot - inst.strike)
        distance = abs(spot - inst.strike) / spot
        time_value = max(0.05, spot * 0.02 * math.exp(-distance * 20))
        mid = intrinsic + time_value
        moneyness = (spot - inst.strike) / (spot * 0.05)
        call_delta = 1 / (1 + math.exp(-moneyness))
        delta = call_delta if inst.right == "C" else call_delta - 1
        return round(mid * 0.97, 2), round(mid * 1.03 + 0.01, 2), round(delta, 4)

    def ticks(self, req_id: int, inst: Instrument) -> list[list[Field]]:
        """The price ticks a new market-data line starts with (bid, ask; a stock's last and close)."""
        spot = self.prices[inst.symbol]
        if inst.sec_type == "STK":
            return [wire.tick_price(req_id, 1, round(spot - 0.01, 2), 300),
                    wire.tick_price(req_id, 2, round(spot + 0.01, 2), 200),
                    wire.tick_price(req_id, 4, spot, 100),
                    wire.tick_price(req_id, 9, round(spot * 0.99, 2), 0)]
        bid, ask, _ = self.quote(inst)
        return [wire.tick_price(req_id, 1, bid, 10), wire.tick_price(req_id, 2, ask, 12)]

    def greeks(self, req_id: int, inst: Instrument, *, sentinels: bool) -> list[Field]:
        """An option's model greeks (tick 13); with ``sentinels`` IB's "not computed" values."""
        spot = self.prices[inst.symbol]
        if sentinels:
            return wire.option_computation(req_id, 13, -1, -2, -1, spot)
        bid, ask, delta = self.quote(inst)
        return wire.option_computation(req_id, 13, 0.35, delta, (bid + ask) / 2, spot)

    def daily_bars(self, req_id: int, symbol: str, end: dt.date, count: int) -> list[Field]:
        """A historicalData reply: ``count`` weekdays of bars up to ``end``, around the price."""
        days: list[dt.date] = []
        day = end
        while len(days) < count:
            if day.weekday() < 5:
                days.append(day)
            day -= dt.timedelta(days=1)
        days.reverse()
        base = self.prices.get(symbol, 100.0)
        fields: list[Field] = [17, req_id, days[0].strftime("%Y%m%d"), end.strftime("%Y%m%d"), len(days)]
        for i, d in enumerate(days):
            close = round(base * (1 + 0.02 * math.sin(i / 3)), 2)
            fields += wire.bar_fields(d, round(close * 0.995, 2), round(close * 1.01, 2),
                                      round(close * 0.985, 2), close, 1_000_000 + i)
        return fields


@dataclass(slots=True)
class Book:
    """The account at the broker: orders keyed by permId, executions, positions by conId."""

    account: str = "DU123456"
    next_valid_id: int = 1
    commission_per_contract: float = 0.65
    orders: dict[int, OrderRecord] = field(default_factory=dict)
    executions: list[ExecutionRecord] = field(default_factory=list)
    positions: dict[int, float] = field(default_factory=dict)
    _next_perm_id: int = 900_000
    _next_exec: int = 0

    def find_order(self, client_id: int, order_id: int) -> OrderRecord | None:
        for order in self.orders.values():
            if order.client_id == client_id and order.order_id == order_id:
                return order
        return None

    def add_order(self, order: OrderRecord) -> OrderRecord:
        self._next_perm_id += 1
        order.perm_id = self._next_perm_id
        self.orders[order.perm_id] = order
        self.next_valid_id = max(self.next_valid_id, order.order_id + 1)
        return order

    def execute(self, order: OrderRecord, price: float, now: dt.datetime) -> ExecutionRecord:
        """Fill what is left of ``order`` at ``price``; the position moves with it."""
        shares = order.remaining
        self._next_exec += 1
        order.avg_price = price
        order.filled = order.quantity
        order.status = "Filled"
        order.completed_at = now.strftime("%Y%m%d %H:%M:%S") + " UTC"
        per_unit = self.commission_per_contract if order.instrument.sec_type == "OPT" else 0.005
        execution = ExecutionRecord(f"0001f4e8.{self._next_exec:08x}.01.01", order, now, shares,
                                    price, round(per_unit * shares, 2), order.filled)
        self.executions.append(execution)
        signed = shares if order.action == "BUY" else -shares
        self.move_position(order.instrument.con_id, signed)
        return execution

    def move_position(self, con_id: int, change: float) -> None:
        qty = self.positions.get(con_id, 0.0) + change
        if qty:
            self.positions[con_id] = qty
        else:
            self.positions.pop(con_id, None)

    def open_orders(self) -> list[OrderRecord]:
        return [o for o in self.orders.values() if not o.done]

    def completed_orders(self) -> list[OrderRecord]:
        return [o for o in self.orders.values() if o.done]
