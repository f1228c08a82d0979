"""The TWS socket protocol as the fake gateway speaks it: framing and the server's messages at
server version 178 (layouts from ../shared/NODE.md §1, checked against ib_async 2.1.0's decoder).

Every encoder returns the message's fields; `frame` turns fields into bytes. Unset numeric values
go out as "" (the client's parser keeps its default for an empty field).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import struct
from collections.abc import Sequence
from dataclasses import dataclass

SERVER_VERSION = 178
MIN_CLIENT_VERSION = 157

Field = str | int | float | bool


def _text(value: Field) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def frame(fields: Sequence[Field]) -> bytes:
    """One message: a 4-byte big-endian length, then each field NUL-terminated."""
    body = b"".join(_text(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(body)) + body


async def read_handshake(reader: asyncio.StreamReader) -> tuple[int, int]:
    """``API\\0`` + a framed ``v<min>..<max>[ options]``: the client's version range."""
    magic = await reader.readexactly(4)
    if magic != b"API\0":
        raise ValueError(f"not the TWS API handshake: {magic!r}")
    text = (await _read_body(reader)).decode()
    low, _, high = text.split(" ")[0].lstrip("v").partition("..")
    return int(low), int(high or low)


async def read_message(reader: asyncio.StreamReader) -> list[str]:
    """One client message as its fields (the trailing NUL dropped)."""
    fields = (await _read_body(reader)).decode().split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


