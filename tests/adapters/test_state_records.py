"""The engine's events, positions and lots as store records: keys, how positions open and close."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from alluse.adapters.store import EventRecord, PositionRecord, TaxLotRecord
from alluse.adapters.store.state_records import (
    event_records,
    may_close_positions,
    open_positions,
    position_records,
    tax_lot_records,
)
from alluse.engine.events import Assignment, Expiration, Fill, JobDue, Price, Split, parse_event
from alluse.engine.ledger import Lot
from alluse.engine.machines import ProtocolModel
from alluse.engine.protocol import ShortOption

T0 = dt.datetime(2026, 1, 8, 15, 0, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(hours=5)
FRI = dt.date(2026, 1, 9)
GEN = "GEN-ACC-001"
PUT_KEY = f"{GEN}:TSLA:2026-01-09:245P"


def _short(level: str = "L0") -> ShortOption:
    return ShortOption(GEN, "TSLA", FRI, 245.0, "P", 2, 4.0, 250.0, 10.0, T0,
                       model=ProtocolModel(PUT_KEY, level))


def _put(**changes: object) -> PositionRecord:
    values: dict[str, object] = {"key": PUT_KEY, "account": GEN, "symbol": "TSLA", "quantity": -2,
                                 "opened_at": T0, "state": "open", "protocol_level": 0, "expiry": FRI,
                                 "strike": Decimal("245.0"), "right": "P"}
    return PositionRecord(**{**values, **changes})  # type: ignore[arg-type]


def _stock(**changes: object) -> PositionRecord:
    values: dict[str, object] = {"key": f"{GEN}:TSLA", "account": GEN, "symbol": "TSLA", "quantity": 200,
                                 "opened_at": LATER, "state": "open"}
    return PositionRecord(**{**values, **changes})  # type: ignore[arg-type]


def test_event_records_keep_the_engine_index_and_skip_those_before_start() -> None:
    """Each (index, event) becomes a journal entry whose payload parses back to the event."""
    events = [(4, Price(T0, "TSLA", 245.5)), (5, JobDue(T0, "entry_scan"))]
    records = event_records(events, start=5)
    assert ([EventRecord(5, T0, "clock", {"type": "clock", "ts": T0.isoformat(), "name": "entry_scan"})],
            JobDue(T0, "entry_scan")) == (records, parse_event(records[0].payload))


def test_open_positions_are_the_shorts_with_their_level_and_the_stock_held() -> None:
    """A short put (negative contracts, its protocol level) and shares summed over lots, by key."""
    lots = [Lot(GEN, "TSLA", 100, Decimal("24500.00"), FRI), Lot(GEN, "TSLA", 100, Decimal("24000.00"), FRI),
            Lot(GEN, "TSLA", -2, Decimal("800.00"), T0.date(), FRI, 245.0, "P")]
    assert {PUT_KEY: _put(protocol_level=2), f"{GEN}:TSLA": _stock()} == open_positions(
        [_short("L2")], lots, LATER)


def test_a_put_gone_after_its_expiration_is_closed_as_expired_at_that_event() -> None:
    """The stored open put absent from the engine: state and closed_at from the batch's expiration."""
    events = [Price(T0, "TSLA", 250.0), Expiration(LATER, GEN, "TSLA", FRI, 245.0, "P", 2)]
    assert [_put(state="expired", closed_at=LATER)] == position_records({}, [_put()], events, LATER)


def test_an_assigned_put_closes_and_the_shares_open_at_the_assignment() -> None:
    """Assignment: the put is assigned, the new stock holding is dated by the assignment event."""
    assigned = Assignment(LATER, GEN, "TSLA", FRI, 245.0, "P", 2)
    end = LATER + dt.timedelta(minutes=2)
    current = {f"{GEN}:TSLA": _stock(opened_at=end)}
    assert [_stock(opened_at=LATER), _put(state="assigned", closed_at=LATER)] == position_records(
        current, [_put()], [assigned], end)


def test_shares_called_away_and_a_put_bought_back_are_told_apart() -> None:
    """A call assignment ends the stock as called_away; a BUY fill of the put closes it."""
    events = [Fill(T0, GEN, "TSLA", FRI, 245.0, "P", "BUY", 2, 1.5),
              Assignment(LATER, GEN, "TSLA", FRI, 260.0, "C", 2)]
    assert [_stock(state="called_away", closed_at=LATER), _put(state="closed", closed_at=T0)] == (
        position_records({}, [_stock(), _put()], events, LATER))


def test_a_position_held_keeps_its_stored_opening_time_and_an_unexplained_end_is_closed_now() -> None:
    """Held: opened_at from the store. Gone without an event that ends it: closed at the batch's end."""
    other = _put(key=f"{GEN}:NVDA:2026-01-09:130P", symbol="NVDA", strike=Decimal("130"))
    current = {PUT_KEY: _put(protocol_level=1, opened_at=LATER)}
    assert [_put(protocol_level=1), dataclasses.replace(other, state="closed", closed_at=LATER)] == (
        position_records(current, [_put(), other], [], LATER))


def test_only_fills_assignments_expirations_and_splits_may_close_a_position() -> None:
    """Prices and clocks never end a position; the other four may."""
    assert (False, True, True) == (
        may_close_positions([Price(T0, "TSLA", 1.0), JobDue(T0, "x")]),
        may_close_positions([Expiration(T0, GEN, "TSLA", FRI, 245.0, "P", 1)]),
        may_close_positions([Split(T0, "TSLA", 3)]))


def test_a_split_ends_the_old_contracts_row_and_the_adjusted_one_keeps_the_opening_time() -> None:
    """A 3-for-1 split: the 245P row ends as split at the split; six 81.667Ps carry the position
    on from its first opening; the shares held keep their row."""
    split = Split(LATER, "TSLA", 3)
    adjusted = _put(key=f"{GEN}:TSLA:2026-01-09:81.667P", quantity=-6, strike=Decimal("81.667"))
    current = {adjusted.key: adjusted, f"{GEN}:TSLA": _stock(quantity=600)}
    end = LATER + dt.timedelta(hours=1)
    assert [adjusted, _stock(quantity=600), _put(state="split", closed_at=LATER)] == (
        position_records(current, [_put(), _stock()], [split], end))


def test_tax_lot_records_carry_every_lot_field_and_the_date() -> None:
    """Option and stock lots keep quantity, basis, holding start and contract; strike as an exact Decimal."""
    lots = [Lot(GEN, "TSLA", -2, Decimal("800.00"), T0.date(), FRI, 252.5, "P"),
            Lot(GEN, "AAPL", 100, Decimal("17000.00"), T0.date())]
    assert [TaxLotRecord(GEN, "TSLA", -2, Decimal("800.00"), T0.date(), FRI, FRI, Decimal("252.5"), "P"),
            TaxLotRecord(GEN, "AAPL", 100, Decimal("17000.00"), T0.date(), FRI)] == tax_lot_records(lots, FRI)
