"""The two clocks of the `Clock` port: `FixedClock` (replay, simulated node, tests) and
`LiveClock` (a node trading now). The engine reads neither: time reaches it in events."""

from __future__ import annotations

import datetime as dt


class FixedClock:
    """A clock that moves only when told, and never backwards."""

    __slots__ = ("_now",)

    def __init__(self, now: dt.datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("FixedClock needs a tz-aware time")
        self._now = now

    def now(self) -> dt.datetime:
        return self._now

    def advance_to(self, now: dt.datetime) -> None:
        if now < self._now:
            raise ValueError(f"time cannot go back: {now.isoformat()} < {self._now.isoformat()}")
        self._now = now


class LiveClock:
    """The machine's clock, in UTC."""

    __slots__ = ()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)
