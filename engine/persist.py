"""A safe, deterministic codec for saved state (engine snapshots, simulated brokers).

JSON underneath, with tags for what JSON lacks (Decimal, dates, tuples, sets, deques, dicts with
non-string keys, objects). Objects are rebuilt only from an explicit allow-list of classes
(`Codec(classes)`): loading a snapshot can never run code or build a type it was not told about,
unlike pickle. Dataclass fields, ``__slots__`` or ``__dict__`` are saved; a class may name the
attributes it saves in ``__persist__`` (derived or transient attributes are left out).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import defaultdict, deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from alluse.engine.errors import DataError


def _attrs(cls: type) -> tuple[str, ...]:
    declared = getattr(cls, "__persist__", None)
    if declared is not None:
        return tuple(declared)
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    slots: list[str] = []
    for klass in reversed(cls.__mro__):
        for name in getattr(klass, "__slots__", ()):
            if name not in ("__weakref__", "__dict__") and name not in slots:
                slots.append(name)
    return tuple(slots)


def _defaults(obj: Any, cls: type, saved: dict[str, Any]) -> None:
    """A dataclass field added since the state was saved takes its default (an older snapshot
    of an engine without deferred entries, say, restores with none)."""
    if not dataclasses.is_dataclass(cls):
        return
    for f in dataclasses.fields(cls):
        if f.name in saved:
            continue
        if f.default is not dataclasses.MISSING:
            object.__setattr__(obj, f.name, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            object.__setattr__(obj, f.name, f.default_factory())


class Codec:
    """Encodes and decodes object graphs (trees: shared references are not preserved)."""

    def __init__(self, classes: Iterable[type]) -> None:
        self._by_name: dict[str, type] = {}
        self._fields: dict[type, tuple[str, ...]] = {}
        for cls in classes:
            self.register(cls)

    def register(self, cls: type) -> None:
        name = f"{cls.__module__}.{cls.__qualname__}"
        self._by_name[name] = cls
        self._fields[cls] = _attrs(cls)

    def dumps(self, obj: object) -> bytes:
        return json.dumps(self._enc(obj), separators=(",", ":"), allow_nan=True).encode()

    def loads(self, data: bytes) -> Any:
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"saved state is not readable: {exc}") from None
        return self._dec(raw)

    # encoding --------------------------------------------------------------------------------
    def _enc(self, v: Any) -> Any:
        if v is None or isinstance(v, bool | int | str):
            return v
        if isinstance(v, float):
            return v
        if isinstance(v, Decimal):
            return {"$d": str(v)}
        if isinstance(v, dt.datetime):
            tz = v.tzinfo
            key = tz.key if isinstance(tz, ZoneInfo) else None
            return {"$dt": v.isoformat(), "tz": key}
        if isinstance(v, dt.date):
            return {"$date": v.isoformat()}
        if isinstance(v, dt.time):
            return {"$time": v.isoformat()}
        if isinstance(v, list):
            return [self._enc(x) for x in v]
        if isinstance(v, tuple) and type(v) is tuple:
            return {"$t": [self._enc(x) for x in v]}
        if isinstance(v, set | frozenset):
            items = sorted((self._enc(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
            return {"$set": items, "frozen": isinstance(v, frozenset)}
        if isinstance(v, deque):
            return {"$dq": [self._enc(x) for x in v], "max": v.maxlen}
        if isinstance(v, defaultdict):
            factory = v.default_factory
            if factory not in (list, dict, int):
                raise TypeError(f"cannot save a defaultdict of {factory!r}")
            return {"$dd": factory.__name__,
                    "items": [[self._enc(k), self._enc(x)] for k, x in v.items()]}
        if isinstance(v, dict):
            return {"$m": [[self._enc(k), self._enc(x)] for k, x in v.items()]}
        cls = type(v)
        fields = self._fields.get(cls)
        if fields is None:
            raise TypeError(f"cannot save a {cls.__module__}.{cls.__qualname__}: not registered")
        return {"$o": f"{cls.__module__}.{cls.__qualname__}",
                "v": {f: self._enc(getattr(v, f)) for f in fields if hasattr(v, f)}}

    # decoding --------------------------------------------------------------------------------
    def _dec(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self._dec(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "$d" in v:
            return Decimal(v["$d"])
        if "$dt" in v:
            ts = dt.datetime.fromisoformat(v["$dt"])
            return ts.astimezone(ZoneInfo(v["tz"])) if v.get("tz") else ts
        if "$date" in v:
            return dt.date.fromisoformat(v["$date"])
        if "$time" in v:
            return dt.time.fromisoformat(v["$time"])
        if "$t" in v:
            return tuple(self._dec(x) for x in v["$t"])
        if "$set" in v:
            items = [self._dec(x) for x in v["$set"]]
            return frozenset(items) if v.get("frozen") else set(items)
        if "$dq" in v:
            return deque((self._dec(x) for x in v["$dq"]), maxlen=v.get("max"))
        if "$dd" in v:
            factory = {"list": list, "dict": dict, "int": int}[v["$dd"]]
            out: defaultdict[Any, Any] = defaultdict(factory)
            for k, x in v["items"]:
                out[self._dec(k)] = self._dec(x)
            return out
        if "$m" in v:
            return {self._dec(k): self._dec(x) for k, x in v["$m"]}
        if "$o" in v:
            cls = self._by_name.get(v["$o"])
            if cls is None:
                raise DataError(f"saved state names a class this alluse does not restore: {v['$o']}")
            obj: Any = object.__new__(cls)
            for name, value in v["v"].items():
                if name not in self._fields[cls]:
                    raise DataError(f"saved state has an unknown field {v['$o']}.{name}")
                object.__setattr__(obj, name, self._dec(value))
            _defaults(obj, cls, v["v"])
            return obj
        raise DataError(f"saved state has an unknown tag: {sorted(v)[:3]}")
