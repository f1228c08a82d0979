"""Risk: position sizing under the limits of risk.yaml, and the circuit breakers.

Every breaker pauses an account through the one `suspend()`; `resume_accounts` lifts pauses per
``circuit_breakers.resume``. Limit measures are a registry keyed by the YAML ``measure`` value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

from alluse.engine import portfolio
from alluse.engine.accounts import AccountInfo
from alluse.engine.context import Ctx, Values
from alluse.engine.policy.models import Limit

# measure -> risk of one contract from (limit, atr, strike, premium)
LIMIT_MEASURES: dict[str, Callable[[Limit, float, float, float], float]] = {
    "atr_risk": lambda limit, atr, strike, premium: 100.0 * atr * limit.atr_multiple,
    "collateral": lambda limit, atr, strike, premium: 100.0 * strike,
    "premium": lambda limit, atr, strike, premium: 100.0 * premium,
}


def per_contract(limit: Limit, atr: float, strike: float, premium: float) -> float:
    return LIMIT_MEASURES[limit.measure](limit, atr, strike, premium)


def suspend(ctx: Ctx, acc: AccountInfo, rule: str, explanation: str, title: str,
            values: Values) -> None:
    """Pause new entries of ``acc`` (a breaker tripped); alert the human."""
    cb = ctx.ps.risk.circuit_breakers
    ctx.machines.account.fire(acc.model, "suspend", rule, values)
    ctx.state.suspended_on[acc.id] = ctx.today
    ctx.fire(rule, f"{explanation}: new entries paused until {cb.resume.replace('_', ' ')}", "",
             values)
    ctx.alert("ACCOUNT_MANAGEMENT", "HIGH", title, account=acc.id, rule=rule)


def _can_suspend(acc: AccountInfo | None) -> bool:
    return acc is not None and acc.state in ("active", "forked")


def breach_breaker(ctx: Ctx) -> None:
    cb = ctx.ps.risk.circuit_breakers
    per_account: dict[str, int] = {}
    for p in ctx.state.shorts.values():
        if p.level >= cb.breach_min_level:
            per_account[p.account] = per_account.get(p.account, 0) + 1
    for acc_id, n in sorted(per_account.items()):
        acc = ctx.state.tree.accounts.get(acc_id)
        if n >= cb.max_simultaneous_breaches and acc is not None and _can_suspend(acc):
            suspend(ctx, acc, "risk#circuit_breakers/max_simultaneous_breaches",
                    f"{acc_id}: {n} positions at level ≥ {cb.breach_min_level} ≥ "
                    f"{cb.max_simultaneous_breaches}",
                    f"Circuit breaker: {acc_id} paused ({n} simultaneous protocol breaches)",
                    (("breaches", n), ("max_simultaneous_breaches", cb.max_simultaneous_breaches)))


def track_losses(ctx: Ctx, account: str, before: int) -> None:
    """Count consecutive losing results of ``account`` realized since record ``before``."""
    new = [r for r in ctx.state.ledger.realized()[before:] if r.account == account]
    if not new:
        return
    cb = ctx.ps.risk.circuit_breakers
    streaks = ctx.state.loss_streak
    for r in new:
        streaks[account] = streaks.get(account, 0) + 1 if r.amount < 0 else 0
    streak = streaks.get(account, 0)
    acc = ctx.state.tree.accounts[account]
    if streak >= cb.consecutive_losses and _can_suspend(acc):
        suspend(ctx, acc, "risk#circuit_breakers/consecutive_losses",
                f"{account}: {streak} losing closes in a row ≥ {cb.consecutive_losses}",
                f"Circuit breaker: {account} paused after {streak} consecutive losses",
                (("consecutive_losses", streak), ("limit", cb.consecutive_losses)))


def daily_drawdown(ctx: Ctx) -> None:
    """An account down ``daily_drawdown_pct`` from its equity at the day's first protocol check
    is paused. Money moved by forks and merges is not a loss: the start is re-based on it."""
    cb = ctx.ps.risk.circuit_breakers
    today = ctx.today
    for acc in sorted(ctx.state.tree.accounts.values(), key=lambda a: a.id):
        if not _can_suspend(acc):
            continue
        equity = portfolio.equity(ctx.state, acc.id)
        start = ctx.state.day_start_equity.get(acc.id)
        if start is None or start[0] != today:
            ctx.state.day_start_equity[acc.id] = (today, equity)
            continue
        if start[1] <= 0:
            continue
        down = float((start[1] - equity) / start[1] * 100)
        if down < cb.daily_drawdown_pct:
            continue
        suspend(ctx, acc, "risk#circuit_breakers/daily_drawdown_pct",
                f"{acc.id}: down {down:.2f}% today ({float(start[1]):,.2f} → {float(equity):,.2f})"
                f" ≥ {cb.daily_drawdown_pct:g}%",
                f"Circuit breaker: {acc.id} paused, down {down:.1f}% today",
                (("start_equity", float(start[1])), ("equity", float(equity)),
                 ("drawdown_pct", round(down, 2)), ("limit_pct", cb.daily_drawdown_pct)))


def rebase_day_start(ctx: Ctx, account: str, moved: Decimal) -> None:
    """Cash moved out of (negative: into) ``account`` by a fork or merge is not a drawdown."""
    start = ctx.state.day_start_equity.get(account)
    if start is not None:
        ctx.state.day_start_equity[account] = (start[0], start[1] - moved)


def resume_accounts(ctx: Ctx) -> None:
    """Circuit breakers resume on the next trading day or week, per risk.yaml (never: manual)."""
    cb = ctx.ps.risk.circuit_breakers
    if cb.resume == "manual":
        return
    today = ctx.today
    for acc in sorted(ctx.state.tree.accounts.values(), key=lambda a: a.id):
        if acc.state != "suspended":
            continue
        since = ctx.state.suspended_on.get(acc.id)
        if since is None or since >= today:
            continue
        if cb.resume == "next_week" and today.isocalendar()[1] == since.isocalendar()[1]:
            continue
        ctx.state.loss_streak[acc.id] = 0
        ctx.machines.account.fire(acc.model, "resume", "risk#circuit_breakers/resume",
                                  (("suspended_on", since.isoformat()),))
        ctx.fire("risk#circuit_breakers/resume", f"{acc.id}: resumed ({cb.resume})")


def size(ctx: Ctx, acc: AccountInfo, right: str, strike: float, premium: float,
         atr: float) -> tuple[int, str, str, Values]:
    """Contracts allowed by every limit; returns (qty, binding rule, explanation, values)."""
    risk = ctx.ps.risk
    state = ctx.state
    equity = float(portfolio.equity(state, acc.id))
    pos_unit = per_contract(risk.position_limit, atr, strike, premium)
    day_unit = per_contract(risk.daily_limit, atr, strike, premium)
    pos_cap = equity * risk.position_limit.max_pct_of_account / 100
    used = state.daily_risk.get((acc.id, ctx.today), 0.0)
    day_budget = equity * risk.daily_limit.max_pct_of_account / 100
    day_cap = day_budget - used
    caps: list[tuple[int, str, str]] = [
        (math.floor(pos_cap / pos_unit) if pos_unit > 0 else 0, "risk#position_limit",
         f"one contract risks {pos_unit:,.0f} ({risk.position_limit.measure}); limit "
         f"{risk.position_limit.max_pct_of_account:g}% of equity {equity:,.0f} = {pos_cap:,.0f}"),
        (math.floor(day_cap / day_unit) if day_unit > 0 else 0, "risk#daily_limit",
         f"one contract uses {day_unit:,.0f} of today's {risk.daily_limit.max_pct_of_account:g}% "
         f"budget; {max(day_cap, 0):,.0f} of {day_budget:,.0f} left"),
    ]
    if right == "P" and risk.collateral.cash_secured:
        free = float(portfolio.free_cash(state, acc.id, ctx.ts)) * \
            risk.collateral.max_pct_of_cash / 100
        caps.append((max(math.floor(free / (100 * strike)), 0), "risk#collateral",
                     f"cash-secured: {100 * strike:,.0f} per contract, {free:,.0f} free cash"))
    level = portfolio.max_level(state, acc.id)
    lv = ctx.ps.protocols.levels[level]
    qty, binding, why = min(caps, key=lambda c: c[0])
    if lv.new_risk == "blocked":
        qty, binding, why = 0, f"protocols#levels/{level}", (
            f"{acc.id} has a position at L{level} ({lv.name}): new risk blocked")
    elif lv.new_risk == "reduced":
        reduced = math.floor(qty * lv.size_factor)
        if reduced < qty:
            qty, binding, why = reduced, f"protocols#levels/{level}", (
                f"{acc.id} has a position at L{level} ({lv.name}): size × {lv.size_factor:g}")
    values: Values = (
        *((rule.split("#")[-1] + "_max", c) for c, rule, _ in caps),
        ("equity", round(equity, 2)), ("protocol_level", level))
    return qty, binding, why, values
