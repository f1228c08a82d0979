"""Rendering action-script templates (policies) into `ActionScript` records.

Templates are data: text placeholders are plain names checked at load; order fields are sandboxed
expressions parsed at load. Nothing here executes anything: `alluse act` does, after approval.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alluse.engine.decisions import ActionScript, ScriptStep, Value
from alluse.engine.expressions import Evaluator, ExpressionRuntimeError
from alluse.engine.policy import PolicySet
from alluse.engine.policy.common import AlertStep, NoteStep, OrderStep, ScriptTemplate


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def fill_text(template: str, names: Mapping[str, Any]) -> str:
    try:
        return template.format_map(_Missing(names))
    except (ValueError, TypeError):  # e.g. a float format spec on a missing value
        safe = {k: v for k, v in names.items() if v is not None}
        try:
            return template.format_map(_Missing(safe))
        except (ValueError, TypeError):
            return template


def script_id(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:12]


def _order(ps: PolicySet, file: str, path: tuple[str | int, ...], i: int, step: OrderStep,
           names: Mapping[str, Any], evaluator: Evaluator,
           expiry_for: Callable[[str], str]) -> ScriptStep:
    def ev(fld: str) -> Any:
        return evaluator.value(ps.expr(file, *path, "steps", i, fld), names)

    strike = ev("strike") if step.strike is not None else names.get("strike")
    limit = ev("limit") if step.limit is not None else None
    qty = ev("quantity")
    right = step.right or str(names.get("right", ""))
    if step.contract == "stock":
        right, strike, expiry = "", None, ""
    elif step.contract == "position":
        strike, expiry = names.get("strike"), str(names.get("expiry", ""))
    else:
        expiry = (str(names.get("expiry", "")) if step.expiry == "position"
                  else expiry_for(step.expiry))
    return ScriptStep(
        "order", action=step.action, symbol=str(names.get("symbol", "")), right=right,
        strike=float(strike) if strike is not None else None, expiry=expiry,
        quantity=math.floor(qty) if qty is not None else None,
        order_type=step.order_type,
        limit=round(float(limit), 2) if limit is not None else None)


@dataclass(frozen=True, slots=True)
class _StepContext:
    ps: PolicySet
    file: str
    path: tuple[str | int, ...]
    index: int
    names: Mapping[str, Any]
    evaluator: Evaluator
    expiry_for: Callable[[str], str]


def _order_step(c: _StepContext, step: Any) -> ScriptStep:
    try:
        return _order(c.ps, c.file, c.path, c.index, step, c.names, c.evaluator, c.expiry_for)
    except ExpressionRuntimeError as exc:
        return ScriptStep("note", text=f"order {step.action} not rendered: {exc}; decide by hand")


def _alert_step(c: _StepContext, step: Any) -> ScriptStep:
    return ScriptStep("alert", text=fill_text(step.title, c.names), priority=step.priority,
                      alert_type=step.type)


def _note_step(c: _StepContext, step: Any) -> ScriptStep:
    return ScriptStep("note", text=fill_text(step.text, c.names))


# Script step kinds, keyed by the YAML ``kind`` (the policy models' Step union is the schema).
STEP_KINDS: dict[str, Callable[[_StepContext, Any], ScriptStep]] = {
    "order": _order_step, "alert": _alert_step, "note": _note_step}
STEP_MODELS: dict[str, type[OrderStep | AlertStep | NoteStep]] = {
    "order": OrderStep, "alert": AlertStep, "note": NoteStep}


def render_script(
    ps: PolicySet,
    file: str,
    path: tuple[str | int, ...],
    template: ScriptTemplate,
    names: Mapping[str, Any],
    *,
    evaluator: Evaluator,
    ts: dt.datetime,
    account: str,
    rule: str,
    trigger_values: tuple[tuple[str, Value], ...],
    event_index: int,
    expiry_for: Callable[[str], str],
    approval: str | None = None,
    underlying_price: float = 0.0,
) -> ActionScript:
    """Render ``template`` (found at ``file``/``path`` in the policy set) with ``names``."""
    steps = [STEP_KINDS[step.kind](_StepContext(ps, file, path, i, names, evaluator, expiry_for),
                                   step)
             for i, step in enumerate(template.steps)]
    expires = ts + dt.timedelta(minutes=template.expires_minutes)
    sid = script_id(ps.hash, event_index, rule, account, template.id, names.get("symbol"),
                    names.get("strike"), names.get("expiry"))
    return ActionScript(
        id=sid, title=fill_text(template.title, names), account=account, trigger_rule=rule,
        trigger_values=trigger_values, steps=tuple(steps),
        approval=approval or template.approval, created_at=ts, expires_at=expires,
        template=template.id, underlying_price=underlying_price)
