"""The weekly learning loop: week modes and week types, predicted and actual, and their scores.

Monday before the open (the ``week_prediction`` job) every traded symbol's week mode is
predicted by week_types.yaml's ``predictions.rules`` (first match wins) from what is known before
the week: the last completed daily bar's indicators, the VIX and last week's actual mode. With
the prediction comes the week type each position ending that week is expected to have
(``predictions.expected_types``). Saturday the weekly cycle (`cycles.weekly_cycle`) classifies
the actual mode and each outcome's week type and hands them here: both sides are stored in
`WeekHistory` (``EngineState.learning``), scored (confusion matrices and hit rates per symbol
and overall, rolling over ``learning.rolling_weeks`` and cumulative), and shown as fired traces
of ``week_types#learning``, with each account's weekly return against its strategy's target,
strategy performance by week mode and week type, and the coming week's outlook.

Scoring (`score`, `scoreboard`, `target_pct`, `weekly_return_pct`) is pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from alluse.engine.calendar import NY
from alluse.engine.market import SymbolState
from alluse.engine.policy.models import Premium, StrategyPolicy, WeekTypesPolicy

if TYPE_CHECKING:
    from alluse.engine.context import Ctx, Values
    from alluse.engine.policy import PolicySet
    from alluse.engine.state import Outcome

LEARNING = "week_types#learning"
NONE = "none"  # the predicted side of a week without a prediction, in matrices


def iso_week(day: dt.date) -> str:
    """``2024-W07``: the ISO week (Monday to Sunday) a day belongs to."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(slots=True)
class WeekRecord:
    """A symbol's week: what was predicted Monday and what the week turned out to be."""

    week: str
    symbol: str
    predicted: str = ""  # a mode of week_types.yaml; "" when none was made
    rule: str = ""  # the prediction rule's key
    actual: str = ""  # "" until the weekly cycle classifies the week
    return_pct: float | None = None


@dataclass(slots=True)
class TypeRecord:
    """A position that ended in a week: the week type expected from the predicted mode, and the
    week type it had."""

    week: str
    account: str
    symbol: str
    right: str
    predicted: str  # "" when nothing was expected
    actual: str  # "" when no week type matched
    mode: str  # the symbol's actual mode that week ("" unknown)
    pnl: float


@dataclass(slots=True)
class Perf:
    trades: int = 0
    wins: int = 0
    pnl: float = 0.0


@dataclass(slots=True)
class WeekHistory:
    """The learning loop's memory. Records are kept ``learning.keep_weeks`` weeks; the
    cumulative counts forever (a few small numbers per symbol, account and mode)."""

    weeks: list[WeekRecord] = field(default_factory=list)
    types: list[TypeRecord] = field(default_factory=list)
    mode_counts: dict[tuple[str, str, str], int] = field(default_factory=dict)  # symbol, p, a
    type_counts: dict[tuple[str, str, str], int] = field(default_factory=dict)  # account, p, a
    performance: dict[tuple[str, str, str], Perf] = field(default_factory=dict)  # type, by, key
    target_weeks: dict[tuple[str, str], int] = field(default_factory=dict)  # account, status
    equity: dict[str, Decimal] = field(default_factory=dict)  # at the last weekly cycle
    last_cycle: dt.datetime | None = None

    def record(self, week: str, symbol: str) -> WeekRecord:
        for rec in reversed(self.weeks):
            if rec.week == week and rec.symbol == symbol:
                return rec
        rec = WeekRecord(week, symbol)
        self.weeks.append(rec)
        return rec

    def last_actual(self, symbol: str, before: str) -> WeekRecord | None:
        return next((r for r in reversed(self.weeks)
                     if r.symbol == symbol and r.actual and r.week < before), None)

    def predicted(self, week: str, symbol: str) -> str:
        return next((r.predicted for r in reversed(self.weeks)
                     if r.week == week and r.symbol == symbol), "")


STATE_CLASSES = (WeekRecord, TypeRecord, Perf, WeekHistory)


