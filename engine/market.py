"""Per-symbol market state: latest price, indicators from daily bars, latest option quotes."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from alluse.engine.indicators import MACD, SimpleMean, WilderATR, WilderRSI
from alluse.engine.policy.models import Indicators

QuoteKey = tuple[dt.date, float, str]  # expiry, strike, right


@dataclass(frozen=True, slots=True)
class Quote:
    bid: float
    ask: float
    delta: float | None
    iv: float | None
    ts: dt.datetime

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0


@dataclass(slots=True)
class SymbolState:
    atr: WilderATR
    rsi: WilderRSI
    macd: MACD
    price: float | None = None
    price_ts: dt.datetime | None = None
    last_bar_date: dt.date | None = None
    quotes: dict[QuoteKey, Quote] = field(default_factory=dict)
    week_open: float | None = None  # previous week's last close, for week classification
    week_high: float = -math.inf
    week_low: float = math.inf
    mean: SimpleMean = field(default_factory=SimpleMean)  # closes' trailing mean (predictions)

    @classmethod
    def new(cls, ind: Indicators) -> SymbolState:
        return cls(WilderATR(ind.atr_period), WilderRSI(ind.rsi_period),
                   MACD(ind.macd.fast, ind.macd.slow, ind.macd.signal),
                   mean=SimpleMean(ind.mean_days))

    def prune_quotes(self, today: dt.date) -> None:
        for key in [k for k in self.quotes if k[0] < today]:
            del self.quotes[key]
