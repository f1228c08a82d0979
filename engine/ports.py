"""The ports: what the runtime needs from the outside world, as `typing.Protocol`s.

The engine is pure; the driver (`alluse.runtime`) moves events from sources into the engine and
the engine's outputs to sinks through these ports. Replay, the simulated node and the IB node are
the same code with different adapters (`SimBroker` vs an IB broker, `FixedClock` vs `LiveClock`).

Every port's docstring is its contract: what an implementation must provide and what it may.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from alluse.engine.commands import OrderCommand
from alluse.engine.decisions import Alert, Decision
from alluse.engine.events import Bar, BrokerEvent, Event, OptionContract, OptionQuote


class Broker(Protocol):
    """Places and cancels orders; reports what happened to them later, as events.

    | method | required | contract |
    |---|---|---|
    | ``submit(command)`` | yes | accept an order command; never return a fill. A command the broker refuses at once raises `BrokerError` (nothing was placed); one it refuses later comes back as `OrderRejected`. Submitting an ``order_id`` it already knows places nothing (idempotent). |
    | ``cancel(order_id)`` | yes | ask to cancel a working order; the outcome comes back as `OrderCancelled` (or a `Fill` that won the race). Unknown ids are ignored. |
    | ``open_orders()`` | yes | the commands still working, in submission order |
    | ``positions()`` | yes | net positions per account: shares by symbol, contracts by `OptionContract` (negative when short) |
    | ``poll()`` | yes | the events that happened since the last call, in the order they happened: `Fill`, `OrderRejected`, `OrderCancelled`, `Assignment`, `Expiration` |
    | ``on_market(event)`` | optional | a simulated broker sees each market event (after the engine) to match working orders and settle expiries |
    """

    def submit(self, command: OrderCommand) -> None: ...

    def cancel(self, order_id: str) -> None: ...

    def open_orders(self) -> list[OrderCommand]: ...

    def positions(self) -> dict[str, dict[str | OptionContract, int]]: ...

    def poll(self) -> list[BrokerEvent]: ...


@runtime_checkable
class MarketObserver(Protocol):
    """The optional half of `Broker`: a broker that models the market watches it."""

    def on_market(self, event: Event) -> None: ...


class MarketData(Protocol):
    """Bars, quotes and option chains.

    | method | required | contract |
    |---|---|---|
    | ``bars(symbol, start, end)`` | yes | daily bars with ``start <= date <= end``, in date order, as-of the session close |
    | ``option_chain(symbol, ts, expiries, rights)`` | yes | quotes known at ``ts`` for every listed strike of the given expiries and rights (a window around the money is allowed); an empty list when there is no market |
    | ``quotes(contracts, ts)`` | yes | the latest quote known at ``ts`` of each contract that has one |
    """

    def bars(self, symbol: str, start: dt.date, end: dt.date) -> list[Bar]: ...

    def option_chain(self, symbol: str, ts: dt.datetime, expiries: Sequence[dt.date],
                     rights: Sequence[str]) -> list[OptionQuote]: ...

    def quotes(self, contracts: Sequence[OptionContract], ts: dt.datetime) -> list[OptionQuote]: ...


class Scheduler(Protocol):
    """When the policy's jobs are due: ONE cron interpretation for replay and live.

    | method | required | contract |
    |---|---|---|
    | ``fire_times(job, start, end)`` | yes | fire times of one enabled job in ``[start, end)``, tz-aware (America/New_York), ascending |
    | ``due(start, end)`` | yes | every enabled job's fire times in ``[start, end)``, sorted by (time, job name) |
    """

    def fire_times(self, job: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]: ...

    def due(self, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, str]]: ...


class Notifier(Protocol):
    """Delivers alerts.

    | method | required | contract |
    |---|---|---|
    | ``notify(alert, ts)`` | yes | take the alert for delivery; must not block the driver (an outbox writes and returns) and must not raise for a delivery failure: failures are retried by the notifier |
    """

    def notify(self, alert: Alert, ts: dt.datetime) -> None: ...


class Journal(Protocol):
    """Keeps every input event and its decision, so any moment can be rebuilt.

    | method | required | contract |
    |---|---|---|
    | ``append(index, event, decision)`` | yes | record the event the engine took as number ``index`` (every event, also those whose decision is empty) |
    | ``events(start)`` | yes | the recorded events from ``start`` on, with their indexes, in order |
    """

    def append(self, index: int, event: Event, decision: Decision) -> None: ...

    def events(self, start: int = 0) -> Iterator[tuple[int, Event]]: ...


class Clock(Protocol):
    """The time of the runtime (the engine reads none: time arrives in events).

    | method | required | contract |
    |---|---|---|
    | ``now()`` | yes | the current instant, tz-aware |
    """

    def now(self) -> dt.datetime: ...


__all__ = ["Broker", "Clock", "Journal", "MarketData", "MarketObserver", "Notifier", "Scheduler"]
