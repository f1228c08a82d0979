"""The replay report: one self-contained HTML page from `alluse replay`'s result dict.

Inline CSS and inline SVG charts (`alluse.adapters.report_charts`, no plotting dependency); no
scripts, fonts or network requests, enforced by a Content-Security-Policy meta tag, because the
page is opened offline and attached to reviews. Every text is escaped. The same result gives the
same bytes: nothing reads the clock, and every number is formatted from the result alone.

Charts (each an `<svg id=…>` with a `<title>` and `<desc>`): `chart-twr` (each starting account's
time-weighted return against SPY and Mag-6 buy-and-hold, forks and merges as marked flows),
`chart-units` (the forked accounts' time-weighted return, one strip per unit), `chart-tree`
(account lanes, forks and merges), `chart-protocol` (the time each position spent at L1-L3, one
lane per account and symbol), `chart-premium` (premium captured per ISO week).

`write_report` is atomic: the page is written to a temporary file in the target directory and
renamed over `index.html`, so a failed write leaves the previous report as it was.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from html import escape
from pathlib import Path
from typing import Any

from alluse.adapters.report_charts import (
    Account,
    ChartData,
    Fork,
    LevelChange,
    Merge,
    Returns,
    WeekPremium,
    premium_chart,
    protocol_chart,
    tree_chart,
    tree_order,
)
from alluse.adapters.report_returns import twr_chart, units_chart
from alluse.engine.errors import DataError

__all__ = ["render_report", "write_report"]

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")  # Tableau 10: hues that stay apart for colour-blind readers


def write_report(result: Mapping[str, Any], directory: Path) -> Path:
    """Write `directory/index.html` (creating the directory) atomically and return its path."""
    page = render_report(result).encode("utf-8")  # bytes: no platform newline translation
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.html"
    fd, tmp = tempfile.mkstemp(prefix=".index.html.", suffix=".tmp", dir=directory)
    try:
        view = memoryview(page)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the report from a web server
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def render_report(result: Mapping[str, Any]) -> str:
    r = _Result(result)
    title = f"alluse replay {r.params.get('from', '')} → {r.params.get('to', '')}"
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        f'<head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{csp}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head>",
        "<body>", _header(r), "<main>",
        _section("accounts", "Accounts", _accounts_table(r)),
        _section("returns", "Time-weighted returns", twr_chart(r.charts) + units_chart(r.charts)),
        _section("entries", "Entries that did not happen", _entries(r)),
        _section("tree", "Account tree", tree_chart(r.charts) + _tree_list(r)),
        _section("protocol", "Protocol levels", protocol_chart(r.charts)),
        _section("premium", "Premium captured per week", premium_chart(r.charts)),
        _section("forks", "Forks and merges", _forks_table(r)),
        _section("risk", "Escalations and alerts", _escalations_and_alerts(r)),
        '<div class="pair">', _section("taxes", "Taxes", _taxes(r)), _section("data", "Data", _data_notes(r)),
        "</div>",
        _section("conservation", "Capital conservation", _conservation(r)),
        "</main>",
        f"<footer>alluse replay report · policy {_e(r.policy_hash)}</footer>",
        "</body>", "</html>", ""])


# ---------------------------------------------------------------------------------------- input
def _bad(where: str, value: Any, expected: str) -> DataError:
    return DataError(f"replay result: {where}: expected {expected}, got {value!r}")


def _num(value: Any, where: str) -> float | None:
    """A finite number, or None for a gap (null, NaN)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _bad(where, value, "a number")
    try:
        f = float(Decimal(str(value).strip()))
    except InvalidOperation as exc:
        raise _bad(where, value, "a number") from exc
    return f if math.isfinite(f) else None


def _dec(value: Any, where: str) -> Decimal | None:
    """Money as Decimal: the result writes amounts as strings ("50420.00") to keep cents exact."""
    return None if _num(value, where) is None else Decimal(str(value).strip())


def _date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise _bad(where, value, "a date YYYY-MM-DD") from exc


