"""Plain records the store takes and returns: frozen dataclasses, no SQLAlchemy types.

`record_batch` accepts either these records or mappings with the same field names. Fields the
store assigns (`seq`, `id` of log rows, `run_id`, `created_at` of snapshots) are left at their
defaults on the way in. Every record belongs to the run of the batch that wrote it; readers take
the run id and return that run's records only.
An alert, script or protocol change links to its decision either by `event_index` (a decision
of the same batch) or by `decision_seq` (a decision already stored).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from alluse.engine.errors import StoreError

RUN_KINDS = ("replay", "node")
RUN_STATUSES = ("running", "done")
DELIVERY_STATUSES = ("pending", "sent", "failed", "suppressed")
SCRIPT_STATUSES = ("proposed", "approved", "executed", "expired", "rejected")
APPROVAL_DECISIONS = ("approved", "rejected")


@dataclass(frozen=True, slots=True)
class RunState:
    run_id: str
    kind: str
    params: dict[str, Any]
    policy_hash: str
    cursor: int | None  # last event index committed; None before the first batch
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    resumed: bool = False  # set by begin_run when an unfinished run was found

    @property
    def next_index(self) -> int:
        """The first event index still to process."""
        return 0 if self.cursor is None else self.cursor + 1


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    event_index: int
    ts: dt.datetime
    policy_hash: str
    event: dict[str, Any]
    decision: dict[str, Any]
    run_id: str = ""
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    ts: dt.datetime
    type: str
    priority: str
    title: str
    body: str = ""
    account: str = ""
    suppressed: bool = False
    delivery_status: str = ""  # default: "suppressed" if suppressed else "pending"
    channels: tuple[str, ...] = ()
    event_index: int | None = None
    decision_seq: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class ScriptRecord:
    id: str
    account: str
    approval: str
    script: dict[str, Any]
    expires_at: dt.datetime
    status: str = "proposed"
    event_index: int | None = None
    decision_seq: int | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """An operator's decision on an action script: who, when (UTC) and, for a rejection, why."""

    script_id: str
    decision: str  # approved | rejected
    who: str
    at: dt.datetime
    reason: str | None = None
    run_id: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class ScriptDecision:
    """What `Store.decide_script` did: the script afterwards, the row it wrote (None: nothing
    changed, `note` says why) and the script's earlier decisions."""

    script: ScriptRecord
    recorded: ApprovalRecord | None
    note: str = ""
    history: tuple[ApprovalRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class ProtocolChangeRecord:
    position: str
    ts: dt.datetime
    from_level: int
    to_level: int
    atr_multiple: float
    rule: str
    event_index: int | None = None
    decision_seq: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class TradeRecord:
    account: str
    ts: dt.datetime
    symbol: str
    side: str
    quantity: int
    price: Decimal
    source: str
    commission: Decimal = Decimal("0")
    expiry: dt.date | None = None
    strike: Decimal | None = None
    right: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: str
    type: str
    initial_capital: Decimal
    status: str
    created_at: dt.datetime
    unit: str = ""
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class PositionRecord:
    key: str
    account: str
    symbol: str
    quantity: int  # shares, or contracts (negative when short)
    opened_at: dt.datetime
    state: str  # open, or how it ended: expired, assigned, closed, called_away, split
    protocol_level: int = 0
    expiry: dt.date | None = None
    strike: Decimal | None = None
    right: str = ""
    closed_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class TaxLotRecord:
    account: str
    symbol: str
    quantity: int
    basis: Decimal
    holding_period_start: dt.date
    as_of: dt.date
    expiry: dt.date | None = None
    strike: Decimal | None = None
    right: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One input event as the engine saw it: `payload` is `event_to_dict(event)`."""

    event_index: int
    ts: dt.datetime
    type: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """Engine state (opaque bytes) after event `event_index`, taken under `policy_hash`."""

    event_index: int
    ts: dt.datetime
    policy_hash: str
    state: bytes
    created_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    hash: str
    loaded_at: dt.datetime
    files: dict[str, str]
    source: str


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What `record_batch` stored: the new decision seqs and alert ids, in input order."""

    decision_seqs: tuple[int, ...] = ()
    alert_ids: tuple[int, ...] = field(default=())


R = TypeVar("R")


def coerce(kind: type[R], item: object, where: str) -> R:
    """`item` as a `kind` record; a mapping is checked for unknown and missing fields."""
    if isinstance(item, kind):
        return item
    if not isinstance(item, Mapping):
        raise StoreError(f"{where}: expected a {kind.__name__} or a mapping, got {type(item).__name__}")
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in item if k not in names)
    if unknown:
        raise StoreError(f"{where}: unknown field(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(names))})")
    try:
        return kind(**item)
    except TypeError as exc:  # a required field is missing
        raise StoreError(f"{where}: {exc}") from None


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:  # dataclasses.fields() costs more than the rest of row_values
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def row_values(record: object) -> dict[str, Any]:
    """The record's fields as a dict (shallow: JSON payloads are passed through as they are)."""
    return {name: getattr(record, name) for name in _field_names(type(record))}
