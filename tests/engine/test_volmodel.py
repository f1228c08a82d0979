"""The modelled IV surface against real SPY chains, plus its shape and input handling."""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from alluse.engine.errors import DataError
from alluse.engine.pricing import bs_price, implied_vol
from alluse.engine.volmodel import (
    DEFAULT_VOL_PARAMS,
    VolModelParams,
    atm_level,
    model_iv,
    realized_vol,
    smile_iv,
)

CHAINS = "options_spy_yf_zoomkb"
FEB, MAY = "spy_chain_2026-02-10.csv", "spy_chain_2026-05-01_enriched.csv"
# The February file has no rate columns: r is the May file's Treasury rate and q the value that
# put-call parity on the February chain implies with it (forward/spot 1.00349 at 49 days).
FEB_R, FEB_Q = 0.037, 0.011


@dataclass(frozen=True, slots=True)
class Quote:
    days: int
    T: float
    S: float
    K: float
    r: float
    q: float
    bid: float
    ask: float
    yahoo_iv: float

    @property
    def mid(self) -> float:
        return 0.5 * (self.bid + self.ask)

    @property
    def log_moneyness(self) -> float:
        return math.log(self.K / self.S)

    def mid_iv(self, right: str = "P") -> float | None:
        return implied_vol(self.mid, "P" if right == "P" else "C", self.S, self.K, self.T, self.r, self.q)


def _quotes(shared_data: Path, filename: str, option_type: str) -> list[Quote]:
    """Quotes of one type. T counts calendar days from the quote date's close to expiry (the
    file's own T column starts a day late for the February chain)."""
    out = []
    with (shared_data / CHAINS / filename).open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["option_type"] != option_type:
                continue
            days = (date.fromisoformat(row["expiry"]) - date.fromisoformat(row["spot_date"])).days
            out.append(
                Quote(
                    days=days,
                    T=days / 365.0,
                    S=float(row["S"]),
                    K=float(row["strike"]),
                    r=float(row.get("r") or FEB_R),
                    q=float(row.get("q") or FEB_Q),
                    bid=float(row["bid"] or 0.0),
                    ask=float(row["ask"] or 0.0),
                    yahoo_iv=float(row["impliedVolatility"]),
                )
            )
    return out


def _liquid_puts(shared_data: Path, filename: str) -> list[Quote]:
    """Strikes within ±10% of spot, expiries ≤ 60 days, bid > 0."""
    return [
        p for p in _quotes(shared_data, filename, "put")
        if abs(p.K / p.S - 1.0) <= 0.10 and p.days <= 60 and p.bid > 0.0
    ]


def _vix_close(shared_data: Path, day: str) -> float:
    with (shared_data / "daily_yf_adjusted_koiwest" / "VIX.csv").open(newline="") as fh:
        return next(float(r["Close"]) for r in csv.DictReader(fh) if r["Date"] == day)


def _chain_level(shared_data: Path, filename: str) -> float:
    """The chain's own 30-day ATM level: per expiry ≤ 60 days, the OTM mid IV interpolated at the
    forward, divided by the model's term factor; the median over expiries."""
    puts = _quotes(shared_data, filename, "put")
    calls = {(c.days, c.K): c for c in _quotes(shared_data, filename, "call")}
    levels = []
    for days in sorted({p.days for p in puts if p.days <= 60}):
        p0 = next(p for p in puts if p.days == days)
        fwd = p0.S * math.exp((p0.r - p0.q) * p0.T)
        below = max((p for p in puts if p.days == days and fwd >= p.K and p.bid > 0), key=lambda p: p.K)
        above = min(
            (c for c in calls.values() if c.days == days and fwd < c.K and c.bid > 0), key=lambda c: c.K
        )
        iv_below, iv_above = below.mid_iv("P"), above.mid_iv("C")
        assert iv_below is not None and iv_above is not None
        w = math.log(fwd / below.K) / math.log(above.K / below.K)
        atm = iv_below * (1.0 - w) + iv_above * w
        levels.append(atm / (days / DEFAULT_VOL_PARAMS.term_days) ** DEFAULT_VOL_PARAMS.term_exponent)
    return statistics.median(levels)


