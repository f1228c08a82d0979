"""The engine's public input format: one JSON object per line, parsed into frozen slotted dataclasses.

    {"type":"bar","ts":…,"symbol":"TSLA","open":…,"high":…,"low":…,"close":…,"volume":…}
    {"type":"price","ts":…,"symbol":"TSLA","price":245.0}
    {"type":"option_quote","ts":…,"symbol":…,"expiry":"2026-11-20","strike":245.0,"right":"P",
     "bid":3.9,"ask":4.1,"delta":-0.45,"iv":0.62}                      (delta, iv optional)
    {"type":"fill","ts":…,"account":…,"symbol":…,"expiry":…,"strike":…,"right":"P","side":"SELL",
     "quantity":1,"price":4.0,"commission":0.65}     (no expiry/strike/right: a stock trade)
    {"type":"assignment"|"expiration","ts":…,"account":…,"symbol":…,"expiry":…,"strike":…,
     "right":"P","quantity":1}
    {"type":"clock","ts":…,"name":"entry_scan"}                      (a scheduled job is due)
    {"type":"order_rejected"|"order_cancelled","ts":…,"account":…,"order_id":…,"reason":…}
    {"type":"split","ts":…,"symbol":"NVDA","ratio":10}      (N new shares per old, from ts on)
    {"type":"dividend","ts":…,"symbol":"AAPL","amount":0.25,"ex_date":"2024-08-12"}

``ts`` is ISO 8601 with a UTC offset (naive timestamps are refused: the engine reads no clock and
no local time zone). Validation is plain Python, not pydantic: this runs once per tick.

Besides each field's type and range, a line is refused when its fields cannot all be true at once
(the error names the field to fix):

- a bar with high < low (``high``), or an open or close outside [low, high] (``open``/``close``);
- zero where zero cannot be a price: a ``price`` event, any of a bar's OHLC, any fill (stock or
  option) — each ``must be positive``. A quote's bid and ask may be 0 (a worthless far
  out-of-the-money option is quoted 0 × 0); no price may be negative;
- an option quote with bid > ask (``bid``);
- an option fill dated after its contract's expiry (``ts``): an expired option cannot trade;
- an expiration dated before its contract's expiry (``ts``): only assignment can come early;
- a split whose ``ratio`` is not a whole number ≥ 2 (reverse and fractional splits change an
  option's deliverable, which is not modelled); a dividend whose ``amount`` is not positive, or
  dated after its ``ex_date`` (``ts``: holders are those of the ex-date's open, so it comes before);
- an assignment or expiration dated more than ``SETTLEMENT_GRACE_DAYS`` (5) days after the expiry
  (``ts``). Brokers report both after the OCC's overnight processing, by the next business day;
  the longest wait from an expiry to the next business day is 4 days (a Thursday expiry before
  a Friday holiday, or a Friday expiry before a Monday holiday), plus one day for a statement
  that lags. Anything later is a wrong date or a wrong contract.

Dates compared with an expiry are ``ts`` as a date in America/New_York, where options expire.
The dataclasses themselves do not validate: events built in code are trusted as they are.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Literal

from alluse.engine.calendar import NY
from alluse.engine.errors import EventError

Right = Literal["P", "C"]
Side = Literal["BUY", "SELL"]
# Latest an assignment or expiration may be dated after the expiry, in days (module docstring).
SETTLEMENT_GRACE_DAYS = 5


@dataclass(frozen=True, slots=True, order=True)
class OptionContract:
    """Identifies one listed option: the key of option positions, marks and lots."""

    symbol: str
    expiry: date
    strike: float
    right: Right

    def __str__(self) -> str:
        return f"{self.symbol} {self.expiry.isoformat()} {self.strike:g}{self.right}"

    def split(self, ratio: int) -> OptionContract:
        """The contract a ``ratio``-for-1 split turns this one into: the OCC divides the strike
        (to a tenth of a cent) and multiplies the contracts; expiry and right stay."""
        return OptionContract(self.symbol, self.expiry, round(self.strike / ratio, 3), self.right)


@dataclass(frozen=True, slots=True)
class Bar:
    """A daily OHLCV bar."""

    TYPE: ClassVar[str] = "bar"
    ts: datetime
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: int


@dataclass(frozen=True, slots=True)
class Price:
    """A last price of an underlying."""

    TYPE: ClassVar[str] = "price"
    ts: datetime
    symbol: str
    price: float


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """A quote of one option contract, with the greeks when the source has them."""

    TYPE: ClassVar[str] = "option_quote"
    ts: datetime
    symbol: str
    expiry: date
    strike: float
    right: Right
    bid: float
    ask: float
    delta: float | None = None
    iv: float | None = None

    @property
    def contract(self) -> OptionContract:
        return OptionContract(self.symbol, self.expiry, self.strike, self.right)


@dataclass(frozen=True, slots=True)
class Fill:
    """An execution: an option trade when expiry/strike/right are set, a stock trade otherwise.

    ``price`` is per share (stock) or per share of the underlying (options, as quoted).
    """

    TYPE: ClassVar[str] = "fill"
    ts: datetime
    account: str
    symbol: str
    expiry: date | None
    strike: float | None
    right: Right | None
    side: Side
    quantity: int
    price: float
    commission: float = 0.0
    order_id: str = ""  # the command this execution belongs to ("" for fills from elsewhere)

    @property
    def contract(self) -> OptionContract | None:
        if self.expiry is None or self.strike is None or self.right is None:
            return None
        return OptionContract(self.symbol, self.expiry, self.strike, self.right)


@dataclass(frozen=True, slots=True)
class _Settlement:
    """The end of an option position at the broker: the fields assignment and expiration share."""

    ts: datetime
    account: str
    symbol: str
    expiry: date
    strike: float
    right: Right
    quantity: int

    @property
    def contract(self) -> OptionContract:
        return OptionContract(self.symbol, self.expiry, self.strike, self.right)


@dataclass(frozen=True, slots=True)
class Assignment(_Settlement):
    """A written option was exercised against the account (``quantity`` contracts)."""

    TYPE: ClassVar[str] = "assignment"


@dataclass(frozen=True, slots=True)
class Expiration(_Settlement):
    """An option position expired worthless (``quantity`` contracts)."""

    TYPE: ClassVar[str] = "expiration"


@dataclass(frozen=True, slots=True)
class JobDue:
    """A scheduled job is due (its name is the schedule.yaml job id). JSON type "clock"."""

    TYPE: ClassVar[str] = "clock"
    ts: datetime
    name: str


@dataclass(frozen=True, slots=True)
class _OrderEnded:
    ts: datetime
    account: str
    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class OrderRejected(_OrderEnded):
    """The broker refused an order command (nothing was executed)."""

    TYPE: ClassVar[str] = "order_rejected"


@dataclass(frozen=True, slots=True)
class OrderCancelled(_OrderEnded):
    """A working order ended unfilled (cancelled, or expired at the end of its day)."""

    TYPE: ClassVar[str] = "order_cancelled"


@dataclass(frozen=True, slots=True)
class Split:
    """A forward stock split: from ``ts`` on, each share of ``symbol`` is ``ratio`` shares.

    Prices after it are on the new basis; open positions are adjusted as the OCC adjusts options
    (contracts × ratio, strike ÷ ratio) and stock lots keep their total basis (per share ÷ ratio).
    """

    TYPE: ClassVar[str] = "split"
    ts: datetime
    symbol: str
    ratio: int


@dataclass(frozen=True, slots=True)
class Dividend:
    """A cash dividend of ``amount`` per share to the holders at the open of ``ex_date``."""

    TYPE: ClassVar[str] = "dividend"
    ts: datetime
    symbol: str
    amount: float
    ex_date: date


Event = (Bar | Price | OptionQuote | Fill | Assignment | Expiration | JobDue | OrderRejected
         | OrderCancelled | Split | Dividend)
BrokerEvent = Fill | Assignment | Expiration | OrderRejected | OrderCancelled
CorporateAction = Split | Dividend
# What a broker that models the market sees: prices, and the corporate actions that change them.
MARKET_EVENTS = (Bar, Price, OptionQuote, Split, Dividend)


class _Invalid(Exception):
    """A value failed a field check; parse_event adds the line and the field."""


_JSON_KIND = {bool: "boolean", str: "string", int: "number", float: "number", list: "array",
              dict: "object", type(None): "null"}


def _show(value: object) -> str:
    """The offending value as the user wrote it in JSON, with its JSON kind."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{_JSON_KIND.get(type(value), type(value).__name__)} {text}"


