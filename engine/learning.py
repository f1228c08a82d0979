"""The learning loop's memory and arithmetic: week modes and week types, predicted and actual.

`WeekHistory` (``EngineState.learning``) keeps, per symbol and ISO week, the mode predicted
Monday and the mode the week turned out to be, and per position that ended in a week the week
type expected from the predicted mode and the one it had; cumulative counts (confusion counts,
strategy performance by mode and type, weeks on target per account) outlive the records, which
are kept ``learning.keep_weeks`` weeks. Everything here is pure: `score`/`scoreboard` give the
confusion matrices and hit rates per symbol (or account) and overall, rolling and cumulative;
`prediction_names` what a prediction rule reads; `target_pct`/`target_status`/
`weekly_return_pct` an account's week against its strategy's target. `feedback` applies them on
a `Ctx` (Monday's ``week_prediction`` job and Saturday's weekly cycle).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from alluse.engine.market import SymbolState
from alluse.engine.policy.models import Premium, StrategyPolicy, WeekTypesPolicy

if TYPE_CHECKING:
    from alluse.engine.context import Values
    from alluse.engine.policy import PolicySet

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


def week_table(records: Iterable[WeekRecord]) -> list[tuple[str, dict[str, WeekRecord]]]:
    """The records as a weekly table: one row per ISO week (in order), each symbol's record."""
    rows: dict[str, dict[str, WeekRecord]] = {}
    for r in records:
        rows.setdefault(r.week, {})[r.symbol] = r
    return [(w, dict(sorted(rows[w].items()))) for w in sorted(rows)]


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

def expected_type(wt: WeekTypesPolicy, mode: str, right: str) -> str:
    pred = wt.predictions
    exp = pred.expected_types.get(mode) if pred is not None and mode else None
    if exp is None:
        return ""
    return (exp.put if right == "P" else exp.call) or ""

def account_strategy(ps: PolicySet, acc_type: str) -> tuple[StrategyPolicy | None, list[str]]:
    spec = ps.accounts.account_types.get(acc_type)
    st = ps.strategies.get(spec.strategy) if spec is not None else None
    return st, (list(st.symbols) if st is not None and st.enabled else [])

def prune(hist: WeekHistory, keep_weeks: int) -> None:
    """Keep the records of the last ``keep_weeks`` weeks (the cumulative counts stay)."""
    kept = set(sorted({r.week for r in hist.weeks})[-keep_weeks:])
    hist.weeks = [r for r in hist.weeks if r.week in kept]
    hist.types = [r for r in hist.types if r.week in kept]