async def _read_body(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    return await reader.readexactly(size)


# ---------------------------------------------------------------- contracts
@dataclass(frozen=True, slots=True)
class Instrument:
    """A listed stock (expiry "" and strike 0) or option of the fake market."""

    con_id: int
    symbol: str
    sec_type: str  # STK | OPT
    expiry: str = ""  # YYYYMMDD
    strike: float = 0.0
    right: str = ""  # P | C
    multiplier: str = ""
    exchange: str = "SMART"
    currency: str = "USD"

    @property
    def local_symbol(self) -> str:
        if self.sec_type == "STK":
            return self.symbol
        return f"{self.symbol:<6}{self.expiry[2:]}{self.right}{round(self.strike * 1000):08d}"

    def c11(self) -> list[Field]:
        """conId … tradingClass with the exchange (positions, executions, order messages)."""
        return [self.con_id, self.symbol, self.sec_type, self.expiry, self.strike, self.right,
                self.multiplier, self.exchange, self.currency, self.local_symbol, self.symbol]


# ---------------------------------------------------------------- connection and errors
def server_hello(now: dt.datetime) -> list[Field]:
    return [SERVER_VERSION, now.strftime("%Y%m%d %H:%M:%S") + " UTC"]


def managed_accounts(accounts: Sequence[str]) -> list[Field]:
    return [15, 1, ",".join(accounts) + ","]


def next_valid_id(order_id: int) -> list[Field]:
    return [9, 1, order_id]


def error(req_id: int, code: int, text: str) -> list[Field]:
    return [4, 2, req_id, code, text, ""]


def current_time(epoch: int) -> list[Field]:
    return [49, 1, epoch]


# ---------------------------------------------------------------- orders
@dataclass(slots=True)
class OrderRecord:
    """An order as the gateway holds it (broker state, not a connection's)."""

    order_id: int
    client_id: int
    perm_id: int
    instrument: Instrument
    action: str
    quantity: float
    order_type: str
    limit: float | None
    tif: str
    account: str
    open_close: str
    order_ref: str
    status: str = "PreSubmitted"
    filled: float = 0.0
    avg_price: float = 0.0
    completed_at: str = ""

    @property
    def remaining(self) -> float:
        return self.quantity - self.filled

    @property
    def done(self) -> bool:
        return self.status in ("Filled", "Cancelled", "Inactive")


def _price(value: float | None) -> Field:
    return "" if value is None else value


def open_order(o: OrderRecord) -> list[Field]:
    """openOrder at v178: no version field, no faProfile (dropped at 177); deltaNeutralOrderType is
    "None" as TWS sends it, so its eight fields follow."""
    return [
        5, o.order_id, *o.instrument.c11(),
        o.action, o.quantity, o.order_type, _price(o.limit), "", o.tif, "", o.account,
        o.open_close, 0, o.order_ref, o.client_id, o.perm_id,
        0, 0, 0, "", "", "", "", "",  # outsideRth hidden discretionaryAmt goodAfterTime … faPct
        "", "", "", "", "", 0, "", "",  # modelCode goodTillDate rule80A … exemptCode
        0, "", "", "", "", "", "",  # auctionStrategy startingPrice stockRefPrice delta … displaySize
        0, 0, 0, "", 0, 0, 0, "",  # blockOrder sweepToFill allOrNone minQty ocaType … nbboPriceCap
        0, 0, "", 0,  # parentId triggerMethod volatility volatilityType
        "None", "",  # deltaNeutralOrderType deltaNeutralAuxPrice
        0, "", "", "", 0, 0, "", "",  # the eight delta-neutral fields
        0, 0, "", "", "", "", "",  # continuousUpdate … basisPoints basisPointsType comboLegsDescrip
        0, 0, 0,  # combo legs, order combo legs, smart combo routing params
        "", "", "",  # scaleInitLevelSize scaleSubsLevelSize scalePriceIncrement
        "",  # hedgeType
        0, "", "", 0, 0,  # optOutSmartRouting clearingAccount clearingIntent notHeld dnc-present
        "",  # algoStrategy
        0, 0, o.status, "", "", "", "", "", "", "", "", "", "", "", "", "", "", 0, 0,
        0,  # conditions
        "", "", "", "", "", "", "", 0, "", "", "", "", 0, 0, "", 0,
        "", 0, 0,  # duration postToAts autoCancelParent
        "", "", "", "", "",  # minTradeQty minCompeteSize competeAgainstBestOffset midOffsetAtWhole/Half
    ]


def order_status(o: OrderRecord) -> list[Field]:
    return [3, o.order_id, o.status, o.filled, o.remaining, o.avg_price, o.perm_id, 0,
            o.avg_price, o.client_id, "", ""]


def completed_order(o: OrderRecord) -> list[Field]:
    """completedOrder at v178 (no orderId; no faProfile)."""
    return [
        101, *o.instrument.c11(),
        o.action, o.quantity, o.order_type, _price(o.limit), "", o.tif, "", o.account,
        o.open_close, 0, o.order_ref, o.perm_id,
        0, 0, 0, "", "", "", "",  # outsideRth hidden discretionaryAmt goodAfterTime faGroup faMethod faPct
        "", "", "", "", "", 0, "", "",  # modelCode goodTillDate rule80A … exemptCode
        "", "", "", "", "", "",  # startingPrice stockRefPrice delta stockRangeLower/Upper displaySize
        0, 0, "", 0, 0, "", 0,  # sweepToFill allOrNone minQty ocaType triggerMethod volatility volatilityType
        "None", "",  # deltaNeutralOrderType deltaNeutralAuxPrice
        0, 0, "", "",  # delta-neutral conId shortSale shortSaleSlot designatedLocation
        0, 0, "", "", "",  # continuousUpdate referencePriceType trailStop trailingPct comboLegsDescrip
        0, 0, 0,  # combo legs, order combo legs, smart combo routing params
        "", "", "",  # scale
        "",  # hedgeType
        "", "", 0, 0,  # clearingAccount clearingIntent notHeld deltaNeutralContract present
        "",  # algoStrategy
        0, o.status, 0, 0,  # solicited status randomizeSize randomizePrice
        0,  # conditions
        "", "", "", 0, 0, "", o.filled, 0, 0, "", 0, 0, 0, o.completed_at, o.status,
        "", "", "", "", "",
    ]


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    exec_id: str
    order: OrderRecord
    time: dt.datetime
    shares: float
    price: float
    commission: float
    cum_qty: float


def exec_details(req_id: int, e: ExecutionRecord) -> list[Field]:
    o = e.order
    side = "BOT" if o.action == "BUY" else "SLD"
    return [11, req_id, o.order_id, *o.instrument.c11(), e.exec_id,
            e.time.strftime("%Y%m%d %H:%M:%S") + " UTC", o.account, "ISE", side, e.shares, e.price,
            o.perm_id, o.client_id, 0, e.cum_qty, e.price, o.order_ref, "", "", "", 1, 0]


def commission_report(e: ExecutionRecord) -> list[Field]:
    return [59, 1, e.exec_id, e.commission, "USD", "", "", ""]


def position(account: str, instrument: Instrument, quantity: float, avg_cost: float) -> list[Field]:
    return [61, 3, account, *instrument.c11(), quantity, avg_cost]


# ---------------------------------------------------------------- contracts and market data
def contract_details(req_id: int, i: Instrument, under_con_id: int) -> list[Field]:
    return [10, req_id, i.symbol, i.sec_type, i.expiry, i.strike, i.right, i.exchange, i.currency,
            i.local_symbol, i.symbol, i.symbol, i.con_id, 0.01, i.multiplier, "LMT,MKT", "SMART",
            1, under_con_id, f"{i.symbol} fake", "NASDAQ", i.expiry[:6], "", "", "", "US/Eastern",
            "", "", "", "", 0, "", i.symbol if i.sec_type == "OPT" else "",
            "STK" if i.sec_type == "OPT" else "", "26", i.expiry, "COMMON", 1, 1, 1]


def sec_def_opt_params(req_id: int, under_con_id: int, symbol: str, expiries: Sequence[str],
                       strikes: Sequence[float]) -> list[Field]:
    return [75, req_id, "SMART", under_con_id, symbol, "100", len(expiries), *expiries,
            len(strikes), *strikes]


def tick_price(req_id: int, tick_type: int, price: float, size: float) -> list[Field]:
    return [1, 6, req_id, tick_type, price, size, 0]


def tick_size(req_id: int, tick_type: int, size: float) -> list[Field]:
    return [2, 6, req_id, tick_type, size]


def option_computation(req_id: int, tick_type: int, iv: float, delta: float, price: float,
                       underlying: float) -> list[Field]:
    return [21, req_id, tick_type, 1, iv, delta, price, 0.0, -2, -2, -2, underlying]


def bar_fields(day: dt.date, o: float, h: float, low: float, c: float, volume: int) -> list[Field]:
    return [day.strftime("%Y%m%d"), o, h, low, c, volume, round((h + low + c) / 3, 4), 100]
