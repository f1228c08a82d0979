"""Typed order commands: what the engine asks a broker to do, as frozen data.

An approved action script's order steps become commands (`commands_for`). A command carries
everything a broker needs — contract, quantity, order type, limit, the underlying price the
decision saw (``reference_price``) and how long it may work (``good_till``) — so no broker ever
derives a price from an explanation. Fills, rejections and cancellations never come back from
``submit``: the broker reports them later as events (`Fill`, `OrderRejected`, `OrderCancelled`)
carrying the command's ``order_id``.

``order_id`` is a stable intent id (script id and step number): a node that restarts, or a broker
that reconnects, recognises an order it has seen and never submits it twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar, Literal

from alluse.engine.decisions import ActionScript
from alluse.engine.events import OptionContract, Right, Side

OrderType = Literal["LMT", "MKT"]


@dataclass(frozen=True, slots=True)
class OrderCommand:
    """Base of the order commands; use a concrete class (`SellToOpen`, `BuyToClose`, …)."""

    ACTION: ClassVar[str] = ""
    SIDE: ClassVar[Side] = "BUY"
    OPENS: ClassVar[bool] = True

    order_id: str
    script_id: str
    account: str
    symbol: str
    contract: OptionContract | None  # None: shares of ``symbol``
    quantity: int
    order_type: OrderType
    limit: float | None
    reference_price: float  # the underlying's price when the decision was made
    ts: dt.datetime  # when the command was issued
    good_till: dt.datetime  # a working order still unfilled then is cancelled
    after: str | None = None  # works only once this order (an earlier leg) has filled

    @property
    def side(self) -> Side:
        return self.SIDE

    @property
    def right(self) -> Right | None:
        return self.contract.right if self.contract is not None else None

    def describe(self) -> str:
        what = str(self.contract) if self.contract is not None else f"{self.symbol} shares"
        price = f" limit {self.limit:.2f}" if self.limit is not None else ""
        return f"{self.ACTION} {self.quantity} {what} {self.order_type}{price} ({self.account})"


@dataclass(frozen=True, slots=True)
class SellToOpen(OrderCommand):
    ACTION: ClassVar[str] = "SELL_TO_OPEN"
    SIDE: ClassVar[Side] = "SELL"


@dataclass(frozen=True, slots=True)
class BuyToClose(OrderCommand):
    ACTION: ClassVar[str] = "BUY_TO_CLOSE"
    SIDE: ClassVar[Side] = "BUY"
    OPENS: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class BuyToOpen(OrderCommand):
    ACTION: ClassVar[str] = "BUY_TO_OPEN"
    SIDE: ClassVar[Side] = "BUY"


@dataclass(frozen=True, slots=True)
class SellToClose(OrderCommand):
    ACTION: ClassVar[str] = "SELL_TO_CLOSE"
    SIDE: ClassVar[Side] = "SELL"
    OPENS: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class BuyStock(OrderCommand):
    ACTION: ClassVar[str] = "BUY"
    SIDE: ClassVar[Side] = "BUY"


@dataclass(frozen=True, slots=True)
class SellStock(OrderCommand):
    ACTION: ClassVar[str] = "SELL"
    SIDE: ClassVar[Side] = "SELL"
    OPENS: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: str
    account: str
    ts: dt.datetime


COMMANDS: dict[str, type[OrderCommand]] = {
    c.ACTION: c for c in (SellToOpen, BuyToClose, BuyToOpen, SellToClose, BuyStock, SellStock)}


def order_id(script_id: str, step: int) -> str:
    return f"{script_id}-{step}"


def commands_for(script: ActionScript, good_till: dt.datetime) -> list[OrderCommand]:
    """The order steps of ``script`` as commands (steps without a quantity are left out: the
    script shows them to the human as a note). Orders run in the script's order: each works only
    once the one before it has filled (a roll buys back before it sells the new contract), and
    ends with it if it ends unfilled."""
    out: list[OrderCommand] = []
    for i, step in enumerate(script.steps, 1):
        if step.kind != "order" or not step.quantity:
            continue
        cls = COMMANDS[step.action]
        contract = None
        if step.right:
            contract = OptionContract(step.symbol, dt.date.fromisoformat(step.expiry),
                                      float(step.strike or 0.0), step.right)  # type: ignore[arg-type]
        out.append(cls(order_id(script.id, i), script.id, script.account, step.symbol, contract,
                       step.quantity, step.order_type,  # type: ignore[arg-type]
                       step.limit if step.order_type == "LMT" else None,
                       script.underlying_price, script.created_at, good_till,
                       out[-1].order_id if out else None))
    return out
