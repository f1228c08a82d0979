"""The report's return charts: each account's time-weighted index against buy-and-hold.

`chart-twr` draws the accounts that hold the starting capital with the benchmarks; `chart-units`
one strip per forked unit, its accounts from their funding on. Money moved by a fork or a merge
is a flow, not a gain or a loss: the index does not move with it, and a small marker shows where
it happened (▼ money out, ▲ money in). Every line ends in a label with its name and return,
spread apart so that no two labels overlap. Same calendar span as the report's other charts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from alluse.adapters.report_charts import (
    ChartData,
    Frame,
    _e,
    _f,
    empty_chart,
    line_path,
    nice_ticks,
    svg,
    time_axis,
    tree_order,
)

RIGHT = 200  # room for the end labels
BENCHMARK_STYLE = {"SPY": ("#1f2933", "7 4"), "MAG6": ("#5b3a8c", "2 3")}
LABEL_GAP = 14.0


def _pct(values: Sequence[float | None]) -> list[float | None]:
    return [None if v is None else (v - 1) * 100 for v in values]


def _last(days: Sequence[dt.date], values: Sequence[float | None]) -> tuple[dt.date, float] | None:
    for day, v in zip(reversed(days), reversed(values), strict=False):
        if v is not None:
            return day, v
    return None


def _at(days: Sequence[dt.date], values: Sequence[float | None], day: dt.date) -> float | None:
    """The value on ``day`` (the first date on or after it)."""
    for d, v in zip(days, values, strict=False):
        if d >= day:
            return v
    return None


def spread_labels(wanted: Sequence[float], low: float, high: float,
                  gap: float = LABEL_GAP) -> list[float]:
    """Label baselines as near their lines' ends as they can be, at least ``gap`` apart, kept in
    [low, high] (pixel rows: larger is lower)."""
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    placed: list[float] = []
    for i in order:
        y = max(wanted[i], low)
        if placed:
            y = max(y, placed[-1] + gap)
        placed.append(y)
    overflow = placed[-1] - high if placed else 0.0
    if overflow > 0:  # pushed past the bottom: shift the stack up, keeping the gaps
        placed = [y - overflow for y in placed]
        for k in range(len(placed) - 2, -1, -1):
            placed[k] = min(placed[k], placed[k + 1] - gap)
    out = [0.0] * len(wanted)
    for rank, i in enumerate(order):
        out[i] = placed[rank]
    return out


def _end_labels(fr: Frame, days: Sequence[dt.date],
                lines: Sequence[tuple[str, str, list[float | None]]]) -> list[str]:
    ends = [(name, colour, end) for name, colour, values in lines
            if (end := _last(days, values)) is not None]
    ys = spread_labels([fr.y(v) + 4 for _, _, (_, v) in ends], fr.top + 4,
                       fr.height - fr.bottom + 4)
    out = []
    x = fr.width - fr.right + 8
    for (name, colour, (day, v)), y in zip(ends, ys, strict=True):
        out.append(f'<line class="leader" x1="{_f(fr.x(day))}" y1="{_f(fr.y(v))}" x2="{_f(x - 2)}" '
                   f'y2="{_f(y - 4)}" stroke="{colour}"/><text class="end-label" x="{_f(x)}" '
                   f'y="{_f(y)}" fill="{colour}">{_e(name)} {v:+.1f}%</text>')
    return out


def _value_axis(fr: Frame, ticks: Sequence[float]) -> list[str]:
    out = []
    for t in ticks:
        y = _f(fr.y(t))
        cls = "grid zero" if t == 0 else "grid"
        out.append(f'<line class="{cls}" x1="{fr.left}" y1="{y}" x2="{fr.width - fr.right}" '
                   f'y2="{y}"/><text class="tick" x="{fr.left - 8}" y="{y}" dy="4" '
                   f'text-anchor="end">{t:g}%</text>')
    return out


def _flow_marker(fr: Frame, day: dt.date, value: float, colour: str, out_flow: bool,
                 tip: str) -> str:
    x, y = fr.x(day), fr.y(value)
    shape = f"M{_f(x - 4.5)} {_f(y - 9)} h9 l-4.5 7 Z" if out_flow else \
        f"M{_f(x - 4.5)} {_f(y + 9)} h9 l-4.5 -7 Z"
    return f'<path class="flow" d="{shape}" stroke="{colour}"><title>{_e(tip)}</title></path>'


def _benchmark_lines(data: ChartData) -> list[tuple[str, str, str, list[float | None]]]:
    out = []
    for key, values in data.returns.benchmarks.items():
        colour, dash = BENCHMARK_STYLE.get(key, ("#5b6675", "4 3"))
        out.append((data.returns.labels.get(key, key), colour, dash, _pct(values)))
    return out


def twr_chart(data: ChartData) -> str:
    title = "Time-weighted return per account vs buy-and-hold"
    r = data.returns
    ids = {a.id for a in data.accounts}
    roots = [a for a in tree_order(data.accounts)
             if (a.parent is None or a.parent not in ids) and a.id in r.series]
    lines = [(a.id, data.colour.get(a.id, "#8a96a3"), _pct(r.series[a.id])) for a in roots]
    marks = _benchmark_lines(data)
    values = [v for _, _, s in lines for v in s if v is not None]
    values += [v for *_, s in marks for v in s if v is not None]
    if not r.dates or not values:
        return empty_chart("chart-twr", title, "No time-weighted series in this result.")
    top = 34
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values), 6)
    fr = Frame(top + 330, top, data.start.toordinal(), data.end.toordinal(), ticks[0], ticks[-1],
               right=RIGHT)
    out = [*_value_axis(fr, ticks), *time_axis(fr, data.start, data.end)]
    for name, colour, dash, s in marks:
        out += [p.replace('class="series"', f'class="series bench" stroke-dasharray="{dash}"')
                for p in line_path(fr, r.dates, s, colour, name)]
    for name, colour, s in lines:
        out += line_path(fr, r.dates, s, colour, name)
    pct = {name: s for name, _, s in lines}
    colour_of = {name: colour for name, colour, _ in lines}
    for f in data.forks:
        if f.parent in pct and (v := _at(r.dates, pct[f.parent], f.date)) is not None:
            out.append(_flow_marker(fr, f.date, v, colour_of[f.parent], True,
                                    f"{f.date}: fork {f.unit}, {f.parent} moved out "
                                    f"{_money(f.amount)} + {_money(f.tax_withheld)} tax withheld "
                                    "(a flow, not a loss)"))
    for m in data.merges:
        if m.into in pct and (v := _at(r.dates, pct[m.into], m.date)) is not None:
            out.append(_flow_marker(fr, m.date, v, colour_of[m.into], False,
                                    f"{m.date}: merge of unit {m.unit} into {m.into}, "
                                    f"{_money(m.amount)} moved in (a flow, not a gain)"))
    out += _end_labels(fr, r.dates, [(n, c, s) for n, c, s in lines]
                       + [(n, c, s) for n, c, _, s in marks])
    out += _legend(fr, [(f"{n} buy-and-hold", c, d) for n, c, d, _ in marks])
    desc = (f"Time-weighted return of {len(lines)} accounts from {r.dates[0]} to {r.dates[-1]}, "
            f"with {len(marks)} buy-and-hold benchmarks; forks and merges are marked flows.")
    return svg("chart-twr", title, desc, fr.height, out)


def _legend(fr: Frame, marks: Sequence[tuple[str, str, str]]) -> list[str]:
    x = fr.left
    out = []
    for name, colour, dash in marks:
        out.append(f'<line x1="{x}" y1="14" x2="{x + 26}" y2="14" stroke="{colour}" stroke-width="2" '
                   f'stroke-dasharray="{dash}"/><text class="legend" x="{x + 32}" y="18">'
                   f"{_e(name)}</text>")
        x += 44 + 7 * len(name)
    out.append(f'<path class="flow" d="M{x} 9 h9 l-4.5 7 Z" stroke="#3d4653"/>'
               f'<text class="legend" x="{x + 14}" y="18">fork: money out</text>'
               f'<path class="flow" d="M{x + 130} 20 h9 l-4.5 -7 Z" stroke="#3d4653"/>'
               f'<text class="legend" x="{x + 144}" y="18">merge: money in (flows, the index '
               "does not move with them)</text>")
    return out


def _money(value: object) -> str:
    return "—" if value is None else f"{value:,.2f}"


def units_chart(data: ChartData) -> str:
    """One strip per forked unit: its accounts' indexes from their funding, same calendar."""
    title = "Time-weighted return of the forked accounts, per unit"
    r = data.returns
    if not data.forks:
        return empty_chart("chart-units", title, "No forked accounts in this replay.")
    merged = {m.unit: m for m in data.merges}
    strip, head, gap, top = 118, 24, 14, 8
    out: list[str] = []
    y0 = top
    for f in sorted(data.forks, key=lambda f: (f.date, f.unit)):
        members = [a for a in f.accounts if a in r.series]
        lines = [(a, data.colour.get(a, "#8a96a3"), _pct(r.series[a])) for a in members]
        values = [v for _, _, s in lines for v in s if v is not None]
        text = (f"Unit {f.unit}: forked from {f.parent} on {f.date} with {_money(f.amount)}")
        if (m := merged.get(f.unit)) is not None:
            text += f"; merged into {m.into} on {m.date}"
        if not values:  # funded and merged before a close: nothing to draw, one line says so
            out.append(f'<text class="strip-title" x="72" y="{y0 + 13}">{_e(text)}<tspan '
                       'class="muted"> — no close in this unit\'s life</tspan></text>')
            y0 += head
            continue
        out.append(f'<text class="strip-title" x="72" y="{y0 + 13}">{_e(text)}</text>')
        ticks = nice_ticks(min(0.0, *values), max(0.0, *values), 3)
        fr = Frame(y0 + head + strip, y0 + head, data.start.toordinal(), data.end.toordinal(),
                   ticks[0], ticks[-1], right=RIGHT, bottom=0)
        out.append(f'<rect class="strip" x="{fr.left}" y="{fr.top}" '
                   f'width="{fr.width - fr.left - fr.right}" height="{strip}"/>')
        out += _value_axis(fr, ticks)
        for name, colour, s in lines:
            out += line_path(fr, r.dates, s, colour, name)
            first = next(((d, v) for d, v in zip(r.dates, s, strict=False) if v is not None), None)
            if first is not None:
                out.append(_flow_marker(fr, first[0], first[1], colour, False,
                                        f"{first[0]}: {name} funded by the fork"))
        out += _end_labels(fr, r.dates, lines)
        y0 += head + strip + gap
    axis = Frame(y0 + 6, top, data.start.toordinal(), data.end.toordinal(), right=RIGHT, bottom=20)
    out = [*time_axis(axis, data.start, data.end, grid_top=top + head), *out]
    desc = (f"{len(data.forks)} forked units, one strip each: their accounts' time-weighted return "
            "from the day they were funded (▲).")
    return svg("chart-units", title, desc, y0 + 26, out)


__all__ = ["spread_labels", "twr_chart", "units_chart"]
