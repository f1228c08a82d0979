"""The connection to IB Gateway/TWS: one ib_async `IB` on an event loop in a thread of its own,
and the state machine that says what may be done over it.

    disconnected ──start / backoff──► connecting ──handshake + sync──► connected
         ▲                               │   └── (1100 during the sync) ─┐ │   ▲
         └──────── failure ──────────────┘                         1100 ▼ ▼   │ 1101/1102 + sync
         └────────────── connection lost / heartbeat unanswered ──── degraded

- Connecting is bounded (``connect_timeout``, `asyncio.wait_for`); error 326 (client id in use)
  fails the attempt at once instead of waiting the timeout out.
- "connected" is reached only after every sync step (the broker's reconcile) has run on the new
  session: nothing is submitted on a connection whose orders are not known yet.
- A lost connection is retried with exponential backoff; ib_async's disconnectedEvent may fire
  more than once, and the handler is idempotent. A sync request that times out drops the
  connection, so a late reply never reaches ib_async's decoder (ib_async #128).
- 1100 → degraded (no new orders); 1101 → market data resubscribed, then sync; 1102 → sync.
- A heartbeat (reqCurrentTime) finds half-open connections.

Blocking callers (the driver's thread) use `call`; everything touching ib_async runs on the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ib_async import IB
from ib_async.ib import StartupFetchNONE

from alluse.adapters.ib import mapping
from alluse.adapters.ib.pacing import TokenBucket
from alluse.adapters.ib.state import ConnectionMachine, ConnState
from alluse.engine.errors import BrokerError

T = TypeVar("T")
log = logging.getLogger("alluse.ib")


@dataclass(frozen=True, slots=True)
class IbConfig:
    host: str = "127.0.0.1"
    port: int = 4002  # IB Gateway, paper
    client_id: int = 17
    account: str | None = None  # None: the gateway's only account
    account_kind: mapping.AccountKind = "paper"
    connect_timeout: float = 4.0
    request_timeout: float = 10.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    heartbeat_interval: float = 30.0
    heartbeat_timeout: float = 10.0
    max_messages_per_second: int = 50


class _Refused(BrokerError):
    """The gateway refused the session; ``fatal`` when retrying cannot help (wrong account)."""

    def __init__(self, message: str, *, fatal: bool) -> None:
        super().__init__(message)
        self.fatal = fatal


SyncStep = Callable[[IB], Awaitable[None]]


class IbConnection:
    def __init__(self, config: IbConfig) -> None:
        self.config = config
        self.machine = ConnectionMachine()
        self.pacer = TokenBucket.per_second(config.max_messages_per_second)
        self.ib = IB()
        self.account = config.account or ""
        self.reconnects = 0
        self.last_error = ""
        self._sync_steps: list[SyncStep] = []
        self._data_lost: list[SyncStep] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="alluse-ib", daemon=True)
        self._closing = False
        self._refused: asyncio.Future[tuple[int, str]] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._restoring: asyncio.Future[None] | None = None
        self._servers_lost = ""  # the text of a 1100 seen during this session's sync
        self._sync_lock = asyncio.Lock()
        self.ib.errorEvent += self._on_error
        self.ib.disconnectedEvent += self._on_disconnected
        self.ib.client.apiError += self._on_api_error

    # ------------------------------------------------------------ wiring (before start)
    def add_sync_step(self, step: SyncStep) -> None:
        """Run ``step`` after every (re)connect and on 1101/1102, before the state is "connected"."""
        self._require_not_started("add a sync step")
        self._sync_steps.append(step)

    def add_data_lost_handler(self, handler: SyncStep) -> None:
        """Run ``handler`` on 1101 (market data lost): resubscribe what is open."""
        self._require_not_started("add a data-lost handler")
        self._data_lost.append(handler)

    def _require_not_started(self, what: str) -> None:
        if self._thread.is_alive():
            raise BrokerError(f"cannot {what} once the IB connection has started")

    # ------------------------------------------------------------ public, any thread
    @property
    def state(self) -> ConnState:
        return self.machine.state

    def start(self) -> None:
        """Connect and synchronise once; BrokerError (one line) when that fails. After this,
        lost connections are retried in the background until `close`."""
        if self._thread.is_alive():
            raise BrokerError("IB connection already started")
        self._thread.start()
        budget = self.config.connect_timeout + 6 * self.config.request_timeout + 5
        try:
            self.call(self._first_connect, budget)
        except BrokerError:
            self.close()
            raise

    def close(self) -> None:
        """Disconnect and stop the thread; never touches orders."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(BrokerError):
            self.call(self._shutdown, 10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._loop.is_closed():
            self._loop.close()

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float) -> T:
        """Run ``fn()`` on the IB loop and wait for its result (from any other thread)."""
        if threading.current_thread() is self._thread:
            raise BrokerError("a blocking IB call was made from the IB thread itself")
        if not self._thread.is_alive():
            raise BrokerError("the IB connection is not running (start it first)")
        future = asyncio.run_coroutine_threadsafe(_invoke(fn), self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise BrokerError(f"IB did not answer within {timeout:g} s") from exc

    def wait_until(self, *states: ConnState, timeout: float) -> bool:
        return self.machine.wait_for(set(states), timeout)

    def status(self) -> dict[str, Any]:
        """The connection as `alluse status --format json` shows it."""
        return {"state": self.state.value, "since": self.machine.since.isoformat(),
                "reason": self.machine.reason, "host": self.config.host, "port": self.config.port,
                "client_id": self.config.client_id, "account": mapping.masked(self.account),
                "account_kind": self.config.account_kind,
                "server_version": self.ib.client.serverVersion(), "reconnects": self.reconnects,
                "last_error": self.last_error}

    # ------------------------------------------------------------ on the IB loop
    async def request(self, send: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        """Send one request when the pacer allows it and wait (bounded) for its answer."""
        await self.pacer.take()
        limit = timeout or self.config.request_timeout
        try:
            return await asyncio.wait_for(send(), limit)
        except TimeoutError as exc:
            raise BrokerError(f"IB request unanswered within {limit:g} s") from exc
        except ConnectionError as exc:
            raise BrokerError(f"IB connection lost during a request: {exc}") from exc

    def _run_loop(self) -> None:
        # ib_async and eventkit look the loop up through the policy: this thread's loop is ours.
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    async def _first_connect(self) -> None:
        self.machine.move(ConnState.CONNECTING, "start")
        try:
            await self._attempt()
        except BrokerError as exc:
            self.last_error = str(exc)
            self.machine.move(ConnState.DISCONNECTED, str(exc))
            raise
        self._settle_state("connected and reconciled")
        self._heartbeat = asyncio.ensure_future(self._beat())

    async def _attempt(self) -> None:
        """One connect: handshake, account check, sync; raises BrokerError (state left to the caller)."""
        cfg = self.config
        self._servers_lost = ""
        self._refused = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._login(self._refused), cfg.connect_timeout)
        except TimeoutError as exc:
            self.ib.disconnect()
            raise BrokerError(f"IB Gateway at {cfg.host}:{cfg.port} did not complete the API "
                              f"handshake within {cfg.connect_timeout:g} s") from exc
        except (OSError, ConnectionError) as exc:
            raise BrokerError(f"cannot reach IB Gateway at {cfg.host}:{cfg.port}: {exc}") from exc
        try:
            self.account = self._check_account()
            await self._sync()
        except BrokerError:
            self.ib.disconnect()  # late replies must not reach the decoder of the next session
            raise

    async def _login(self, refused: asyncio.Future[tuple[int, str]]) -> None:
        cfg = self.config
        connect = asyncio.ensure_future(self.ib.connectAsync(
            cfg.host, cfg.port, cfg.client_id, timeout=cfg.connect_timeout,
            account=cfg.account or "", fetchFields=StartupFetchNONE))
        try:
            done, _ = await asyncio.wait({connect, refused}, return_when=asyncio.FIRST_COMPLETED)
            if refused in done and not connect.done():
                code, text = refused.result()
                if code == mapping.CLIENT_ID_IN_USE:
                    raise _Refused(f"IB client id {cfg.client_id} is already in use at "
                                   f"{cfg.host}:{cfg.port} (error 326): another session holds it",
                                   fatal=False)
                raise _Refused(f"IB Gateway at {cfg.host}:{cfg.port} closed the connection during "
                               f"the handshake: {text}", fatal=False)
            await connect
        finally:
            if not connect.done():
                connect.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await connect

    def _check_account(self) -> str:
        accounts = self.ib.client.getAccounts()
        wanted = self.config.account
        if wanted and wanted not in accounts:
            managed = ", ".join(mapping.masked(a) for a in accounts)
            raise _Refused(f"account {mapping.masked(wanted)} is not managed by this gateway "
                           f"(it manages {managed})", fatal=True)
        if not wanted and len(accounts) != 1:
            raise _Refused(f"the gateway manages {len(accounts)} accounts: set ALLUSE_IB_ACCOUNT",
                           fatal=True)
        account = wanted or accounts[0]
        problem = mapping.account_problem(account, self.config.account_kind)
        if problem:
            raise _Refused(problem, fatal=True)
        return account

    def _settle_state(self, reason: str) -> None:
        """The end of a successful attempt: connected, unless IB lost its servers meanwhile."""
        if self._servers_lost:
            self.machine.move(ConnState.DEGRADED, f"error 1100: {self._servers_lost}")
        else:
            self.machine.move(ConnState.CONNECTED, reason)

    async def _sync(self) -> None:
        async with self._sync_lock:
            for step in self._sync_steps:
                await step(self.ib)

    async def _restore(self, data_lost: bool) -> None:
        """1101/1102: IB is back; verify (and resubscribe) before new orders."""
        self.machine.move(ConnState.DEGRADED, f"verifying after error {1101 if data_lost else 1102}")
        try:
            if data_lost:
                for handler in self._data_lost:
                    await handler(self.ib)
            await self._sync()
        except BrokerError as exc:
            log.warning("IB verify after reconnection failed (%s): reconnecting", exc)
            self.ib.disconnect()
            return
        if self.state is ConnState.DEGRADED:
            self.machine.move(ConnState.CONNECTED, "IB connectivity restored and verified")

    async def _reconnect(self) -> None:
        delay = self.config.reconnect_initial
        while not self._closing:
            await asyncio.sleep(delay)
            if self._closing:
                return
            self.machine.move(ConnState.CONNECTING, "reconnecting")
            try:
                await self._attempt()
            except _Refused as exc:
                self.last_error = str(exc)
                self.machine.move(ConnState.DISCONNECTED, str(exc))
                if exc.fatal:
                    log.error("IB reconnect refused for good: %s", exc)
                    return
            except BrokerError as exc:
                self.last_error = str(exc)
                self.machine.move(ConnState.DISCONNECTED, str(exc))
            else:
                self.reconnects += 1
                self._settle_state("reconnected and reconciled")
                return
            delay = min(delay * 2, self.config.reconnect_max)

    async def _beat(self) -> None:
        cfg = self.config
        while not self._closing:
            await asyncio.sleep(cfg.heartbeat_interval)
            if self.state not in (ConnState.CONNECTED, ConnState.DEGRADED):
                continue
            try:
                await self.request(self.ib.reqCurrentTimeAsync, cfg.heartbeat_timeout)
            except BrokerError as exc:
                if self.state in (ConnState.CONNECTED, ConnState.DEGRADED):
                    log.warning("IB heartbeat failed (%s): dropping the connection", exc)
                    self.ib.disconnect()

    async def _shutdown(self) -> None:
        self._closing = True
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.ib.disconnect()
        self.machine.move(ConnState.DISCONNECTED, "closed")

    # ------------------------------------------------------------ ib_async events (IB loop)
    def _on_error(self, req_id: int, code: int, text: str, contract: object) -> None:
        if code == mapping.CLIENT_ID_IN_USE:
            self._refuse(code, text)
        elif code == mapping.CONNECTIVITY_LOST:
            if self.state is ConnState.CONNECTING:
                self._servers_lost = text
            elif self.state is ConnState.CONNECTED:
                self.machine.move(ConnState.DEGRADED, f"error 1100: {text}")
        elif (code in (mapping.RESTORED_DATA_LOST, mapping.RESTORED_DATA_KEPT)
              and self.state in (ConnState.CONNECTED, ConnState.DEGRADED)):
            self._restoring = asyncio.ensure_future(self._restore(code == mapping.RESTORED_DATA_LOST))

    def _on_api_error(self, text: str) -> None:
        self._refuse(0, text)

    def _refuse(self, code: int, text: str) -> None:
        if self._refused is not None and not self._refused.done():
            self._refused.set_result((code, text))

    def _on_disconnected(self) -> None:
        # Fires on peer drops and on our own disconnects, possibly twice (ib_async #207).
        if self._closing or self.state in (ConnState.CONNECTING, ConnState.DISCONNECTED):
            return
        self.machine.move(ConnState.DISCONNECTED, "connection to IB Gateway lost")
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.ensure_future(self._reconnect())


async def _invoke(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()