def _iv_errors(puts: list[Quote], level: float, vix: float | None) -> list[float]:
    errors = []
    for p in puts:
        chain_iv = p.mid_iv()
        if chain_iv is None:
            continue  # mid outside the no-arbitrage bounds (2 stale quotes in February)
        modelled = smile_iv(level, p.log_moneyness, p.T, vix=vix, carry=p.r - p.q)
        errors.append(abs(modelled - chain_iv))
    return errors


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def test_modelled_iv_from_vix_matches_february_chain(shared_data: Path) -> None:
    """2026-02-10, level from the real VIX close (17.79): liquid puts within 1 vol point at the
    median and 2 at the 90th percentile of the chain's mid IV (measured 0.65 / 1.34)."""
    vix = _vix_close(shared_data, "2026-02-10")
    puts = _liquid_puts(shared_data, FEB)
    errors = _iv_errors(puts, atm_level(vix), vix)
    assert len(puts) - 2 == len(errors)
    assert statistics.median(errors) <= 0.010
    assert _p90(errors) <= 0.020


def test_modelled_iv_shape_matches_may_chain(shared_data: Path) -> None:
    """2026-05-01 (no VIX in our files): level from the chain's own ATM, shape from the model;
    liquid puts within 1 / 2 vol points at median / 90th percentile (measured 0.15 / 1.04)."""
    puts = _liquid_puts(shared_data, MAY)
    level = _chain_level(shared_data, MAY)
    errors = _iv_errors(puts, level, None)
    assert 0.13 < level < 0.16
    assert len(puts) == len(errors)
    assert statistics.median(errors) <= 0.010
    assert _p90(errors) <= 0.020


def test_modelled_iv_is_close_to_yahoo_iv_column(shared_data: Path) -> None:
    """Against Yahoo's own impliedVolatility column the 90th percentile stays under 2.5 points."""
    vix = _vix_close(shared_data, "2026-02-10")
    for filename, level, regime in ((FEB, atm_level(vix), vix), (MAY, _chain_level(shared_data, MAY), None)):
        puts = _liquid_puts(shared_data, filename)
        errors = [
            abs(smile_iv(level, p.log_moneyness, p.T, vix=regime, carry=p.r - p.q) - p.yahoo_iv) for p in puts
        ]
        assert _p90(errors) <= 0.025, filename


def test_modelled_put_prices_match_near_the_money_mids(shared_data: Path) -> None:
    """Puts within ±3% of spot: modelled price within 5% of the mid at the median and 10% at the
    90th percentile (measured Feb 3.2% / 8.4%, May 1.5% / 3.4%)."""
    vix = _vix_close(shared_data, "2026-02-10")
    for filename, level, regime in ((FEB, atm_level(vix), vix), (MAY, _chain_level(shared_data, MAY), None)):
        rel = []
        for p in _liquid_puts(shared_data, filename):
            if abs(p.log_moneyness) > 0.03:
                continue
            sigma = smile_iv(level, p.log_moneyness, p.T, vix=regime, carry=p.r - p.q)
            rel.append(abs(bs_price("P", p.S, p.K, p.T, p.r, sigma, p.q) / p.mid - 1.0))
        assert len(rel) > 90, filename
        assert statistics.median(rel) <= 0.05, filename
        assert _p90(rel) <= 0.10, filename


def test_market_rv_to_vix_default_reproduces_from_spy_history(shared_data: Path) -> None:
    """The default 0.771 is the median of trailing 30-day SPY realised vol / VIX, 2021-2026."""
    folder = shared_data / "daily_yf_adjusted_koiwest"
    with (folder / "SPY.csv").open(newline="") as fh:
        spy = [(r["Date"], float(r["Close"])) for r in csv.DictReader(fh)]
    with (folder / "VIX.csv").open(newline="") as fh:
        # One VIX row (2026-03-25, close 154.96 with volume) is another series' data: skip it.
        vix = {r["Date"]: float(r["Close"]) for r in csv.DictReader(fh) if 5.0 < float(r["Close"]) < 90.0}
    closes = [c for _, c in spy]
    ratios = []
    for i, (day, _) in enumerate(spy):
        rv = realized_vol(closes[: i + 1], 30)
        if rv is not None and day in vix:
            ratios.append(rv / (vix[day] / 100.0))
    assert DEFAULT_VOL_PARAMS.market_rv_to_vix == pytest.approx(statistics.median(ratios), abs=0.002)


def test_spy_atm_level_is_vix_times_ratio() -> None:
    """For the market itself the 30-day ATM IV is vix_to_atm × VIX/100."""
    expected = DEFAULT_VOL_PARAMS.vix_to_atm * 0.20
    assert expected == pytest.approx(atm_level(20.0), abs=1e-15)


