"""Print the cost of the pricing and IV-model calls an entry scan makes (µs per call).

Run: ``python benchmarks/pricing_speed.py``. Numbers, not assertions: speed is tracked here, not in
unit tests.
"""

from __future__ import annotations

import math
import timeit
from collections.abc import Callable

from alluse.engine.indicators import WilderATR
from alluse.engine.pricing import bs_greeks, bs_price, implied_vol, strike_for_delta
from alluse.engine.volmodel import atm_level, model_iv, smile_iv


def _per_call_us(fn: Callable[[], object], number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return best / number * 1e6


def main() -> None:
    S, K, T, r, q, sigma = 250.0, 237.5, 7.0 / 365.0, 0.04, 0.005, 0.45
    price = bs_price("P", S, K, T, r, sigma, q)
    level = atm_level(18.0, symbol_rv=0.5, market_rv=0.15)
    atr = WilderATR(14)
    cases: list[tuple[str, Callable[[], object], int]] = [
        ("bs_price", lambda: bs_price("P", S, K, T, r, sigma, q), 200_000),
        ("bs_greeks", lambda: bs_greeks("P", S, K, T, r, sigma, q), 100_000),
        ("implied_vol", lambda: implied_vol(price, "P", S, K, T, r, q), 10_000),
        ("strike_for_delta (flat)", lambda: strike_for_delta(-0.2, "P", S, T, r, sigma, q), 100_000),
        (
            "strike_for_delta (smile)",
            lambda: strike_for_delta(-0.2, "P", S, T, r, lambda k: smile_iv(level, math.log(k / S), T), q),
            1_000,
        ),
        ("model_iv", lambda: model_iv(18.0, -0.05, T, symbol_rv=0.5, market_rv=0.15, carry=r - q), 100_000),
        ("smile_iv", lambda: smile_iv(level, -0.05, T, vix=18.0, carry=r - q), 200_000),
        ("WilderATR.update", lambda: atr.update(101.0, 99.0, 100.0), 200_000),
    ]
    for name, fn, number in cases:
        print(f"{name:28s} {_per_call_us(fn, number):8.2f} µs")
    # A typical entry scan: 13 listed strikes (±6 around ATM), modelled IV + price each.
    strikes = [S * (1.0 + 0.01 * i) for i in range(-6, 7)]

    def scan() -> float:
        ivs = (smile_iv(level, math.log(k / S), T, carry=r - q) for k in strikes)
        return sum(bs_price("P", S, k, T, r, iv, q) for k, iv in zip(strikes, ivs, strict=True))

    print(f"{'scan of 13 strikes':28s} {_per_call_us(scan, 10_000):8.2f} µs")


if __name__ == "__main__":
    main()
