"""The replay's result: per-account figures (time-weighted return, drawdown on it, positions
opened, win rate), buy-and-hold benchmarks, forks and merges, escalations, alerts, taxes, the
capital-conservation check, and the series the report plots. Plain JSON-able data.

The definitions live in `alluse.runtime.performance` (returns) and `alluse.runtime.positions`
(positions, trades, win rate); README's Replay paragraph says them in words.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from alluse.engine import portfolio
from alluse.engine.events import OptionContract
from alluse.engine.ledger import money
from alluse.engine.state import RESERVE_ACCOUNT, TAX_ACCOUNT
from alluse.engine.tax import tax_by_year
from alluse.runtime.performance import (
    FlowPoint,
    annualised,
    buy_and_hold,
    max_drawdown,
    pct,
    twr_index,
)

if TYPE_CHECKING:
    from alluse.runtime.replay import Replay

BENCHMARK_SPY = "SPY"
BENCHMARK_MAG6 = "MAG6"


def _unrealized(replay: Replay) -> Decimal:
    """Open positions' marks against what the ledger holds them at (stock basis, premium)."""
    st = replay.engine.state
    total = Decimal(0)
    marks = {p.position_key: portfolio.option_mark(st, p) for p in st.shorts.values()}
    for lot in st.ledger.lots():
        if lot.account in (TAX_ACCOUNT, RESERVE_ACCOUNT):
            continue
        if lot.expiry is None:
            sym = st.market.get(lot.symbol)
            if sym is not None and sym.price is not None:
                total += money(sym.price * lot.quantity) - lot.basis
            continue
        if lot.quantity > 0:  # a long option: worth +mark × 100 × qty against its cost
            mark = portfolio.contract_mark(st, lot.symbol, lot.expiry, lot.strike or 0.0,
                                           lot.right or "P", lot.strike or 0.0)
            total += money(mark * 100 * lot.quantity) - lot.basis
            continue
        # a short option lot's basis is the net credit received; it is worth −mark × 100 × qty
        key = (lot.account, OptionContract(lot.symbol, lot.expiry, lot.strike or 0.0,
                                           lot.right or "P"))
        total += lot.basis - money(marks.get(key, 0.0) * 100 * abs(lot.quantity))
    return total


def _performance(replay: Replay, acc: Any) -> tuple[dict[str, Any], list[float | None]]:
    """An account's time-weighted figures and its daily index."""
    tally = replay.tally
    points = [FlowPoint(d, flow, after) for d, a, flow, after in tally.flow_points if a == acc.id]
    root = acc.parent is None
    index = twr_index(tally.dates, tally.equity.get(acc.id, []), points,
                      float(acc.initial_capital) if root else None)
    measured = [(d, v) for d, v in zip(tally.dates, index, strict=False) if v is not None]
    first = replay.params.start if root or acc.created_at is None else acc.created_at.date()
    total = measured[-1][1] - 1 if measured else None
    wins, closed = tally.positions.win_rate(acc.id)
    # a forked account's funding is its initial capital, not a flow of its life
    moved = points[1:] if not root and points and points[0].flow > 0 else points
    figures = {
        "twr_pct": pct(total),
        "twr_annualised_pct": pct(annualised(total, first, dt.date.fromisoformat(measured[-1][0])))
        if total is not None else None,
        "max_drawdown_pct": pct(max_drawdown(index)) if measured else None,
        "net_flows": round(sum(p.flow for p in moved), 2),
        "trades": tally.positions.opened.get(acc.id, 0),
        "closed_positions": closed,
        "win_rate": round(wins / closed, 4) if closed else None,
    }
    return figures, index


def _adjusted_closes(replay: Replay, symbols: list[str]) -> dict[str, dict[str, tuple[float, float]]]:
    """(open, close) per ISO date from the bundled split- and dividend-adjusted daily bars: a
    buy-and-hold benchmark on them is a total return (dividends reinvested), whatever prices the
    replay trades on."""
    from alluse.adapters import marketdata

    adjusted = {(i.symbol, i.dataset) for i in marketdata.available()
                if i.frequency == "daily" and i.price_basis == "split_div_adjusted"}
    mode = "refuse" if replay.ps.data.quality.on_bad_rows == "refuse" else "repair"
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for sym in symbols:
        dataset = "daily" if (sym, "daily") in adjusted else next(
            (d for s, d in sorted(adjusted) if s == sym), None)
        if dataset is None:
            continue
        bars = marketdata.read_daily(sym, start=replay.params.start, end=replay.params.end,
                                     dataset=dataset, repair=mode).bars  # type: ignore[arg-type]
        out[sym] = {b.date.isoformat(): (b.open, b.close) for b in bars}
    return out


def _benchmarks(replay: Replay) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """SPY and an equal-weight Mag-6 basket bought at the first session's open and held."""
    dates = replay.tally.dates
    if not dates:
        return {}, {}
    mag6 = list(replay.ps.data.mag6)
    bars = _adjusted_closes(replay, sorted({BENCHMARK_SPY, *mag6}))
    figures: dict[str, Any] = {}
    series: dict[str, list[float]] = {}
    for key, name, label, symbols in (
            (BENCHMARK_SPY, "SPY", "SPY buy-and-hold", [BENCHMARK_SPY]),
            (BENCHMARK_MAG6, "Mag-6", "Mag-6 equal-weight buy-and-hold", mag6)):
        first = dates[0]
        if not all(first in bars.get(s, {}) for s in symbols):
            continue  # a symbol without a bar on the first day: no fair entry price
        entry = {s: bars[s][first][0] for s in symbols}
        closes = {s: {d: oc[1] for d, oc in bars[s].items()} for s in symbols}
        index = buy_and_hold(dates, entry, closes)
        total = index[-1] - 1
        figures[key] = {
            "name": name, "label": label, "symbols": symbols, "weights": "equal dollars at the first open",
            "from": first, "to": dates[-1],
            "return_pct": pct(total),
            "annualised_pct": pct(annualised(total, replay.params.start,
                                             dt.date.fromisoformat(dates[-1]))),
            "max_drawdown_pct": pct(max_drawdown(index)),
        }
        series[key] = [round(v, 6) for v in index]
    return figures, series