def test_atm_level_scales_with_relative_realised_vol() -> None:
    """A stock with 3× SPY's realised vol gets 3× the level; without market_rv the VIX proxy is used."""
    assert 3.0 * atm_level(18.0) == pytest.approx(atm_level(18.0, symbol_rv=0.45, market_rv=0.15), rel=1e-12)
    proxy = DEFAULT_VOL_PARAMS.market_rv_to_vix * 0.18
    assert atm_level(18.0, symbol_rv=2.0 * proxy) == pytest.approx(2.0 * atm_level(18.0), rel=1e-12)
    capped = atm_level(18.0, symbol_rv=5.0, market_rv=0.1)
    assert DEFAULT_VOL_PARAMS.rel_vol_max * atm_level(18.0) == pytest.approx(capped, rel=1e-12)


def test_puts_are_richer_than_atm_and_calls_dip_then_rise() -> None:
    """Skew: IV falls from OTM puts through ATM to slightly OTM calls, then the call wing rises."""
    T = 30.0 / 365.0
    ivs = [model_iv(18.0, k, T) for k in (-0.10, -0.05, 0.0, 0.03, 0.30)]
    assert ivs[0] > ivs[1] > ivs[2] > ivs[3]
    assert ivs[4] > ivs[3]


def test_term_structure_contango_when_calm_inverted_in_stress() -> None:
    """At the calibration VIX 7-day ATM IV is below 30-day; at VIX 40 it is above; flat at 25."""
    week, month = 7.0 / 365.0, 30.0 / 365.0
    assert model_iv(17.79, 0.0, week) < model_iv(17.79, 0.0, month)
    assert model_iv(40.0, 0.0, week) > model_iv(40.0, 0.0, month)
    assert model_iv(25.0, 0.0, week) == pytest.approx(model_iv(25.0, 0.0, month), rel=1e-12)


def test_zero_dte_uses_the_one_day_level() -> None:
    """Below min_days the term factor and moneyness scaling are held at one day."""
    one_day = model_iv(18.0, -0.01, 1.0 / 365.0)
    assert one_day == model_iv(18.0, -0.01, 2.0 / (365.0 * 24.0))
    assert one_day == model_iv(18.0, -0.01, 0.0)


def test_modelled_iv_stays_within_guard_rails() -> None:
    """Absurd moneyness cannot push IV past iv_max or the smile past smile_max."""
    wild = model_iv(80.0, -3.0, 1.0 / 365.0, symbol_rv=3.0, market_rv=0.1)
    assert DEFAULT_VOL_PARAMS.iv_max == wild
    assert model_iv(18.0, -3.0, 0.5) == pytest.approx(DEFAULT_VOL_PARAMS.smile_max * model_iv(18.0, 0.0, 0.5))


def test_bad_inputs_are_refused_by_name() -> None:
    """Non-positive VIX, NaN moneyness and inconsistent params raise DataError naming the field."""
    with pytest.raises(DataError, match=r"vix must be a positive finite number, got 0\.0"):
        atm_level(0.0)
    with pytest.raises(DataError, match="log_moneyness must be finite"):
        model_iv(18.0, float("nan"), 0.1)
    with pytest.raises(DataError, match=r"VolModelParams\.vix_to_atm must be a positive finite number"):
        VolModelParams(vix_to_atm=-1.0)
    with pytest.raises(DataError, match=r"VolModelParams\.iv_min must not exceed iv_max"):
        VolModelParams(iv_min=2.0, iv_max=1.0)


def test_realized_vol_of_alternating_returns_matches_hand_computation() -> None:
    """Returns +x, −x, +x, −x: sample std x·√(4/3), annualised ×√252."""
    x = 0.01
    closes = [100.0]
    for sign in (1, -1, 1, -1):
        closes.append(closes[-1] * math.exp(sign * x))
    expected = x * math.sqrt(4.0 / 3.0) * math.sqrt(252.0)
    assert expected == pytest.approx(realized_vol(closes, 4), rel=1e-12)


def test_realized_vol_uses_only_the_last_window_and_needs_enough_closes() -> None:
    """Older closes do not matter; fewer than window+1 closes give None; constant growth gives 0."""
    growth = [100.0 * 1.01**i for i in range(10)]
    assert realized_vol(growth, 5) == pytest.approx(0.0, abs=1e-12)
    assert realized_vol([50.0, 200.0, *growth], 5) == realized_vol(growth, 5)
    assert realized_vol(growth[:5], 5) is None


def test_realized_vol_rejects_bad_window_and_closes() -> None:
    """window < 2 and non-positive closes are data errors naming the value."""
    with pytest.raises(DataError, match="window must be an integer >= 2, got 1"):
        realized_vol([1.0, 2.0, 3.0], 1)
    with pytest.raises(DataError, match=r"close #1 must be > 0, got 0\.0"):
        realized_vol([1.0, 0.0, 3.0], 2)
