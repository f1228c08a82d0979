"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has neither an exact decimal nor a time-zone-aware timestamp, so the two types here
change their storage per dialect and keep the Python side identical:

- `Money(scale)`: `NUMERIC(18, scale)` on PostgreSQL; a 64-bit integer of 10**-scale units
  on SQLite (18 digits fit), so amounts round-trip exactly instead of through a float.
  A value with more decimals than the scale is refused, never rounded.
- `UtcDateTime`: `TIMESTAMP WITH TIME ZONE` on PostgreSQL; a naive UTC text timestamp on
  SQLite. Naive datetimes are refused on the way in; values come back aware, in UTC.

Migrations import these types, so their storage must never change without a migration.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

PRECISION = 18


def to_decimal(value: object, scale: int) -> Decimal:
    """`value` as an exact Decimal with at most `scale` decimals; ValueError says why not."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an amount")
    if isinstance(value, float):
        # repr() is the shortest text that round-trips the float: 0.1 -> "0.1", not 0.1000000000000000055…
        value = repr(value)
    try:
        amount = Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if amount and amount.adjusted() >= PRECISION - scale:
        raise ValueError(f"{amount} is too large for NUMERIC({PRECISION},{scale})")
    exact = amount.quantize(Decimal(1).scaleb(-scale))
    if exact != amount:
        raise ValueError(f"{amount} has more than {scale} decimals (refused rather than rounded)")
    return exact


def to_utc(value: object) -> dt.datetime:
    """`value` as an aware UTC datetime; ValueError for naive datetimes and non-datetimes."""
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{value!r} is not a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()} is a naive datetime (a time zone is required)")
    return value.astimezone(dt.UTC)


class Money(TypeDecorator[Decimal]):
    """An exact amount with `scale` decimals (see the module docstring)."""

    impl = Numeric
    cache_ok = True

    def __init__(self, scale: int = 2) -> None:
        super().__init__(PRECISION, scale, asdecimal=True)
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(PRECISION, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_decimal(value, self.scale)
        if dialect.name == "sqlite":
            return int(amount.scaleb(self.scale))
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value).quantize(Decimal(1).scaleb(-self.scale))

    def __repr__(self) -> str:
        return f"Money(scale={self.scale})"


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An instant, stored in UTC, returned aware (see the module docstring)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        utc = to_utc(value)
        # SQLite's DATETIME drops the offset: store the UTC wall time so text order is time order.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
        return value.astimezone(dt.UTC)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return "UtcDateTime()"
