"""The IB connection's states and the only moves allowed between them (see `connection`)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from enum import StrEnum

from alluse.engine.errors import BrokerError

log = logging.getLogger("alluse.ib")


class ConnState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DEGRADED = "degraded"


_MOVES: dict[ConnState, frozenset[ConnState]] = {
    ConnState.DISCONNECTED: frozenset({ConnState.CONNECTING}),
    ConnState.CONNECTING: frozenset({ConnState.CONNECTED, ConnState.DEGRADED, ConnState.DISCONNECTED}),
    ConnState.CONNECTED: frozenset({ConnState.DEGRADED, ConnState.DISCONNECTED}),
    ConnState.DEGRADED: frozenset({ConnState.CONNECTED, ConnState.DISCONNECTED}),
}
StateListener = Callable[[ConnState, ConnState, str], None]


class ConnectionMachine:
    """The connection's state and the only moves allowed between states. Listeners hear every
    move (old, new, reason) on the IB thread; they must not block."""

    def __init__(self) -> None:
        self.state = ConnState.DISCONNECTED
        self.reason = ""
        self.since = dt.datetime.now(dt.UTC)
        self.listeners: list[StateListener] = []
        self._changed = threading.Condition()

    def move(self, new: ConnState, reason: str) -> None:
        old = self.state
        if new is old:
            return
        if new not in _MOVES[old]:
            raise BrokerError(f"IB connection cannot go from {old} to {new} ({reason})")
        with self._changed:
            self.state, self.reason, self.since = new, reason, dt.datetime.now(dt.UTC)
            self._changed.notify_all()
        log.info("IB connection %s → %s: %s", old, new, reason)
        for listener in self.listeners:
            try:
                listener(old, new, reason)
            except Exception:  # a listener's bug must not stop the connection
                log.exception("IB connection state listener failed")

    def wait_for(self, states: set[ConnState], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.state in states, timeout)
