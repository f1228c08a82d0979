"""What a rule module gets when the engine hands it an event: `Ctx`.

A `Ctx` bundles the active policy set, the calendar, the explicit `EngineState`, the state
machines, the expression evaluator and the `DecisionBuilder` of the event being handled. Rule
modules (entry, monitoring, wheel, risk, forking, cycles) change only ``ctx.state`` and record
what they did on ``ctx.out``; nothing reaches into the `Engine`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from alluse.engine.calendar import NY, MarketCalendar
from alluse.engine.decisions import ActionScript, Alert, Decision, RuleTrace, Transition, Value
from alluse.engine.expressions import Evaluator
from alluse.engine.machines import Machines
from alluse.engine.market import SymbolState
from alluse.engine.policy import PolicySet
from alluse.engine.policy.common import ScriptTemplate
from alluse.engine.protocol import SymbolBand
from alluse.engine.scripts import render_script
from alluse.engine.state import EngineState

Values = tuple[tuple[str, Value], ...]


class DecisionBuilder:
    """Collects one event's decision; `build()` freezes it."""

    __slots__ = ("alerts", "errors", "event_type", "fired", "index", "not_fired", "notes",
                 "scripts", "transitions", "ts")

    def __init__(self, ts: dt.datetime, index: int, event_type: str) -> None:
        self.ts = ts
        self.index = index
        self.event_type = event_type
        self.fired: list[RuleTrace] = []
        self.not_fired: list[RuleTrace] = []
        self.transitions: list[Transition] = []
        self.alerts: list[Alert] = []
        self.scripts: list[ActionScript] = []
        self.notes: list[str] = []
        self.errors: list[RuleTrace] = []

    def build(self, policy_hash: str) -> Decision:
        return Decision(self.ts, self.index, policy_hash, self.event_type, tuple(self.fired),
                        tuple(self.not_fired), tuple(self.transitions), tuple(self.alerts),
                        tuple(self.scripts), tuple(self.notes), tuple(self.errors))


class Ctx:
    """The policy, calendar, state, machines and decision of the event being handled."""

    __slots__ = ("bands", "calendar", "evaluator", "hysteresis", "machines", "out", "ps",
                 "risk_free_rate", "state", "thresholds")

    def __init__(self, ps: PolicySet, calendar: MarketCalendar, state: EngineState,
                 machines: Machines, evaluator: Evaluator, out: DecisionBuilder,
                 risk_free_rate: float, bands: dict[str, SymbolBand]) -> None:
        self.ps = ps
        self.bands = bands  # derived from state.shorts: rebuilt on restore, never saved
        self.thresholds = tuple(lv.min_atr_multiple for lv in ps.protocols.levels)
        sd = ps.protocols.step_down
        self.hysteresis: float | None = sd.hysteresis_atr if sd.mode == "hysteresis" else None
        self.calendar = calendar
        self.state = state
        self.machines = machines
        self.evaluator = evaluator
        self.out = out
        self.risk_free_rate = risk_free_rate

    @property
    def ts(self) -> dt.datetime:
        return self.out.ts

    @property
    def today(self) -> dt.date:
        return self.out.ts.astimezone(NY).date()

    def fire(self, rule: str, explanation: str, expression: str = "", values: Values = (), *,
             step: str = "") -> None:
        self.out.fired.append(RuleTrace(rule, explanation, expression, values, True, step))

    def miss(self, rule: str, reason: str, expression: str = "", values: Values = (), *,
             step: str = "") -> None:
        self.out.not_fired.append(RuleTrace(rule, reason, expression, values, False, step))

    def error(self, rule: str, message: str, expression: str = "", values: Values = ()) -> None:
        """A rule that could not be evaluated: neither fired nor failed."""
        self.out.errors.append(RuleTrace(rule, message, expression, values, False))

    def alert(self, alert_type: str, priority: str | None, title: str, *, account: str = "",
              body: str = "", rule: str = "") -> None:
        spec = self.ps.alerts.types[alert_type]
        self.out.alerts.append(self.state.throttle.admit(
            self.ps.alerts, self.out.ts, alert_type, priority or spec.default_priority, title,
            account=account, body=body, rule=rule, market_open=self.calendar.is_open(self.out.ts)))

    def symbol(self, sym: str) -> SymbolState:
        st = self.state.market.get(sym)
        if st is None:
            st = self.state.market[sym] = SymbolState.new(self.ps.data.indicators)
        return st

    def render(self, file: str, path: tuple[str | int, ...], template: ScriptTemplate,
               names: Mapping[str, Any], *, account: str, rule: str, trigger_values: Values,
               underlying_price: float, approval: str | None = None) -> ActionScript:
        # next_weekly / following_weekly count from the position's (or candidate's) expiry
        base = names.get("expiry")
        start = dt.date.fromisoformat(base) if isinstance(base, str) and base else self.today

        def expiry_for(which: str) -> str:
            nxt = self.calendar.weekly_expiry(start + dt.timedelta(days=1))
            if which == "following_weekly":
                nxt = self.calendar.weekly_expiry(nxt + dt.timedelta(days=1))
            return nxt.isoformat()

        return render_script(
            self.ps, file, path, template, names, evaluator=self.evaluator, ts=self.out.ts,
            account=account, rule=rule, trigger_values=trigger_values,
            event_index=self.out.index, expiry_for=expiry_for, approval=approval,
            underlying_price=underlying_price)
