"""Protocol levels of short option positions, as precomputed price boundaries.

A short put at level k escalates when the underlying falls to ``entry − m[k+1]·ATR`` or below and
(with hysteresis) steps down when it rises above ``entry − (m[k] − h)·ATR``; a short call mirrors
it. Those two prices are computed once per level change (or policy change), so a price event that
changes nothing costs two comparisons against the symbol's tightest band.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from alluse.engine.events import OptionContract
from alluse.engine.machines import ProtocolModel

INF = math.inf


@dataclass(eq=False, slots=True)
class ShortOption:
    """An open short option position, the protocol machine's model."""

    account: str
    symbol: str
    expiry: dt.date
    strike: float
    right: str
    quantity: int  # contracts, positive
    premium: float  # per share, received at open (average)
    entry_price: float  # underlying at open
    atr: float  # ATR at open: the unit of the adverse move
    opened_at: dt.datetime
    model: ProtocolModel = field(default_factory=lambda: ProtocolModel("", "L0"))
    lo: float = -INF  # nothing changes while lo < price < hi
    hi: float = INF
    max_level: int = 0
    # a call written against shares held: the wheel position (stock + call) loses when the stock
    # falls, so it is watched like a put; a rally only caps its gain
    covered: bool = False

    @property
    def falls_hurt(self) -> bool:
        return self.right == "P" or self.covered

    @property
    def key(self) -> str:
        """The position as text (transition subjects, messages): ACCOUNT:SYMBOL:EXPIRY:STRIKE R."""
        return f"{self.account}:{self.symbol}:{self.expiry.isoformat()}:{self.strike:g}{self.right}"

    @property
    def contract(self) -> OptionContract:
        return OptionContract(self.symbol, self.expiry, self.strike, self.right)  # type: ignore[arg-type]

    @property
    def position_key(self) -> tuple[str, OptionContract]:
        return (self.account, self.contract)

    @property
    def level(self) -> int:
        return int(self.model.state[1:])

    def split_adjust(self, ratio: int) -> None:
        """The position after a ``ratio``-for-1 split, as the OCC adjusts it: contracts × ratio,
        strike ÷ ratio; the per-share premium, the entry price and the ATR ÷ ratio, so the
        protocol levels (multiples of ATR from entry) are unchanged by the split itself."""
        self.quantity *= ratio
        self.strike = self.contract.split(ratio).strike
        self.premium /= ratio
        self.entry_price /= ratio
        self.atr /= ratio
        self.model.key = self.key

    def adverse_multiple(self, price: float) -> float:
        move = self.entry_price - price if self.falls_hurt else price - self.entry_price
        return move / self.atr if self.atr > 0 else 0.0

    def bounds(self, thresholds: tuple[float, ...], hysteresis: float | None) -> None:
        """Recompute (lo, hi) for the current level. ``hysteresis`` None: never step down."""
        k = self.level
        up = thresholds[k + 1] if k + 1 < len(thresholds) else INF
        down = thresholds[k] - hysteresis if (hysteresis is not None and k > 0) else -INF
        e, a = self.entry_price, self.atr
        if self.falls_hurt:  # adverse = entry − price
            self.lo = e - up * a if up != INF else -INF
            self.hi = e - down * a if down != -INF else INF
        else:  # adverse = price − entry
            self.hi = e + up * a if up != INF else INF
            self.lo = e + down * a if down != -INF else -INF


def target_level(multiple: float, current: int, thresholds: tuple[float, ...],
                 hysteresis: float | None) -> int:
    """The level for an adverse ``multiple``: up to the highest threshold reached; down one level
    at a time below threshold − hysteresis (repeatedly, so a big reversal steps down fully)."""
    level = current
    while level + 1 < len(thresholds) and multiple >= thresholds[level + 1]:
        level += 1
    if level == current and hysteresis is not None:
        while level > 0 and multiple < thresholds[level] - hysteresis:
            level -= 1
    return level


@dataclass(slots=True)
class SymbolBand:
    """The tightest band over a symbol's positions: inside it no position changes level."""

    lo: float = -INF
    hi: float = INF
    positions: list[ShortOption] = field(default_factory=list)

    def refresh(self) -> None:
        self.lo = max((p.lo for p in self.positions), default=-INF)
        self.hi = min((p.hi for p in self.positions), default=INF)