# ------------------------------------------------------------------------------ pure scoring
@dataclass(frozen=True, slots=True)
class Score:
    """Predicted vs actual over some weeks. ``matrix[(predicted, actual)]`` counts weeks
    (predicted `NONE` when no prediction was made); the hit rate is over predicted weeks;
    ``base_rate`` is what always predicting the most frequent actual mode would have scored."""

    weeks: int
    predicted: int
    hits: int
    matrix: Mapping[tuple[str, str], int]
    base_rate: float | None

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.predicted if self.predicted else None


def score(pairs: Iterable[tuple[str, str]] | Mapping[tuple[str, str], int]) -> Score:
    """Score ``(predicted, actual)`` pairs ("" predicted: none), or counts of them."""
    counts: dict[tuple[str, str], int] = {}
    items = pairs.items() if isinstance(pairs, Mapping) else ((p, 1) for p in pairs)
    for (p, a), n in items:
        key = (p or NONE, a)
        counts[key] = counts.get(key, 0) + n
    weeks = sum(counts.values())
    made = {k: n for k, n in counts.items() if k[0] != NONE}
    hits = sum(n for (p, a), n in made.items() if p == a)
    by_actual: dict[str, int] = {}
    for (_, a), n in made.items():
        by_actual[a] = by_actual.get(a, 0) + n
    n_made = sum(made.values())
    base = max(by_actual.values()) / n_made if n_made else None
    return Score(weeks, n_made, hits, dict(sorted(counts.items())), base)


def scoreboard(history: WeekHistory, rolling_weeks: int) -> dict[str, dict[str, Score]]:
    """Per symbol and ``ALL``: ``rolling`` (the last ``rolling_weeks`` classified weeks) and
    ``cumulative`` (every week scored so far) scores of the mode predictions."""
    done = [r for r in history.weeks if r.actual]
    recent = set(sorted({r.week for r in done})[-rolling_weeks:]) if rolling_weeks else set()
    symbols = sorted({s for s, _, _ in history.mode_counts} | {r.symbol for r in done})
    out: dict[str, dict[str, Score]] = {}
    for sym in [*symbols, "ALL"]:
        mine = [r for r in done if sym in ("ALL", r.symbol) and r.week in recent]
        out[sym] = {"rolling": score((r.predicted, r.actual) for r in mine),
                    "cumulative": score(_counts(history.mode_counts, sym))}
    return out


def type_scoreboard(history: WeekHistory, rolling_weeks: int) -> dict[str, dict[str, Score]]:
    """The same for week types, per account and ``ALL``."""
    recent = set(sorted({r.week for r in history.weeks if r.actual})[-rolling_weeks:])
    accounts = sorted({a for a, _, _ in history.type_counts})
    out: dict[str, dict[str, Score]] = {}
    for acc in [*accounts, "ALL"]:
        mine = [r for r in history.types if acc in ("ALL", r.account) and r.week in recent]
        out[acc] = {"rolling": score((r.predicted, r.actual) for r in mine),
                    "cumulative": score(_counts(history.type_counts, acc))}
    return out


def _counts(counts: Mapping[tuple[str, str, str], int], who: str) -> dict[tuple[str, str], int]:
    """``(who, predicted, actual)`` counts of one symbol or account, or summed over ``ALL``."""
    out: dict[tuple[str, str], int] = {}
    for (x, p, a), n in counts.items():
        if who in ("ALL", x):
            out[(p, a)] = out.get((p, a), 0) + n
    return out


def score_values(s: Score, prefix: str) -> Values:
    """A score as flat trace values: ``rolling.hit_rate``, ``rolling.green->red`` …"""
    rate = s.hit_rate
    out: list[tuple[str, Any]] = [
        (f"{prefix}.weeks", s.weeks), (f"{prefix}.predicted", s.predicted),
        (f"{prefix}.hits", s.hits),
        (f"{prefix}.hit_rate", None if rate is None else round(rate, 4)),
        (f"{prefix}.base_rate", None if s.base_rate is None else round(s.base_rate, 4))]
    out += [(f"{prefix}.{p}->{a}", n) for (p, a), n in s.matrix.items()]
    return tuple(out)


def target_pct(premium: Premium) -> tuple[float, float | None]:
    """A strategy's weekly target and floor (%): ``target_weekly_pct`` and ``min_pct``, or a
    yearly target (and floor) compounded to one week."""
    if premium.target_yearly_pct is not None:
        floor = premium.min_yearly_pct
        return (_weekly(premium.target_yearly_pct),
                None if floor is None else _weekly(floor))
    return float(premium.target_weekly_pct), float(premium.min_pct)


