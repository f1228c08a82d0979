"""Intents survive a round trip through their JSON payload."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from alluse.adapters.ib.intents import Intent, IntentState, MemoryIntentLog
from alluse.engine.commands import BuyStock, SellToOpen
from alluse.engine.errors import BrokerError
from alluse.engine.events import OptionContract

TS = dt.datetime(2026, 3, 5, 15, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("command", [
    SellToOpen("S1-1", "S1", "GEN-ACC-001", "TSLA", OptionContract("TSLA", dt.date(2026, 3, 6), 245.0, "P"),
               1, "LMT", 3.4, 245.0, TS, TS + dt.timedelta(hours=1)),
    BuyStock("S2-1", "S2", "COM-ACC-001", "AAPL", None, 100, "MKT", None, 230.0, TS, TS)])
def test_an_intent_round_trips_through_its_json_payload(command):
    intent = Intent(command, "n:1:" + command.order_id, IntentState.WORKING, 12, 900001, 1, ["e1"],
                    True, "why")
    log = MemoryIntentLog()
    log.record(intent.intent_id, json.loads(json.dumps(intent.payload())))
    assert log.known(command.order_id)
    assert intent == Intent.from_payload(command.order_id, log.payloads()[command.order_id])


def test_an_unreadable_intent_is_a_broker_error():
    with pytest.raises(BrokerError, match="intent S1-1: unreadable record"):
        Intent.from_payload("S1-1", {"state": "new"})