def _not_fired(replay: Replay) -> dict[str, list[dict[str, Any]]]:
    """Per account, the entry checks that did not pass, most frequent first."""
    examples = replay.tally.not_fired_example
    return {acc: [{"rule": rule, "step": step, "count": n,
                   "last": examples.get(acc, {}).get((rule, step), "")} for (rule, step), n in
                  sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
            for acc, counts in sorted(replay.tally.not_fired.items())}


def _dividends(replay: Replay) -> dict[str, Any]:
    """Dividend income (ordinary income, reported apart from capital gains) by account and year."""
    by_account: dict[str, Decimal] = {}
    by_year: dict[str, Decimal] = {}
    for d in replay.engine.state.ledger.dividends():
        by_account[d.account] = by_account.get(d.account, Decimal(0)) + d.amount
        year = str(d.date.year)
        by_year[year] = by_year.get(year, Decimal(0)) + d.amount
    return {"by_account": {k: str(v) for k, v in sorted(by_account.items())},
            "by_year": {k: str(v) for k, v in sorted(by_year.items())},
            "total": str(money(sum(by_account.values(), Decimal(0))))}


def build_result(replay: Replay) -> dict[str, Any]:
    eng = replay.engine.state
    tally = replay.tally
    accounts = []
    twr_series: dict[str, list[float | None]] = {}
    final_sum = Decimal(0)
    for acc in sorted(eng.tree.accounts.values(), key=lambda a: (a.unit, a.id)):
        final = portfolio.equity(eng, acc.id)
        final_sum += final
        initial = float(acc.initial_capital)
        figures, index = _performance(replay, acc)
        twr_series[acc.id] = [None if v is None else round(v, 6) for v in index]
        accounts.append({
            "id": acc.id, "type": acc.type, "parent": acc.parent, "unit": acc.unit,
            "initial_capital": initial, "final_equity": float(final),
            "return_pct": (round((float(final) / initial - 1) * 100, 2)
                           if initial and acc.state != "merged" else None),
            **figures,
            "state": acc.state,
            "created": acc.created_at.date().isoformat() if acc.created_at else
            replay.params.start.isoformat(),
        })
    benchmarks, benchmark_series = _benchmarks(replay)
    realized = sum((r.amount for r in eng.ledger.realized()), Decimal(0))
    total_pnl = realized + _unrealized(replay)
    capital = eng.capital
    # dividends are cash the positions earned outside P&L (ordinary income, not capital gains)
    dividends = sum((d.amount for d in eng.ledger.dividends()), Decimal(0))
    ok = final_sum == capital + total_pnl + dividends - eng.taxes_withheld - eng.withdrawn
    rates = replay.ps.accounts.tax
    # every account's results netted per year as one taxpayer's (the ledger's wash-sale scope)
    years = tax_by_year(eng.ledger.realized(), rates.short_term_rate, rates.long_term_rate)
    last = years[max(years)] if years else None
    escalations: dict[str, int] = {}
    for c in tally.protocol_levels:
        if int(c["to"][1:]) > int(c["from"][1:]):
            escalations[c["to"]] = escalations.get(c["to"], 0) + 1
    return {
        "params": {**replay.params.as_dict(), "policies": "bundled"},
        "policy_hash": replay.ps.hash,
        "run_id": replay.run_id,
        "accounts": accounts,
        "forks": list(eng.forks),
        "merges": list(eng.merges),
        "equity": {"dates": list(tally.dates), "series": dict(sorted(tally.equity.items()))},
        "twr": {"dates": list(tally.dates), "series": dict(sorted(twr_series.items())),
                "benchmarks": benchmark_series},
        "benchmarks": benchmarks,
        "entry_not_fired": _not_fired(replay),
        "protocol_levels": list(tally.protocol_levels),
        "escalations": dict(sorted(escalations.items())),
        "alerts": dict(sorted(tally.alert_counts.items())),
        "premium_weekly": [{"week": w, "premium": round(p, 2)}
                           for w, p in sorted(tally.premium_weekly.items())],
        "taxes": {"withheld": str(money(eng.taxes_withheld)),
                  "accrued_by_year": {str(y): str(t.tax) for y, t in years.items()},
                  "loss_deduction_by_year": {str(y): str(t.deduction) for y, t in years.items()
                                             if t.deduction},
                  "loss_carried_forward": {"ST": str(last.carry_st if last else money(0)),
                                           "LT": str(last.carry_lt if last else money(0))}},
        "trades": sum(tally.positions.opened.values()),
        "fills": tally.fills,
        "total_pnl": float(total_pnl),
        "policy_summary": {"strategies": list(replay.ps.strategies)},
        "data": {"bars": replay.params.bars, "notes": list(replay.notes),
                 "repairs": list(replay.repairs)},
        "dividends": _dividends(replay),
        "conservation": {"initial_capital": str(capital), "total_pnl": str(total_pnl),
                         "dividends": str(money(dividends)),
                         "taxes_withheld": str(money(eng.taxes_withheld)),
                         "withdrawn": str(money(eng.withdrawn)),
                         "final_equity_sum": str(final_sum), "ok": ok},
    }
