"""Modelled implied volatility for days without a real option chain (replay, simulated broker).

On a historical day the simulator knows only daily bars and the VIX close. This module turns those
into an implied-volatility surface in three multiplicative parts (docs/iv_model.md has the
derivation and the calibration figures)::

    level  = vix_to_atm · VIX/100 · clamp(symbol_rv / market_rv, rel_vol_min, rel_vol_max)^rv_exponent
    atm(T) = level · (max(T, min_days/365) / (term_days/365))^beta(VIX)
    iv     = atm(T) · smile(y),   y = ln(K/F) / (level · √T),   F = S·e^{(r−q)T}
    smile(y) = 1 − put_skew·y                       for y ≤ 0  (puts richer)
             = 1 − call_skew·y + call_curvature·y²  for y > 0  (dip, then the call wing)

``level`` is the 30-day at-the-money IV. ``beta`` is ``term_exponent`` at the calibration VIX and
falls linearly to 0 at ``term_flat_vix`` (negative above: an inverted term structure in stress).
The defaults are calibrated on two real SPY chains (2026-02-10, 2026-05-01); the single-stock
scaling (``rv_exponent``) and the VIX dependence of ``beta`` are judgments, not fits.

Pure functions of their inputs: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from alluse.engine.errors import DataError

__all__ = ["DEFAULT_VOL_PARAMS", "VolModelParams", "atm_level", "model_iv", "realized_vol", "smile_iv"]

TRADING_DAYS_PER_YEAR = 252


@dataclass(frozen=True, slots=True)
class VolModelParams:
    """Parameters of the modelled IV surface. Defaults: SPY fit, see docs/iv_model.md."""

    # 30-day SPY ATM IV / (VIX/100) on 2026-02-10 (VIX 17.79 → ATM 0.1389). VIX exceeds ATM IV
    # because it prices the whole strip, skew included.
    vix_to_atm: float = 0.781
    # Median trailing 30-day SPY realised vol / (VIX/100), 2021-2026: stands in for market_rv
    # when the caller has no market realised vol.
    market_rv_to_vix: float = 0.771
    # How a symbol's realised vol relative to the market's scales its IV level (1: proportionally).
    rv_exponent: float = 1.0
    rel_vol_min: float = 0.5
    rel_vol_max: float = 8.0
    # ATM term structure: atm(T) = level · (T / term_days)^beta; fitted beta on both chains.
    term_days: float = 30.0
    term_exponent: float = 0.093
    term_calibration_vix: float = 17.79
    # Assumed VIX at which the ATM term structure is flat (above it, short expiries are richer).
    term_flat_vix: float = 25.0
    # Floor on T for the term factor: 0-DTE options use the 1-day ATM level.
    min_days: float = 1.0
    # Smile in y = ln(K/F) / (level · √T); fitted on out-of-the-money SPY options (≤ 60 DTE).
    put_skew: float = 0.259
    call_skew: float = 0.351
    call_curvature: float = 0.143
    # Guard rails on the smile multiplier and on the final IV.
    smile_min: float = 0.5
    smile_max: float = 4.0
    iv_min: float = 0.03
    iv_max: float = 4.0

    def __post_init__(self) -> None:
        for name in ("vix_to_atm", "market_rv_to_vix", "rel_vol_min", "rel_vol_max", "term_days",
                     "min_days", "smile_min", "smile_max", "iv_min", "iv_max"):
            value = getattr(self, name)
            if not (value > 0.0 and math.isfinite(value)):
                raise DataError(f"VolModelParams.{name} must be a positive finite number, got {value!r}")
        if self.term_flat_vix == self.term_calibration_vix:
            raise DataError("VolModelParams.term_flat_vix must differ from term_calibration_vix")
        for lo, hi in (("rel_vol_min", "rel_vol_max"), ("smile_min", "smile_max"), ("iv_min", "iv_max")):
            if getattr(self, lo) > getattr(self, hi):
                raise DataError(f"VolModelParams.{lo} must not exceed {hi}")


DEFAULT_VOL_PARAMS = VolModelParams()


def _positive(name: str, value: float) -> float:
    if not (value > 0.0 and math.isfinite(value)):
        raise DataError(f"volmodel: {name} must be a positive finite number, got {value!r}")
    return value


def atm_level(
    vix: float,
    *,
    symbol_rv: float | None = None,
    market_rv: float | None = None,
    params: VolModelParams = DEFAULT_VOL_PARAMS,
) -> float:
    """The symbol's 30-day at-the-money IV implied by the VIX close (in points, e.g. 17.8).

    ``symbol_rv=None`` means the symbol is the market itself (SPY): relative vol 1. Otherwise the
    relative vol is ``symbol_rv / market_rv`` (both annualised over the same window, e.g.
    ``realized_vol(closes, 30)`` of the symbol and of SPY); without ``market_rv`` the typical market
    realised vol ``market_rv_to_vix · VIX/100`` stands in for it.
    """
    v = _positive("vix", vix) / 100.0
    rel = 1.0
    if symbol_rv is not None:
        denom = params.market_rv_to_vix * v if market_rv is None else _positive("market_rv", market_rv)
        rel = _positive("symbol_rv", symbol_rv) / denom
        rel = min(max(rel, params.rel_vol_min), params.rel_vol_max) ** params.rv_exponent
    return params.vix_to_atm * v * rel


def _term_exponent(vix: float | None, params: VolModelParams) -> float:
    if vix is None:
        return params.term_exponent
    # Linear in VIX through (calibration VIX, fitted beta) and (flat VIX, 0), bounded at twice
    # the fitted slope either way so that extreme VIX prints cannot produce absurd curves.
    frac = (params.term_flat_vix - vix) / (params.term_flat_vix - params.term_calibration_vix)
    return params.term_exponent * min(max(frac, -2.0), 2.0)


def smile_iv(
    level: float,
    log_moneyness: float,
    T: float,
    *,
    vix: float | None = None,
    carry: float = 0.0,
    params: VolModelParams = DEFAULT_VOL_PARAMS,
) -> float:
    """IV at ``log_moneyness = ln(K/S)`` and ``T`` years for a 30-day ATM ``level``.

    ``carry`` is ``r − q``: it moves the at-the-money point to the forward. ``vix`` selects the
    term-structure regime (None: the calibration regime). ``T <= 0`` is treated as ``min_days``.
    """
    _positive("level", level)
    if not math.isfinite(log_moneyness):
        raise DataError(f"volmodel: log_moneyness must be finite, got {log_moneyness!r}")
    if math.isnan(T):
        raise DataError(f"volmodel: T must be a number, got {T!r}")
    t_term = max(T, params.min_days / 365.0)
    atm = level * float((t_term / (params.term_days / 365.0)) ** _term_exponent(vix, params))
    y = (log_moneyness - carry * max(T, 0.0)) / (level * math.sqrt(t_term))
    if y <= 0.0:
        smile = 1.0 - params.put_skew * y
    else:
        smile = 1.0 - params.call_skew * y + params.call_curvature * y * y
    smile = min(max(smile, params.smile_min), params.smile_max)
    return min(max(atm * smile, params.iv_min), params.iv_max)


def model_iv(
    vix: float,
    log_moneyness: float,
    T: float,
    *,
    symbol_rv: float | None = None,
    market_rv: float | None = None,
    carry: float = 0.0,
    params: VolModelParams = DEFAULT_VOL_PARAMS,
) -> float:
    """Modelled IV of a ``ln(K/S)`` / ``T``-year option on a day with this VIX close.

    Equivalent to ``smile_iv(atm_level(...), ..., vix=vix)``; when pricing many strikes on one day,
    compute ``atm_level`` once and call ``smile_iv``.
    """
    level = atm_level(vix, symbol_rv=symbol_rv, market_rv=market_rv, params=params)
    return smile_iv(level, log_moneyness, T, vix=vix, carry=carry, params=params)


def realized_vol(closes: Sequence[float], window: int) -> float | None:
    """Annualised (×√252) sample standard deviation of the last ``window`` daily log returns.

    Needs ``window + 1`` closes (oldest first); returns None when there are fewer. Uses the
    mean-adjusted estimator (n − 1 denominator), the usual "historical volatility".
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise DataError(f"realized_vol: window must be an integer >= 2, got {window!r}")
    if len(closes) < window + 1:
        return None
    tail = closes[len(closes) - window - 1 :]
    rets: list[float] = []
    prev = tail[0]
    for i, close in enumerate(tail):
        if not (close > 0.0 and math.isfinite(close)):
            raise DataError(f"realized_vol: close #{len(closes) - window - 1 + i} must be > 0, got {close!r}")
        if i:
            rets.append(math.log(close / prev))
        prev = close
    mean = sum(rets) / window
    var = sum((x - mean) ** 2 for x in rets) / (window - 1)
    return math.sqrt(var * TRADING_DAYS_PER_YEAR)
