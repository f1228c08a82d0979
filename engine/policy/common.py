"""Types shared by every policy model: frozen, ``extra="forbid"`` at every depth."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class Model(BaseModel):
    """Base of every policy model: immutable, unknown keys rejected."""

    # allow_inf_nan: `.inf` would pass every "greater than" bound (an infinite capital, a fork
    # threshold never reached) and `.nan` fails comparisons silently
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False, strict=True,
                              allow_inf_nan=False)


Priority = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
PRIORITY_RANK: dict[str, int] = {"LOW": 0, "MEDIUM": 1, "HIGH": 2, "CRITICAL": 3}

Right = Literal["P", "C"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri"]
WEEKDAY_INDEX: dict[str, int] = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4}

Ticker = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z][A-Z0-9]{0,5}([.-][A-Z0-9]{1,3})?$"),
    Field(description="Ticker symbol: 1-6 upper-case letters/digits, optional .X or -X class suffix"),
]
AccountType = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2,8}-ACC$"),
    Field(description="Account type, e.g. GEN-ACC; must be declared in accounts.yaml"),
]
AlertTypeName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,40}$"),
    Field(description="Alert type; must be declared in alerts.yaml"),
]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
HHMM = Annotated[
    str,
    StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$"),
    Field(description="Wall-clock time HH:MM in America/New_York"),
]
Percent = Annotated[float, Field(ge=0, le=100)]
Expr = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500),
    Field(description="Sandboxed expression: comparisons, and/or/not, + - * /, names of the "
                      "rule's context, numbers, strings, and abs/min/max/round/floor/ceil"),
]
Template = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1000),
    Field(description="Text with {name} or {name:.2f} placeholders from the rule's context"),
]
OrderAction = Literal["SELL_TO_OPEN", "BUY_TO_CLOSE", "BUY_TO_OPEN", "SELL_TO_CLOSE", "BUY", "SELL"]


class AlertRef(Model):
    """An alert to raise: its type (from alerts.yaml) and priority (the type's
    ``default_priority`` when left out)."""

    type: AlertTypeName
    priority: Priority | None = None


class OrderStep(Model):
    """An order in an action script.

    ```yaml
    - kind: order
      action: BUY_TO_CLOSE
      contract: position        # the position's own contract
      quantity: "quantity"
      order_type: LMT
      limit: "ask * 1.05"
    ```
    """

    kind: Literal["order"]
    action: OrderAction
    contract: Literal["position", "new", "stock"] = Field(
        "position", description="position: the position's contract; new: right/strike/expiry "
                                "given here; stock: the underlying shares")
    right: Right | None = None
    strike: Expr | None = Field(None, description="Expression for the strike of a new contract")
    expiry: Literal["position", "next_weekly", "following_weekly"] = "position"
    quantity: Expr = "quantity"
    order_type: Literal["LMT", "MKT"] = "LMT"
    limit: Expr | None = Field(None, description="Expression for the limit price (LMT orders)")


class AlertStep(Model):
    """An alert raised as a step of an action script.

    ```yaml
    - kind: alert
      type: PROTOCOL_BREACH
      priority: HIGH
      title: "{symbol} at level {level}"
    ```
    """

    kind: Literal["alert"]
    type: AlertTypeName
    priority: Priority
    title: Template


class NoteStep(Model):
    """A note for the human in the loop.

    ```yaml
    - kind: note
      text: "Reassess the size of {symbol} {strike} {right}"
    ```
    """

    kind: Literal["note"]
    text: Template


Step = Annotated[OrderStep | AlertStep | NoteStep, Field(discriminator="kind")]


class ScriptTemplate(Model):
    """An action-script template: ordered steps, approval and expiry."""

    id: Identifier
    title: Template
    approval: Literal["required", "automatic"] = "required"
    expires_minutes: int = Field(60, ge=1, le=10080)
    steps: list[Step] = Field(min_length=1)
