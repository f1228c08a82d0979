"""Interactive Brokers through ib_async: the `Broker` and `MarketData` ports on IB Gateway/TWS.

    connection = IbConnection(IbConfig(port=4002, client_id=17, account="DU123456"))
    broker = IbBroker(connection, node="node-a", epoch=3, intents=store_backed_log)
    data = IbMarketData(connection, line_budget=100)
    connection.start()      # connect, reconcile; BrokerError (one line) when it cannot

Build the broker and the market data before `start` (they register the reconcile and the
resubscribe steps the connection runs on every reconnect). Everything IB-specific stays in this
package; foreign errors leave it as `BrokerError`.
"""

from alluse.adapters.ib.accounts import PositionDifference, position_differences, settlements
from alluse.adapters.ib.broker import IbBroker
from alluse.adapters.ib.connection import IbConfig, IbConnection
from alluse.adapters.ib.intents import Intent, IntentLog, IntentState, MemoryIntentLog
from alluse.adapters.ib.mapping import OrderRef, account_problem
from alluse.adapters.ib.marketdata import IbMarketData
from alluse.adapters.ib.pacing import LineBudget, SlidingWindow, TokenBucket
from alluse.adapters.ib.state import ConnectionMachine, ConnState

__all__ = [
    "ConnState",
    "ConnectionMachine",
    "IbBroker",
    "IbConfig",
    "IbConnection",
    "IbMarketData",
    "Intent",
    "IntentLog",
    "IntentState",
    "LineBudget",
    "MemoryIntentLog",
    "OrderRef",
    "PositionDifference",
    "SlidingWindow",
    "TokenBucket",
    "account_problem",
    "position_differences",
    "settlements",
]
