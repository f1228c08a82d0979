"""The replay's result: per-account figures, forks and merges, escalations, alerts, taxes, the
capital-conservation check, and the series the report plots. Plain JSON-able data."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from alluse.engine import portfolio
from alluse.engine.events import OptionContract
from alluse.engine.ledger import money
from alluse.engine.state import RESERVE_ACCOUNT, TAX_ACCOUNT
from alluse.engine.tax import tax_by_year

if TYPE_CHECKING:
    from alluse.runtime.replay import Replay


def _max_drawdown(series: list[float | None]) -> float:
    peak = None
    worst = 0.0
    for v in series:
        if v is None:
            continue
        peak = v if peak is None or v > peak else peak
        if peak and peak > 0:
            worst = max(worst, (peak - v) / peak)
    return round(worst * 100, 2)


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


def build_result(replay: Replay) -> dict[str, Any]:
    eng = replay.engine.state
    tally = replay.tally
    realized_by: dict[str, list[Decimal]] = {}
    for r in eng.ledger.realized():
        realized_by.setdefault(r.account, []).append(r.amount)
    accounts = []
    final_sum = Decimal(0)
    for acc in sorted(eng.tree.accounts.values(), key=lambda a: (a.unit, a.id)):
        final = portfolio.equity(eng, acc.id)
        final_sum += final
        closes = realized_by.get(acc.id, [])
        wins = sum(1 for x in closes if x > 0)
        initial = float(acc.initial_capital)
        accounts.append({
            "id": acc.id, "type": acc.type, "parent": acc.parent, "unit": acc.unit,
            "initial_capital": initial, "final_equity": float(final),
            "return_pct": (round((float(final) / initial - 1) * 100, 2)
                           if initial and acc.state != "merged" else None),
            "max_drawdown_pct": _max_drawdown(tally.adjusted_equity.get(acc.id, [])),
            "trades": len(closes), "win_rate": round(wins / len(closes), 4) if closes else 0.0,
            "state": acc.state,
            "created": acc.created_at.date().isoformat() if acc.created_at else
            replay.params.start.isoformat(),
        })
    realized = sum((r.amount for r in eng.ledger.realized()), Decimal(0))
    total_pnl = realized + _unrealized(replay)
    capital = eng.capital
    ok = final_sum == capital + total_pnl - eng.taxes_withheld - eng.withdrawn
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
        "trades": tally.trades,
        "total_pnl": float(total_pnl),
        "policy_summary": {"strategies": list(replay.ps.strategies)},
        "data": {"bars": replay.params.bars, "notes": list(replay.notes),
                 "repairs": list(replay.repairs)},
        "conservation": {"initial_capital": str(capital), "total_pnl": str(total_pnl),
                         "taxes_withheld": str(money(eng.taxes_withheld)),
                         "withdrawn": str(money(eng.withdrawn)),
                         "final_equity_sum": str(final_sum), "ok": ok},
    }
