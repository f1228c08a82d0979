"""`IbBroker`: the `Broker` port on IB Gateway/TWS.

- ``submit`` writes the intent (`IntentLog`) before placeOrder, refuses at once (BrokerError) when
  the connection is not "connected" (degraded after 1100, reconnecting, dry-run), and places an
  order id it has never used: the local floor is max(nextValidId, last used + 1), so a gateway
  that rolls nextValidId back after a restart cannot make us reuse one.
- After every (re)connect, before the connection counts as connected, `_reconcile` asks IB for
  positions, all open orders, completed orders and executions, and matches them to intents by
  orderRef (``node:epoch:order_id``). ib_async's Trade objects from the old session are never
  consulted. An intent IB has: adopted. An intent IB never saw: placed now (or, when it was
  cancelled or its day is over, reported cancelled). Executions not yet reported become fills.
- A fill is reported once its commission report is in (or ``commission_wait`` later), booked to
  the engine account of its intent; executions are deduplicated by execId across reconnects.
- ``poll`` also compares IB's positions with the virtual accounts and reports assignments and
  expirations (`accounts.settlements`).

Every public method runs on the IB thread through `IbConnection.call`; ib_async callbacks run
there too, so the broker's state needs no locks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from ib_async import IB, Order, Trade
from ib_async import Fill as IbFill

from alluse.adapters.clock import LiveClock
from alluse.adapters.ib import accounts, mapping
from alluse.adapters.ib.connection import IbConnection
from alluse.adapters.ib.intents import Intent, IntentLog, IntentState, MemoryIntentLog
from alluse.adapters.ib.state import ConnState
from alluse.engine.calendar import NY
from alluse.engine.commands import OrderCommand
from alluse.engine.errors import BrokerError
from alluse.engine.events import BrokerEvent, OptionContract, OrderCancelled, OrderRejected
from alluse.engine.ports import Clock

log = logging.getLogger("alluse.ib")


class IbBroker:
    def __init__(self, connection: IbConnection, *, node: str, epoch: int,
                 intents: IntentLog | None = None, dry_run: bool = False, clock: Clock | None = None,
                 commission_wait: float = 5.0, call_timeout: float = 30.0) -> None:
        if ":" in node or not node:
            raise BrokerError(f"node name must be non-empty without ':', got {node!r}")
        self.dry_run = dry_run
        self._conn = connection
        self._node, self._epoch = node, epoch
        self._log: IntentLog = intents if intents is not None else MemoryIntentLog()
        self._clock: Clock = clock or LiveClock()
        self._commission_wait = commission_wait
        self._call_timeout = call_timeout
        self._intents: dict[str, Intent] = {
            key: Intent.from_payload(key, payload) for key, payload in self._log.payloads().items()}
        self._by_order_id = {i.ib_order_id: key for key, i in self._intents.items() if i.ib_order_id}
        self._floor = max((i.ib_order_id + 1 for i in self._intents.values()), default=1)
        self._events: list[BrokerEvent] = []
        self._awaiting: dict[str, asyncio.TimerHandle] = {}  # execId → commission deadline
        self._holdings: accounts.Holdings = {}
        self.unattributed: list[str] = []  # executions with an alluse orderRef but no intent
        connection.add_sync_step(self._reconcile)
        ib = connection.ib
        ib.openOrderEvent += self._on_order
        ib.orderStatusEvent += self._on_order
        ib.execDetailsEvent += self._on_execution
        ib.commissionReportEvent += self._on_commission
        ib.errorEvent += self._on_error

    # ------------------------------------------------------------ the Broker port
    def submit(self, command: OrderCommand) -> None:
        if self.dry_run:
            raise BrokerError(f"dry run: order {command.order_id} not placed ({command.describe()})")
        self._conn.call(lambda: self._submit(command), self._call_timeout)

    def cancel(self, order_id: str) -> None:
        if self.dry_run:
            raise BrokerError(f"dry run: order {order_id} not cancelled")
        self._conn.call(lambda: self._cancel(order_id), self._call_timeout)

    def open_orders(self) -> list[OrderCommand]:
        async def run() -> list[OrderCommand]:
            return [i.command for i in self._intents.values() if not i.state.done]
        return self._conn.call(run, self._call_timeout)

    def positions(self) -> dict[str, dict[str | OptionContract, int]]:
        async def run() -> dict[str, dict[str | OptionContract, int]]:
            return {a: dict(p) for a, p in self._holdings.items() if p}
        return self._conn.call(run, self._call_timeout)

    def poll(self) -> list[BrokerEvent]:
        async def run() -> list[BrokerEvent]:
            self._settle()
            out, self._events = self._events, []
            return out
        return self._conn.call(run, self._call_timeout)

    # ------------------------------------------------------------ beyond the port
    def seed_positions(self, holdings: Mapping[str, Mapping[str | OptionContract, int]]) -> None:
        """Start the virtual accounts from the engine's positions (a node restoring a snapshot)."""
        async def run() -> None:
            self._holdings = {a: {k: q for k, q in p.items() if q} for a, p in holdings.items()}
        self._conn.call(run, self._call_timeout)

    def ib_positions(self) -> dict[str | OptionContract, int]:
        """The one IB account's positions, keyed like the virtual accounts'."""
        async def run() -> dict[str | OptionContract, int]:
            return self._at_ib()
        return self._conn.call(run, self._call_timeout)

    def differences(self) -> list[accounts.PositionDifference]:
        """Where IB's positions are not the sum of the virtual accounts' (empty when they agree)."""
        async def run() -> list[accounts.PositionDifference]:
            return accounts.position_differences(self._at_ib(), self._holdings)
        return self._conn.call(run, self._call_timeout)

    # ------------------------------------------------------------ orders (IB loop)
    async def _submit(self, command: OrderCommand) -> None:
        if command.order_id in self._intents or self._log.known(command.order_id):
            return
        state = self._conn.state
        if state is ConnState.DEGRADED:
            raise BrokerError(f"order {command.order_id} not placed: IB connectivity is degraded "
                              f"({self._conn.machine.reason})")
        if state is not ConnState.CONNECTED:
            raise BrokerError(f"order {command.order_id} not placed: IB connection is {state}")
        ref = mapping.OrderRef(self._node, self._epoch, command.order_id)
        mapping.ib_order(command, ref, self._conn.account, 0)  # refuse what IB could not take
        intent = Intent(command, str(ref))
        self._save(intent)
        await self._place(intent)

    async def _place(self, intent: Intent) -> None:
        await self._conn.pacer.take()
        ib = self._conn.ib
        if not ib.isConnected():
            return  # stays "new": the next reconcile places it
        order_id = self._next_order_id(ib)
        ref = mapping.OrderRef.parse(intent.order_ref)
        assert ref is not None
        order = mapping.ib_order(intent.command, ref, self._conn.account, order_id)
        intent.ib_order_id, intent.state = order_id, IntentState.SENT
        self._by_order_id[order_id] = intent.intent_id
        self._save(intent)
        try:
            ib.placeOrder(mapping.contract_for(intent.command.symbol, intent.command.contract), order)
        except ConnectionError:
            log.warning("order %s: connection lost while sending; reconciled on reconnect",
                        intent.intent_id)

    def _next_order_id(self, ib: IB) -> int:
        order_id: int = ib.client.getReqId()
        if order_id < self._floor:
            ib.client.updateReqId(self._floor)  # type: ignore[no-untyped-call]  # unannotated upstream
            order_id = ib.client.getReqId()
        self._floor = order_id + 1
        return order_id

    async def _cancel(self, order_id: str) -> None:
        intent = self._intents.get(order_id)
        if intent is None or intent.state.done or intent.cancel_requested:
            return
        intent.cancel_requested = True
        self._save(intent)
        if intent.state is IntentState.NEW:
            self._end(intent, IntentState.CANCELLED, "cancelled before it was sent to IB")
        elif self._conn.state in (ConnState.CONNECTED, ConnState.DEGRADED):
            await self._send_cancel(intent)

    async def _send_cancel(self, intent: Intent) -> None:
        await self._conn.pacer.take()
        try:
            self._conn.ib.cancelOrder(Order(orderId=intent.ib_order_id, permId=intent.perm_id,
                                            clientId=self._conn.config.client_id))
        except ConnectionError:
            log.warning("order %s: cancel not sent (connection lost); resent after reconnect",
                        intent.intent_id)

    # ------------------------------------------------------------ reconcile (IB loop)
    async def _reconcile(self, ib: IB) -> None:
        """Match IB's view to the intents before anything new is submitted."""
        conn = self._conn
        await conn.request(ib.reqPositionsAsync)
        working: list[Trade] = await conn.request(ib.reqAllOpenOrdersAsync)
        done: list[Trade] = await conn.request(lambda: ib.reqCompletedOrdersAsync(True))
        executions: list[IbFill] = await conn.request(ib.reqExecutionsAsync)
        seen: set[str] = set()
        for trade, is_open in [(t, True) for t in working] + [(t, False) for t in done]:
            intent = self._intent_for(trade.order.orderRef)
            if intent is None:
                continue
            seen.add(intent.intent_id)
            self._adopt(intent, trade, is_open)
        for fill in executions:
            intent = self._intent_for(fill.execution.orderRef)
            if intent is not None:
                seen.add(intent.intent_id)
                stored = ib.wrapper.fills.get(fill.execution.execId, fill)
                self._execution(intent, stored)
        for intent in list(self._intents.values()):
            if intent.state.done or intent.intent_id in seen:
                continue
            await self._unseen(intent)
        for intent in list(self._intents.values()):  # cancels asked for while IB was away
            if intent.cancel_requested and intent.state is IntentState.WORKING and not self.dry_run:
                await self._send_cancel(intent)

    def _adopt(self, intent: Intent, trade: Trade, is_open: bool) -> None:
        if trade.order.orderId:
            if intent.ib_order_id != trade.order.orderId:
                self._by_order_id[trade.order.orderId] = intent.intent_id
            intent.ib_order_id = trade.order.orderId
            self._floor = max(self._floor, trade.order.orderId + 1)
        intent.perm_id = trade.order.permId or intent.perm_id
        if intent.state.done:
            return
        status = trade.orderStatus.status
        if is_open:
            intent.state = IntentState.WORKING
            self._save(intent)
            return
        if status in ("Cancelled", "ApiCancelled"):
            self._end(intent, IntentState.CANCELLED, "cancelled at IB")
        elif status == "Inactive":
            self._end(intent, IntentState.REJECTED, "inactive at IB")
        else:  # filled: the executions report it
            intent.state = IntentState.WORKING
            self._save(intent)

    async def _unseen(self, intent: Intent) -> None:
        """An intent IB has no trace of after a full reconcile."""
        if intent.state is IntentState.WORKING:
            self._end(intent, IntentState.CANCELLED, "no longer known to IB (expired or cancelled)")
        elif intent.cancel_requested:
            self._end(intent, IntentState.CANCELLED, "cancelled before it reached IB")
        elif intent.command.good_till <= self._clock.now():
            self._end(intent, IntentState.CANCELLED, "its day ended before it reached IB")
        elif not self.dry_run:  # IB never saw it: place it, under a new order id
            log.info("order %s never reached IB: placing it now", intent.intent_id)
            await self._place(intent)

    def _intent_for(self, order_ref: str) -> Intent | None:
        ref = mapping.OrderRef.parse(order_ref)
        if ref is None:
            return None
        intent = self._intents.get(ref.intent)
        if intent is None:
            self.unattributed.append(order_ref)
            log.warning("IB reports an alluse order %s this node has no intent for", order_ref)
        return intent

    # ------------------------------------------------------------ ib_async events (IB loop)
    def _on_order(self, trade: Trade) -> None:
        intent = self._intent_for(trade.order.orderRef)
        if intent is None or intent.state.done:
            return
        entry = trade.log[-1] if trade.log else None
        if entry is not None and entry.errorCode:
            return  # ib_async's own reading of an error: `_on_error` decides
        status = trade.orderStatus.status
        intent.perm_id = trade.order.permId or intent.perm_id
        if status in ("Cancelled", "ApiCancelled"):
            self._end(intent, IntentState.CANCELLED, "cancelled")
        elif status == "Inactive":
            self._end(intent, IntentState.REJECTED, "inactive at IB")
        elif status in ("PreSubmitted", "Submitted", "Filled") and intent.state is IntentState.SENT:
            intent.state = IntentState.WORKING
            self._save(intent)

    def _on_error(self, req_id: int, code: int, text: str, contract: object) -> None:
        key = self._by_order_id.get(req_id)
        intent = self._intents.get(key) if key else None
        if intent is None or intent.state.done or mapping.is_order_warning(code):
            return
        reason = f"IB error {code}: {text}"
        if code == mapping.ORDER_CANCELLED:
            self._end(intent, IntentState.CANCELLED, reason)
        elif intent.state is IntentState.SENT and not intent.filled:
            self._end(intent, IntentState.REJECTED, reason)
        else:
            self._end(intent, IntentState.CANCELLED, reason)

    def _on_execution(self, trade: Trade, fill: IbFill) -> None:
        intent = self._intent_for(fill.execution.orderRef)
        if intent is not None:
            self._execution(intent, fill)

    def _on_commission(self, trade: Trade, fill: IbFill, report: object) -> None:
        intent = self._intent_for(fill.execution.orderRef)
        if intent is not None:
            self._execution(intent, fill)

    # ------------------------------------------------------------ fills and outcomes
    def _execution(self, intent: Intent, fill: IbFill) -> None:
        exec_id = fill.execution.execId
        if exec_id in intent.exec_ids:
            return
        if fill.commissionReport.execId == exec_id:
            handle = self._awaiting.pop(exec_id, None)
            if handle is not None:
                handle.cancel()
            self._report_fill(intent, fill, fill.commissionReport.commission)
        elif exec_id not in self._awaiting:
            loop = asyncio.get_running_loop()
            self._awaiting[exec_id] = loop.call_later(
                self._commission_wait, self._commission_overdue, intent.intent_id, exec_id)

    def _commission_overdue(self, intent_id: str, exec_id: str) -> None:
        self._awaiting.pop(exec_id, None)
        intent = self._intents[intent_id]
        fill = self._conn.ib.wrapper.fills.get(exec_id)
        if fill is None or exec_id in intent.exec_ids:
            return  # the session is gone: the reconcile after the reconnect reports it
        log.warning("execution %s: no commission report after %g s; reported without commission",
                    exec_id, self._commission_wait)
        commission = fill.commissionReport.commission if fill.commissionReport.execId else 0.0
        self._report_fill(intent, fill, commission)

    def _report_fill(self, intent: Intent, fill: IbFill, commission: float) -> None:
        event = mapping.fill_event(intent.command, fill.execution, commission)
        intent.exec_ids.append(fill.execution.execId)
        intent.filled += event.quantity
        if intent.filled >= intent.command.quantity:
            intent.state = IntentState.FILLED
        elif intent.state in (IntentState.NEW, IntentState.SENT):
            intent.state = IntentState.WORKING
        self._save(intent)
        self._emit(event)

    def _end(self, intent: Intent, state: IntentState, reason: str) -> None:
        intent.state, intent.reason = state, reason
        self._save(intent)
        cmd = intent.command
        now = self._clock.now()
        if state is IntentState.REJECTED:
            self._emit(OrderRejected(now, cmd.account, cmd.order_id, reason))
        elif state is IntentState.CANCELLED:
            self._emit(OrderCancelled(now, cmd.account, cmd.order_id, reason))

    def _emit(self, event: BrokerEvent) -> None:
        accounts.apply_event(self._holdings, event)
        self._events.append(event)

    def _save(self, intent: Intent) -> None:
        self._intents[intent.intent_id] = intent
        self._log.record(intent.intent_id, intent.payload())

    # ------------------------------------------------------------ positions (IB loop)
    def _at_ib(self) -> dict[str | OptionContract, int]:
        out: dict[str | OptionContract, int] = {}
        for p in self._conn.ib.positions(self._conn.account):
            key = mapping.option_of(p.contract)
            if key is not None and p.position:
                out[key] = out.get(key, 0) + round(p.position)
        return out

    def _settle(self) -> None:
        if self._conn.state is not ConnState.CONNECTED:
            return  # positions are only trusted on a reconciled session
        busy = {i.command.symbol for i in self._intents.values() if not i.state.done}
        now = self._clock.now()
        for event in accounts.settlements(self._at_ib(), self._holdings, busy=busy,
                                          today=now.astimezone(NY).date(), ts=now):
            self._emit(event)
