"""Performance figures: time-weighted returns with money moved as flows, drawdown on that index,
annualising, and buy-and-hold benchmarks. Pure functions over plain numbers and ISO dates.

Time-weighted return (TWR): every flow (a fork's money leaving its parent, the tax withheld at a
fork, a new account's funding, a merge) is valued where it happens: the account's equity right
after the flow, less the flow, is its value right before it. A day's return chains the
sub-periods between the last valuation (the previous close, or the last flow) and the next, so
money moved in or out is never a gain or a loss; the index is the product of the daily returns,
1.0 before the account's first day. A sub-period that starts with nothing invested (a new
account before its funding, a merged account after its merge) is left out; a day with no
sub-period left is None (the account does not exist, or holds nothing).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, slots=True)
class FlowPoint:
    """Money into (+) or out of (−) an account at one moment, and its equity right after."""

    day: str  # ISO date; a flow on a day without a session counts toward the next session
    flow: float
    after: float


def twr_index(dates: Sequence[str], equity: Sequence[float | None], points: Sequence[FlowPoint],
              start_value: float | None = None) -> list[float | None]:
    """The daily time-weighted index (1.0 before the first day) of one account.

    ``equity`` is the account's close-of-day equity per date (None before it exists);
    ``start_value`` its value before the first date (the initial capital of a root account)."""
    by_day: dict[int, list[FlowPoint]] = {}
    for p in points:
        j = bisect.bisect_left(dates, p.day)
        if j < len(dates):
            by_day.setdefault(j, []).append(p)
    prev = start_value or 0.0  # the value at the last valuation
    index = 1.0
    out: list[float | None] = []
    for j, e in enumerate(equity):
        growth, measured = 1.0, False
        for p in by_day.get(j, ()):
            if prev > 0:
                growth *= (p.after - p.flow) / prev
                measured = True
            prev = p.after
        if e is not None and prev > 0:
            growth *= e / prev
            measured = True
        prev = e or 0.0
        if measured:
            index *= growth
        out.append(index if measured else None)
    return out


def max_drawdown(index: Sequence[float | None], start: float = 1.0) -> float:
    """The largest fall from a peak, as a fraction; the peak starts at ``start``."""
    peak, worst = start, 0.0
    for v in index:
        if v is None:
            continue
        peak = max(peak, v)
        if peak > 0:
            worst = max(worst, (peak - v) / peak)
    return worst


def annualised(total: float, first: dt.date, last: dt.date) -> float | None:
    """A total return (fraction) per year over ``first``..``last``; None under a year, where an
    annual figure would extrapolate a few weeks' luck (GIPS does not annualise those either)."""
    days = (last - first).days
    if days < 365 or total <= -1:
        return None
    return float((1 + total) ** (DAYS_PER_YEAR / days) - 1)


def buy_and_hold(dates: Sequence[str], entry: Mapping[str, float],
                 closes: Mapping[str, Mapping[str, float]]) -> list[float]:
    """Equal dollar amounts in each symbol at its ``entry`` price, held: the basket's value per
    date as a multiple of what went in (1.0). A date without a symbol's close keeps its last."""
    last = dict(entry)
    weight = 1.0 / len(entry)
    out = []
    for d in dates:
        total = 0.0
        for sym, px0 in entry.items():
            last[sym] = closes.get(sym, {}).get(d, last[sym])
            total += weight * last[sym] / px0
        out.append(total)
    return out


def pct(fraction: float | None) -> float | None:
    return None if fraction is None else round(fraction * 100, 2)


__all__ = ["FlowPoint", "annualised", "buy_and_hold", "max_drawdown", "pct", "twr_index"]
