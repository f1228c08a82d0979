"""An action script as stored (`ActionScript.to_dict()`) rendered as readable lines.

The same layout as `ActionScript.render_text` (the alert email's), read from the JSON the store
keeps, with the trigger's values spelled out; missing keys are left out, never guessed.
"""

from __future__ import annotations

from typing import Any


def _number(value: Any) -> str:
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def _step(i: int, step: dict[str, Any]) -> str:
    kind = step.get("kind")
    if kind == "order":
        what = f"{step.get('quantity')} {step.get('symbol', '')}"
        if step.get("right"):
            strike = step.get("strike")
            shown = _number(strike) if strike is not None else "?"
            what += f" {step.get('expiry') or ''} {shown}{step['right']}"
        limit = step.get("limit")
        price = f" limit {limit:.2f}" if isinstance(limit, int | float) else ""
        return f"{i}. {step.get('action', '?')} {what} {step.get('order_type', '')}{price}".rstrip()
    if kind == "alert":
        return f"{i}. ALERT {step.get('priority', '')}: {step.get('text', '')}"
    return f"{i}. {step.get('text', '')}"


def trigger_text(script: dict[str, Any]) -> str:
    trigger = script.get("trigger") or {}
    values = trigger.get("values") or {}
    shown = ", ".join(f"{k} {_number(v)}" for k, v in values.items())
    return f"{trigger.get('rule', '?')}" + (f" — {shown}" if shown else "")


def script_lines(script: dict[str, Any]) -> list[str]:
    """Title, trigger, creation, then each step numbered as in the alert email."""
    lines = [str(script.get("title") or script.get("id", "?"))]
    lines.append(f"trigger: {trigger_text(script)}")
    if script.get("template"):
        lines.append(f"template: {script['template']}")
    if script.get("underlying_price"):
        lines.append(f"underlying price when proposed: {_number(script['underlying_price'])}")
    steps = script.get("steps") or []
    lines.append(f"steps ({len(steps)}):")
    lines.extend(f"  {_step(i, s)}" for i, s in enumerate(steps, 1))
    return lines