def _number(v: object) -> float:
    # bool is an int subclass: `true` must not pass as 1
    if type(v) is float or type(v) is int:
        f = float(v)
        if math.isfinite(f):
            return f
        raise _Invalid(f"must be a finite number, got {v!r}")
    raise _Invalid(f"expected a number, got {_show(v)}")


def _price(v: object) -> float:
    f = _number(v)
    if f < 0:
        raise _Invalid(f"must not be negative, got {v!r}")
    return f


def _traded_price(v: object) -> float:
    """A price something changed hands at: never 0 (a quote's bid and ask may be, see _price)."""
    f = _number(v)
    if f <= 0:
        raise _Invalid(f"must be positive, got {v!r}")
    return f


def _strike(v: object) -> float:
    f = _number(v)
    if f <= 0:
        raise _Invalid(f"must be positive, got {v!r}")
    return f


def _delta(v: object) -> float:
    f = _number(v)
    if not -1.0 <= f <= 1.0:
        raise _Invalid(f"must be between -1 and 1, got {v!r}")
    return f


def _positive_int(v: object) -> int:
    if type(v) is int and v > 0:
        return v
    raise _Invalid(f"expected a positive integer, got {_show(v)}")


def _split_ratio(v: object) -> int:
    if type(v) is int and v >= 2:
        return v
    raise _Invalid(f"expected a whole number of new shares per old share ≥ 2, got {_show(v)} "
                   "(reverse and fractional splits are not supported)")


