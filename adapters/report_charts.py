"""Inline SVG charts for the replay report, drawn by hand (no plotting dependency).

A small helper (`Frame`: data → pixel coordinates, nice value ticks, calendar ticks, legend) and
the report's four charts. Every chart is an `<svg id=…>` with a `<title>` and a `<desc>`, scales
with its container through `viewBox`, and says so in words when it has nothing to plot. The x axis
of every chart is the same calendar span, so dates line up from one chart to the next.
Coordinates are rounded to 0.1 px: smaller files, and the same input gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape

WIDTH = 1120
LEVEL_COLOURS = ("#8a96a3", "#d9a400", "#ef7d16", "#d62839", "#7b1e3a")
TYPE_ORDER = {"GEN-ACC": 0, "REV-ACC": 1, "COM-ACC": 2}


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    type: str
    unit: str
    parent: str | None
    created: dt.date | None
    state: str
    initial: Decimal | None
    final: Decimal | None
    return_pct: float | None
    max_drawdown_pct: float | None
    trades: float | None
    win_rate: float | None
    twr_pct: float | None = None
    twr_annualised_pct: float | None = None
    net_flows: Decimal | None = None
    closed_positions: float | None = None


@dataclass(frozen=True, slots=True)
class Fork:
    date: dt.date
    parent: str
    unit: str
    accounts: tuple[str, ...]
    amount: Decimal | None
    tax_withheld: Decimal | None


@dataclass(frozen=True, slots=True)
class Merge:
    date: dt.date
    unit: str
    accounts: tuple[str, ...]
    into: str
    amount: Decimal | None


@dataclass(frozen=True, slots=True)
class LevelChange:
    date: dt.date
    level: int
    up: bool
    label: str
    account: str = ""
    symbol: str = ""
    position: str = ""  # the position's id: account:symbol:expiry:strike+right
    expiry: dt.date | None = None


@dataclass(frozen=True, slots=True)
class WeekPremium:
    monday: dt.date
    week: str
    premium: float


@dataclass(frozen=True, slots=True)
class Returns:
    """Time-weighted indexes (1.0 = the account's start) per account and per benchmark."""

    dates: tuple[dt.date, ...] = ()
    series: dict[str, list[float | None]] = field(default_factory=dict)
    benchmarks: dict[str, list[float | None]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # benchmark key -> label


@dataclass(frozen=True, slots=True)
class ChartData:
    start: dt.date
    end: dt.date
    dates: tuple[dt.date, ...]
    series: dict[str, list[float | None]]
    colour: dict[str, str]
    accounts: tuple[Account, ...]
    forks: tuple[Fork, ...]
    merges: tuple[Merge, ...]
    changes: tuple[LevelChange, ...]
    weeks: tuple[WeekPremium, ...]
    returns: Returns = field(default_factory=Returns)


# ----------------------------------------------------------------------------------------- helper
def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _f(v: float) -> str:
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


def compact(v: float) -> str:
    """Axis labels: 40K, 1.25M."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= size:
            return f"{v / size:g}{suffix}"
    return f"{v:g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 × 10^k) covering [lo, hi]; the first and last bound the axis."""
    if hi <= lo:  # one value: centre it instead of drawing it on the frame's edge
        pad = abs(hi) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * 0.999)
    first = math.floor(lo / step + 1e-9) * step
    n = max(1, math.ceil((hi - first) / step - 1e-9))
    return [round(first + i * step, 10) for i in range(n + 1)]


def date_ticks(start: dt.date, end: dt.date) -> list[tuple[dt.date, str, bool]]:
    """(date, label, major) ticks: years, quarters, months or weeks, depending on the span."""
    span = (end - start).days
    if span <= 70:
        first = start + dt.timedelta(days=(7 - start.weekday()) % 7)
        return [(d, d.strftime("%b %d"), d.day <= 7) for d in
                (first + dt.timedelta(weeks=i) for i in range(span // 7 + 2)) if d <= end] or [
            (start, start.isoformat(), True)]
    months = 1 if span <= 500 else 3 if span <= 5 * 366 else 12
    out = []
    y, m = start.year, start.month
    while (d := dt.date(y, m, 1)) <= end:
        if d >= start and (m - 1) % months == 0:
            out.append((d, str(y) if m == 1 else d.strftime("%b"), m == 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


@dataclass(frozen=True, slots=True)
class Frame:
    """A chart's plot area: data coordinates (date ordinal, value) → SVG pixels."""

    height: int
    top: int
    x0: float
    x1: float
    y0: float = 0.0
    y1: float = 1.0
    left: int = 72
    right: int = 24
    bottom: int = 34
    width: int = WIDTH

    def x(self, v: float | dt.date) -> float:
        v = v.toordinal() if isinstance(v, dt.date) else v
        return self.left + (v - self.x0) / (self.x1 - self.x0) * (self.width - self.left - self.right)

    def y(self, v: float) -> float:
        h = self.height - self.top - self.bottom
        return self.height - self.bottom - (v - self.y0) / (self.y1 - self.y0) * h


def frame_for(data: ChartData, height: int, top: int, ticks: Sequence[float] = (0.0, 1.0),
              left: int = 72) -> Frame:
    return Frame(height, top, data.start.toordinal(), data.end.toordinal(), ticks[0], ticks[-1], left)


def svg(chart_id: str, title: str, desc: str, height: int, body: Iterable[str]) -> str:
    return (f'<svg id="{_e(chart_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{_e(title)}" '
            f'aria-describedby="{_e(chart_id)}-desc"><title>{_e(title)}</title>'
            f'<desc id="{_e(chart_id)}-desc">{_e(desc)}</desc>' + "".join(body) + "</svg>")


def empty_chart(chart_id: str, title: str, message: str) -> str:
    return svg(chart_id, title, message, 90, [
        f'<rect class="frame" x="0.5" y="0.5" width="{WIDTH - 1}" height="89" rx="6"/>',
        f'<text class="empty" x="{WIDTH // 2}" y="50" text-anchor="middle">{_e(message)}</text>'])


def time_axis(fr: Frame, start: dt.date, end: dt.date, grid_top: float | None = None) -> list[str]:
    top = fr.top if grid_top is None else grid_top
    base = fr.height - fr.bottom
    out = [f'<line class="axis" x1="{fr.left}" y1="{base}" x2="{fr.width - fr.right}" y2="{base}"/>']
    for d, label, major in date_ticks(start, end):
        x = _f(fr.x(d))
        out.append(f'<line class="{"grid major" if major else "grid"}" x1="{x}" y1="{top}" x2="{x}" '
                   f'y2="{base}"/><text class="tick" x="{x}" y="{base + 16}" text-anchor="middle">'
                   f"{_e(label)}</text>")
    return out


def value_axis(fr: Frame, ticks: Sequence[float], fmt: str = "compact") -> list[str]:
    out = []
    for t in ticks:
        y = _f(fr.y(t))
        label = compact(t) if fmt == "compact" else f"{t:g}"
        out.append(f'<line class="grid" x1="{fr.left}" y1="{y}" x2="{fr.width - fr.right}" y2="{y}"/>'
                   f'<text class="tick" x="{fr.left - 8}" y="{y}" dy="4" text-anchor="end">{label}</text>')
    return out


def legend(items: Sequence[tuple[str, str]], x: float, y: float, width: float) -> tuple[list[str], float]:
    """Swatch + label per item, wrapped into rows (label widths estimated at 7 px a character);
    returns the elements and the baseline of the last row."""
    out: list[str] = []
    cx, cy = x, y
    for label, colour in items:
        w = 30 + 7 * len(label)
        if cx + w > x + width and cx > x:
            cx, cy = x, cy + 18
        out.append(f'<rect x="{_f(cx)}" y="{_f(cy - 9)}" width="14" height="4" rx="1" fill="{colour}"/>'
                   f'<text class="legend" x="{_f(cx + 20)}" y="{_f(cy - 3)}">{_e(label)}</text>')
        cx += w
    return out, cy


def line_path(fr: Frame, days: Sequence[dt.date], values: Sequence[float | None], colour: str,
              name: str) -> list[str]:
    """One `<path>` per series; None values break the line; a lone point becomes a dot."""
    d, run = [], []
    dots = []
    for day, v in [*zip(days, values, strict=False), (None, None)]:
        if v is not None and day is not None:
            run.append((fr.x(day), fr.y(v)))
            continue
        if len(run) == 1:
            dots.append(run[0])
        elif run:
            d.append("M" + " L".join(f"{_f(px)} {_f(py)}" for px, py in run))
        run = []
    out = []
    if d:
        out.append(f'<path class="series" d="{" ".join(d)}" stroke="{colour}">'
                   f"<title>{_e(name)}</title></path>")
    out += [f'<circle cx="{_f(px)}" cy="{_f(py)}" r="3" fill="{colour}"><title>{_e(name)}</title></circle>'
            for px, py in dots]
    return out


# ----------------------------------------------------------------------------------------- charts
def tree_order(accounts: Sequence[Account]) -> list[Account]:
    """Depth first: each account followed by the accounts forked from it (GEN, REV, COM order)."""
    def key(a: Account) -> tuple[str, int, str]:
        return (a.unit, TYPE_ORDER.get(a.type, 9), a.id)
    ids = {a.id for a in accounts}
    children: dict[str, list[Account]] = {}
    roots = []
    for a in sorted(accounts, key=key):
        if a.parent and a.parent in ids and a.parent != a.id:
            children.setdefault(a.parent, []).append(a)
        else:
            roots.append(a)
    out: list[Account] = []
    seen: set[str] = set()

    def visit(a: Account) -> None:
        if a.id not in seen:  # a cycle in bad data is cut, never followed forever
            seen.add(a.id)
            out.append(a)
            for c in children.get(a.id, []):
                visit(c)
    for a in [*roots, *sorted(accounts, key=key)]:
        visit(a)
    return out


def tree_chart(data: ChartData) -> str:
    title = "Account tree over time"
    lanes = tree_order(data.accounts)
    if not lanes:
        return empty_chart("chart-tree", title, "No accounts in this result.")
    lane_h, top = 30, 34
    fr = frame_for(data, top + lane_h * len(lanes) + 34, top, left=170)
    row = {a.id: top + lane_h * i + lane_h / 2 for i, a in enumerate(lanes)}
    out = [f'<rect class="lane" x="0" y="{top + lane_h * i}" width="{WIDTH}" height="{lane_h}"/>'
           for i in range(0, len(lanes), 2)]
    out += time_axis(fr, data.start, data.end)
    out += [f'<circle class="fork-dot" cx="{fr.left + 4}" cy="14" r="5"/><text class="legend" '
            f'x="{fr.left + 14}" y="18">fork</text><path class="merge-dot" d="M{fr.left + 64} 8 l6 6 '
            f'l-6 6 l-6 -6 Z"/><text class="legend" x="{fr.left + 76}" y="18">merge into</text>'
            f'<rect x="{fr.left + 166}" y="10" width="28" height="8" rx="3" fill="#8a96a3"/>'
            f'<text class="legend" x="{fr.left + 200}" y="18">account lifetime</text>']
    ends = {acc: m.date for m in data.merges for acc in m.accounts}
    for a in lanes:
        y, start = row[a.id], a.created or data.start
        end = ends.get(a.id, data.end)
        x0, x1 = fr.x(start), fr.x(max(end, start))
        arrow = '<tspan class="unit">↳ </tspan>' if a.parent in row else ""  # a forked account
        out.append(f'<text class="lane-label" x="{fr.left - 10}" y="{_f(y + 4)}" text-anchor="end">'
                   f"{arrow}{_e(a.id)}"
                   f'<tspan class="unit"> {_e(a.unit)}</tspan></text>'
                   f'<rect class="life" x="{_f(x0)}" y="{_f(y - 6)}" width="{_f(max(x1 - x0, 2))}" '
                   f'height="12" rx="3" fill="{data.colour.get(a.id, "#8a96a3")}">'
                   f"<title>{_e(a.id)} ({_e(a.type)}, unit {_e(a.unit)}): {start} → {end}, "
                   f"{_e(a.state)}</title></rect>")
    for f in data.forks:
        ys = [row[x] for x in (f.parent, *f.accounts) if x in row]
        x = _f(fr.x(f.date))
        if len(ys) > 1:
            out.append(f'<line class="link" x1="{x}" y1="{_f(min(ys))}" x2="{x}" y2="{_f(max(ys))}"/>')
        out += [f'<circle class="child-dot" cx="{x}" cy="{_f(row[c])}" r="3.5"/>'
                for c in f.accounts if c in row]
        if f.parent in row:
            out.append(f'<circle class="fork-dot" cx="{x}" cy="{_f(row[f.parent])}" r="5"><title>Fork '
                       f"{f.date}: {_e(f.parent)} → {_e(', '.join(f.accounts))} (unit {_e(f.unit)}, "
                       f"{_amount(f.amount)}, tax withheld {_amount(f.tax_withheld)})</title></circle>")
    for m in data.merges:
        ys = [row[x] for x in (m.into, *m.accounts) if x in row]
        mx = fr.x(m.date)
        if len(ys) > 1:
            out.append(f'<line class="link merge" x1="{_f(mx)}" y1="{_f(min(ys))}" x2="{_f(mx)}" '
                       f'y2="{_f(max(ys))}"/>')
        if m.into in row:
            my = row[m.into]
            out.append(f'<path class="merge-dot" d="M{_f(mx)} {_f(my - 7)} l7 7 l-7 7 l-7 -7 Z"><title>Merge '
                       f"{m.date}: unit {_e(m.unit)} ({_e(', '.join(m.accounts))}) → {_e(m.into)}, "
                       f"{_amount(m.amount)}</title></path>")
    desc = (f"{len(lanes)} accounts as lanes from creation to merge or the end of the replay; "
            f"{len(data.forks)} forks and {len(data.merges)} merges drawn as links between lanes.")
    return svg("chart-tree", title, desc, fr.height, out)


def _amount(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _lanes(changes: Sequence[LevelChange], accounts: Sequence[Account]) -> list[tuple[str, str]]:
    """(account, symbol) lanes: accounts in tree order, then symbols alphabetically."""
    rank = {a.id: i for i, a in enumerate(tree_order(accounts))}
    return sorted({(c.account, c.symbol) for c in changes},
                  key=lambda k: (rank.get(k[0], len(rank)), k[0], k[1]))


def _level_spans(data: ChartData) -> list[tuple[str, str, int, dt.date, dt.date, LevelChange]]:
    """Each position's time at each level above L0: (account, symbol, level, from, to, change);
    a level lasts until the position's next change, or its expiry (the end of the chart)."""
    by_position: dict[str, list[LevelChange]] = {}
    for c in data.changes:
        by_position.setdefault(c.position or c.label, []).append(c)
    spans = []
    for changes in by_position.values():
        changes.sort(key=lambda c: c.date)
        for i, c in enumerate(changes):
            if c.level == 0:
                continue
            end = changes[i + 1].date if i + 1 < len(changes) else min(c.expiry or data.end, data.end)
            spans.append((c.account, c.symbol, c.level, c.date, max(end, c.date), c))
    return sorted(spans, key=lambda s: (s[2], s[3]))  # higher levels drawn last, on top


def protocol_chart(data: ChartData) -> str:
    title = "Protocol levels per account and symbol"
    if not data.changes:
        return empty_chart("chart-protocol", title, "No protocol-level changes in this replay.")
    lanes = _lanes(data.changes, data.accounts)
    lane_h, top = 18, 34
    fr = frame_for(data, top + lane_h * len(lanes) + 34, top, left=190)
    row = {k: top + lane_h * i + lane_h / 2 for i, k in enumerate(lanes)}
    out = [f'<rect class="lane" x="0" y="{top + lane_h * i}" width="{WIDTH}" height="{lane_h}"/>'
           for i in range(0, len(lanes), 2)]
    out += time_axis(fr, data.start, data.end)
    for (acc, sym), y in row.items():
        out.append(f'<text class="lane-label small" x="{fr.left - 10}" y="{_f(y + 4)}" '
                   f'text-anchor="end">{_e(acc)}<tspan class="unit"> · {_e(sym)}</tspan></text>')
    for acc, sym, lvl, start, end, c in _level_spans(data):
        y = row[(acc, sym)]
        x0, x1 = fr.x(start), fr.x(end)
        colour = LEVEL_COLOURS[min(lvl, len(LEVEL_COLOURS) - 1)]
        out.append(f'<rect class="span" x="{_f(x0)}" y="{_f(y - 5)}" width="{_f(max(x1 - x0, 2.5))}" '
                   f'height="10" fill="{colour}"><title>{_e(c.position or c.label)}: L{lvl} from '
                   f"{start} to {end}</title></rect>")
    for c in data.changes:
        if c.up:
            x, y = fr.x(c.date), row[(c.account, c.symbol)]
            out.append(f'<path class="esc" d="M{_f(x)} {_f(y - 6)} l-3 -4 h6 Z"><title>'
                       f"{_e(c.label)} on {c.date}</title></path>")
    keys = [f'<rect x="{fr.left + 6 + 92 * (lvl - 1)}" y="9" width="14" height="10" '
            f'fill="{LEVEL_COLOURS[lvl]}"/><text class="legend" x="{fr.left + 26 + 92 * (lvl - 1)}" '
            f'y="18">at L{lvl}</text>' for lvl in (1, 2, 3)]
    keys.append(f'<path class="esc" d="M{fr.left + 290} 18 l-4 -6 h8 Z"/><text class="legend" '
                f'x="{fr.left + 300}" y="18">escalation (hover a bar for the position)</text>')
    out += keys
    ups = sum(c.up for c in data.changes)
    desc = (f"{len(data.changes)} protocol-level changes ({ups} escalations) on {len(lanes)} "
            "account/symbol lanes; a bar is the time a position spent at L1, L2 or L3.")
    return svg("chart-protocol", title, desc, fr.height, out)


def premium_chart(data: ChartData) -> str:
    title = "Premium captured per week"
    if not data.weeks:
        return empty_chart("chart-premium", title, "No premium captured in this replay.")
    values = [w.premium for w in data.weeks]
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values) or 1.0)
    fr = frame_for(data, 320, 34, ticks)
    out = [*value_axis(fr, ticks), *time_axis(fr, data.start, data.end)]
    zero = fr.y(0.0)
    for w in data.weeks:
        x0, x1 = fr.x(w.monday), fr.x(w.monday.toordinal() + 5)  # Monday to Friday's close
        y = fr.y(w.premium)
        cls = "bar neg" if w.premium < 0 else "bar"
        out.append(f'<rect class="{cls}" x="{_f(x0)}" y="{_f(min(y, zero))}" width="{_f(max(x1 - x0, 1))}" '
                   f'height="{_f(max(abs(zero - y), 0.5))}">'
                   f"<title>{_e(w.week)}: {w.premium:,.2f}</title></rect>")
    mean = sum(values) / len(values)
    my = _f(fr.y(mean))
    out.append(f'<line class="mean" x1="{fr.left}" y1="{my}" x2="{fr.width - fr.right}" y2="{my}"/>'
               f'<text class="legend" x="{fr.left + 6}" y="20">{len(values)} weeks · total '
               f"{sum(values):,.2f} · mean {mean:,.2f} per week (dashed line)</text>")
    desc = f"Option premium sold per ISO week, {len(values)} weeks, total {sum(values):,.2f}."
    return svg("chart-premium", title, desc, fr.height, out)
