"""The feedback loop's two moments, on a `Ctx`: Monday's predictions and Saturday's scoring.

Monday before the open (the ``week_prediction`` job, `week_prediction`) every traded symbol's
week mode is predicted by week_types.yaml's ``predictions.rules`` (first match wins) from what is
known before the week (`learning.prediction_names`), and each account's week is traced: its
strategy's symbols with the week types its positions are expected to end with. Saturday the
weekly cycle (`cycles.weekly_cycle`) classifies the actual modes and week types and calls
`score_week`: both sides are stored in ``EngineState.learning`` and traced under
``week_types#learning`` — each symbol's hit or miss, each outcome's expected vs actual week type,
the confusion matrices and hit rates (rolling and cumulative), strategy performance by week mode
and week type, each account's weekly return against its strategy's target, and the outlook for
the coming week. The arithmetic is `learning`'s (pure).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from alluse.engine.calendar import NY
from alluse.engine.context import Ctx, Values
from alluse.engine.learning import (
    LEARNING,
    NONE,
    Perf,
    Score,
    TypeRecord,
    account_strategy,
    expected_type,
    iso_week,
    predicted_symbols,
    prediction_names,
    prune,
    score_values,
    scoreboard,
    target_pct,
    target_status,
    type_scoreboard,
    weekly_return_pct,
)
from alluse.engine.state import Outcome


def _rounded(names: Mapping[str, Any]) -> Values:
    return tuple((k, round(v, 4) if isinstance(v, float) else v) for k, v in names.items())


def predict(ctx: Ctx, symbol: str, week: str, *, step: str = "") -> tuple[str, str] | None:
    """The first matching prediction rule's (rule, mode) for ``symbol`` in ``week``, traced
    (fired, or an error when a rule cannot read its data); None when no rule matched."""
    pred = ctx.ps.week_types.predictions
    assert pred is not None
    hist = ctx.state.learning
    vix = ctx.state.market.get(pred.vix_symbol) if pred.vix_symbol else None
    names = prediction_names(symbol, ctx.state.market.get(symbol), vix,
                             hist.last_actual(symbol, week))
    for name, rule in pred.rules.items():
        expr = ctx.ps.expr("week_types.yaml", "predictions", "rules", name, "when")
        res = ctx.evaluator.test(expr, names)
        if res.error is not None:
            ctx.error(expr.rule_id, f"{symbol} {week}: no prediction, {res.error} (the data "
                      "this rule reads is not there yet)", rule.when, _rounded(names))
            return None
        if res.result:
            ctx.fire(expr.rule_id, f"{symbol} {week}: predicted {rule.mode} "
                     f"({ctx.ps.week_types.modes[rule.mode].label})", rule.when,
                     _rounded(names), step=step)
            return name, rule.mode
    ctx.miss("week_types#predictions", f"{symbol} {week}: no prediction rule matched",
             values=_rounded(names), step=step)
    return None


def week_prediction(ctx: Ctx) -> None:
    """Monday before the open: predict each traded symbol's week mode, then each account's
    week (its strategy's symbols and the week types its positions are expected to end with)."""
    if ctx.ps.week_types.predictions is None:
        ctx.miss("week_types.predictions", "week_types.yaml has no predictions: nothing to do")
        return
    week = iso_week(ctx.today)
    hist = ctx.state.learning
    modes: dict[str, str] = {}
    for symbol in predicted_symbols(ctx.ps):
        rec = hist.record(week, symbol)
        if rec.actual:  # the week is already classified: a late run changes nothing
            continue
        made = predict(ctx, symbol, week)
        rec.rule, rec.predicted = made if made is not None else ("", "")
        modes[symbol] = rec.predicted
    wt = ctx.ps.week_types
    for acc in sorted(ctx.state.tree.accounts.values(), key=lambda a: a.id):
        strategy, symbols = account_strategy(ctx.ps, acc.type)
        if acc.state == "merged" or strategy is None or not symbols:
            continue
        values: list[tuple[str, Any]] = []
        said: list[str] = []
        for s in symbols:
            mode = modes.get(s, hist.predicted(week, s))
            values += [(s, mode or None),
                       (f"{s}.expected_put", expected_type(wt, mode, "P") or None),
                       (f"{s}.expected_call", expected_type(wt, mode, "C") or None)]
            said.append(f"{s} {mode or 'no prediction'}")
        text = ", ".join(said)
        ctx.fire("week_types#predictions", f"{acc.id} {week}: {text}", values=tuple(values))


# ------------------------------------------------------------------------------ the weekly cycle
def score_week(ctx: Ctx, modes: Mapping[str, tuple[str, float]],
               typed: Iterable[tuple[Outcome, str]], equities: Mapping[str, Decimal]) -> None:
    """Saturday: store the actual modes (``symbol -> (mode, week return %)``) and the week types
    of the week's outcomes beside what was predicted, and trace the scores, the performance by
    mode and type, each account's return against its target and next week's outlook."""
    wt = ctx.ps.week_types
    week = iso_week(ctx.today)
    hist = ctx.state.learning
    for symbol, (mode, ret) in sorted(modes.items()):
        rec = hist.record(week, symbol)
        if not rec.actual:  # a second run in one week changes and counts nothing
            rec.actual, rec.return_pct = mode, round(ret, 4)
            key = (symbol, rec.predicted, mode)
            hist.mode_counts[key] = hist.mode_counts.get(key, 0) + 1
        mode = rec.actual
        verdict = "no prediction" if not rec.predicted else (
            "hit" if rec.predicted == mode else "miss")
        ctx.fire(LEARNING, f"{symbol} {week}: predicted {rec.predicted or 'nothing'}, actual "
                 f"{mode}: {verdict}", values=(
                     ("symbol", symbol), ("predicted", rec.predicted or None),
                     ("rule", rec.rule or None), ("actual", mode),
                     ("return_pct", rec.return_pct), ("hit", rec.predicted == mode)),
                 step="mode")
    accounts = ctx.state.tree.accounts
    for o, code in typed:
        acc_type = accounts[o.account].type if o.account in accounts else o.account
        mode = modes[o.symbol][0] if o.symbol in modes else ""
        expected = expected_type(wt, hist.predicted(week, o.symbol), o.right)
        hist.types.append(TypeRecord(week, o.account, o.symbol, o.right, expected, code, mode,
                                     o.pnl))
        key = (o.account, expected, code)
        hist.type_counts[key] = hist.type_counts.get(key, 0) + 1
        for by, name in (("mode", mode or NONE), ("type", code or NONE)):
            perf = hist.performance.setdefault((acc_type, by, name), Perf())
            perf.trades += 1
            perf.wins += o.pnl > 0
            perf.pnl = round(perf.pnl + o.pnl, 2)
        ctx.fire(LEARNING, f"{o.account} {o.symbol} {week}: expected {expected or 'nothing'}, "
                 f"was {code or 'unclassified'}", values=(
                     ("account", o.account), ("symbol", o.symbol), ("right", o.right),
                     ("expected", expected or None), ("actual", code or None),
                     ("mode", mode or None), ("pnl", round(o.pnl, 2))), step="type")
    rolling = wt.learning.rolling_weeks
    for sym, scores in scoreboard(hist, rolling).items():
        s = scores["cumulative"]
        ctx.fire(LEARNING, f"week modes {sym}: hit rate {_rate(scores['rolling'])} over the "
                 f"last {rolling} weeks, {_rate(s)} cumulative ({s.hits}/{s.predicted})",
                 values=(("symbol", sym), *score_values(scores["rolling"], "rolling"),
                         *score_values(s, "cumulative")), step="mode_score")
    for acc, scores in type_scoreboard(hist, rolling).items():
        s = scores["cumulative"]
        ctx.fire(LEARNING, f"week types {acc}: expected type right {_rate(s)} cumulative "
                 f"({s.hits}/{s.predicted})",
                 values=(("account", acc), *score_values(scores["rolling"], "rolling"),
                         *score_values(s, "cumulative")), step="type_score")
    _performance(ctx)
    _targets(ctx, equities)
    _outlook(ctx)
    prune(hist, wt.learning.keep_weeks)


def _rate(s: Score) -> str:
    r = s.hit_rate
    return "n/a" if r is None else f"{r:.0%}"


def _performance(ctx: Ctx) -> None:
    by_type: dict[str, list[tuple[str, Any]]] = {}
    for (acc_type, by, name), p in sorted(ctx.state.learning.performance.items()):
        by_type.setdefault(acc_type, []).extend([
            (f"{by}.{name}.trades", p.trades), (f"{by}.{name}.wins", p.wins),
            (f"{by}.{name}.pnl", p.pnl)])
    for acc_type, values in by_type.items():
        best = max(((k.split(".")[1], v) for k, v in values
                    if k.startswith("mode.") and k.endswith(".pnl")), key=lambda kv: kv[1])
        ctx.fire(LEARNING, f"{acc_type} performance by week mode and week type since the "
                 f"start; best mode so far {best[0]} ({best[1]:+,.2f})",
                 values=(("account_type", acc_type), *values), step="performance")


def _targets(ctx: Ctx, equities: Mapping[str, Decimal]) -> None:
    hist = ctx.state.learning
    since = hist.last_cycle
    if since is not None and iso_week(since.astimezone(NY).date()) == iso_week(ctx.today):
        return  # this week's returns are counted already
    inflow: dict[str, Decimal] = {}
    for tr in ctx.state.ledger.transfers():
        if since is None or tr.ts > since:
            inflow[tr.target] = inflow.get(tr.target, Decimal(0)) + tr.amount
            inflow[tr.source] = inflow.get(tr.source, Decimal(0)) - tr.amount
    for acc_id, now in sorted(equities.items()):
        before = hist.equity.get(acc_id)
        hist.equity[acc_id] = now
        acc = ctx.state.tree.accounts[acc_id]
        strategy, _ = account_strategy(ctx.ps, acc.type)
        if before is None or strategy is None or acc.state == "merged":
            continue
        ret = weekly_return_pct(before, now, inflow.get(acc_id, Decimal(0)))
        if ret is None:
            continue
        target, floor = target_pct(strategy.premium)
        status = target_status(ret, target, floor)
        key = (acc_id, status)
        hist.target_weeks[key] = hist.target_weeks.get(key, 0) + 1
        counts = {st: n for (a, st), n in sorted(hist.target_weeks.items()) if a == acc_id}
        weeks = sum(counts.values())
        ctx.fire(LEARNING, f"{acc_id}: week's return {ret:+.3f}% against a {target:.3f}% target"
                 + (f" ({floor:.3f}% floor)" if floor is not None else "") + f": "
                 f"{status.replace('_', ' ')}; on target {counts.get('on_target', 0)} of "
                 f"{weeks} weeks", values=(
                     ("account", acc_id), ("return_pct", round(ret, 4)),
                     ("target_pct", round(target, 4)),
                     ("floor_pct", None if floor is None else round(floor, 4)),
                     ("status", status), *((f"weeks.{k}", n) for k, n in counts.items())),
                 step="target")
    hist.last_cycle = ctx.ts


def _outlook(ctx: Ctx) -> None:
    """The coming week's prediction as the rules see it now (Monday's job records it)."""
    if ctx.ps.week_types.predictions is None:
        return
    week = iso_week(ctx.today + dt.timedelta(days=7 - ctx.today.weekday()))
    for symbol in predicted_symbols(ctx.ps):
        predict(ctx, symbol, week, step="outlook")
