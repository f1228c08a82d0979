"""The IB adapter against the fake gateway over a real socket, with short timeouts.

Every test here checks that ib_async's decoder swallowed no exception: it logs them as
"Error handling fields" (or, for its generic handlers, "Error for <method>") instead of raising,
so those log lines are the fake's conformance oracle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from alluse.adapters.ib import (
    ConnState,
    IbBroker,
    IbConfig,
    IbConnection,
    IbMarketData,
    MemoryIntentLog,
)
from alluse.engine.ports import Clock
from tests.fakegateway import FakeGateway

FAST = IbConfig(connect_timeout=2.0, request_timeout=1.0, reconnect_initial=0.05,
                reconnect_max=0.2, heartbeat_interval=30.0, heartbeat_timeout=0.5)


@pytest.fixture(autouse=True)
def no_decoder_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO, logger="ib_async")
    yield
    records = caplog.get_records("setup") + caplog.get_records("call")
    swallowed = [r.getMessage() for r in records if r.name.startswith("ib_async")
                 and r.getMessage().startswith(("Error handling fields", "Error for "))]
    assert [] == swallowed


@pytest.fixture
def fake() -> Iterator[FakeGateway]:
    with FakeGateway() as gateway:
        yield gateway


@dataclass
class Node:
    """One adapter set on one connection: what a node builds."""

    connection: IbConnection
    broker: IbBroker
    data: IbMarketData
    intents: MemoryIntentLog


def reconnected(node: Node, count: int = 1, timeout: float = 5.0) -> bool:
    """Wait until the connection has come back ``count`` times and is up (a short backoff can
    leave it disconnected for less time than a test thread takes to look)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.connection.reconnects >= count and node.connection.state is ConnState.CONNECTED:
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def make_node() -> Iterator[Callable[..., Node]]:
    made: list[IbConnection] = []

    def make(gateway: FakeGateway, *, start: bool = True, intents: MemoryIntentLog | None = None,
             dry_run: bool = False, epoch: int = 1, data: dict[str, Any] | None = None,
             clock: Clock | None = None, **config: Any) -> Node:
        connection = IbConnection(replace(FAST, port=gateway.port, **config))
        made.append(connection)
        log = intents if intents is not None else MemoryIntentLog()
        broker = IbBroker(connection, node="test", epoch=epoch, intents=log, dry_run=dry_run,
                          commission_wait=1.0, clock=clock)
        market = IbMarketData(connection, **{"quote_wait": 0.5, **(data or {})})
        if start:
            connection.start()
        return Node(connection, broker, market, log)

    yield make
    for connection in made:
        connection.close()
