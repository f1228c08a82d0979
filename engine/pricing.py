"""Generalised Black-Scholes-Merton for European options with a continuous dividend yield ``q``.

Conventions: ``right`` is ``"P"`` or ``"C"``; ``T`` in years; ``r``, ``q`` and ``sigma`` annualised
and continuously compounded. Greeks: theta per year (divide by 365 for per calendar day), vega per
1.00 of volatility (× 0.01 for one vol point), rho and dividend rho per 1.00 of rate.

Edge cases are priced, not rejected: ``T <= 0`` gives intrinsic value ``max(S - K, 0)`` /
``max(K - S, 0)``; ``sigma == 0`` gives the discounted intrinsic value of the forward. The normal
CDF is ``erfc``-based so deep out-of-the-money values keep their relative precision (~1e-26 prices).
Only ``math`` on the hot path: a price costs ~1 µs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from alluse.engine.errors import DataError

__all__ = ["Greeks", "Right", "bs_greeks", "bs_price", "implied_vol", "norm_cdf", "strike_for_delta"]

Right = Literal["P", "C"]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_STD_NORMAL = NormalDist()


def norm_cdf(x: float) -> float:
    """Standard normal CDF via ``erfc``: accurate relative to its value in both tails."""
    return 0.5 * math.erfc(-x / _SQRT2)


def _norm_pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def _check(right: str, S: float, K: float, T: float, sigma: float) -> bool:
    """Validate inputs; return True for a call. NaN fails every comparison, hence the ``not``."""
    if right == "C":
        is_call = True
    elif right == "P":
        is_call = False
    else:
        raise DataError(f"right must be 'P' or 'C', got {right!r}")
    if not S > 0.0 or math.isinf(S):
        raise DataError(f"spot S must be a positive finite number, got {S!r}")
    if not K > 0.0 or math.isinf(K):
        raise DataError(f"strike K must be a positive finite number, got {K!r}")
    if math.isnan(T):
        raise DataError(f"time to expiry T must be a number, got {T!r}")
    if not sigma >= 0.0 or math.isinf(sigma):
        raise DataError(f"volatility sigma must be a finite number >= 0, got {sigma!r}")
    return is_call


def bs_price(right: Right, S: float, K: float, T: float, r: float, sigma: float, q: float = 0.0) -> float:
    """Present value of one European option on one share."""
    is_call = _check(right, S, K, T, sigma)
    if T <= 0.0:
        return max(S - K, 0.0) if is_call else max(K - S, 0.0)
    df_q = math.exp(-q * T)
    df_r = math.exp(-r * T)
    if sigma == 0.0:
        fwd_diff = S * df_q - K * df_r
        return max(fwd_diff, 0.0) if is_call else max(-fwd_diff, 0.0)
    vsqrt = sigma * math.sqrt(T)
    d1 = (math.log(S / K) + (r - q + 0.5 * sigma * sigma) * T) / vsqrt
    d2 = d1 - vsqrt
    if is_call:
        return S * df_q * norm_cdf(d1) - K * df_r * norm_cdf(d2)
    return K * df_r * norm_cdf(-d2) - S * df_q * norm_cdf(-d1)


@dataclass(frozen=True, slots=True)
class Greeks:
    """Sensitivities of one option on one share; units in the module docstring."""

    price: float
    delta: float
    gamma: float
    theta: float
    vega: float
    rho: float
    dividend_rho: float


def bs_greeks(right: Right, S: float, K: float, T: float, r: float, sigma: float, q: float = 0.0) -> Greeks:
    """Price and analytic Greeks. At ``T <= 0`` or ``sigma == 0`` delta is the step function of
    moneyness (0.5 at the money) and gamma and vega are 0."""
    is_call = _check(right, S, K, T, sigma)
    if T <= 0.0:
        itm = (S > K) if is_call else (S < K)
        delta = 0.5 if S == K else (1.0 if itm else 0.0)
        price = max(S - K, 0.0) if is_call else max(K - S, 0.0)
        return Greeks(price, delta if is_call else -delta, 0.0, 0.0, 0.0, 0.0, 0.0)
    df_q = math.exp(-q * T)
    df_r = math.exp(-r * T)
    if sigma == 0.0:
        return _greeks_no_vol(is_call, S, K, T, r, q, df_q, df_r)
    sqrt_t = math.sqrt(T)
    vsqrt = sigma * sqrt_t
    d1 = (math.log(S / K) + (r - q + 0.5 * sigma * sigma) * T) / vsqrt
    d2 = d1 - vsqrt
    pdf = _norm_pdf(d1)
    gamma = df_q * pdf / (S * vsqrt)
    vega = S * df_q * pdf * sqrt_t
    decay = -S * df_q * pdf * sigma / (2.0 * sqrt_t)
    if is_call:
        n1, n2 = norm_cdf(d1), norm_cdf(d2)
        price = S * df_q * n1 - K * df_r * n2
        theta = decay - r * K * df_r * n2 + q * S * df_q * n1
        return Greeks(price, df_q * n1, gamma, theta, vega, K * T * df_r * n2, -T * S * df_q * n1)
    m1, m2 = norm_cdf(-d1), norm_cdf(-d2)
    price = K * df_r * m2 - S * df_q * m1
    theta = decay + r * K * df_r * m2 - q * S * df_q * m1
    return Greeks(price, -df_q * m1, gamma, theta, vega, -K * T * df_r * m2, T * S * df_q * m1)


def _greeks_no_vol(
    is_call: bool, S: float, K: float, T: float, r: float, q: float, df_q: float, df_r: float
) -> Greeks:
    # With no volatility the option is worth the discounted forward intrinsic value, exactly.
    fwd_diff = S * df_q - K * df_r
    sign = 1.0 if is_call else -1.0
    x = sign * fwd_diff
    w = 0.5 if fwd_diff == 0.0 else (1.0 if x > 0.0 else 0.0)
    theta = w * sign * (q * S * df_q - r * K * df_r)
    return Greeks(
        max(x, 0.0), w * sign * df_q, 0.0, theta, 0.0, w * sign * K * T * df_r, -w * sign * T * S * df_q
    )


def implied_vol(
    price: float,
    right: Right,
    S: float,
    K: float,
    T: float,
    r: float,
    q: float = 0.0,
    *,
    tol: float = 1e-10,
    max_sigma: float = 20.0,
) -> float | None:
    """The volatility whose BSM price equals ``price``, or None when no volatility can.

    None means ``price`` is not strictly inside the no-arbitrage bounds (lower: discounted forward
    intrinsic; upper: ``S·e^{-qT}`` for a call, ``K·e^{-rT}`` for a put), ``T <= 0``, or the solution
    would exceed ``max_sigma``. The root is bracketed in ``(0, max_sigma]`` and found with Brent's
    method, so it always terminates; ``tol`` is on sigma.
    """
    _check(right, S, K, T, 0.0)
    if not math.isfinite(price) or T <= 0.0:
        return None
    df_q = math.exp(-q * T)
    df_r = math.exp(-r * T)
    fwd_diff = S * df_q - K * df_r
    if right == "C":
        lower, upper = max(fwd_diff, 0.0), S * df_q
    else:
        lower, upper = max(-fwd_diff, 0.0), K * df_r
    if not lower < price < upper:
        return None

    def f(sig: float) -> float:
        return bs_price(right, S, K, T, r, sig, q) - price

    lo, hi = 0.0, min(1.0, max_sigma)
    f_lo, f_hi = lower - price, f(hi)
    while f_hi < 0.0:
        if hi >= max_sigma:
            return None
        lo, f_lo = hi, f_hi
        hi = min(hi * 2.0, max_sigma)
        f_hi = f(hi)
    if f_hi == 0.0:
        return hi
    return _brent(f, lo, hi, f_lo, f_hi, tol)


def _brent(f: Callable[[float], float], a: float, b: float, fa: float, fb: float, tol: float) -> float:
    """Brent's root finder on a bracket where ``fa`` and ``fb`` differ in sign (Brent 1973, as in
    Numerical Recipes ``zbrent``)."""
    c, fc = b, fb
    d = e = b - a
    for _ in range(200):
        if (fb > 0.0) == (fc > 0.0):
            c, fc = a, fa
            d = e = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol1 = 2.0 * 2.2e-16 * abs(b) + 0.5 * tol
        xm = 0.5 * (c - b)
        if abs(xm) <= tol1 or fb == 0.0:
            return b
        if abs(e) >= tol1 and abs(fa) > abs(fb):
            s = fb / fa
            if a == c:
                p, qq = 2.0 * xm * s, 1.0 - s
            else:
                qa, ra = fa / fc, fb / fc
                p = s * (2.0 * xm * qa * (qa - ra) - (b - a) * (ra - 1.0))
                qq = (qa - 1.0) * (ra - 1.0) * (s - 1.0)
            if p > 0.0:
                qq = -qq
            p = abs(p)
            if 2.0 * p < min(3.0 * xm * qq - abs(tol1 * qq), abs(e * qq)):
                e, d = d, p / qq
            else:
                d = e = xm
        else:
            d = e = xm
        a, fa = b, fb
        b += d if abs(d) > tol1 else math.copysign(tol1, xm)
        fb = f(b)
    return b


def strike_for_delta(
    target_delta: float,
    right: Right,
    S: float,
    T: float,
    r: float,
    sigma: float | Callable[[float], float],
    q: float = 0.0,
) -> float:
    """The (unrounded) strike whose BSM delta equals ``target_delta``.

    ``target_delta`` is signed like the Greek: in ``(0, e^{-qT})`` for calls, ``(-e^{-qT}, 0)`` for
    puts (e.g. ``-0.20`` for a 20-delta put). ``sigma`` is a flat volatility (closed form) or a
    function of the strike, such as a volatility smile (then the strike is found by bisection on
    ``ln K``, assuming delta stays monotone in the strike, which holds for any sane smile).
    """
    if T <= 0.0:
        raise DataError(f"strike_for_delta: time to expiry T must be > 0, got {T!r}")
    df_q = math.exp(-q * T)
    is_call = _check(right, S, S, T, 0.0)
    bound = df_q if is_call else -df_q
    if not (0.0 < target_delta / bound < 1.0):
        side = f"(0, {df_q:.6g})" if is_call else f"({-df_q:.6g}, 0)"
        raise DataError(
            f"strike_for_delta: target delta for right {right!r} must be in {side}, got {target_delta!r}"
        )
    if not callable(sigma):
        return _strike_closed_form(target_delta, is_call, S, T, r, q, df_q, sigma)

    def excess(log_k: float) -> float:
        strike = math.exp(log_k)
        return bs_greeks(right, S, strike, T, r, sigma(strike), q).delta - target_delta

    # Delta falls as the strike rises, for calls and puts alike: bracket around the flat-vol
    # answer, then Brent on ln K.
    k0 = _strike_closed_form(target_delta, is_call, S, T, r, q, df_q, sigma(S))
    step = max(0.05, 2.0 * sigma(S) * math.sqrt(T))
    lo, hi = math.log(k0) - step, math.log(k0) + step
    f_lo, f_hi = excess(lo), excess(hi)
    for _ in range(60):
        if f_lo > 0.0:
            break
        lo -= step
        f_lo = excess(lo)
    for _ in range(60):
        if f_hi < 0.0:
            break
        hi += step
        f_hi = excess(hi)
    if not (f_lo > 0.0 > f_hi):
        raise DataError(f"strike_for_delta: no strike has delta {target_delta!r} under this smile")
    return math.exp(_brent(excess, lo, hi, f_lo, f_hi, 1e-12))


def _strike_closed_form(
    target_delta: float, is_call: bool, S: float, T: float, r: float, q: float, df_q: float, sigma: float
) -> float:
    if not sigma > 0.0 or math.isinf(sigma):
        raise DataError(f"strike_for_delta: sigma must be a positive finite number, got {sigma!r}")
    vsqrt = sigma * math.sqrt(T)
    # call: delta = e^{-qT} N(d1); put: delta = -e^{-qT} N(-d1).
    d1 = _STD_NORMAL.inv_cdf(target_delta / df_q) if is_call else -_STD_NORMAL.inv_cdf(-target_delta / df_q)
    return S * math.exp((r - q + 0.5 * sigma * sigma) * T - d1 * vsqrt)
