"""The driver: the one loop between event sources, the engine and the sinks.

For each event: the data a due job declares it needs is fetched through `MarketData` and handed
to the engine first (as quote events); the engine decides; a broker that models the market sees
the market event; the decision goes to the journal and its alerts to the notifier; the scripts
the approver accepts become typed commands submitted to the `Broker`. What the broker reports
(fills, rejections, cancellations, assignments, expirations) comes back through ``poll()`` and is
handed to the engine like any other event — in replay exactly as on a live node.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from alluse.engine.calendar import NY, MarketCalendar
from alluse.engine.commands import OrderCommand, commands_for
from alluse.engine.core import Engine, QuoteRequest
from alluse.engine.decisions import ActionScript, Decision
from alluse.engine.entry import ChainRequest
from alluse.engine.errors import BrokerError
from alluse.engine.events import MARKET_EVENTS, Event, JobDue, OrderRejected
from alluse.engine.ports import Broker, Journal, MarketData, MarketObserver, Notifier

Approver = Callable[[ActionScript], bool]
Observer = Callable[[Event, Decision], None]


def approve_all(script: ActionScript) -> bool:
    return True


def approve_automatic(script: ActionScript) -> bool:
    return script.approval == "automatic"


def approve_none(script: ActionScript) -> bool:
    return False


APPROVERS: dict[str, Approver] = {"all": approve_all, "automatic": approve_automatic,
                                  "none": approve_none}


@dataclass(slots=True)
class Driver:
    engine: Engine
    broker: Broker
    market_data: MarketData
    approver: Approver = approve_automatic
    journal: Journal | None = None
    notifier: Notifier | None = None
    observers: list[Observer] = field(default_factory=list)
    _observer: MarketObserver | None = None

    def __post_init__(self) -> None:
        # a Protocol isinstance check costs microseconds: once here, not per event
        self._observer = self.broker if isinstance(self.broker, MarketObserver) else None

    @property
    def calendar(self) -> MarketCalendar:
        return self.engine.calendar

    def feed(self, event: Event) -> None:
        """Hand ``event`` (and whatever it leads to) to the engine."""
        self._deliver(event)
        self.drain()

    def drain(self) -> None:
        """Hand the broker's reports to the engine until it has none left."""
        while reports := self.broker.poll():
            for ev in reports:
                self._deliver(ev)

    def _deliver(self, event: Event) -> None:
        if isinstance(event, JobDue):
            for request in self.engine.data_needs(event):
                for q in self._fetch(request, event.ts):
                    self._deliver(q)
        decision = self.engine.handle(event)
        if self._observer is not None and isinstance(event, MARKET_EVENTS):
            self._observer.on_market(event)
        if self.journal is not None:  # every event, also those the engine's fast path took
            self.journal.append(self.engine.state.index, event, decision)
        for obs in self.observers:
            obs(event, decision)
        if decision.empty:
            return
        if self.notifier is not None:
            for alert in decision.alerts:
                self.notifier.notify(alert, decision.ts)
        for script in decision.scripts:
            if self.approver(script):
                self.execute(script)

    def _fetch(self, request: ChainRequest | QuoteRequest, ts: dt.datetime) -> list[Event]:
        if isinstance(request, ChainRequest):
            return list(self.market_data.option_chain(request.symbol, ts, request.expiries,
                                                      request.rights))
        return list(self.market_data.quotes(request.contracts, ts))

    def execute(self, script: ActionScript) -> list[OrderCommand]:
        """Submit ``script``'s orders (DAY orders: good until the session's close). A command the
        broker refuses at once comes back to the engine as `OrderRejected` (its collateral is
        freed), and so do the later legs that would have waited for it: they are not sent."""
        day = script.created_at.astimezone(NY).date()
        close = self.calendar.close_time(day) or dt.time(16)
        good_till = dt.datetime.combine(day, close, tzinfo=NY)
        commands = commands_for(script, good_till)
        for i, cmd in enumerate(commands):
            try:
                self.broker.submit(cmd)
            except BrokerError as exc:
                for refused in commands[i:]:
                    reason = str(exc) if refused is cmd else f"the earlier leg {cmd.order_id} was refused"
                    self._deliver(OrderRejected(refused.ts, refused.account, refused.order_id,
                                                reason))
                break
        return commands
