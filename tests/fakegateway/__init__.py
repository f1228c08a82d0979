"""A fake IB Gateway speaking the TWS socket protocol (server version 178) on 127.0.0.1, for tests.

Written from the protocol facts in ../shared/NODE.md; no code of ib_async, nautilus_trader or
rust-ibapi is copied. The broker state (`Book`, `FakeMarket`) lives outside the connections, so
it survives a client's reconnect and a gateway restart.
"""

from tests.fakegateway.book import MAG6_PRICES, Book, FakeMarket
from tests.fakegateway.handlers import DropPoint
from tests.fakegateway.pacing import PacingMonitor
from tests.fakegateway.server import FakeGateway

__all__ = ["MAG6_PRICES", "Book", "DropPoint", "FakeGateway", "FakeMarket", "PacingMonitor"]