def _week(value: Any, where: str) -> dt.date:
    """Monday of an ISO week written `2021-W02`."""
    year, _, week = str(value).partition("-W")
    try:
        return dt.date.fromisocalendar(int(year), int(week), 1)
    except ValueError as exc:
        raise _bad(where, value, "an ISO week YYYY-Www") from exc


def _level(value: Any, where: str) -> int:
    text = str(value)
    if len(text) < 2 or text[0] != "L" or not text[1:].isdigit():
        raise _bad(where, value, "a protocol level such as L2")
    return int(text[1:])


def _list(m: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = m.get(key) or []
    if not isinstance(value, list | tuple):
        raise _bad(f"{where}{key}", value, "a list")
    return list(value)


def _map(m: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = m.get(key) or {}
    if not isinstance(value, Mapping):
        raise _bad(f"{where}{key}", value, "a mapping")
    return value


def _record(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(where, value, "a mapping")
    return value


def _account(i: int, raw: Any) -> Account:
    a, w = _record(raw, f"accounts[{i}]"), f"accounts[{i}]"

    def dec(key: str) -> Decimal | None:
        return _dec(a.get(key), f"{w}.{key}")

    def num(key: str) -> float | None:
        return _num(a.get(key), f"{w}.{key}")

    return Account(
        str(a.get("id", "")), str(a.get("type", "")), str(a.get("unit", "")),
        None if a.get("parent") is None else str(a["parent"]),
        _date(a["created"], f"{w}.created") if a.get("created") else None, str(a.get("state", "")),
        initial=dec("initial_capital"), final=dec("final_equity"), return_pct=num("return_pct"),
        max_drawdown_pct=num("max_drawdown_pct"), trades=num("trades"), win_rate=num("win_rate"),
        twr_pct=num("twr_pct"), twr_annualised_pct=num("twr_annualised_pct"),
        net_flows=dec("net_flows"), closed_positions=num("closed_positions"))


def _ids(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _bad(where, value, "a list of account ids")
    return tuple(str(x) for x in value)


def _fork(i: int, raw: Any) -> Fork:
    f, w = _record(raw, f"forks[{i}]"), f"forks[{i}]"
    return Fork(_date(f.get("date"), f"{w}.date"), str(f.get("parent", "")), str(f.get("unit", "")),
                _ids(f.get("accounts", []), f"{w}.accounts"), _dec(f.get("amount"), f"{w}.amount"),
                _dec(f.get("tax_withheld"), f"{w}.tax_withheld"))


def _merge(i: int, raw: Any) -> Merge:
    m, w = _record(raw, f"merges[{i}]"), f"merges[{i}]"
    return Merge(_date(m.get("date"), f"{w}.date"), str(m.get("unit", "")),
                 _ids(m.get("accounts", []), f"{w}.accounts"), str(m.get("into", "")),
                 _dec(m.get("amount"), f"{w}.amount"))


def _change(i: int, raw: Any) -> LevelChange:
    c, w = _record(raw, f"protocol_levels[{i}]"), f"protocol_levels[{i}]"
    src, dst = _level(c.get("from"), f"{w}.from"), _level(c.get("to"), f"{w}.to")
    position = str(c.get("position", ""))
    parts = position.split(":")
    account = str(c.get("account") or parts[0])
    symbol = str(c.get("symbol") or (parts[1] if len(parts) > 1 else ""))
    try:  # the position id names its expiry: account:symbol:expiry:strike+right
        expiry: dt.date | None = dt.date.fromisoformat(parts[2]) if len(parts) > 2 else None
    except ValueError:
        expiry = None
    return LevelChange(_date(c.get("date"), f"{w}.date"), dst, dst > src,
                       f"{position} L{src}→L{dst}", account, symbol, position, expiry)


def _returns(result: Mapping[str, Any]) -> Returns:
    twr = _map(result, "twr", "")
    dates = tuple(_date(d, f"twr.dates[{i}]") for i, d in enumerate(_list(twr, "dates", "twr.")))

    def series(key: str) -> dict[str, list[float | None]]:
        return {str(name): [_num(v, f"twr.{key}.{name}[{i}]") for i, v in
                            enumerate(_list({"v": values}, "v", f"twr.{key}.{name}"))]
                for name, values in _map(twr, key, "twr.").items()}

    labels = {str(k): str(_record(b, f"benchmarks.{k}").get("name") or k)
              for k, b in _map(result, "benchmarks", "").items()}
    return Returns(dates, series("series"), series("benchmarks"), labels)


def _premium(i: int, raw: Any) -> WeekPremium:
    p, w = _record(raw, f"premium_weekly[{i}]"), f"premium_weekly[{i}]"
    return WeekPremium(_week(p.get("week"), f"{w}.week"), str(p.get("week")),
                       _num(p.get("premium"), f"{w}.premium") or 0.0)


class _Result:
    """The result dict read once: dates parsed, numbers checked (a bad value names its field)."""

    def __init__(self, result: Mapping[str, Any]) -> None:
        self.raw = _record(result, "result")
        self.params = _map(result, "params", "")
        self.policy_hash = str(result.get("policy_hash") or "")
        self.accounts = tuple(_account(i, a) for i, a in enumerate(_list(result, "accounts", "")))
        self.forks = tuple(_fork(i, f) for i, f in enumerate(_list(result, "forks", "")))
        self.merges = tuple(_merge(i, m) for i, m in enumerate(_list(result, "merges", "")))
        equity = _map(result, "equity", "")
        dates = tuple(_date(d, f"equity.dates[{i}]") for i, d in enumerate(_list(equity, "dates", "equity.")))
        series: dict[str, list[float | None]] = {}
        for name, values in _map(equity, "series", "equity.").items():
            values = _list({"v": values}, "v", f"equity.series.{name}")
            series[str(name)] = [_num(v, f"equity.series.{name}[{i}]") for i, v in enumerate(values)]
        ids = [a.id for a in self.accounts] + [s for s in series if s not in {a.id for a in self.accounts}]
        colour = {acc: PALETTE[i % len(PALETTE)] for i, acc in enumerate(ids)}
        changes = tuple(_change(i, c) for i, c in enumerate(_list(result, "protocol_levels", "")))
        weeks = tuple(_premium(i, p) for i, p in enumerate(_list(result, "premium_weekly", "")))
        # One calendar span for every chart, wide enough for every dated thing in the result.
        days = [*dates, *(c.date for c in changes), *(f.date for f in self.forks)]
        days += [m.date for m in self.merges]
        days += [w.monday + dt.timedelta(days=5) for w in weeks] + [w.monday for w in weeks]
        days += [_date(self.params[k], f"params.{k}") for k in ("from", "to") if self.params.get(k)]
        returns = _returns(result)
        days += list(returns.dates)
        start = min(days, default=dt.date(2000, 1, 3))
        end = max(max(days, default=start), start + dt.timedelta(days=1))
        self.charts = ChartData(start, end, dates, series, colour, self.accounts, self.forks, self.merges,
                                changes, weeks, returns)


# ------------------------------------------------------------------------------------ formatting
def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _pct(value: float | None, *, fraction: bool = False, signed: bool = False) -> str:
    if value is None:
        return "—"
    if fraction:
        return f"{value * 100:.1f}%"
    return f"{value:+,.2f}%" if signed else f"{value:,.2f}%"


def _sign(value: float | Decimal | None) -> str:
    """The class of a number whose sign matters (returns, P&L)."""
    return "" if not value else ("pos" if value > 0 else "neg")


def _count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int], cls: str = "") -> str:
    """Rows are pre-escaped HTML cells; `numeric` column indexes are right-aligned."""
    def cell(tag: str, i: int, text: str) -> str:
        return f'<{tag} class="num">{text}</{tag}>' if i in numeric else f"<{tag}>{text}</{tag}>"
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>\n" for row in rows)
    hrow = "".join(cell("th", i, _e(h)) for i, h in enumerate(head))
    return (f'<div class="scroll"><table class="{cls}"><thead><tr>{hrow}</tr></thead><tbody>\n{body}'
            "</tbody></table></div>" if body else '<p class="empty">None in this replay.</p>')


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>\n{body}\n</section>'


# ------------------------------------------------------------------------------------- page parts
def _header(r: _Result) -> str:
    p, cons = r.params, _map(r.raw, "conservation", "")
    items = [("Period", f"{p.get('from', '')} → {p.get('to', '')}"),
             ("Capital", _money(_dec(p.get("capital"), "params.capital"))), ("Bars", p.get("bars", "")),
             ("Policies", p.get("policies", "")), ("Approve", p.get("approve", ""))]
    dl = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items)
    dl += (f'<div><dt>Policy hash</dt><dd><code title="{_e(r.policy_hash)}">{_e(r.policy_hash[:12])}'
           "</code></dd></div>")
    if r.raw.get("run_id"):
        dl += f"<div><dt>Run</dt><dd><code>{_e(r.raw['run_id'])}</code></dd></div>"
    capital = _num(p.get("capital"), "params.capital")
    pnl = _dec(r.raw.get("total_pnl"), "total_pnl")
    ret = f"{float(pnl) / capital * 100:,.2f}%" if pnl is not None and capital else "—"
    final = _dec(cons.get("final_equity_sum"), "conservation.final_equity_sum")
    fills = _num(r.raw.get("fills"), "fills")
    cards = [("Final equity", _money(final), ""),
             ("Total P&L", _money(pnl), _sign(pnl)), ("Return on capital", ret, _sign(pnl)),
             ("Positions opened", _count(_num(r.raw.get("trades"), "trades")), ""),
             ("Forks / merges", f"{len(r.forks)} / {len(r.merges)}", ""),
             ("Taxes withheld", _money(_dec(_map(r.raw, "taxes", "").get("withheld"), "taxes.withheld")), "")]
    notes = {"Positions opened": f"{fills:,.0f} fills" if fills is not None else ""}
    card_html = "".join(f'<div class="card"><span>{_e(k)}</span><strong class="{c}">{_e(v)}</strong>'
                        + (f"<small>{_e(notes[k])}</small>" if notes.get(k) else "") + "</div>"
                        for k, v, c in cards)
    strategies = ", ".join(str(x) for x in _list(_map(r.raw, "policy_summary", ""), "strategies",
                                                 "policy_summary."))
    bench = "; ".join(f"<strong>{_e(b['label'])}</strong> <span class=\"{_sign(b['return'])}\">"
                      f"{_pct(b['return'], signed=True)}</span> ("
                      + (f"{_pct(b['annualised'])} a year, " if b["annualised"] is not None else "")
                      + f"max drawdown {_pct(b['max_drawdown'])})" for b in _benchmarks(r))
    return ('<header><h1>ALL-USE replay report</h1><dl class="params">' + dl + "</dl>"
            f'<div class="cards">{card_html}</div>'
            + (f'<p class="bench">Buy-and-hold over the same window (bought at the first open, '
               f"dividends reinvested): {bench}</p>" if bench else "")
            + (f'<p class="strategies">Strategies: {_e(strategies)}</p>' if strategies else "") + "</header>")


def _benchmarks(r: _Result) -> list[dict[str, Any]]:
    out = []
    for key, raw in _map(r.raw, "benchmarks", "").items():
        b, w = _record(raw, f"benchmarks.{key}"), f"benchmarks.{key}"
        out.append({"key": str(key), "label": str(b.get("label", key)), "name": str(b.get("name") or key),
                    "return": _num(b.get("return_pct"), f"{w}.return_pct"),
                    "annualised": _num(b.get("annualised_pct"), f"{w}.annualised_pct"),
                    "max_drawdown": _num(b.get("max_drawdown_pct"), f"{w}.max_drawdown_pct"),
                    "from": str(b.get("from", ""))})
    return sorted(out, key=lambda b: b["key"] != "SPY")


def _swatch(r: _Result, account: str) -> str:
    return f'<i class="swatch" style="background:{r.charts.colour.get(account, "#8a96a3")}"></i>'


def _win_rate(a: Account) -> str:
    if a.win_rate is None:
        return "—"
    return f"{a.win_rate * 100:.1f}% of {a.closed_positions:,.0f}" if a.closed_positions else \
        _pct(a.win_rate, fraction=True)


def _accounts_table(r: _Result) -> str:
    rows = [[_swatch(r, a.id) + _e(a.id), _e(a.parent or "—"),
             _e(a.created or "—"), f'<span class="state {_e(a.state)}">{_e(a.state)}</span>',
             _dollars(a.initial), _signed_money(a.net_flows), _dollars(a.final),
             f'<span class="{_sign(a.twr_pct)}">{_pct(a.twr_pct, signed=True)}</span>',
             _pct(a.twr_annualised_pct, signed=True), _pct(a.max_drawdown_pct),
             _count(a.trades), _win_rate(a)] for a in r.accounts]
    if r.accounts:
        # Forked accounts are funded from their parent's gains: only root accounts bring capital in.
        initial = sum((a.initial or Decimal(0) for a in r.accounts if not a.parent), Decimal(0))
        final = sum((a.final or Decimal(0) for a in r.accounts), Decimal(0))
        trades = sum(a.trades or 0 for a in r.accounts)
        rows.append(["<strong>All accounts</strong>", "", "", "", _dollars(initial), "", _dollars(final),
                     "", "", "", _count(trades), ""])
    for b in _benchmarks(r):
        rows.append([f'<span class="benchmark">{_e(b["name"])} buy-and-hold</span>', "—",
                     _e(b["from"]), "benchmark", "", "", "",
                     f'<span class="{_sign(b["return"])}">{_pct(b["return"], signed=True)}</span>',
                     _pct(b["annualised"], signed=True), _pct(b["max_drawdown"]), "", ""])
    head = ["Account", "Parent", "Created", "State", "Initial", "Net flows", "Final", "TWR",
            "TWR p.a.", "Max DD", "Trades", "Win rate"]
    return _table(head, rows, set(range(4, 12)), "accounts") + (
        '<p class="note">TWR: time-weighted return, daily returns chained with the money moved by '
        "forks, merges and tax withholding valued where it moved (a flow, never a gain or a loss); "
        "p.a.: annualised, over spans of a year or more. Max DD: the largest fall of that index "
        "from a peak. Net flows: money moved in (+) or out (−) after the account's start. "
        "Trades: positions opened (a contract written or bought, stock bought or assigned); win "
        "rate: the share of closed positions (of n) whose P&amp;L from open to close, expiry or "
        "assignment is above zero. Benchmarks: bought at the first session's open in equal "
        "dollar amounts and held, on split- and dividend-adjusted prices.</p>" if r.accounts else "")


def _signed_money(value: Decimal | None) -> str:
    return "—" if not value else f"{value:+,.0f}"


def _dollars(value: Decimal | None) -> str:
    """Whole dollars where the table is wide (the cents are in the result and the forks table)."""
    return "—" if value is None else f"{value:,.0f}"


def _tree_list(r: _Result) -> str:
    """The same tree as nested lists: units, with the units forked from their accounts inside."""
    units: dict[str, list[str]] = {}
    for a in tree_order(r.accounts):
        units.setdefault(a.unit, []).append(a.id)
    for f in r.forks:
        units.setdefault(f.unit, list(f.accounts))
    forked = {f.unit: f for f in r.forks}
    merged = {m.unit: m for m in r.merges}
    seen: set[str] = set()

    def item(unit: str) -> str:
        seen.add(unit)
        members = ", ".join(_swatch(r, x) + f"<code>{_e(x)}</code>" for x in units[unit])
        text = f"<strong>Unit {_e(unit)}</strong> {members}"
        if (f := forked.get(unit)) is not None:
            text += (f'<span class="note">forked from <code>{_e(f.parent)}</code> on {f.date}: '
                     f"{_money(f.amount)} ({_money(f.tax_withheld)} tax withheld)</span>")
        if (m := merged.get(unit)) is not None:
            text += (f'<span class="note">merged into <code>{_e(m.into)}</code> on {m.date}: '
                     f"{_money(m.amount)}</span>")
        kids = [item(f.unit) for f in sorted(r.forks, key=lambda f: (f.date, f.unit))
                if f.parent in units[unit] and f.unit not in seen]
        return f"<li>{text}" + (f"<ul>{''.join(kids)}</ul>" if kids else "") + "</li>"

    roots = [item(u) for u in units if u not in forked and u not in seen]
    roots += [item(u) for u in units if u not in seen]  # forks whose parent is unknown
    return f'<ul class="tree">{"".join(roots)}</ul>' if roots else ""


def _forks_table(r: _Result) -> str:
    events = [(f.date, "fork", f.unit, f.parent, f.accounts, "—", _money(f.amount), _money(f.tax_withheld))
              for f in r.forks]
    events += [(m.date, "merge", m.unit, "—", m.accounts, m.into, _money(m.amount), "—") for m in r.merges]
    rows = [[_e(d), f'<span class="tag {k}">{k}</span>', _e(u), _e(p), _e(", ".join(accs)), _e(into),
             amt, tax]
            for d, k, u, p, accs, into, amt, tax in sorted(events, key=lambda e: (e[0], e[1], e[2]))]
    return _table(["Date", "Event", "Unit", "From", "Accounts", "Into", "Amount", "Tax withheld"],
                  rows, {6, 7}, "events")


def _escalations_and_alerts(r: _Result) -> str:
    esc = _map(r.raw, "escalations", "")
    levels = sorted((_level(k, f"escalations.{k}"), k) for k in esc)
    esc_rows = [[f'<span class="lvl l{min(n, 4)}">{_e(k)}</span>', _count(_num(esc[k], f"escalations.{k}"))]
                for n, k in levels]
    alerts = _map(r.raw, "alerts", "")
    alert_rows = []
    for name in sorted(alerts):
        a = _record(alerts[name], f"alerts.{name}")
        total = _num(a.get("total"), f"alerts.{name}.total") or 0.0
        supp = _num(a.get("suppressed"), f"alerts.{name}.suppressed") or 0.0
        sent = _num(a.get("delivered"), f"alerts.{name}.delivered")
        # a replay has no notifier: nothing was delivered, whatever was not suppressed
        delivered = _count(sent) if sent is not None else '<span class="muted">not delivered (replay)</span>'
        alert_rows.append([_e(name), _count(total), _count(supp), _count(total - supp), delivered])
    return ('<div class="cols"><div><h3>Escalations per level</h3>'
            + _table(["Level", "Escalations"], esc_rows, {1}) + "</div><div><h3>Alerts per type</h3>"
            + _table(["Type", "Total", "Suppressed", "Raised", "Delivered"], alert_rows, {1, 2, 3, 4})
            + "</div></div>")


def _entries(r: _Result, top: int = 4) -> str:
    """Per account, the entry checks that stopped it most often; accounts that opened no position
    first, with the reason in words."""
    misses = _map(r.raw, "entry_not_fired", "")
    rows = []
    for a in sorted(r.accounts, key=lambda a: (bool(a.trades), tree_order(r.accounts).index(a))):
        if a.state == "merged" and not a.trades:
            continue
        found = _list(misses, a.id, "entry_not_fired.")
        items = []
        for i, raw in enumerate(found[:top]):
            m, w = _record(raw, f"entry_not_fired.{a.id}[{i}]"), f"entry_not_fired.{a.id}[{i}]"
            step = f" <span class=\"muted\">({_e(m.get('step'))})</span>" if m.get("step") else ""
            count = _count(_num(m.get("count"), w + ".count"))
            items.append(f"<code>{_e(m.get('rule', ''))}</code>{step} ×{count}")
        more = f" … and {len(found) - top} more" if len(found) > top else ""
        flat = last = ""
        if not a.trades:
            flat = '<span class="flat">opened no position</span> '
            said = str(_record(found[0], f"entry_not_fired.{a.id}[0]").get("last") or "") if found else ""
            last = f'<span class="last">last time: {_e(said)}</span>' if said else ""
        rows.append([_swatch(r, a.id) + _e(a.id), _count(a.trades),
                     flat + (", ".join(items) + more if items else '<span class="muted">no entry scan '
                             "reached this account</span>") + last])
    return ('<p class="note">Each entry scan checks every account and symbol; these are the checks '
            "that stopped a proposal, by rule id (and step), most frequent first.</p>"
            + _table(["Account", "Trades", "Entry checks that did not pass"], rows, {1}, "entries"))


def _taxes(r: _Result) -> str:
    t = _map(r.raw, "taxes", "")
    accrued = _map(t, "accrued_by_year", "taxes.")
    rows = [[_e(y), _money(_dec(accrued[y], f"taxes.accrued_by_year.{y}"))] for y in sorted(accrued)]
    return (f'<p>Withheld at forks: <strong class="mono">{_money(_dec(t.get("withheld"), "taxes.withheld"))}'
            "</strong></p><h3>Accrued by year</h3>" + _table(["Year", "Accrued"], rows, {1}, "narrow"))


def _data_notes(r: _Result) -> str:
    d = _map(r.raw, "data", "")

    def ul(items: list[Any]) -> str:
        return ("<ul>" + "".join(f"<li>{_e(x)}</li>" for x in items) + "</ul>") if items else (
            '<p class="empty">None.</p>')
    return (f"<p>Bars: <strong>{_e(d.get('bars', ''))}</strong></p>"
            f"<h3>Notes</h3>{ul(_list(d, 'notes', 'data.'))}"
            f"<h3>Repairs</h3>{ul(_list(d, 'repairs', 'data.'))}")


def _conservation(r: _Result) -> str:
    c = _map(r.raw, "conservation", "")
    init, pnl, tax, final = (_dec(c.get(k), f"conservation.{k}")
                             for k in ("initial_capital", "total_pnl", "taxes_withheld", "final_equity_sum"))
    # reinvestment withdrawals (accounts.yaml): absent from results written before they existed
    out = _dec(c.get("withdrawn", "0"), "conservation.withdrawn") or Decimal(0)
    ok = c.get("ok") is True
    diff = ""
    if not ok and init is not None and pnl is not None and tax is not None and final is not None:
        diff = f" (difference {final - (init + pnl - tax - out):,.2f})"
    verdict = ('<span class="ok">✓ balanced</span>' if ok
               else f'<span class="bad">✗ does not balance{diff}</span>')
    return (f'<p class="conservation"><span class="mono">initial capital {_money(init)} + total P&amp;L '
            f"{_money(pnl)} − taxes withheld {_money(tax)}"
            + (f" − withdrawn {_money(out)}" if out else "")
            + f" = accounts' final equity {_money(final)}</span> "
            f"{verdict}</p>")


CSS = """
:root{--ink:#1f2933;--muted:#5b6675;--line:#e1e5ea;--bg:#f4f6f9;--card:#fff;--pos:#1a7f4b;--neg:#c0392b}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,"DejaVu Sans",sans-serif}
header,main,footer{max-width:1180px;margin:0 auto;padding:0 24px}
header{padding-top:24px}
h1{font-size:24px;margin:0 0 12px;letter-spacing:-.01em}
h2{font-size:17px;margin:0 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:13px;margin:14px 0 6px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
dl.params{display:flex;flex-wrap:wrap;gap:6px 28px;margin:0 0 16px}
dl.params div{display:flex;gap:6px}dl.params dt{color:var(--muted)}dl.params dd{margin:0;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;margin-bottom:8px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card span{display:block;color:var(--muted);font-size:12px}
.card strong{font-size:19px;font-variant-numeric:tabular-nums}
.card small{display:block;color:var(--muted);font-size:12px}
.strategies{color:var(--muted);margin:8px 0 0}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:16px 0}
table{border-collapse:collapse;width:100%;font-size:13px}
table.narrow{width:auto;min-width:260px}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:#f7f9fb;color:var(--muted);font-weight:600;font-size:12px}
tbody tr:nth-child(even){background:#fafbfc}
tbody tr:last-child td{border-bottom:0}
.num{text-align:right;font-variant-numeric:tabular-nums}
.mono,code{font-family:"DejaVu Sans Mono",ui-monospace,monospace;font-size:12.5px}
.pos{color:var(--pos)}.neg{color:var(--neg)}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:7px;vertical-align:0}
.state,.tag{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#eef1f5}
.state.active{background:#e3f4ea;color:#1a7f4b}.state.forked{background:#e6eefb;color:#2f5d9e}
.state.merged{background:#eee;color:#666}.state.suspended{background:#fde8e6;color:#b03a2e}
.tag.fork{background:#e6eefb;color:#2f5d9e}.tag.merge{background:#f4e9f7;color:#7d3c98}
.lvl{font-weight:700}.lvl.l1{color:#b38600}.lvl.l2{color:#d4640a}.lvl.l3,.lvl.l4{color:#c0392b}
.cols{display:grid;grid-template-columns:1fr 2fr;gap:24px}
.empty{color:var(--muted);font-style:italic}
ul.tree{margin:12px 0 0;padding-left:18px}ul.tree ul{padding-left:24px;border-left:2px solid var(--line)}
ul.tree li{margin:4px 0}ul.tree .note{display:block;color:var(--muted);font-size:12.5px}
.conservation{font-size:14px;margin:0}.ok{color:var(--pos);font-weight:700}.bad{color:var(--neg);font-weight:700}
footer{color:var(--muted);font-size:12px;padding-bottom:24px}
.note{color:var(--muted);font-size:12.5px;margin:10px 0 0;max-width:1080px}
.bench{margin:8px 0 0}.muted{color:var(--muted)}.benchmark{font-style:italic}
.flat{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#fdf1e0;color:#8a5a00;
margin-right:6px}
table.entries td:last-child{white-space:normal}
.scroll{overflow-x:auto}table.accounts th,table.accounts td{padding:6px 7px}
.last{display:block;color:var(--muted);font-size:12px;margin-top:2px}
svg .grid.zero{stroke:#8a94a3}svg .leader{stroke-width:.8;stroke-opacity:.6}
svg .end-label{font-size:11.5px;font-weight:600}svg .series.bench{stroke-width:1.5}
svg .flow{fill:#fff;stroke-width:1.6}svg .strip-title{font-size:12px;fill:var(--ink);font-weight:600}
svg .span{fill-opacity:.9}svg .esc{fill:#3d4653}svg .lane-label.small{font-size:11px;font-weight:500}
svg text.empty.small{font-size:12px}svg .muted{fill:var(--muted);font-weight:400}
svg.chart{display:block;width:100%;height:auto;font-family:system-ui,"DejaVu Sans",sans-serif}
svg .grid{stroke:#edf0f3}svg .grid.major{stroke:#d5dbe2}svg .axis{stroke:#8a94a3}
svg .tick{font-size:11px;fill:var(--muted)}svg .legend{font-size:12px;fill:#2b3440}
svg .series{fill:none;stroke-width:1.7;stroke-linejoin:round;stroke-linecap:round}
svg .marker{stroke:#9aa3ae;stroke-dasharray:3 3}svg .marker-label{font-size:10.5px;fill:var(--muted)}
svg .frame{fill:#fafbfc;stroke:var(--line)}svg .strip{fill:none;stroke:var(--line)}
svg text.empty{fill:var(--muted);font-size:14px}
svg .lane{fill:#f6f8fa}svg .lane-label{font-size:12px;fill:var(--ink);font-weight:600}
svg .lane-label .unit{fill:var(--muted);font-weight:400}
svg .link{stroke:#3d4653;stroke-width:1.6}svg .link.merge{stroke:#7d3c98;stroke-dasharray:4 3}
svg .fork-dot{fill:#fff;stroke:#3d4653;stroke-width:2}svg .child-dot{fill:#3d4653}
svg .merge-dot{fill:#7d3c98;stroke:#fff;stroke-width:1}
svg .level-line{stroke-width:1;stroke-opacity:.35}svg .change{stroke-width:1.5;fill-opacity:.8}
svg .bar{fill:#4e79a7}svg .bar.neg{fill:#e15759}
svg .mean{stroke:#f28e2b;stroke-width:1.5;stroke-dasharray:6 4}
.pair{display:grid;grid-template-columns:1fr 2fr;gap:16px}.pair section{margin:0}
@media (max-width:900px){.cards{grid-template-columns:repeat(3,1fr)}.cols,.pair{grid-template-columns:1fr}}
"""
