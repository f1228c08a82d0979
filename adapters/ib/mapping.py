"""The tables between alluse's typed commands and events and ib_async's objects: the one module
that knows how an alluse order looks to IB, and how IB's reports look to the engine.

| alluse | IB |
|---|---|
| `SellToOpen` `BuyToClose` `BuyToOpen` `SellToClose` | action SELL BUY BUY SELL, openClose O C O C |
| `BuyStock` / `SellStock` | action BUY / SELL, no openClose |
| order_type LMT / MKT | orderType LMT (lmtPrice = limit) / MKT |
| good_till (the session's close) | tif DAY |
| order_id (stable intent id) | orderRef ``node:epoch:order_id`` |
| `OptionContract` | Option(symbol, YYYYMMDD, strike, right, SMART, multiplier 100, USD) |
| execution side BOT / SLD | Fill.side BUY / SELL |
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

from ib_async import Contract, Execution, Option, Order, Stock

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
from alluse.engine.events import Fill, OptionContract, Right, Side

EXCHANGE = "SMART"
CURRENCY = "USD"
OPTION_MULTIPLIER = "100"
TIME_IN_FORCE = "DAY"

# command class → (IB action, IB openClose)
ORDER_ACTIONS: dict[type[OrderCommand], tuple[str, str]] = {
    SellToOpen: ("SELL", "O"),
    BuyToClose: ("BUY", "C"),
    BuyToOpen: ("BUY", "O"),
    SellToClose: ("SELL", "C"),
    BuyStock: ("BUY", ""),
    SellStock: ("SELL", ""),
}
ORDER_TYPES: dict[str, str] = {"LMT": "LMT", "MKT": "MKT"}
EXECUTION_SIDES: dict[str, Side] = {"BOT": "BUY", "SLD": "SELL"}

# Error codes (IB "message codes").
CLIENT_ID_IN_USE = 326
CONNECTIVITY_LOST = 1100
RESTORED_DATA_LOST = 1101
RESTORED_DATA_KEPT = 1102
ORDER_CANCELLED = 202
# Codes reported against an order id that leave the order working: ib_async's warning list, and
# the refusals of a cancel request (the order itself is untouched). Any other code ends the order.
ORDER_WARNINGS = frozenset({105, 161, 165, 321, 329, 399, 404, 434, 492, 10147, 10148, 10149, 10167})
# Order statuses after which the gateway reports nothing more about an order.
DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})


def is_order_warning(code: int) -> bool:
    return code in ORDER_WARNINGS or 2100 <= code < 2200


@dataclass(frozen=True, slots=True)
class OrderRef:
    """The orderRef IB echoes in open orders, completed orders and executions: it names the
    intent (the command's order_id), the node and the fencing epoch that placed it."""

    node: str
    epoch: int
    intent: str

    def __str__(self) -> str:
        return f"{self.node}:{self.epoch}:{self.intent}"

    @classmethod
    def parse(cls, text: str) -> OrderRef | None:
        """The ref of an alluse order, or None for an order placed by anything else."""
        node, sep, rest = text.partition(":")
        epoch, sep2, intent = rest.partition(":")
        if not (sep and sep2 and node and intent and epoch.isdigit()):
            return None
        return cls(node, int(epoch), intent)


def contract_for(symbol: str, option: OptionContract | None) -> Contract:
    if option is None:
        return Stock(symbol, EXCHANGE, CURRENCY)
    return Option(symbol, option.expiry.strftime("%Y%m%d"), option.strike, option.right, EXCHANGE,
                  OPTION_MULTIPLIER, CURRENCY)


def ib_order(command: OrderCommand, ref: OrderRef, account: str, order_id: int) -> Order:
    """The IB order of ``command``; refuses what IB could not be sent (BrokerError)."""
    try:
        action, open_close = ORDER_ACTIONS[type(command)]
        order_type = ORDER_TYPES[command.order_type]
    except KeyError as exc:
        raise BrokerError(f"order {command.order_id}: no IB mapping for {exc.args[0]}") from exc
    if command.quantity <= 0:
        raise BrokerError(f"order {command.order_id}: quantity must be positive, got {command.quantity}")
    order = Order(orderId=order_id, action=action, totalQuantity=command.quantity,
                  orderType=order_type, tif=TIME_IN_FORCE, account=account, openClose=open_close,
                  orderRef=str(ref), transmit=True)
    if order_type == "LMT":
        if command.limit is None or not math.isfinite(command.limit) or command.limit <= 0:
            raise BrokerError(f"order {command.order_id}: a limit order needs a positive limit, "
                              f"got {command.limit!r}")
        order.lmtPrice = round(command.limit, 2)
    return order


def option_of(contract: Contract) -> OptionContract | str | None:
    """The engine's key of an IB position's contract: an `OptionContract`, a stock's symbol, or
    None for what alluse does not trade."""
    if contract.secType == "STK":
        return contract.symbol
    if contract.secType != "OPT" or contract.right[:1] not in ("P", "C"):
        return None
    expiry = ib_date(contract.lastTradeDateOrContractMonth)
    right: Right = "P" if contract.right.startswith("P") else "C"
    return OptionContract(contract.symbol, expiry, float(contract.strike), right)


def ib_date(text: str) -> dt.date:
    """IB's YYYYMMDD (possibly followed by a time) as a date."""
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError as exc:
        raise BrokerError(f"IB sent an unreadable date {text!r}") from exc


def fill_event(command: OrderCommand, execution: Execution, commission: float) -> Fill:
    """One execution of ``command`` as the engine's `Fill`, booked to the command's account."""
    side = EXECUTION_SIDES.get(execution.side)
    if side is None:
        raise BrokerError(f"execution {execution.execId}: unknown side {execution.side!r}")
    option = command.contract
    return Fill(ts=execution.time, account=command.account, symbol=command.symbol,
                expiry=option.expiry if option else None, strike=option.strike if option else None,
                right=option.right if option else None, side=side,
                quantity=round(execution.shares), price=execution.price,
                commission=round(abs(commission), 4), order_id=command.order_id)


AccountKind = Literal["paper", "live", "any"]
PAPER_PREFIX = "DU"  # IB's paper-trading account ids


def account_problem(account: str, kind: AccountKind) -> str | None:
    """Why ``account`` cannot be used in this kind of session (None: it can)."""
    paper = account.startswith(PAPER_PREFIX)
    if kind == "paper" and not paper:
        return f"account {masked(account)} is a live account, and this is a paper session"
    if kind == "live" and paper:
        return f"account {masked(account)} is a paper account, and this is a live session"
    return None


def masked(account: str) -> str:
    """An account id fit for logs and status: its kind and its last digits, never the whole id."""
    return account[:2] + "…" + account[-2:] if len(account) > 4 else "…"
