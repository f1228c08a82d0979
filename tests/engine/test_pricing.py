"""Black-Scholes-Merton prices and Greeks reproduce py_vollib, QuantLib/Haug and Hull references."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from alluse.engine.errors import DataError
from alluse.engine.pricing import Right, bs_greeks, bs_price, implied_vol, norm_cdf, strike_for_delta


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def _right(kind: str) -> Right:
    return "C" if kind == "call" else "P"


def test_py_vollib_reference_prices_and_greeks_match_all_rows(shared_data: Path) -> None:
    """All 101 py_vollib rows: prices to 5e-7; theta/365, vega×0.01, rho×0.01, delta, gamma to 1e-8."""
    rows = _rows(shared_data / "reference_bs" / "py_vollib_test_data.csv")
    expected_rows = 101
    assert expected_rows == len(rows)
    worst: dict[str, float] = {}
    for row in rows:
        S, K, r, t, v = (float(row[k]) for k in ("S", "K", "R", "t", "v"))
        for right, p in (("C", "C"), ("P", "P")):
            g = bs_greeks(right, S, K, t, r, v)
            pairs = {
                "price": (float(row["bs_call" if right == "C" else "bs_put"]), g.price),
                "delta": (float(row[p + "D"]), g.delta),
                "gamma": (float(row[p + "G"]), g.gamma),
                # SOURCES.md §4: py_vollib compares theta per day and vega/rho per point.
                "theta": (float(row[p + "T"]) / 365.0, g.theta / 365.0),
                "vega": (float(row[p + "V"]) * 0.01, g.vega * 0.01),
                "rho": (float(row[p + "R"]) * 0.01, g.rho * 0.01),
            }
            for name, (expected, actual) in pairs.items():
                worst[name] = max(worst.get(name, 0.0), abs(expected - actual))
    assert worst["price"] <= 5e-7, worst
    assert all(worst[k] <= 1e-8 for k in ("delta", "gamma", "theta", "vega", "rho")), worst


def test_py_vollib_deep_otm_call_keeps_relative_precision(shared_data: Path) -> None:
    """The erfc-based CDF prices the 1e-26 deep OTM calls to 1e-6 relative (call_vals column)."""
    for row in _rows(shared_data / "reference_bs" / "py_vollib_test_data.csv"):
        expected = float(row["call_vals"])
        S, K, r, t, v = (float(row[k]) for k in ("S", "K", "R", "t", "v"))
        actual = bs_price("C", S, K, t, r, v)
        digits = len(row["call_vals"].split("e")[0].replace(".", "").lstrip("0"))
        # Values printed with >= 9 significant digits are checked relatively, whatever their size.
        assert expected == pytest.approx(actual, rel=1e-8 if digits >= 9 else 0.0, abs=1e-10)
    tiny = bs_price("C", 100.0, 1000.0, 0.5, 0.05, 0.3)
    expected_tiny = 2.066481452e-26
    assert expected_tiny == pytest.approx(tiny, rel=1e-8)


def test_quantlib_haug_values_match_all_rows(shared_data: Path) -> None:
    """All 43 Haug values (generalised BSM with dividend yield) to 1e-4."""
    rows = _rows(shared_data / "reference_bs" / "quantlib_haug_values.csv")
    expected_rows = 43
    assert expected_rows == len(rows)
    for row in rows:
        actual = bs_price(
            _right(row["type"]), float(row["spot"]), float(row["strike"]), float(row["t"]),
            float(row["r"]), float(row["vol"]), float(row["q"]),
        )
        assert float(row["expected_value"]) == pytest.approx(actual, abs=float(row["tol"])), row


def test_quantlib_haug_greeks_match_all_rows(shared_data: Path) -> None:
    """All 11 Haug Greeks, including elasticity, theta per day and dividend rho, to 1e-4."""
    rows = _rows(shared_data / "reference_bs" / "quantlib_haug_greeks.csv")
    expected_rows = 11
    assert expected_rows == len(rows)
    for row in rows:
        S = float(row["spot"])
        g = bs_greeks(
            _right(row["type"]), S, float(row["strike"]), float(row["t"]),
            float(row["r"]), float(row["vol"]), float(row["q"]),
        )
        by_name = {
            "delta": g.delta,
            "gamma": g.gamma,
            "vega": g.vega,
            "theta": g.theta,
            "theta_per_day": g.theta / 365.0,
            "rho": g.rho,
            "dividend_rho": g.dividend_rho,
            "elasticity": g.delta * S / g.price,
        }
        assert float(row["expected"]) == pytest.approx(by_name[row["greek"]], abs=1e-4), row


def test_hull_example_and_py_vollib_doctest(shared_data: Path) -> None:
    """Hull 13.6: call 4.76 / put 0.81 (exact 4.75942 / 0.80860); py_vollib doctest 2.13336844492."""
    hull, doctest = _rows(shared_data / "reference_bs" / "hull_textbook_example.csv")
    args = (float(hull["S"]), float(hull["K"]), float(hull["T"]), float(hull["r"]), float(hull["sigma"]))
    assert float(hull["call"]) == pytest.approx(bs_price("C", *args), abs=float(hull["tol_price"]))
    assert float(hull["put"]) == pytest.approx(bs_price("P", *args), abs=float(hull["tol_price"]))
    exact_call, exact_put = 4.75942, 0.80860
    assert exact_call == pytest.approx(bs_price("C", *args), abs=5e-6)
    assert exact_put == pytest.approx(bs_price("P", *args), abs=5e-6)
    d_args = tuple(float(doctest[k]) for k in ("S", "K", "T", "r", "sigma"))
    assert float(doctest["call"]) == pytest.approx(bs_price("C", *d_args), abs=float(doctest["tol_price"]))


def test_put_call_parity_holds_with_dividends() -> None:
    """C − P = S·e^{-qT} − K·e^{-rT} across moneyness."""
    S, T, r, q, v = 100.0, 0.3, 0.04, 0.015, 0.27
    for K in (60.0, 90.0, 100.0, 115.0, 180.0):
        parity = S * math.exp(-q * T) - K * math.exp(-r * T)
        difference = bs_price("C", S, K, T, r, v, q) - bs_price("P", S, K, T, r, v, q)
        assert parity == pytest.approx(difference, abs=1e-12)


def test_expired_option_is_worth_intrinsic_value() -> None:
    """T <= 0 prices at undiscounted intrinsic value, with a step delta and zero gamma/vega."""
    intrinsic, worthless = 5.0, 0.0
    assert intrinsic == bs_price("P", 95.0, 100.0, 0.0, 0.05, 0.3)
    assert worthless == bs_price("C", 95.0, 100.0, -0.01, 0.05, 0.3)
    g = bs_greeks("P", 95.0, 100.0, 0.0, 0.05, 0.3)
    expected = (5.0, -1.0, 0.0, 0.0)
    assert expected == (g.price, g.delta, g.gamma, g.vega)


def test_zero_volatility_prices_discounted_forward_intrinsic() -> None:
    """sigma == 0 gives max(S·e^{-qT} − K·e^{-rT}, 0) and a theta that matches a finite difference."""
    S, K, T, r, q = 100.0, 95.0, 0.5, 0.05, 0.01
    expected = S * math.exp(-q * T) - K * math.exp(-r * T)
    assert expected == pytest.approx(bs_price("C", S, K, T, r, 0.0, q), abs=1e-12)
    worthless = 0.0
    assert worthless == bs_price("P", S, K, T, r, 0.0, q)
    g = bs_greeks("C", S, K, T, r, 0.0, q)
    h = 1e-6
    finite_theta = -(bs_price("C", S, K, T + h, r, 0.0, q) - bs_price("C", S, K, T - h, r, 0.0, q)) / (2 * h)
    assert finite_theta == pytest.approx(g.theta, abs=1e-6)


def test_greeks_match_finite_differences() -> None:
    """Analytic delta, gamma, vega, theta and rho agree with central differences of bs_price."""
    S, K, T, r, v, q = 430.0, 405.0, 0.1, 0.045, 0.22, 0.013
    for right in ("P", "C"):
        g = bs_greeks(right, S, K, T, r, v, q)
        h = 1e-4

        def price(s: float = S, t: float = T, rr: float = r, vv: float = v, right: Right = right) -> float:
            return bs_price(right, s, K, t, rr, vv, q)

        assert (price(s=S + h) - price(s=S - h)) / (2 * h) == pytest.approx(g.delta, abs=1e-7)
        assert (price(s=S + h) - 2 * price() + price(s=S - h)) / h**2 == pytest.approx(g.gamma, abs=1e-4)
        assert (price(vv=v + h) - price(vv=v - h)) / (2 * h) == pytest.approx(g.vega, rel=1e-7)
        assert -(price(t=T + h) - price(t=T - h)) / (2 * h) == pytest.approx(g.theta, rel=1e-6)
        assert (price(rr=r + h) - price(rr=r - h)) / (2 * h) == pytest.approx(g.rho, rel=1e-7)


@pytest.mark.parametrize("right", ["P", "C"])
@pytest.mark.parametrize("K", [50.0, 80.0, 97.0, 100.0, 104.0, 130.0, 250.0])
@pytest.mark.parametrize("sigma", [0.05, 0.2, 0.6, 1.5, 4.0])
def test_implied_vol_round_trips(right: Right, K: float, sigma: float) -> None:
    """implied_vol(bs_price(σ)) recovers σ wherever the price carries enough information."""
    S, T, r, q = 100.0, 0.25, 0.04, 0.01
    price = bs_price(right, S, K, T, r, sigma, q)
    g = bs_greeks(right, S, K, T, r, sigma, q)
    iv = implied_vol(price, right, S, K, T, r, q)
    if g.vega < 1e-9:
        # Vega ~0: the price is within rounding of a bound; any answer must reprice it.
        assert iv is None or price == pytest.approx(bs_price(right, S, K, T, r, iv, q), abs=1e-12)
    else:
        assert iv is not None
        assert sigma == pytest.approx(iv, abs=1e-8)


def test_implied_vol_round_trips_short_dated_wheel_strikes() -> None:
    """A 1-DTE 5% OTM put at 45% vol round-trips (the GEN-ACC use case)."""
    S, K, T, r = 250.0, 237.5, 1.0 / 365.0, 0.04
    iv = implied_vol(bs_price("P", S, K, T, r, 0.45), "P", S, K, T, r)
    assert iv is not None
    sigma = 0.45
    assert sigma == pytest.approx(iv, abs=1e-8)


def test_implied_vol_is_none_outside_no_arbitrage_bounds() -> None:
    """Below the forward intrinsic value, at/above the upper bound, or after expiry: None."""
    S, K, T, r = 100.0, 90.0, 0.5, 0.05
    intrinsic_fwd = S - K * math.exp(-r * T)
    assert implied_vol(intrinsic_fwd - 0.01, "C", S, K, T, r) is None
    assert implied_vol(S, "C", S, K, T, r) is None
    assert implied_vol(K, "P", S, K, T, r) is None
    assert implied_vol(-1.0, "P", S, K, T, r) is None
    assert implied_vol(0.0, "P", S, K, T, r) is None
    assert implied_vol(1.0, "P", S, K, 0.0, r) is None
    assert implied_vol(float("nan"), "P", S, K, T, r) is None


@pytest.mark.parametrize(
    ("target", "right"), [(-0.20, "P"), (-0.25, "P"), (-0.5, "P"), (0.25, "C"), (0.8, "C")]
)
def test_strike_for_delta_gives_requested_delta(target: float, right: Right) -> None:
    """The strike returned for a flat vol has exactly the requested delta."""
    S, T, r, v, q = 180.0, 7.0 / 365.0, 0.04, 0.35, 0.005
    K = strike_for_delta(target, right, S, T, r, v, q)
    assert target == pytest.approx(bs_greeks(right, S, K, T, r, v, q).delta, abs=1e-12)


def test_strike_for_delta_with_smile_uses_the_strikes_own_vol() -> None:
    """With a put skew the 20-delta put sits further OTM than with the flat ATM vol."""
    S, T, r = 100.0, 30.0 / 365.0, 0.04

    def smile(k: float) -> float:
        return 0.25 + 0.8 * max(0.0, math.log(S / k))

    target = -0.20
    skewed = strike_for_delta(target, "P", S, T, r, smile)
    assert target == pytest.approx(bs_greeks("P", S, skewed, T, r, smile(skewed)).delta, abs=1e-9)
    assert skewed < strike_for_delta(target, "P", S, T, r, 0.25)


def test_strike_for_delta_rejects_delta_of_wrong_sign() -> None:
    """A positive target delta for a put is a clear error naming the value."""
    with pytest.raises(DataError, match=r"target delta for right 'P' must be in \(-1, 0\), got 0.2"):
        strike_for_delta(0.2, "P", 100.0, 0.1, 0.04, 0.3)


def test_bad_inputs_raise_data_error_naming_the_field() -> None:
    """Unknown right, non-positive spot/strike, negative or NaN vol are refused by name."""
    with pytest.raises(DataError, match=r"right must be 'P' or 'C', got 'put'"):
        bs_price("put", 100.0, 100.0, 0.1, 0.0, 0.2)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"spot S must be a positive finite number, got 0\.0"):
        bs_price("P", 0.0, 100.0, 0.1, 0.0, 0.2)
    with pytest.raises(DataError, match=r"strike K must be a positive finite number, got -5\.0"):
        bs_greeks("C", 100.0, -5.0, 0.1, 0.0, 0.2)
    with pytest.raises(DataError, match=r"volatility sigma must be a finite number >= 0, got -0\.1"):
        bs_price("P", 100.0, 100.0, 0.1, 0.0, -0.1)
    with pytest.raises(DataError, match="got nan"):
        bs_price("P", 100.0, 100.0, 0.1, 0.0, float("nan"))


def test_norm_cdf_tails_are_accurate() -> None:
    """N(−10) ≈ 7.6199e-24 (relative), N(0) = 0.5, N(10) = 1."""
    far_left, middle, far_right = 7.61985302416047e-24, 0.5, 1.0
    assert far_left == pytest.approx(norm_cdf(-10.0), rel=1e-12)
    assert middle == norm_cdf(0.0)
    assert far_right == norm_cdf(10.0)
