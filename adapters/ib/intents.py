"""Order intents: what the broker meant to do, written down before anything goes to IB.

An intent is recorded (`IntentLog.record`) before its placeOrder is sent, and again on every change
of its state, so that after a crash or a reconnect the broker knows which orders it may have
placed and reconciles them with what IB reports (by orderRef) instead of placing them again.

    new ──placeOrder──► sent ──ack──► working ──► filled | cancelled | rejected
     └───────────(never reached IB; expired or cancelled)──────► cancelled

The node backs `IntentLog` with its store; `MemoryIntentLog` serves tests and dry runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from alluse.engine.commands import COMMANDS, OrderCommand
from alluse.engine.errors import BrokerError
from alluse.engine.events import OptionContract


class IntentLog(Protocol):
    """Durable intents, keyed by the command's order_id.

    | method | contract |
    |---|---|
    | ``record(intent_id, payload)`` | store the JSON-able payload, replacing the last; durable on return |
    | ``known(intent_id)`` | whether an intent with this id was ever recorded |
    | ``payloads()`` | every recorded intent's latest payload, in recording order (a restart reads them) |
    """

    def record(self, intent_id: str, payload: Mapping[str, Any]) -> None: ...

    def known(self, intent_id: str) -> bool: ...

    def payloads(self) -> dict[str, Mapping[str, Any]]: ...


class MemoryIntentLog:
    """An `IntentLog` in memory: tests, dry runs, a node without a store."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}

    def record(self, intent_id: str, payload: Mapping[str, Any]) -> None:
        self._rows[intent_id] = dict(payload)

    def known(self, intent_id: str) -> bool:
        return intent_id in self._rows

    def payloads(self) -> dict[str, Mapping[str, Any]]:
        return dict(self._rows)


class IntentState(StrEnum):
    NEW = "new"  # recorded, placeOrder not sent
    SENT = "sent"  # placeOrder sent, no word from IB yet
    WORKING = "working"  # IB has the order
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def done(self) -> bool:
        return self in (IntentState.FILLED, IntentState.CANCELLED, IntentState.REJECTED)


@dataclass(slots=True)
class Intent:
    command: OrderCommand
    order_ref: str
    state: IntentState = IntentState.NEW
    ib_order_id: int = 0
    perm_id: int = 0
    filled: int = 0
    exec_ids: list[str] = field(default_factory=list)  # executions already reported as fills
    cancel_requested: bool = False
    reason: str = ""

    @property
    def intent_id(self) -> str:
        return self.command.order_id

    def payload(self) -> dict[str, Any]:
        return {"command": command_to_dict(self.command), "order_ref": self.order_ref,
                "state": self.state.value, "ib_order_id": self.ib_order_id, "perm_id": self.perm_id,
                "filled": self.filled, "exec_ids": list(self.exec_ids),
                "cancel_requested": self.cancel_requested, "reason": self.reason}

    @classmethod
    def from_payload(cls, intent_id: str, payload: Mapping[str, Any]) -> Intent:
        try:
            return cls(command_from_dict(payload["command"]), str(payload["order_ref"]),
                       IntentState(payload["state"]), int(payload["ib_order_id"]),
                       int(payload["perm_id"]), int(payload["filled"]),
                       [str(x) for x in payload["exec_ids"]], bool(payload["cancel_requested"]),
                       str(payload["reason"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BrokerError(f"intent {intent_id}: unreadable record ({exc!r})") from exc


def command_to_dict(cmd: OrderCommand) -> dict[str, Any]:
    option = cmd.contract
    return {"action": cmd.ACTION, "order_id": cmd.order_id, "script_id": cmd.script_id,
            "account": cmd.account, "symbol": cmd.symbol,
            "contract": None if option is None else {
                "expiry": option.expiry.isoformat(), "strike": option.strike, "right": option.right},
            "quantity": cmd.quantity, "order_type": cmd.order_type, "limit": cmd.limit,
            "reference_price": cmd.reference_price, "ts": cmd.ts.isoformat(),
            "good_till": cmd.good_till.isoformat()}


def command_from_dict(data: Mapping[str, Any]) -> OrderCommand:
    cls = COMMANDS[data["action"]]
    c = data["contract"]
    option = None if c is None else OptionContract(
        data["symbol"], dt.date.fromisoformat(c["expiry"]), float(c["strike"]), c["right"])
    return cls(data["order_id"], data["script_id"], data["account"], data["symbol"], option,
               int(data["quantity"]), data["order_type"], data["limit"],
               float(data["reference_price"]), dt.datetime.fromisoformat(data["ts"]),
               dt.datetime.fromisoformat(data["good_till"]))
