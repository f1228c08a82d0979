"""A readable summary of a policy set (Rich tables)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from alluse.engine.policy import PolicySet


def _described(console: Console, items: Iterable[tuple[str, str]]) -> None:
    """Each item's description under its table (descriptions are too long for a column)."""
    for name, text in items:
        if text:
            console.print(f"  [bold]{escape(name)}[/]: {escape(text)}")


def print_policy_summary(ps: PolicySet, base: Path, console: Console | None = None) -> None:
    console = console or Console()
    acc = ps.accounts
    console.print(f"[bold]Policy set[/] {base} — hash {ps.short_hash}, "
                  f"{len(ps.file_hashes)} files, all valid")

    t = Table(title=f"Accounts (sample capital {acc.capital.default:,.0f}, "
                    f"up to {acc.capital.maximum:,.0f})")
    for col in ("type", "split", "strategy", "forks at (post-tax gain)", "fork split",
                "reinvests", "withdrawals"):
        t.add_column(col)
    forks = {f.account_type: f for f in acc.fork}
    reinvest = {r.account_type: r for r in acc.reinvestment}
    for name, spec in acc.account_types.items():
        fr = forks.get(name)
        ri = reinvest.get(name)
        t.add_row(name, f"{acc.split.get(name, 0):g}%", spec.strategy,
                  f"{fr.threshold_post_tax_gain:,.0f}" if fr else "never",
                  ", ".join(f"{k} {v:g}%" for k, v in fr.split.items()) if fr else "",
                  f"{ri.reinvest_pct:g}% {ri.cadence}" if ri else "—",
                  "allowed" if spec.withdrawals else "none")
    console.print(t)
    _described(console, ((n, s.description) for n, s in acc.account_types.items()))
    console.print(f"Merge: a forked unit reaching {acc.merge.unit_total_threshold:,.0f} merges into "
                  f"its parent unit's {acc.merge.into_account_type}. Tax: ST "
                  f"{acc.tax.short_term_rate:.0%}, LT {acc.tax.long_term_rate:.0%} on "
                  f"{acc.tax.gains_basis} gains.")

    t = Table(title="Strategies")
    for col in ("strategy", "account", "days/window", "symbols", "DTE", "strike", "min premium",
                "approval"):
        t.add_column(col)
    for name, st in ps.strategies.items():
        strike = (f"price − {st.strike.atr_multiple:g}×ATR" if st.strike.method == "atr_offset"
                  else f"|Δ| {st.strike.delta_min:g}-{st.strike.delta_max:g}"
                  if st.strike.method == "delta_band" else "ATM")
        t.add_row(name, st.account_type,
                  f"{','.join(st.entry.days)} {st.entry.window.start}-{st.entry.window.end}",
                  " ".join(st.symbols), f"{st.dte.min}-{st.dte.max}", strike,
                  f"{st.premium.min_pct:g}%", st.script.approval)
    console.print(t)
    _described(console, ((n, s.description) for n, s in ps.strategies.items()))

    t = Table(title=f"Protocol levels (ATR {ps.data.indicators.atr_period}, step down: "
                    f"{ps.protocols.step_down.mode})")
    for col in ("level", "name", "adverse move ≥", "alert", "new risk", "script"):
        t.add_column(col)
    for lv in ps.protocols.levels:
        t.add_row(str(lv.level), lv.name, f"{lv.min_atr_multiple:g}×ATR",
                  f"{lv.alert.type} {lv.alert.priority or ps.alerts.types[lv.alert.type].default_priority}"
                  if lv.alert else "—",
                  lv.new_risk + (f" ×{lv.size_factor:g}" if lv.new_risk == "reduced" else ""),
                  lv.script.id if lv.script else "—")
    console.print(t)

    t = Table(title="Alerts (throttle per type per "
                    f"{ps.alerts.delivery.throttle_window_minutes} min)")
    for col in ("type", "default priority", "max per window"):
        t.add_column(col)
    for name, alert in ps.alerts.types.items():
        t.add_row(name, alert.default_priority, str(alert.throttle_per_hour))
    console.print(t)
    _described(console, ((n, a.description) for n, a in ps.alerts.types.items()))

    t = Table(title=f"Schedule ({ps.schedule.timezone})")
    for col in ("job", "cron", "handler"):
        t.add_column(col)
    for name, job in ps.schedule.jobs.items():
        t.add_row(name, job.cron, job.handler if job.enabled else f"{job.handler} (disabled)")
    console.print(t)
    _described(console, ((n, j.description) for n, j in ps.schedule.jobs.items()))
