"""The model of a policy test file (``tests/*.yaml`` beside the policies): cases of input events,
a capital and the outcomes they must give.

```yaml
# yaml-language-server: $schema=../../schemas/policy_test.schema.json
version: 1
cases:
  - name: a premium below the floor refuses the entry and asks the human
    day: 2026-11-19                 # "HH:MM" times below are on this day, New York
    capital: 100000
    events:
      - {type: daily_bars, symbol: TSLA, closes: [250, 250, 250, 250, 250, 250, 250, 250,
                                                  250, 250, 250, 250, 250, 250, 250], spread: 10}
      - {type: price, ts: "10:00", symbol: TSLA, price: 250}
      - {type: option_quote, ts: "10:00", symbol: TSLA, expiry: 2026-11-20, strike: 245,
         right: P, bid: 2.9, ask: 3.03}
      - {type: clock, ts: "10:00", name: entry_scan}
    expect:
      not_fired: [strategies/gen_acc#entry, strategies/gen_acc#rules/premium_floor]
      alerts: [{type: TRADE_OPPORTUNITY, priority: HIGH}]
      scripts: []
```

Events are the JSON Lines vocabulary of `alluse.engine.events` written as YAML mappings (a JSON
line pasted as a flow mapping is valid), with two conveniences: ``ts`` may be ``HH:MM`` or
``YYYY-MM-DD HH:MM`` in New York (on the case's ``day``), and ``type: daily_bars`` generates one
bar per weekday from a list of closes and a high-low spread, ending the day before ``end``
(default: the case's day). Rule ids are the stable ids of `PolicySet.rules`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from alluse.engine.policy.common import (
    AlertTypeName,
    Identifier,
    Model,
    OrderAction,
    Priority,
    Right,
)

TESTS_DIR = "tests"

DateText = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"),
                     Field(description="A date, YYYY-MM-DD")]
TsText = Annotated[str, StringConstraints(min_length=4, max_length=40), Field(
    description="ISO 8601 with an offset (2026-11-19T10:00:00-05:00), or HH:MM on the case's "
                "day, or YYYY-MM-DD HH:MM, both New York time")]
Symbol = Annotated[str, StringConstraints(min_length=1, max_length=10)]
RuleIdText = Annotated[str, StringConstraints(min_length=3, max_length=200), Field(
    description="A stable rule id, as `alluse policy rules` lists them "
                "(strategies/gen_acc#rules/premium_floor, protocols#levels/2 …)")]
# The account and wheel machines' states (alluse.engine.machines; a test keeps them in step).
AccountState = Literal["active", "fork_pending", "forked", "merging", "merged", "suspended"]
WheelState = Literal["cash", "short_put", "stock", "covered_call"]


# --------------------------------------------------------------------------- events


class BarEvent(Model):
    type: Literal["bar"]
    ts: TsText
    symbol: Symbol
    open: float
    high: float
    low: float
    close: float
    volume: int = 1_000_000


class PriceEvent(Model):
    type: Literal["price"]
    ts: TsText
    symbol: Symbol
    price: float


class QuoteEvent(Model):
    type: Literal["option_quote"]
    ts: TsText
    symbol: Symbol
    expiry: DateText
    strike: float
    right: Right
    bid: float
    ask: float
    delta: float | None = None
    iv: float | None = None


class FillEvent(Model):
    """A fill; without expiry/strike/right a stock trade."""

    type: Literal["fill"]
    ts: TsText
    account: str
    symbol: Symbol
    expiry: DateText | None = None
    strike: float | None = None
    right: Right | None = None
    side: Literal["BUY", "SELL"]
    quantity: int
    price: float
    commission: float | None = None
    order_id: str | None = None


class SettlementEvent(Model):
    """An assignment or expiration; ``ts`` defaults to 16:00 New York on the expiry."""

    type: Literal["assignment", "expiration"]
    ts: TsText | None = None
    account: str
    symbol: Symbol
    expiry: DateText
    strike: float
    right: Right
    quantity: int = 1


class ClockEvent(Model):
    """A scheduled job is due (``name``: a job of schedule.yaml)."""

    type: Literal["clock"]
    ts: TsText
    name: str


class OrderEndedEvent(Model):
    type: Literal["order_rejected", "order_cancelled"]
    ts: TsText
    account: str
    order_id: str
    reason: str


class DailyBarsEvent(Model):
    """Generated daily bars: close ± spread/2 as high/low, one per weekday, ending the day
    before ``end`` (default: the case's day), as `alluse.engine.testing.EventBuilder` builds them."""

    type: Literal["daily_bars"]
    symbol: Symbol
    closes: list[float] = Field(min_length=1, max_length=400)
    spread: float = Field(ge=0)
    end: DateText | None = None


CaseEvent = Annotated[
    BarEvent | PriceEvent | QuoteEvent | FillEvent | SettlementEvent | ClockEvent
    | OrderEndedEvent | DailyBarsEvent, Field(discriminator="type")]


# --------------------------------------------------------------------------- expectations


class LevelChange(Model):
    """A protocol level transition of a position (in the order they happen)."""

    account: str | None = None
    symbol: Symbol | None = None
    from_: int = Field(alias="from", ge=0, le=9)
    to: int = Field(ge=0, le=9)


class AlertExpect(Model):
    type: AlertTypeName
    priority: Priority | None = None
    account: str | None = None
    suppressed: bool | None = None
    title_contains: str | None = None


class StepExpect(Model):
    """Fields of one script step; the ones left out are not compared."""

    kind: Literal["order", "alert", "note"] | None = None
    action: OrderAction | None = None
    symbol: Symbol | None = None
    right: Right | None = None
    strike: float | None = None
    expiry: DateText | None = None
    quantity: int | None = None
    order_type: Literal["LMT", "MKT"] | None = None
    limit: float | None = None
    priority: Priority | None = None
    text_contains: str | None = None


class ScriptExpect(Model):
    template: Identifier | None = Field(None, description="The script template's id")
    account: str | None = None
    approval: Literal["required", "automatic"] | None = None
    steps: list[StepExpect] | None = Field(None, description="Every step, in order")


class AccountExpect(Model):
    """An account at the end of the case (it must exist)."""

    state: AccountState | None = None
    type: str | None = None
    parent: str | None = None
    cash: float | None = None
    equity: float | None = None


class Expect(Model):
    """What the case must give. A list that is given is compared exactly and in order (``[]``:
    none at all); one left out is not checked."""

    fired: list[RuleIdText] = Field([], description="Each of these rules fired at least once")
    not_fired: list[RuleIdText] = Field([], description="None of these rules fired")
    levels: list[LevelChange] | None = None
    alerts: list[AlertExpect] | None = None
    scripts: list[ScriptExpect] | None = None
    accounts: dict[str, AccountExpect] = Field({}, description="By account id")
    wheels: dict[str, WheelState] = Field({}, description="By ACCOUNT:SYMBOL, e.g. "
                                                          "GEN-ACC-001:TSLA: stock")


class PolicyTestCase(Model):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    day: DateText | None = Field(None, description="The day HH:MM times and daily_bars refer to")
    capital: float = Field(100_000, gt=0)
    policy: dict[str, dict[str, Any]] = Field(
        {}, description="Changes to the set under test for this case only, by policy file "
                        "(risk.yaml: {blacklist: [TSLA]}): mappings merge, other values replace")
    events: list[CaseEvent] = Field(min_length=1, max_length=10_000)
    expect: Expect


class PolicyTestFile(Model):
    version: Literal[1]
    description: str = ""
    cases: list[PolicyTestCase] = Field(min_length=1)
