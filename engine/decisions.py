"""What the engine decides for one event: immutable records, rendered only at the edge.

A `Decision` holds the rules that fired (with the expression, the values read and the result),
the rules evaluated that did not fire (with the failing clause and its values), the state
transitions, alerts, action scripts and the policy hash. `to_dict` is the stable JSON shape.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

Value = str | int | float | bool | None


def _num(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    return v


@dataclass(frozen=True, slots=True)
class RuleTrace:
    rule: str
    explanation: str
    expression: str = ""
    values: tuple[tuple[str, Value], ...] = ()
    result: bool = True
    step: str = ""  # which check of the rule (an entry's window, data, sizing …), if not the rule

    def to_dict(self, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, key: self.explanation}
        if self.step:
            out["step"] = self.step
        if self.expression:
            out["expression"] = self.expression
        if self.values:
            out["values"] = {k: _num(v) for k, v in self.values}
        return out


@dataclass(frozen=True, slots=True)
class Transition:
    machine: str
    subject: str
    source: str
    dest: str
    rule: str
    values: tuple[tuple[str, Value], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"machine": self.machine, "subject": self.subject, "from": self.source,
                "to": self.dest, "rule": self.rule,
                "values": {k: _num(v) for k, v in self.values}}


@dataclass(frozen=True, slots=True)
class Alert:
    type: str
    priority: str
    title: str
    account: str = ""
    body: str = ""
    suppressed: bool = False
    held: bool = False  # outside market hours and below the delivery floor: waits in the outbox
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "priority": self.priority, "title": self.title,
                "suppressed": self.suppressed, "held": self.held, "account": self.account,
                "body": self.body, "rule": self.rule}


@dataclass(frozen=True, slots=True)
class ScriptStep:
    kind: str  # order | alert | note
    action: str = ""
    symbol: str = ""
    right: str = ""
    strike: float | None = None
    expiry: str = ""
    quantity: int | None = None
    order_type: str = ""
    limit: float | None = None
    text: str = ""
    priority: str = ""
    alert_type: str = ""  # an alert step's type (alerts.yaml)

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "order":
            return {"kind": "order", "action": self.action, "symbol": self.symbol,
                    "right": self.right or None, "strike": _num(self.strike),
                    "expiry": self.expiry or None, "quantity": self.quantity,
                    "order_type": self.order_type, "limit": _num(self.limit)}
        if self.kind == "alert":
            return {"kind": "alert", "type": self.alert_type, "priority": self.priority,
                    "text": self.text}
        return {"kind": "note", "text": self.text}


@dataclass(frozen=True, slots=True)
class ActionScript:
    """A structured action script: data, never shell code. `alluse act` executes orders."""

    id: str
    title: str
    account: str
    trigger_rule: str
    trigger_values: tuple[tuple[str, Value], ...]
    steps: tuple[ScriptStep, ...]
    approval: str  # required | automatic
    created_at: dt.datetime
    expires_at: dt.datetime
    template: str = ""
    underlying_price: float = 0.0  # what the decision saw: the reference price of its orders

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "account": self.account,
            "underlying_price": _num(self.underlying_price),
            "trigger": {"rule": self.trigger_rule,
                        "values": {k: _num(v) for k, v in self.trigger_values}},
            "approval": self.approval, "template": self.template,
            "created_at": self.created_at.isoformat(), "expires_at": self.expires_at.isoformat(),
            "steps": [s.to_dict() for s in self.steps],
        }

    def render_text(self) -> str:
        lines = [f"{self.title}", f"  script {self.id} · account {self.account} · approval "
                 f"{self.approval} · expires {self.expires_at.isoformat()}"]
        for i, s in enumerate(self.steps, 1):
            if s.kind == "order":
                what = f"{s.quantity} {s.symbol}"
                if s.right:
                    what += f" {s.expiry} {s.strike:g}{s.right}"
                price = f" limit {s.limit:.2f}" if s.limit is not None else ""
                lines.append(f"  {i}. {s.action} {what} {s.order_type}{price}")
            elif s.kind == "alert":
                lines.append(f"  {i}. ALERT {s.priority} {s.alert_type}: {s.text}")
            else:
                lines.append(f"  {i}. {s.text}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Decision:
    ts: dt.datetime
    event_index: int
    policy_hash: str
    event_type: str
    fired: tuple[RuleTrace, ...] = ()
    not_fired: tuple[RuleTrace, ...] = ()
    transitions: tuple[Transition, ...] = ()
    alerts: tuple[Alert, ...] = ()
    scripts: tuple[ActionScript, ...] = ()
    notes: tuple[str, ...] = field(default=())
    errors: tuple[RuleTrace, ...] = ()  # rules that could not be evaluated (e.g. division by zero)

    @property
    def empty(self) -> bool:
        return not (self.fired or self.not_fired or self.transitions or self.alerts
                    or self.scripts or self.notes or self.errors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts.isoformat(),
            "event_index": self.event_index,
            "event_type": self.event_type,
            "policy_hash": self.policy_hash,
            "fired": [r.to_dict("explanation") for r in self.fired],
            "not_fired": [r.to_dict("reason") for r in self.not_fired],
            "transitions": [t.to_dict() for t in self.transitions],
            "alerts": [a.to_dict() for a in self.alerts],
            "scripts": [s.to_dict() for s in self.scripts],
            "notes": list(self.notes),
            "errors": [r.to_dict("error") for r in self.errors],
        }