def _weekly(yearly_pct: float) -> float:
    return float((1 + yearly_pct / 100) ** (1 / 52) - 1) * 100


def target_status(return_pct: float, target: float, floor: float | None) -> str:
    if return_pct >= target:
        return "on_target"
    if floor is not None and return_pct >= floor:
        return "above_floor"
    return "below_floor" if floor is not None else "below_target"


def weekly_return_pct(before: Decimal, now: Decimal, net_inflow: Decimal) -> float | None:
    """The week's return of an account: equity change less money moved in (forks, merges,
    tax withheld moved out), over last week's equity."""
    if before <= 0:
        return None
    return float((now - net_inflow - before) / before * 100)


# ------------------------------------------------------------------------------ predictions
def predicted_symbols(ps: PolicySet) -> list[str]:
    return sorted({s for st in ps.strategies.values() if st.enabled for s in st.symbols})


def context_symbols(ps: PolicySet) -> list[str]:
    """Symbols whose daily bars the predictions read besides the traded ones (the VIX)."""
    pred = ps.week_types.predictions
    return [pred.vix_symbol] if pred is not None and pred.vix_symbol else []


def prediction_names(symbol: str, st: SymbolState | None, vix: SymbolState | None,
                     last: WeekRecord | None) -> dict[str, Any]:
    """What a prediction rule may read (names.WEEK_PREDICTION), from completed daily bars only:
    never ``st.price``, which may already be the new week's open. None where unknown."""
    close = st.mean.last if st is not None else None
    mean = st.mean.value if st is not None else None
    atr = st.atr.value if st is not None else None
    macd = st.macd.value if st is not None else None
    vix_close = vix.mean.last if vix is not None else None
    vix_mean = vix.mean.value if vix is not None else None
    return {
        "symbol": symbol,
        "close": close,
        "trend_pct": _pct(close, mean),
        "atr_pct": atr / close * 100 if atr is not None and close else None,
        "rsi": st.rsi.value if st is not None else None,
        "macd_hist": macd.histogram if macd is not None else None,
        "macd_hist_pct": macd.histogram / close * 100 if macd is not None and close else None,
        "vix": vix_close,
        "vix_term_pct": _pct(vix_close, vix_mean),
        "last_mode": last.actual if last is not None else "",
        "last_return_pct": last.return_pct if last is not None else None,
    }


def _pct(x: float | None, base: float | None) -> float | None:
    return (x / base - 1) * 100 if x is not None and base else None


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


def expected_type(wt: WeekTypesPolicy, mode: str, right: str) -> str:
    pred = wt.predictions
    exp = pred.expected_types.get(mode) if pred is not None and mode else None
    if exp is None:
        return ""
    return (exp.put if right == "P" else exp.call) or ""


def _account_symbols(ps: PolicySet, acc_type: str) -> tuple[StrategyPolicy | None, list[str]]:
    spec = ps.accounts.account_types.get(acc_type)
    st = ps.strategies.get(spec.strategy) if spec is not None else None
    return st, (list(st.symbols) if st is not None and st.enabled else [])


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
        strategy, symbols = _account_symbols(ctx.ps, acc.type)
        if acc.state == "merged" or strategy is None or not symbols:
            continue
        values: list[tuple[str, Any]] = []
        for s in symbols:
            mode = modes.get(s, hist.predicted(week, s))
            values += [(s, mode or None),
                       (f"{s}.expected_put", expected_type(wt, mode, "P") or None),
                       (f"{s}.expected_call", expected_type(wt, mode, "C") or None)]
        text = ", ".join(f"{s} {modes.get(s) or 'no prediction'}" for s in symbols)
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
    _prune(hist, wt.learning.keep_weeks)


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
        strategy, _ = _account_symbols(ctx.ps, acc.type)
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


def _prune(hist: WeekHistory, keep_weeks: int) -> None:
    kept = set(sorted({r.week for r in hist.weeks})[-keep_weeks:])
    hist.weeks = [r for r in hist.weeks if r.week in kept]
    hist.types = [r for r in hist.types if r.week in kept]
