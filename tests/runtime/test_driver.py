"""The driver with the simulated adapters: fills delivered at once or several events later leave the
engine consistent; a job's data needs are fetched before it runs; refused commands are reported."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine.errors import BrokerError
from alluse.engine.events import (
    Event,
    Fill,
    JobDue,
    OptionContract,
    OptionQuote,
    OrderRejected,
    Price,
)
from alluse.engine.policy import PolicySet
from alluse.runtime.replay import Replay, ReplayParams

# Thursday 2021-03-04 to Wednesday 2021-03-10: entries on Thursday, a Friday expiry, a new week
WINDOW = ReplayParams(dt.date(2021, 3, 4), dt.date(2021, 3, 10), 1_000_000.0)


@pytest.fixture(scope="module")
def policies() -> PolicySet:
    return load_policy_dir(default_policy_dir())


def _run(policies: PolicySet, delay: int) -> tuple[Replay, list[Fill]]:
    replay = Replay(policies, WINDOW, fill_delay=delay)
    fills: list[Fill] = []
    replay.driver.observers.append(lambda ev, d: fills.append(ev) if isinstance(ev, Fill) else None)
    replay.run()
    # whatever the delay still holds is released by later market events
    last = dt.datetime(2021, 3, 10, 16, 0, tzinfo=dt.UTC) + dt.timedelta(hours=5)
    for i in range(delay + 1):
        replay.driver.feed(Price(last + dt.timedelta(seconds=i), "SPY", 390.0))
    return replay, fills


def _ledger_positions(replay: Replay) -> dict[str, dict[str | OptionContract, int]]:
    out: dict[str, dict[str | OptionContract, int]] = {}
    for acc in replay.engine.state.tree.accounts:
        held = replay.engine.state.ledger.positions(acc)
        if held:
            out[acc] = dict(held)
    return out


@pytest.mark.parametrize("delay", [0, 3])
def test_fills_now_or_three_events_later_leave_the_engine_consistent(policies: PolicySet,
                                                                      delay: int) -> None:
    """No lost fill (the ledger holds what the broker holds, account by account), no double
    reservation (no filled put still reserves collateral), every fill handed to the engine."""
    replay, fills = _run(policies, delay)
    state = replay.engine.state
    broker_fills = len(replay.broker.seen)
    assert fills, "the window must trade for this test to mean something"
    assert (replay.broker.positions(), set(), []) == (
        _ledger_positions(replay), set(state.pending) & set(state.shorts),
        [q for q in replay.broker.queue])
    assert broker_fills >= len({f.order_id for f in fills})


def test_an_entry_job_gets_its_chain_before_it_runs(policies: PolicySet) -> None:
    """The entry scan declares option_chains: the driver hands the engine quotes of every strategy
    symbol's scanned expiries first, then the job."""
    replay = Replay(policies, WINDOW)
    seen: list[object] = []
    replay.driver.observers.append(lambda ev, d: seen.append(ev))
    replay.advance(stop_after=80)
    jobs = [i for i, ev in enumerate(seen) if isinstance(ev, JobDue) and ev.name == "entry_scan"]
    assert jobs, "the Thursday entry scan must have run within the first events"
    before = {ev.symbol for ev in seen[:jobs[0]] if isinstance(ev, OptionQuote)}
    assert {s for st in policies.strategies.values() for s in st.symbols} == before


class _GatewayDown:
    """A broker that refuses every order at once (an IB gateway in 1100, say): `submit` raises
    `BrokerError`, as the port's contract says; the rest is the simulated broker's."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.refused: list[str] = []

    def submit(self, command: object) -> None:
        self.refused.append(command.order_id)  # type: ignore[attr-defined]
        raise BrokerError("not connected: no new orders")

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_an_order_the_broker_refuses_at_once_comes_back_as_a_rejection_and_frees_its_collateral(
        policies: PolicySet) -> None:
    """Every refused command reaches the engine as OrderRejected with the broker's reason; the
    proposal's collateral is released at once, and nothing is left reserved or held."""
    replay = Replay(policies, WINDOW)
    down = _GatewayDown(replay.broker)
    replay.driver.broker = down  # type: ignore[assignment]
    rejected: list[OrderRejected] = []
    released: list[str] = []

    def watch(ev: Event, d: Any) -> None:
        if isinstance(ev, OrderRejected):
            rejected.append(ev)
        released.extend(r.rule for r in d.fired if r.rule == "position.reservation_released")

    replay.driver.observers.append(watch)
    replay.run()
    state = replay.engine.state
    assert down.refused, "the window must propose orders for this test to mean something"
    assert (down.refused, {"not connected: no new orders"}, {}, {}) == (
        [r.order_id for r in rejected], {r.reason for r in rejected}, dict(state.shorts),
        {k: v for k, v in state.pending.items()})
    assert len(released) == len({r.order_id.rsplit("-", 1)[0] for r in rejected})
