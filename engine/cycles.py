"""The weekly and quarterly cycles: week-mode and week-type classification (scored against the
week's predictions by `feedback`), and reinvestment.

Reinvestment (accounts.yaml ``reinvestment``): at each cadence point (the quarterly_cycle job for
``quarterly``, the weekly_cycle job for ``weekly``; ``never``: none) every active account of the
rule's type looks at its net realized gain since its last point — or since its last fork, whose
gain already left — before tax (tax is withheld at forks only). It keeps ``reinvest_pct`` of it
to size the next period's trades and withdraws the rest to ``RESERVE`` (the owner's share, out of
the tree like withheld tax), at most the cash that open positions leave free. A net loss is not
a period: it carries into the next one, so a later gain first makes it good. An account type with
``withdrawals: false`` keeps everything (lint refuses a reinvest_pct below 100 for it); forks,
merges and tax withholding are not withdrawals.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from alluse.engine import feedback, learning, portfolio
from alluse.engine.context import Ctx, Values
from alluse.engine.ledger import ZERO, money
from alluse.engine.policy.common import WEEKDAY_INDEX
from alluse.engine.risk import rebase_day_start
from alluse.engine.state import RESERVE_ACCOUNT, Outcome


def weekly_cycle(ctx: Ctx) -> None:
    """Classify last week's mode per symbol and the week type of each position outcome, score
    both against the week's predictions (`feedback.score_week`); the week's classification goes
    to the human as a TECHNICAL_ALERT at its default priority."""
    today = ctx.today
    start = today - dt.timedelta(days=(today.weekday() - WEEKDAY_INDEX["mon"]) % 7 or 7)
    wt = ctx.ps.week_types
    state = ctx.state
    context = set(learning.context_symbols(ctx.ps))  # the VIX: read by predictions, not traded
    modes: dict[str, tuple[str, float]] = {}
    typed: list[tuple[Outcome, str]] = []
    counts: dict[str, dict[str, int]] = {}
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
                         f"{wtype.label} ({wtype.family} family)", wtype.when,
                         (("outcome", o.outcome), ("right", o.right), ("pnl", round(o.pnl, 2)),
                          ("family", wtype.family)))
                family = counts.setdefault(wtype.family, {})
                family[code] = family.get(code, 0) + 1
                matched = code
                break
        typed.append((o, matched))
    state.outcomes = [o for o in state.outcomes if o.day >= today]
    feedback.score_week(ctx, modes, typed, {
        a.id: portfolio.equity(state, a.id) for a in state.tree.accounts.values()
        if a.state != "merged"})
    if modes or counts:
        parts = [f"{family} types " + ", ".join(f"{c} {n}" for c, n in sorted(codes.items()))
                 for family, codes in sorted(counts.items())]
        listed = [f"{symbol} {mode}" for symbol, (mode, _) in modes.items()]
        ctx.alert("TECHNICAL_ALERT", None, f"Week to {today}: " + "; ".join(
            [", ".join(listed)] * bool(listed) + parts), rule="schedule.weekly_cycle")


def quarterly_cycle(ctx: Ctx) -> None:
    reinvest(ctx, "quarterly")


def reinvest(ctx: Ctx, cadence: str) -> None:
    """Close the reinvestment period of every account whose rule has this ``cadence``."""
    state = ctx.state
    pol = ctx.ps.accounts
    records = state.ledger.realized()
    period = {"weekly": "week", "quarterly": "quarter"}.get(cadence, cadence)
    for r in pol.reinvestment:
        if r.cadence != cadence:
            continue
        rule = f"accounts#reinvestment/{r.account_type}"
        withdrawals = pol.account_types[r.account_type].withdrawals
        for acc in sorted(state.tree.accounts.values(), key=lambda a: a.id):
            if acc.type != r.account_type or acc.state not in ("active", "forked"):
                continue
            since = max(acc.reinvest_index, acc.tax_cursor.index)
            gain = sum((x.amount for x in records[since:] if x.account == acc.id), ZERO)
            values: Values = (("period_gain", float(gain)), ("reinvest_pct", r.reinvest_pct))
            if gain <= 0:
                ctx.miss(rule, f"{acc.id}: net realized {gain:,.2f} this {period}: nothing to "
                         "reinvest or withdraw (a loss carries into the next period)", "", values)
                continue
            acc.reinvest_index = len(records)
            share = money(gain * Decimal(str(100 - r.reinvest_pct)) / 100) if withdrawals else ZERO
            free = portfolio.free_cash(state, acc.id, ctx.ts)
            paid = max(min(share, free), ZERO)
            if paid > 0:
                if RESERVE_ACCOUNT not in state.ledger.accounts():
                    state.ledger.open_account(RESERVE_ACCOUNT, ZERO)
                state.ledger.transfer(acc.id, RESERVE_ACCOUNT, paid, ctx.ts)
                state.withdrawn += paid
                rebase_day_start(ctx, acc.id, paid)
            if share == 0:
                why = f"reinvest_pct {r.reinvest_pct:g}" if withdrawals else "withdrawals: false"
                split = f"reinvests all of it ({why})"
            else:
                split = (f"reinvests {gain - paid:,.2f} ({r.reinvest_pct:g}%), withdraws "
                         f"{paid:,.2f} to {RESERVE_ACCOUNT}")
                if paid < share:
                    split += f" ({share - paid:,.2f} more is tied up as collateral and stays)"
            ctx.fire(rule, f"{acc.id}: {period}'s net realized gain {gain:,.2f}: {split}; equity "
                     f"{portfolio.equity(state, acc.id):,.2f} sizes the next {period}'s trades",
                     "", (*values, ("withdrawn", float(paid))))
            if paid > 0:
                ctx.alert("ACCOUNT_MANAGEMENT", None, f"Reinvestment: {acc.id} withdrew "
                          f"{paid:,.0f} of its {period}'s gain to {RESERVE_ACCOUNT}",
                          account=acc.id, rule=rule)
