"""Time-weighted returns with flows, drawdown on the index, annualising, buy-and-hold."""

from __future__ import annotations

import datetime as dt

from alluse.runtime.performance import (
    FlowPoint,
    annualised,
    buy_and_hold,
    max_drawdown,
    twr_index,
)

DAYS = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]


def _round(values: list[float | None]) -> list[float | None]:
    return [None if v is None else round(v, 10) for v in values]


def test_a_fork_that_halves_the_account_in_a_flat_market_is_no_loss() -> None:
    """Equity 100 → 50 by a transfer on day 3, prices flat: the index stays at 1.0 (TWR 0, not −50%)."""
    equity: list[float | None] = [100.0, 100.0, 50.0, 50.0, 50.0]
    index = twr_index(DAYS, equity, [FlowPoint(DAYS[2], -50.0, 50.0)], start_value=100.0)
    assert [1.0] * 5 == _round(index)
    assert 0.0 == max_drawdown(index)


def test_returns_before_and_after_a_fork_chain_on_the_money_left() -> None:
    """+10% on day 1, half moved out on day 3 (valued at 110 before it), +10% on day 4: 1.1 × 1.1."""
    equity: list[float | None] = [110.0, 110.0, 55.0, 60.5, 60.5]
    index = twr_index(DAYS, equity, [FlowPoint(DAYS[2], -55.0, 55.0)], start_value=100.0)
    # the naive return on capital would be 60.5 / 100 − 1 = −39.5%
    assert [1.1, 1.1, 1.1, 1.21, 1.21] == _round(index)


def test_a_flow_mid_day_splits_the_day_at_its_valuation() -> None:
    """Up 10% before a fork of 50 at 10:05 (equity 60 right after), up 5% after it: 1.1 × 1.05."""
    equity: list[float | None] = [100.0, 63.0]
    index = twr_index(DAYS[:2], equity, [FlowPoint(DAYS[1], -50.0, 60.0)], start_value=100.0)
    assert [1.0, 1.155] == _round(index)


def test_a_new_account_starts_at_its_funding_and_a_merged_one_ends_at_its_merge() -> None:
    """Funded with 40 on day 2 (no index before), +25% on day 3, merged out on day 4, gone after."""
    equity: list[float | None] = [None, 40.0, 50.0, 0.0, 0.0]
    points = [FlowPoint(DAYS[1], 40.0, 40.0), FlowPoint(DAYS[3], -50.0, 0.0)]
    assert [None, 1.0, 1.25, 1.25, None] == _round(twr_index(DAYS, equity, points))


def test_a_merge_into_an_account_is_not_a_gain() -> None:
    """The target doubles by a merge while flat: no return; a later 2% rise counts on the whole."""
    equity: list[float | None] = [100.0, 200.0, 204.0]
    index = twr_index(DAYS[:3], equity, [FlowPoint(DAYS[1], 100.0, 200.0)], start_value=100.0)
    assert [1.0, 1.0, 1.02] == _round(index)


def test_a_flow_on_a_day_without_a_session_counts_toward_the_next_session() -> None:
    """A Saturday transfer sits between Friday's close and Monday's."""
    days = ["2024-03-08", "2024-03-11"]
    index = twr_index(days, [100.0, 50.0], [FlowPoint("2024-03-09", -50.0, 50.0)], start_value=100.0)
    assert [1.0, 1.0] == _round(index)


def test_max_drawdown_is_measured_from_the_start_and_the_running_peak() -> None:
    """Down 10% from the start, then up to 1.2 and down to 0.9: the worst fall is 25%."""
    assert (0.25, 0.1) == (round(max_drawdown([0.95, 1.2, 0.9, 1.1]), 10), round(max_drawdown([0.9]), 10))


def test_annualised_only_over_a_year_or_more() -> None:
    """Doubling in 730 days is 2^(365.25/730) − 1 a year (≈ 41.4%); under a year there is none."""
    first = dt.date(2022, 1, 3)
    yearly = annualised(1.0, first, first + dt.timedelta(days=730))
    assert (round(2 ** (365.25 / 730) - 1, 12), None) == (
        round(yearly or 0.0, 12), annualised(0.3, first, first + dt.timedelta(days=200)))


def test_buy_and_hold_holds_equal_dollars_from_the_entry_prices() -> None:
    """Bought at 100 and 50: one doubles, the other is flat → 1.5; a missing close keeps the last."""
    closes = {"A": {DAYS[0]: 100.0, DAYS[1]: 200.0}, "B": {DAYS[0]: 50.0, DAYS[1]: 50.0, DAYS[2]: 25.0}}
    index = buy_and_hold(DAYS[:3], {"A": 100.0, "B": 50.0}, closes)
    assert [1.0, 1.5, 1.25] == _round(index)
