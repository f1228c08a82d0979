"""The weekly and quarterly cycles: week-mode and week-type classification (scored against the
week's predictions by `learning`), reinvestment notes."""

from __future__ import annotations

import datetime as dt

from alluse.engine import feedback, learning, portfolio
from alluse.engine.context import Ctx
from alluse.engine.policy.common import WEEKDAY_INDEX
from alluse.engine.state import Outcome


def weekly_cycle(ctx: Ctx) -> None:
    """Classify last week's mode per symbol and the week type of each position outcome, then
    score both against the week's predictions (`learning.score_week`)."""
    today = ctx.today
    start = today - dt.timedelta(days=(today.weekday() - WEEKDAY_INDEX["mon"]) % 7 or 7)
    wt = ctx.ps.week_types
    state = ctx.state
    context = set(learning.context_symbols(ctx.ps))  # the VIX: read by predictions, not traded
    modes: dict[str, tuple[str, float]] = {}
    typed: list[tuple[Outcome, str]] = []
    for symbol in sorted(set(state.market) - context):
        st = state.market[symbol]
        if st.price is None or st.week_open is None or st.atr.value is None:
            st.week_open, st.week_high, st.week_low = st.price, float("-inf"), float("inf")
            continue
        names = {"week_return_pct": (st.price / st.week_open - 1) * 100,
                 "week_range_pct": (st.week_high - st.week_low) / st.week_open * 100,
                 "atr_pct": st.atr.value / st.price * 100}
        for mode, spec in wt.modes.items():
            res = ctx.evaluator.test(ctx.ps.expr("week_types.yaml", "modes", mode, "when"), names)
            if res.result:
                modes[symbol] = (mode, names["week_return_pct"])
                ctx.fire(f"week_types#modes/{mode}", f"{symbol} week to {today}: {spec.label} "
                         f"({names['week_return_pct']:+.2f}%)", spec.when,
                         tuple((k, round(v, 4)) for k, v in names.items()))
                break
        st.week_open, st.week_high, st.week_low = st.price, float("-inf"), float("inf")
    for o in [o for o in state.outcomes if o.day >= start]:
        names2 = {"outcome": o.outcome, "right": o.right, "pnl": o.pnl}
        matched = ""
        for code, wtype in wt.types.items():
            if ctx.evaluator.test(ctx.ps.expr("week_types.yaml", "types", code, "when"),
                                  names2).result:
                ctx.fire(f"week_types#types/{code}", f"{o.account} {o.symbol} {o.day}: "
                         f"{wtype.label}")
                matched = code
                break
        typed.append((o, matched))
    state.outcomes = [o for o in state.outcomes if o.day >= today]
    feedback.score_week(ctx, modes, typed, {
        a.id: portfolio.equity(state, a.id) for a in state.tree.accounts.values()
        if a.state != "merged"})


def quarterly_cycle(ctx: Ctx) -> None:
    for r in ctx.ps.accounts.reinvestment:
        if r.cadence != "quarterly":
            continue
        for acc in sorted(ctx.state.tree.accounts.values(), key=lambda a: a.id):
            if acc.type == r.account_type and acc.state in ("active", "forked"):
                ctx.fire(f"accounts#reinvestment/{r.account_type}",
                         f"{acc.id}: reinvest {r.reinvest_pct:g}% of the quarter's gains; equity "
                         f"{portfolio.equity(ctx.state, acc.id):,.2f} sizes next quarter's trades")