def _amount(v: object) -> float:
    f = _number(v)
    if f <= 0:
        raise _Invalid(f"must be positive, got {v!r}")
    return f


def _volume(v: object) -> int:
    if type(v) is int and v >= 0:
        return v
    raise _Invalid(f"expected a non-negative integer, got {_show(v)}")


_SYMBOL = re.compile(r"[A-Z0-9.\-]{1,10}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _symbol(v: object) -> str:
    if type(v) is str and _SYMBOL.fullmatch(v):
        return v
    raise _Invalid(f"expected 1-10 uppercase letters, digits, '.' or '-', got {_show(v)}")


def _name(v: object) -> str:
    if type(v) is str and v.strip() == v and v:
        return v
    raise _Invalid(f"expected a non-empty string without surrounding spaces, got {_show(v)}")


def _side(v: object) -> str:
    if v == "BUY" or v == "SELL":
        return v  # narrowed to str by the comparison
    raise _Invalid(f"expected \"BUY\" or \"SELL\", got {_show(v)}")


def _right(v: object) -> str:
    if v == "P" or v == "C":
        return v  # narrowed to str by the comparison
    raise _Invalid(f"expected \"P\" or \"C\", got {_show(v)}")


def _date(v: object) -> date:
    if type(v) is str and _DATE.fullmatch(v):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise _Invalid(f"expected a date YYYY-MM-DD, got {_show(v)}")


def _ts(v: object) -> datetime:
    if type(v) is not str:
        raise _Invalid(f"expected an ISO 8601 timestamp string, got {_show(v)}")
    try:
        ts = datetime.fromisoformat(v)
    except ValueError:
        raise _Invalid(f"expected an ISO 8601 timestamp with an offset, got {_show(v)}") from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise _Invalid(f"timestamp has no UTC offset (add e.g. -05:00 or Z), got {_show(v)}")
    return ts


_Check = Callable[[object], Any]
# per type: the dataclass and its fields in dataclass order: (name, check, required)
_OPTION_KEY: tuple[tuple[str, _Check, bool], ...] = (
    ("symbol", _symbol, True), ("expiry", _date, True), ("strike", _strike, True),
    ("right", _right, True))
_SPECS: dict[str, tuple[type, tuple[tuple[str, _Check, bool], ...]]] = {
    "bar": (Bar, (("symbol", _symbol, True), ("open", _traded_price, True),
                  ("high", _traded_price, True), ("low", _traded_price, True),
                  ("close", _traded_price, True), ("volume", _volume, True))),
    "price": (Price, (("symbol", _symbol, True), ("price", _traded_price, True))),
    "option_quote": (OptionQuote, (*_OPTION_KEY, ("bid", _price, True), ("ask", _price, True),
                                   ("delta", _delta, False), ("iv", _price, False))),
    "fill": (Fill, (("account", _name, True), ("symbol", _symbol, True), ("expiry", _date, False),
                    ("strike", _strike, False), ("right", _right, False), ("side", _side, True),
                    ("quantity", _positive_int, True), ("price", _traded_price, True),
                    ("commission", _price, False), ("order_id", _name, False))),
    "assignment": (Assignment, (("account", _name, True), *_OPTION_KEY,
                                ("quantity", _positive_int, True))),
    "expiration": (Expiration, (("account", _name, True), *_OPTION_KEY,
                                ("quantity", _positive_int, True))),
    "clock": (JobDue, (("name", _name, True),)),
    "order_rejected": (OrderRejected, (("account", _name, True), ("order_id", _name, True),
                                       ("reason", _name, True))),
    "order_cancelled": (OrderCancelled, (("account", _name, True), ("order_id", _name, True),
                                         ("reason", _name, True))),
    "split": (Split, (("symbol", _symbol, True), ("ratio", _split_ratio, True))),
    "dividend": (Dividend, (("symbol", _symbol, True), ("amount", _amount, True),
                            ("ex_date", _date, True))),
}
_VALID_TYPES = ", ".join(sorted(_SPECS))
_ALLOWED = {t: frozenset(("type", "ts", *(f[0] for f in fields))) for t, (_, fields) in _SPECS.items()}
_OPTION_FIELDS = ("expiry", "strike", "right")


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_event(obj: Mapping[str, object], *, line: int | None = None) -> Event:
    """Validate one decoded JSON object and build its event; EventError names line, field, value."""
    if not isinstance(obj, Mapping):
        raise EventError(f"expected a JSON object, got {_show(obj)}", line=line)
    kind = obj.get("type")
    spec = _SPECS.get(kind) if type(kind) is str else None
    if spec is None:
        if "type" not in obj:
            raise EventError(f"missing (one of: {_VALID_TYPES})", line=line, field="type")
        hint = _did_you_mean(kind, _SPECS) if type(kind) is str else ""
        raise EventError(f"unknown event type {_show(kind)}{hint}; valid types: {_VALID_TYPES}",
                         line=line, field="type")
    cls, fields = spec
    allowed = _ALLOWED[kind]  # type: ignore[index]  # kind is a str key of _SPECS here
    if not allowed.issuperset(obj):
        unknown = sorted(k for k in obj if k not in allowed)[0]
        raise EventError(f"unknown field for a {kind!r} event{_did_you_mean(unknown, allowed)}",
                         line=line, field=unknown)
    name = "ts"
    try:
        if "ts" not in obj:
            raise _Invalid(f"missing (required for a {kind!r} event)")
        args: list[Any] = [_ts(obj["ts"])]
        for name, check, required in fields:
            value = obj.get(name)
            if value is None and not required:  # absent or null: the field's default
                args.append(None)
            elif name not in obj:
                raise _Invalid(f"missing (required for a {kind!r} event)")
            else:
                args.append(check(value))
    except _Invalid as exc:
        raise EventError(str(exc), line=line, field=name) from None
    if cls is Fill:
        present = [f for f, v in zip(_OPTION_FIELDS, args[3:6], strict=True) if v is not None]
        if 0 < len(present) < 3:
            missing = next(f for f in _OPTION_FIELDS if f not in present)
            raise EventError("missing: an option fill needs expiry, strike and right together "
                             "(a stock fill has none of them)", line=line, field=missing)
        if args[9] is None:
            args[9] = 0.0
        if args[10] is None:
            args[10] = ""
    ev: Event = cls(*args)
    broken = _contradiction(ev)
    if broken is not None:
        raise EventError(broken[1], line=line, field=broken[0])
    return ev


def _contradiction(ev: Event) -> tuple[str, str] | None:
    """(field, message) for the first rule between ``ev``'s fields that it breaks, else None."""
    if isinstance(ev, Bar):
        if ev.high < ev.low:
            return "high", f"high {ev.high!r} is below low {ev.low!r}"
        for name, value in (("open", ev.open), ("close", ev.close)):
            if not ev.low <= value <= ev.high:
                return name, (f"{name} {value!r} is outside the bar's range "
                              f"[low {ev.low!r}, high {ev.high!r}]")
    elif isinstance(ev, Dividend):
        day = ev.ts.astimezone(NY).date()
        if day > ev.ex_date:
            return "ts", (f"dividend on {day} (New York) is after its ex-date {ev.ex_date}: the "
                          "holders are those of the ex-date's open, so it comes before")
    elif isinstance(ev, OptionQuote):
        if ev.bid > ev.ask:
            return "bid", f"bid {ev.bid!r} is above ask {ev.ask!r} (a crossed quote)"
    elif isinstance(ev, Fill | Assignment | Expiration) and ev.expiry is not None:
        day = ev.ts.astimezone(NY).date()
        late = (day - ev.expiry).days
        if isinstance(ev, Fill):
            if late > 0:
                return "ts", (f"option fill on {day} (New York) is after the contract's expiry "
                              f"{ev.expiry}: an expired option cannot trade")
        elif isinstance(ev, Expiration) and late < 0:
            return "ts", (f"expiration on {day} (New York) is before the contract's expiry "
                          f"{ev.expiry}: only an assignment can come early")
        elif late > SETTLEMENT_GRACE_DAYS:
            return "ts", (f"{ev.TYPE} on {day} (New York) is {late} days after the contract's "
                          f"expiry {ev.expiry}; brokers report it within {SETTLEMENT_GRACE_DAYS}")
    return None


def iter_events(lines: Iterable[str]) -> Iterator[tuple[int, Event]]:
    """(line number, event) for each non-blank line, numbered from 1."""
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EventError(f"invalid JSON: {exc.msg} (column {exc.colno})", line=n) from None
        yield n, parse_event(obj, line=n)


def parse_events(lines: Iterable[str]) -> list[Event]:
    """Parse JSON Lines text (blank lines skipped); the first bad line raises EventError."""
    return [ev for _, ev in iter_events(lines)]


def event_to_dict(ev: Event) -> dict[str, object]:
    """The JSON object for an event; parse_event(event_to_dict(ev)) == ev.

    Optional fields that are absent (None, or a zero commission) are left out; dates are
    YYYY-MM-DD and timestamps ``datetime.isoformat()`` (so ``Z`` comes back as ``+00:00``).
    """
    out: dict[str, object] = {"type": ev.TYPE, "ts": ev.ts.isoformat()}
    for name, _, required in _SPECS[ev.TYPE][1]:
        value = getattr(ev, name)
        if not required and (value is None or (name == "commission" and value == 0)
                             or (name == "order_id" and value == "")):
            continue
        out[name] = value.isoformat() if isinstance(value, date) else value
    return out
