"""Every key of the default policy set is live: changing it changes a decision, or the output of
the component that consumes it, or the loader refuses the change by design.

The meta-test walks every leaf of every file under policies/ (strategies included), plus every
entry of a named map or a list of mappings (an account type, an alert type, a job, a week mode, a
protocol level, a rule, a script step) as a whole. From each key's JSON Schema it derives
mutations (numbers: other values inside the model's bounds; booleans: flipped; enums: the other
values; lists: an element dropped, added or replaced; expressions negated or scaled; templates and
texts edited; names of account types, alert types, jobs and strategies: another declared one;
whole entries: removed), loads each mutated set and runs the key's fixtures: short event streams
built with `alluse.engine.testing` (`ROUTES`), or the output of the component that consumes the key
(`CONSUMERS`). A key is

- ``engine``: a mutation changed a decision of one of its fixtures;
- ``component``: a mutation changed the output of its consumer (`alluse policy summary`,
  `alluse policy rules`, the scheduler, `alluse explain`'s capital, a one-day replay);
- ``guarded``: every mutation was refused by the loader (a constant such as ``version``, a
  cross-file invariant such as the split summing to 100) — the refusal is the evidence;
- ``pending``: consumed by the node or the IB adapter, not built yet (`CONSUMERS`, ``PENDING``);
- ``inert``: a mutation loaded and changed nothing. The meta-test fails on any inert key.

Decisions are compared without the policy hash and with script ids numbered by appearance (both
derive from the policy hash, which every mutation changes). Each fixture's baseline is computed
once; a key stops at its first mutation that changes something.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import fnmatch
import io
import json
import math
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.adapters.scheduler import CronSchedule
from alluse.adapters.sim.broker import SimBroker
from alluse.adapters.sim.market import SimConfig, SimMarket
from alluse.cli.explain_cmd import load_inputs
from alluse.cli.summary import print_policy_summary
from alluse.engine import learning
from alluse.engine.calendar import NY, nyse_calendar
from alluse.engine.core import Engine
from alluse.engine.decisions import Decision
from alluse.engine.errors import DataError, PolicyLoadError
from alluse.engine.events import (
    Assignment,
    Bar,
    Event,
    Expiration,
    Fill,
    JobDue,
    OptionContract,
    OptionQuote,
    Price,
)
from alluse.engine.indicators import WilderATR
from alluse.engine.policy import PolicySet, load_policy_set
from alluse.engine.policy.models import POLICY_FILES, STRIKE_PARAMETERS, StrategyPolicy
from alluse.engine.policy.yamlsource import parse_yaml
from alluse.engine.pricing import bs_greeks
from alluse.engine.testing import capture_decisions
from alluse.runtime.replay import Replay, ReplayParams

Path_ = tuple[str | int, ...]
DELETE = object()  # an edit that removes the key
CAL = nyse_calendar()
FILES = read_policy_files(Path(str(default_policy_dir())))
DATA: dict[str, Any] = {}
for _name, _text in FILES.items():
    _doc, _found = parse_yaml(_name, _text)
    assert _doc is not None and not _found
    DATA[_name] = json.loads(json.dumps(_doc.data))  # plain dicts, lists and scalars
DEFAULT = load_policy_set(FILES)
SCHEMAS = {f: (StrategyPolicy if f.startswith("strategies/") else POLICY_FILES[f])
           .model_json_schema(by_alias=True) for f in DATA}


# =================================================================================== fixtures
# Short event streams, each built once. Prices, ATRs and chains are synthetic but consistent:
# every chain is priced with Black-Scholes so that premiums, deltas and strikes agree.

def at(day: str, hhmm: str) -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(h, m), tzinfo=NY)


def history(symbol: str, base: float, end: str, *, n: int = 40) -> list[Bar]:
    """``n`` weekday bars before ``end`` wobbling around ``base`` (RSI and MACD have something to
    measure), the last close at ``base``; the true range is about 4 % of the price."""
    days: list[dt.date] = []
    d = dt.date.fromisoformat(end) - dt.timedelta(days=1)
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d -= dt.timedelta(days=1)
    days.reverse()
    out = []
    for i, day in enumerate(days):
        k = n - 1 - i
        c = base * (1 + 0.03 * math.sin(k * 1.3) * (1 if k else 0) + 0.002 * k)
        out.append(Bar(dt.datetime.combine(day, dt.time(16), tzinfo=NY), symbol, c,
                       c * 1.02, c * 0.98, c, 1_000_000))
    return out


def atr_of(bars: list[Bar]) -> float:
    atr = WilderATR(14)
    for b in bars:
        atr.update(b.high, b.low, b.close)
    assert atr.value is not None
    return atr.value


def chain(ts: dt.datetime, symbol: str, price: float, expiry: str, right: str,
          strikes: range | list[float], iv: float) -> list[OptionQuote]:
    exp = dt.date.fromisoformat(expiry)
    close = dt.datetime.combine(exp, CAL.close_time(exp) or dt.time(16), tzinfo=NY)
    t = max((close - ts).total_seconds() / 3600, 0.5) / (365 * 24)
    out = []
    for k in strikes:
        g = bs_greeks(right, price, float(k), t, 0.04, iv)  # type: ignore[arg-type]
        mid = max(g.price, 0.0)
        out.append(OptionQuote(ts, symbol, exp, float(k), right, round(max(mid * 0.98 - 0.01, 0), 2),  # type: ignore[arg-type]
                               round(mid * 1.02 + 0.01, 2), round(g.delta, 4), iv))
    return out


def sell(ts: dt.datetime, account: str, symbol: str, expiry: str, strike: float, price: float,
         right: str = "P", quantity: int = 1) -> Fill:
    return Fill(ts, account, symbol, dt.date.fromisoformat(expiry), float(strike), right,  # type: ignore[arg-type]
                "SELL", quantity, price)


def buy(ts: dt.datetime, account: str, symbol: str, expiry: str, strike: float, price: float,
        right: str = "P", quantity: int = 1) -> Fill:
    return Fill(ts, account, symbol, dt.date.fromisoformat(expiry), float(strike), right,  # type: ignore[arg-type]
                "BUY", quantity, price)


def stock(ts: dt.datetime, account: str, symbol: str, side: str, shares: int, price: float) -> Fill:
    return Fill(ts, account, symbol, None, None, None, side, shares, price)  # type: ignore[arg-type]


def settle(kind: type[Assignment] | type[Expiration], account: str, symbol: str, expiry: str,
           strike: float, right: str = "P", quantity: int = 1) -> Event:
    day = dt.date.fromisoformat(expiry)
    return kind(dt.datetime.combine(day, dt.time(16), tzinfo=NY), account, symbol, day,
                float(strike), right, quantity)  # type: ignore[arg-type]


def job(ts: dt.datetime, name: str) -> JobDue:
    return JobDue(ts, name)


PRICES = {"TSLA": 250.0, "NVDA": 180.0, "AAPL": 230.0, "MSFT": 450.0, "AMZN": 200.0,
          "GOOGL": 170.0}


@dataclasses.dataclass(frozen=True)
class Fixture:
    events: tuple[Event, ...]
    capital: float


@cache
def fx_entry() -> Fixture:
    """Thursday 2026-06-18 (Juneteenth Friday: the week's expiry is today, 0 DTE; next week's is
    8 DTE). GEN-ACC proposes TSLA and fails NVDA's floor (HITL alert); REV-ACC proposes AAPL and
    fails MSFT's floor; GOOGL only lists today's expiry; the 10:05 fills make the 10:30 scan meet
    max_open_per_symbol."""
    day = "2026-06-18"
    ivs = {"TSLA": 1.6, "NVDA": 0.6, "AAPL": 0.7, "MSFT": 0.25, "AMZN": 0.45, "GOOGL": 0.45}
    ev: list[Event] = []
    for s, p in PRICES.items():
        ev += history(s, p, day)
    ev += [Price(at(day, "09:30"), s, p) for s, p in PRICES.items()]
    t = at(day, "10:00")
    for s, p in PRICES.items():
        strikes = range(int(p * 0.8) // 5 * 5, int(p * 1.1), 5)
        ev += chain(t, s, p, day, "P", strikes, ivs[s])
        if s != "GOOGL":
            ev += chain(t, s, p, "2026-06-26", "P", strikes, ivs[s])
    ev.append(job(t, "entry_scan"))
    t2 = at(day, "10:05")
    ev += [sell(t2, "GEN-ACC-001", "TSLA", day, 250, 4.0),
           sell(t2, "REV-ACC-001", "AAPL", "2026-06-26", 220, 2.6),
           sell(t2, "COM-ACC-001", "AAPL", "2026-06-26", 215, 1.6)]
    ev.append(job(at(day, "10:30"), "entry_scan"))
    return Fixture(tuple(ev), 100_000)


@cache
def fx_calls() -> Fixture:
    """Puts assigned on Friday 2026-11-13 above today's prices (the basis is above the strike each
    covered-call method would pick); on Thursday 11-19 the 10:00 scan sees tomorrow's calls, the
    10:30 scan next week's too."""
    ev: list[Event] = []
    held = {"GEN-ACC-001": ("TSLA", 265.0), "REV-ACC-001": ("AAPL", 250.0),
            "COM-ACC-001": ("MSFT", 470.0)}
    syms = ("TSLA", "AAPL", "MSFT")
    for s in syms:
        ev += history(s, PRICES[s], "2026-11-09")
    for acc, (s, k) in held.items():
        ev.append(sell(at("2026-11-09", "10:00"), acc, s, "2026-11-13", k, 3.0))
    for acc, (s, k) in held.items():
        ev.append(settle(Assignment, acc, s, "2026-11-13", k))
    day = "2026-11-19"
    ev += [Price(at(day, "09:30"), s, PRICES[s]) for s in syms]
    ivs = {"TSLA": 0.9, "AAPL": 0.6, "MSFT": 0.3}
    for hhmm, expiry in (("09:45", "2026-11-20"), ("10:15", "2026-11-27")):
        for s in syms:
            p = PRICES[s]
            ev += chain(at(day, hhmm), s, p, expiry, "C", range(int(p) // 5 * 5, int(p * 1.15), 5),
                        ivs[s])
        ev.append(job(at(day, "10:00" if hhmm == "09:45" else "10:30"), "entry_scan"))
    return Fixture(tuple(ev), 100_000)


@cache
def fx_protocol() -> Fixture:
    """2026-11-19, 1M: GEN-ACC's TSLA put reaches L1, REV-ACC's AAPL put L2 and COM-ACC's MSFT
    put L3; the entry scan then sizes GEN's NVDA normally, REV's AMZN at the L2 size factor and
    blocks COM's; AAPL comes back and steps down."""
    day = "2026-11-19"
    ev: list[Event] = []
    atr: dict[str, float] = {}
    for s in ("TSLA", "AAPL", "MSFT", "NVDA", "AMZN"):
        bars = history(s, PRICES[s], day)
        atr[s] = atr_of(bars)
        ev += bars
    ev += [Price(at(day, "09:30"), s, PRICES[s]) for s in ("TSLA", "AAPL", "MSFT", "NVDA", "AMZN")]
    t = at(day, "09:35")
    ev += [sell(t, "GEN-ACC-001", "TSLA", "2026-11-20", 245, 4.0),
           sell(t, "REV-ACC-001", "AAPL", "2026-11-27", 225, 3.0),
           sell(t, "COM-ACC-001", "MSFT", "2026-11-27", 440, 5.0)]
    ev += chain(at(day, "09:36"), "AAPL", 230.0, "2026-11-27", "P", [225], 0.4)
    ev += chain(at(day, "09:36"), "MSFT", 450.0, "2026-11-27", "P", [440], 0.3)
    ev += [Price(at(day, "09:40"), "TSLA", 250 - 1.1 * atr["TSLA"]),
           Price(at(day, "09:41"), "AAPL", 230 - 2.1 * atr["AAPL"]),
           Price(at(day, "09:42"), "MSFT", 450 - 3.1 * atr["MSFT"])]
    t = at(day, "10:00")
    ev += chain(t, "NVDA", 180.0, "2026-11-20", "P", range(160, 200, 5), 1.2)
    ev += chain(t, "AMZN", 200.0, "2026-11-27", "P", range(170, 215, 5), 0.55)
    ev.append(job(t, "entry_scan"))
    ev.append(Price(at(day, "10:10"), "AAPL", 230 - 1.4 * atr["AAPL"]))
    return Fixture(tuple(ev), 1_000_000)


@cache
def fx_covered() -> Fixture:
    """COM-ACC-001 assigned 100 AAPL, writes a covered call, then AAPL falls 1.1, 2.1 and 3.1 ATR:
    the wheel position (stock + call) reaches L3 and its covered_script runs."""
    ev: list[Event] = [*history("AAPL", 230.0, "2026-11-16")]
    ev.append(sell(at("2026-11-16", "10:00"), "COM-ACC-001", "AAPL", "2026-11-20", 230.0, 3.0))
    ev.append(settle(Assignment, "COM-ACC-001", "AAPL", "2026-11-20", 230.0))
    day = "2026-11-23"
    ev.append(Price(at(day, "09:30"), "AAPL", 230.0))
    ev.append(Fill(at(day, "10:00"), "COM-ACC-001", "AAPL", dt.date(2026, 11, 27), 235.0, "C",
                   "SELL", 1, 2.0))
    atr = atr_of(history("AAPL", 230.0, "2026-11-16"))
    ev += [Price(at(day, f"{11 + i}:00"), "AAPL", 230.0 - m * atr)
           for i, m in enumerate((1.1, 2.1, 3.1))]
    return Fixture(tuple(ev), 100_000)


@cache
def fx_breakers() -> Fixture:
    """Tuesday 2026-11-17: GEN-ACC closes three puts at a loss, REV-ACC's stock falls 8 % in the
    day, COM-ACC has two puts at L1; Wednesday's first protocol check resumes the accounts. A
    put filled before its symbol has a price is not monitored (SYSTEM_STATUS)."""
    day, nxt = "2026-11-17", "2026-11-18"
    ev: list[Event] = []
    atr: dict[str, float] = {}
    for s in ("TSLA", "AAPL", "MSFT"):
        bars = history(s, PRICES[s], day)
        atr[s] = atr_of(bars)
        ev += bars
    ev += [Price(at(day, "09:30"), s, PRICES[s]) for s in ("TSLA", "AAPL", "MSFT")]
    ev.append(job(at(day, "09:30"), "protocol_check"))
    ev.append(sell(at(day, "09:31"), "GEN-ACC-001", "IBM", "2026-11-20", 250, 2.0))
    for i, k in enumerate((240, 235, 230)):
        ev.append(sell(at(day, f"09:3{2 + 2 * i}"), "GEN-ACC-001", "TSLA", "2026-11-20", k, 2.0))
        ev.append(buy(at(day, f"09:3{3 + 2 * i}"), "GEN-ACC-001", "TSLA", "2026-11-20", k, 3.0))
    ev.append(stock(at(day, "09:40"), "REV-ACC-001", "AAPL", "BUY", 100, 230.0))
    ev += [sell(at(day, "09:41"), "COM-ACC-001", "MSFT", "2026-11-20", 430, 1.0),
           sell(at(day, "09:41"), "COM-ACC-001", "MSFT", "2026-11-20", 425, 1.0)]
    ev.append(Price(at(day, "10:00"), "AAPL", 230 * 0.92))
    ev.append(Price(at(day, "10:01"), "MSFT", 450 - 1.2 * atr["MSFT"]))
    ev.append(job(at(day, "10:15"), "protocol_check"))
    ev.append(job(at(nxt, "09:30"), "protocol_check"))
    return Fixture(tuple(ev), 100_000)


@cache
def fx_alerts() -> Fixture:
    """2026-11-19, 10M: five TSLA puts reach L1 at 10:00 (the hour's throttle is full), a sixth
    at 10:45; six NVDA puts jump to L3 at 12:00 (CRITICAL, past the throttle); REV-ACC's AAPL put
    reaches L1 after the close."""
    day = "2026-11-19"
    ev: list[Event] = []
    atr: dict[str, float] = {}
    for s in ("TSLA", "NVDA", "AAPL"):
        bars = history(s, PRICES[s], day)
        atr[s] = atr_of(bars)
        ev += bars
    a = atr["TSLA"]
    ev += [Price(at(day, "09:30"), s, PRICES[s]) for s in ("TSLA", "NVDA", "AAPL")]
    ev += [sell(at(day, "09:31"), "GEN-ACC-001", "TSLA", "2026-11-27", 200 + i, 1.0)
           for i in range(5)]
    ev += [sell(at(day, "09:32"), "GEN-ACC-001", "NVDA", "2026-11-27", 150 + i, 1.0)
           for i in range(6)]
    ev.append(sell(at(day, "09:33"), "REV-ACC-001", "AAPL", "2026-11-27", 210, 1.0))
    ev.append(Price(at(day, "10:00"), "TSLA", 250 - 1.1 * a))
    ev.append(Price(at(day, "10:20"), "TSLA", 250 - 0.8 * a))
    ev.append(sell(at(day, "10:21"), "GEN-ACC-001", "TSLA", "2026-11-27", 190, 1.0))
    ev.append(Price(at(day, "10:45"), "TSLA", 250 - 1.95 * a))
    ev.append(Price(at(day, "12:00"), "NVDA", 180 - 3.1 * atr["NVDA"]))
    ev.append(Price(at(day, "17:00"), "AAPL", 230 - 1.1 * atr["AAPL"]))
    return Fixture(tuple(ev), 10_000_000)


@cache
def fx_lifecycle() -> Fixture:
    """10M. GEN-ACC realizes 50K long-term (stock held since 2025) and 30K short-term, keeps an
    open put in profit; REV-ACC realizes 800K; COM-ACC 4K. Every job runs once on Tuesday
    2026-06-30: GEN-ACC and REV-ACC fork at 10:05, REV-ACC's forked unit (504K) merges; REV-ACC
    then realizes 3K more. The quarterly cycle runs on 07-01, the weekly on 07-04."""
    ev: list[Event] = [stock(at("2025-03-03", "10:00"), "GEN-ACC-001", "TSLA", "BUY", 10_000,
                             200.0)]
    d = "2026-06-22"
    ev += [Price(at(d, "09:30"), "TSLA", 205.0), Price(at(d, "09:30"), "AAPL", 230.0),
           Price(at(d, "09:30"), "MSFT", 450.0)]
    ev += [stock(at(d, "10:00"), "GEN-ACC-001", "TSLA", "SELL", 10_000, 205.0),
           sell(at(d, "10:01"), "GEN-ACC-001", "TSLA", "2026-06-26", 180, 3.0, quantity=100),
           sell(at(d, "10:01"), "REV-ACC-001", "AAPL", "2026-06-26", 200, 8.0, quantity=1000),
           sell(at(d, "10:01"), "COM-ACC-001", "MSFT", "2026-06-26", 400, 4.0, quantity=10)]
    ev += [settle(Expiration, "COM-ACC-001", "MSFT", "2026-06-26", 400, quantity=10),
           settle(Expiration, "GEN-ACC-001", "TSLA", "2026-06-26", 180, quantity=100),
           settle(Expiration, "REV-ACC-001", "AAPL", "2026-06-26", 200, quantity=1000)]
    d = "2026-06-29"
    ev.append(sell(at(d, "10:00"), "GEN-ACC-001", "TSLA", "2026-07-02", 190, 2.0, quantity=10))
    d = "2026-06-30"
    ev += chain(at(d, "08:00"), "TSLA", 205.0, "2026-07-02", "P", [190], 0.2)
    for hhmm, name in (("09:00", "pre_market_indicators"), ("09:35", "chain_open"),
                       ("10:00", "premium_sample"), ("10:00", "protocol_check"),
                       ("10:05", "fork_check")):
        ev.append(job(at(d, hhmm), name))
    ev += [sell(at(d, "10:30"), "REV-ACC-001", "MSFT", "2026-07-02", 400, 5.0, quantity=10),
           buy(at(d, "11:00"), "REV-ACC-001", "MSFT", "2026-07-02", 400, 2.0, quantity=10)]
    ev += [job(at(d, "15:55"), "chain_close"), job(at(d, "16:30"), "daily_collection"),
           job(at("2026-07-01", "10:00"), "quarterly_cycle"),
           job(at("2026-07-02", "10:00"), "entry_scan"),
           job(at("2026-07-04", "10:00"), "weekly_cycle")]
    return Fixture(tuple(ev), 10_000_000)


@cache
def fx_weeks() -> Fixture:
    """Two weekly cycles: TSLA ends the second week up 5 %, AAPL down 5 %, MSFT flat; GEN-ACC's
    positions that week end each of the eight ways the week types name."""
    ev: list[Event] = []
    for s in ("TSLA", "AAPL", "MSFT"):
        ev += history(s, PRICES[s], "2026-11-09")
    ev += history("VIX", 18.0, "2026-11-09")
    ev.append(job(at("2026-11-07", "10:00"), "weekly_cycle"))
    ev.append(job(at("2026-11-09", "08:00"), "week_prediction"))  # Monday, before the open
    moves = {"TSLA": 1.05, "AAPL": 0.95, "MSFT": 1.0}
    acc = "GEN-ACC-001"
    m, tu, we = "2026-11-09", "2026-11-10", "2026-11-11"
    fri = "2026-11-13"
    ev += [stock(at(m, "09:45"), acc, "NVDA", "BUY", 100, 180.0),
           stock(at(m, "09:45"), acc, "AMZN", "BUY", 100, 200.0),
           stock(at(m, "09:45"), acc, "GOOGL", "BUY", 100, 170.0),
           stock(at(m, "09:45"), acc, "MSFT", "BUY", 100, 450.0)]
    ev += [sell(at(m, "10:00"), acc, "TSLA", fri, 230, 2.0),          # P-EW
           sell(at(m, "10:00"), acc, "TSLA", fri, 260, 3.0),          # P-A
           sell(at(m, "10:00"), acc, "AAPL", "2026-11-20", 220, 2.0),  # P-C
           sell(at(m, "10:00"), acc, "AAPL", "2026-11-20", 215, 2.0),  # P-R
           sell(at(m, "10:00"), acc, "NVDA", fri, 200, 1.0, "C"),     # C-EW
           sell(at(m, "10:00"), acc, "AMZN", "2026-11-20", 220, 1.0, "C"),   # C-C
           sell(at(m, "10:00"), acc, "GOOGL", "2026-11-20", 190, 1.0, "C"),  # C-R
           sell(at(m, "10:00"), acc, "MSFT", fri, 440, 12.0, "C")]   # C-CA
    ev += [buy(at(tu, "10:00"), acc, "AAPL", "2026-11-20", 220, 1.0),
           buy(at(tu, "10:30"), acc, "AAPL", "2026-11-20", 215, 1.0),
           sell(at(tu, "10:30"), acc, "AAPL", "2026-11-27", 210, 2.0),
           buy(at(we, "10:00"), acc, "AMZN", "2026-11-20", 220, 0.5, "C"),
           buy(at(we, "10:30"), acc, "GOOGL", "2026-11-20", 190, 0.5, "C"),
           sell(at(we, "10:30"), acc, "GOOGL", "2026-11-27", 195, 1.0, "C")]
    ev += [settle(Expiration, acc, "TSLA", fri, 230), settle(Assignment, acc, "TSLA", fri, 260),
           settle(Expiration, acc, "NVDA", fri, 200, "C"),
           settle(Assignment, acc, "MSFT", fri, 440, "C")]
    for i, day in enumerate(("2026-11-09", "2026-11-10", "2026-11-11", "2026-11-12", fri)):
        for s, f in moves.items():
            c = PRICES[s] * (1 + (f - 1) * (i + 1) / 5)
            ev.append(Bar(at(day, "16:00"), s, c, c * 1.01, c * 0.99, c, 1_000_000))
    ev.append(job(at("2026-11-14", "10:00"), "weekly_cycle"))
    return Fixture(tuple(sorted(ev, key=lambda e: e.ts)), 100_000)


@cache
def fx_holidays() -> Fixture:
    """Thanksgiving Thursday 2026-11-26 (closed) and the next day (early close at 13:00); then
    Christmas Eve, Thursday 2026-12-24 (early close)."""
    ev: list[Event] = []
    syms = ("TSLA", "AAPL", "MSFT")
    ivs = {"TSLA": 1.6, "AAPL": 0.5, "MSFT": 0.35}
    for s in syms:
        ev += history(s, PRICES[s], "2026-11-26")
    ev.append(job(at("2026-11-26", "10:00"), "entry_scan"))
    for day, expiries in (("2026-11-27", ("2026-11-27", "2026-12-04")),
                          ("2026-12-24", ("2026-12-24", "2026-12-31"))):
        ev += [Price(at(day, "09:30"), s, PRICES[s]) for s in syms]
        for s in syms:
            for e in expiries:
                ev += chain(at(day, "09:59"), s, PRICES[s], e, "P",
                            range(int(PRICES[s] * 0.8) // 5 * 5, int(PRICES[s] * 1.05), 5), ivs[s])
        # in (time, name) order, as the scheduler gives them; the entry job runs on Thursdays
        ev += [job(at(day, "10:00"), name) for name in ("entry_scan", "premium_sample",
                                                         "protocol_check")
               if name != "entry_scan" or day == "2026-12-24"]
    return Fixture(tuple(ev), 100_000)


ENGINE_FIXTURES: dict[str, Callable[[], Fixture]] = {
    "entry": fx_entry, "calls": fx_calls, "protocol": fx_protocol, "breakers": fx_breakers,
    "covered": fx_covered,
    "alerts": fx_alerts, "lifecycle": fx_lifecycle, "weeks": fx_weeks, "holidays": fx_holidays,
}


def normalized(decisions: list[Decision]) -> str:
    """The decisions as JSON without the policy hash, script ids numbered by appearance."""
    text = json.dumps([{k: v for k, v in d.to_dict().items() if k != "policy_hash"}
                       for d in decisions], sort_keys=True, ensure_ascii=False)
    ids = sorted({s.id for d in decisions for s in d.scripts}, key=text.index)
    for n, sid in enumerate(ids):
        text = text.replace(sid, f"script-{n}")
    return text


def run_fixture(name: str, ps: PolicySet) -> str:
    fx = ENGINE_FIXTURES[name]()
    return normalized(capture_decisions(ps, fx.events, capital=fx.capital, calendar=CAL))


# ================================================================================ components
# What consumes a key outside the engine, run for real on the mutated set.

def summary_output(ps: PolicySet) -> str:
    out = io.StringIO()
    print_policy_summary(ps, Path("policies"), Console(file=out, width=250, color_system=None))
    return out.getvalue()


def rules_output(ps: PolicySet) -> str:
    """What `alluse policy rules --format json` lists (ids, places, expressions, descriptions)."""
    return json.dumps([r.as_dict() for r in ps.rules.values()], ensure_ascii=False)


def scheduler_output(ps: PolicySet) -> str:
    """The scheduler's fire times for a week that holds a quarter's first day."""
    sched = CronSchedule(ps.schedule, CAL)
    return repr(sched.due(at("2026-06-29", "00:00"), at("2026-07-06", "00:00")))


def capital_output(ps: PolicySet, files: dict[str, bytes]) -> str:
    """`alluse explain`'s capital: the policy default, and what --capital it refuses."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name, text in files.items():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            (base / name).write_bytes(text)
        events = base / "events.jsonl"
        events.write_text('{"type":"clock","ts":"2026-11-19T10:00:00-05:00","name":"entry_scan"}\n')
        for capital in (None, 15_000.0, 15_000_000.0):
            said = io.StringIO()
            try:
                with contextlib.redirect_stderr(said):
                    out.append(repr(load_inputs(events, base, capital)[2]))
            except typer.Exit as exc:
                out.append(f"exit {exc.exit_code}: {said.getvalue().strip()}")
    return " ".join(out)


def dividend_output(ps: PolicySet) -> str:
    """The simulated broker the replay builds from the set (its switches), at the close before an
    ex-date with an in-the-money covered call whose time value is below the dividend."""
    market = SimMarket(CAL, SimConfig())
    for i in range(40):
        market.record_close("AAPL", dt.date(2026, 9, 1) + dt.timedelta(days=i), 230.0)
    broker = SimBroker(market, dividends={"AAPL": {dt.date(2026, 11, 10): 5.0}},
                       early_assignment=ps.data.corporate_actions.early_assignment_before_dividend)
    broker.shares[("COM-ACC-001", "AAPL")] = 100
    broker.options[("COM-ACC-001", OptionContract("AAPL", dt.date(2026, 11, 20), 200.0, "C"))] = -1
    broker.on_market(Bar(at("2026-11-09", "16:00"), "AAPL", 240.0, 241.0, 239.0, 240.0, 1))
    return repr(broker.poll())


def learning_output(ps: PolicySet) -> str:
    """The weeks the learning history keeps of 600 recorded ones (engine/learning.py prune, as the
    weekly cycle calls it with learning.keep_weeks)."""
    hist = learning.WeekHistory()
    hist.weeks = [learning.WeekRecord(f"{2014 + i // 52}-W{i % 52 + 1:02d}", "TSLA", "green")
                  for i in range(600)]
    learning.prune(hist, ps.week_types.learning.keep_weeks)
    return str(len(hist.weeks))


def replay_output(ps: PolicySet) -> str:
    """A one-day replay (Thursday 2026-03-26, whose AMZN, MSFT, SPY and VIX rows are bad)."""
    try:
        result = Replay(ps, ReplayParams(dt.date(2026, 3, 26), dt.date(2026, 3, 26),
                                         100_000)).run()
    except DataError as exc:
        return f"refused: {exc}"
    return json.dumps({k: v for k, v in result.items() if k not in ("policy_hash", "run_id")},
                      sort_keys=True, default=str)


COMPONENTS: dict[str, Callable[[PolicySet, dict[str, bytes]], str]] = {
    "summary": lambda ps, files: summary_output(ps),
    "rules": lambda ps, files: rules_output(ps),
    "scheduler": lambda ps, files: scheduler_output(ps),
    "capital": capital_output,
    "replay": lambda ps, files: replay_output(ps),
    "dividend": lambda ps, files: dividend_output(ps),
    "learning": lambda ps, files: learning_output(ps),
}


# ==================================================================================== routing
# Key names are "<file>:<dotted path>" (list items by index); patterns use fnmatch. The first
# matching pattern wins. An empty tuple: no fixture, the loader must refuse every mutation.

PENDING = "PENDING"
CONSUMERS: dict[str, tuple[str, str]] = {
    # component checked here
    "accounts.yaml:account_types.*.description": ("alluse policy summary", "summary"),
    "alerts.yaml:types.*.description": ("alluse policy summary", "summary"),
    "schedule.yaml:jobs.*.description": ("alluse policy summary", "summary"),
    "strategies/*.yaml:description": ("alluse policy summary", "summary"),
    "week_types.yaml:modes.*.description": ("alluse policy rules", "rules"),
    "week_types.yaml:predictions.rules.*.description": ("alluse policy rules", "rules"),
    "week_types.yaml:learning.keep_weeks": ("weekly cycle: the learning history's length",
                                            "learning"),
    "protocols.yaml:levels.*.description": ("alluse policy rules", "rules"),
    "strategies/*.yaml:rules.*.description": ("alluse policy rules", "rules"),
    "schedule.yaml:jobs.*.cron": ("scheduler (CronSchedule: replay source, node)", "scheduler"),
    "accounts.yaml:capital.*": ("alluse explain / dry-run / replay: --capital default and bounds",
                                "capital"),
    "data.yaml:quality.on_bad_rows": ("replay: bundled-data loader (History.load)", "replay"),
    "data.yaml:indicators.realized_vol_days": ("replay: simulated market's vol model", "replay"),
    "data.yaml:corporate_actions.early_assignment_before_dividend": (
        "simulated broker: early assignment before an ex-dividend date", "dividend"),
    # consumers still to come: each turns into a real check when it is built
    "data.yaml:watchlist": ("node: market-data subscriptions", PENDING),
    "data.yaml:mag6": ("node: Mag-6 collectors", PENDING),
    "data.yaml:premium_tracker.*": ("node: premium tracker", PENDING),
    "data.yaml:option_chains.*": ("IB adapter: option-chain snapshots", PENDING),
    "data.yaml:indicators.compute_at": ("node: indicator refresh", PENDING),
    "protocols.yaml:levels.*.monitor_every_minutes": ("node: monitoring loop", PENDING),
    "alerts.yaml:channels*": ("node: notifier (email, dashboard)", PENDING),
    # the engine's own SYSTEM_STATUS alert (a position it cannot monitor) is always HIGH
    "alerts.yaml:types.SYSTEM_STATUS.default_priority": (
        "node: gateway and data-quality status alerts", PENDING),
    "schedule.yaml:jobs.*.misfire_grace_seconds": ("node: APScheduler misfire_grace_time",
                                                   PENDING),
}

ROUTES: dict[str, tuple[str, ...]] = {
    "*:version": (),
    "schedule.yaml:timezone": (),
    # accounts.yaml
    "accounts.yaml:split*": ("protocol",),
    "accounts.yaml:account_types.*.strategy": (),
    "accounts.yaml:account_types.*.forks": (),
    "accounts.yaml:account_types*": ("lifecycle",),
    "accounts.yaml:fork*": ("lifecycle",),
    "accounts.yaml:merge*": ("lifecycle",),
    "accounts.yaml:tax*": ("lifecycle",),
    "accounts.yaml:reinvestment*": ("lifecycle",),
    # alerts.yaml
    "alerts.yaml:types.TRADE_OPPORTUNITY*": ("entry",),
    "alerts.yaml:types.PROTOCOL_BREACH*": ("protocol",),
    "alerts.yaml:types.ACCOUNT_MANAGEMENT*": ("breakers", "lifecycle"),
    "alerts.yaml:types.SYSTEM_STATUS*": ("breakers",),
    "alerts.yaml:types.TECHNICAL_ALERT*": ("weeks",),
    "alerts.yaml:delivery.*": ("alerts",),
    # data.yaml
    "data.yaml:indicators.mean_days": ("weeks",),  # the trend and VIX means of predictions
    "data.yaml:indicators.*": ("entry",),
    # protocols.yaml
    "protocols.yaml:levels.*.covered_script*": ("covered",),
    "protocols.yaml:*": ("protocol",),
    # risk.yaml
    "risk.yaml:blacklist": ("entry",),
    "risk.yaml:circuit_breakers.*": ("breakers",),
    "risk.yaml:*": ("protocol",),
    # schedule.yaml
    "schedule.yaml:jobs.week_prediction*": ("weeks",),
    "schedule.yaml:jobs.*": ("lifecycle",),
    # week_types.yaml
    "week_types.yaml:*": ("weeks",),
    # strategies/*.yaml
    "strategies/*.yaml:account_type": (),
    "strategies/*.yaml:entry.job": (),
    "strategies/*.yaml:entry.on_*": ("holidays",),
    "strategies/*.yaml:covered_calls*": ("calls",),
    "strategies/*.yaml:premium.*_yearly_pct": ("weeks",),  # the weekly cycle's target check
    "strategies/*.yaml:dte.*": ("entry", "protocol"),
    "strategies/*.yaml:*": ("entry",),
}

# The mutations a key's schema gives do not reach its fixture's decisions: these are tried instead.
OVERRIDES: dict[str, list[Any]] = {
    # level 0 "reduced" at its size_factor 1.0 is "allowed"; "blocked" must be refused (level 1
    # allows new risk)
    "protocols.yaml:levels.0.new_risk": ["blocked"],
    # adding a day the entry job never fires on changes nothing a Thursday fixture sees (lint
    # flags an entry day the job does not reach only when no day is left): move the day instead
    "strategies/*.yaml:entry.days": [["wed"]],
    # the history kept (520 weeks) only shows once it is shorter than the fixture's two weeks
}
# Keys that only constrain another key (the loader refuses the other key's edit while they hold):
# the guarded edit is refused with the default, and loads and changes a decision once the key
# itself is flipped.
GUARDS: dict[str, tuple[Path_, Any]] = {
    # COM-ACC keeps all its gains: a 50 % reinvestment is refused while withdrawals is false
    "accounts.yaml:account_types.COM-ACC.withdrawals": (("reinvestment", 1, "reinvest_pct"), 50),
}


def match(table: dict[str, Any], name: str) -> Any:
    for pattern, value in table.items():
        if fnmatch.fnmatchcase(name, pattern):
            return value
    return None


# ================================================================================== mutations


@dataclasses.dataclass(frozen=True)
class Key:
    file: str
    path: Path_
    entry: bool = False  # a whole entry of a named map or a list of mappings

    @property
    def name(self) -> str:
        return f"{self.file}:{'.'.join(str(p) for p in self.path)}"

    @property
    def label(self) -> str:
        return self.name + (" (whole entry)" if self.entry else "")

    @property
    def value(self) -> Any:
        node = DATA[self.file]
        for p in self.path:
            node = node[p]
        return node


@dataclasses.dataclass(frozen=True)
class Mutation:
    label: str
    edits: tuple[tuple[str, Path_, Any], ...]  # (file, path, new value or DELETE)

    def files(self) -> dict[str, bytes]:
        out = dict(FILES)
        changed: dict[str, Any] = {}
        for file, path, value in self.edits:
            data = changed.setdefault(file, copy.deepcopy(DATA[file]))
            node = data
            for p in path[:-1]:
                node = node[p]
            if value is DELETE:
                del node[path[-1]]
            else:
                node[path[-1]] = value
        for file, data in changed.items():
            out[file] = json.dumps(data, ensure_ascii=False).encode()
        return out


ENTRY_MAPS = ("accounts.yaml:split", "accounts.yaml:account_types", "accounts.yaml:fork.*.split",
              "alerts.yaml:types", "alerts.yaml:channels", "schedule.yaml:jobs",
              "week_types.yaml:modes", "week_types.yaml:types")


def walk_keys() -> Iterator[Key]:
    """Every leaf, every named-map entry and every mapping in a list, in file order."""
    def walk(file: str, node: Any, path: Path_) -> Iterator[Key]:
        if isinstance(node, dict):
            name = Key(file, path).name
            for k, v in node.items():
                if any(fnmatch.fnmatchcase(name, p) for p in ENTRY_MAPS):
                    yield Key(file, (*path, k), entry=True)
                yield from walk(file, v, (*path, k))
        elif isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
            for i, v in enumerate(node):
                yield Key(file, (*path, i), entry=True)
                yield from walk(file, v, (*path, i))
        else:
            yield Key(file, path)

    for file in sorted(DATA):
        yield from walk(file, DATA[file], ())


def _resolve(s: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in s:
            s = root["$defs"][s["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in s:  # X | None
            s = next(x for x in s["anyOf"] if x.get("type") != "null")
        else:
            return s


def schema_of(key: Key) -> dict[str, Any]:
    root = SCHEMAS[key.file]
    s = _resolve(root, root)
    node = DATA[key.file]
    for p in key.path:
        if "oneOf" in s:  # a script step: by its kind
            s = _resolve(root["$defs"][s["discriminator"]["mapping"][node["kind"]]
                         .rsplit("/", 1)[-1]], root)
        if isinstance(p, int):
            s = s["items"]
        elif p in s.get("properties", {}):
            s = s["properties"][p]
        elif "patternProperties" in s:
            s = next(iter(s["patternProperties"].values()))
        else:
            s = s["additionalProperties"]
        s = _resolve(s, root)
        node = node[p]
    if "oneOf" in s:
        s = _resolve(root["$defs"][s["discriminator"]["mapping"][node["kind"]]
                     .rsplit("/", 1)[-1]], root)
    return s


def _numbers(v: float, s: dict[str, Any]) -> list[float]:
    lo = s.get("minimum", s.get("exclusiveMinimum", -math.inf))
    hi = s.get("maximum", s.get("exclusiveMaximum", math.inf))
    raw = [v * 2, v / 2, v + 1, v - 1, v * 10, v / 10, v * 1.25, v * 0.75, lo, hi]
    out: list[float] = []
    for x in raw:
        if s.get("type") == "integer" and math.isfinite(x):
            x = round(x)
        ok = (lo < x if "exclusiveMinimum" in s else lo <= x) and (
            x < hi if "exclusiveMaximum" in s else x <= hi)
        if ok and math.isfinite(x) and x != v and x not in out:
            out.append(x)
    return out


def _hhmm(v: str, minutes: int) -> str | None:
    h, m = (int(x) for x in v.split(":"))
    total = h * 60 + m + minutes
    return f"{total // 60:02d}:{total % 60:02d}" if 0 <= total < 24 * 60 else None


TICKERS = ("TSLA", "AAPL", "NVDA", "MSFT", "SPY", "IBM")


def _names(key: Key) -> list[str]:
    """Other declared names for a reference: account types, alert types, jobs, strategies."""
    last = key.path[-1] if key.path else ""
    if last in ("account_type", "into_account_type") or (
            key.file == "accounts.yaml" and key.path[:1] == ("reinvestment",)):
        return list(DATA["accounts.yaml"]["account_types"])
    if last == "type":
        return list(DATA["alerts.yaml"]["types"])
    if last == "job":
        return list(DATA["schedule.yaml"]["jobs"])
    if last == "strategy":
        return [f.removeprefix("strategies/").removesuffix(".yaml") for f in DATA
                if f.startswith("strategies/")]
    return []


def candidates(key: Key) -> list[Any]:
    """Other values for a leaf, from its schema (plain values; `mutations` wraps them)."""
    v = key.value
    override = match(OVERRIDES, key.name)
    if override is not None:
        return override
    s = schema_of(key)
    last = str(key.path[-1]) if key.path else ""
    if "const" in s or ("enum" in s and len(s["enum"]) == 1):
        return [v + 1] if isinstance(v, int) else [f"{v}-other"]
    if "enum" in s:
        return [x for x in s["enum"] if x != v]
    if isinstance(v, bool):
        return [not v]
    if isinstance(v, int | float):
        return _numbers(v, s)
    if isinstance(v, list):
        item = _resolve(s.get("items", {}), SCHEMAS[key.file])
        if "enum" in item:
            pool = item["enum"]
        elif item.get("type") == "integer":
            pool = [max(v, default=0) + 1]
        else:
            pool = list(TICKERS)
        pool = [x for x in pool if x not in v]
        out: list[Any] = []
        if len(v) > 1:
            out += [v[1:], v[:-1]]
        out += [[*v, pool[0]], [pool[0]]] if pool else []
        return out
    names = _names(key)
    if names:
        return [n for n in names if n != v]
    if last in ("if", "when"):
        return [f"not ({v})"]
    if "Sandboxed expression" in s.get("description", ""):
        return [f"({v}) * 2", f"({v}) + 1"]
    if last in ("title", "text", "message"):
        return [v + " (edited)"]
    if last in ("description", "label"):
        return [v + " (edited)"]
    if last == "cron":
        minute, rest = v.split(" ", 1)
        return [("8" if minute == "7" else "7") + " " + rest]
    if re.fullmatch(r"\d\d:\d\d", v):
        return [x for x in (_hhmm(v, 30), _hhmm(v, -30), _hhmm(v, 60), _hhmm(v, -60)) if x]
    return [v + "_x"]  # identifiers: rule ids, script ids, level names


def mutations(key: Key) -> list[Mutation]:
    if key.entry:
        return [Mutation(f"remove {key.name}", ((key.file, key.path, DELETE),))]
    parent = Key(key.file, key.path[:-1]).name
    v = key.value
    if key.path[-1] == "method" and parent.endswith("strike"):  # a method with its own parameters
        params = Key(key.file, key.path[:-1]).value
        return [Mutation(f"{key.name}: {v!r} → {c!r} (without {', '.join(unused) or 'nothing'})",
                         ((key.file, key.path, c),
                          *((key.file, (*key.path[:-1], p), DELETE) for p in unused)))
                for c in candidates(key)
                if (unused := [p for p in params if p != "method"
                               and p not in STRIKE_PARAMETERS[c]]) is not None]
    if parent.endswith("split") and isinstance(v, int | float):  # shares that sum to 100
        siblings = list(Key(key.file, key.path[:-1]).value)
        other = siblings[(siblings.index(key.path[-1]) + 1) % len(siblings)]
        ov = Key(key.file, (*key.path[:-1], other)).value
        return [Mutation(f"{key.path[-1]} {v}→{v + d}, {other} {ov}→{ov - d}",
                         ((key.file, key.path, v + d), (key.file, (*key.path[:-1], other), ov - d)))
                for d in (10, -10) if 0 <= v + d <= 100 and 0 <= ov - d <= 100]
    return [Mutation(f"{key.name}: {v!r} → {c!r}", ((key.file, key.path, c),))
            for c in candidates(key)]


# ==================================================================================== checker


@dataclasses.dataclass(frozen=True)
class Verdict:
    key: str
    status: str  # engine | component | guarded | pending | inert | unrouted
    detail: str


class Checker:
    """Runs a key's mutations through its fixtures and consumer; baselines computed once."""

    def __init__(self) -> None:
        self._baseline: dict[str, str] = {}
        self.loads = 0
        self.runs = 0

    def _output(self, check: str, ps: PolicySet, files: dict[str, bytes]) -> str:
        self.runs += 1
        if check in ENGINE_FIXTURES:
            return run_fixture(check, ps)
        return COMPONENTS[check](ps, files)

    def baseline(self, check: str) -> str:
        if check not in self._baseline:
            self._baseline[check] = self._output(check, DEFAULT, FILES)
        return self._baseline[check]

    def _load(self, m: Mutation) -> tuple[PolicySet | None, str, dict[str, bytes]]:
        files = m.files()
        self.loads += 1
        try:
            return load_policy_set(files), "", files
        except PolicyLoadError as exc:
            return None, exc.issues[0].message, files

    def changed(self, m: Mutation, checks: tuple[str, ...]) -> str | None:
        """The first check whose output ``m`` changes; None if none does; raises if refused."""
        ps, refusal, files = self._load(m)
        if ps is None:
            raise _Refused(refusal)
        for check in checks:
            if self._output(check, ps, files) != self.baseline(check):
                return check
        return None

    def verdict(self, key: Key) -> Verdict:
        consumer = match(CONSUMERS, key.name)
        if consumer is not None and consumer[1] == PENDING:
            return Verdict(key.label, "pending", consumer[0])
        route = match(ROUTES, key.name)
        components = (consumer[1],) if consumer is not None else ()
        if route is None and not components:
            return Verdict(key.label, "unrouted", "no route in ROUTES and no consumer in CONSUMERS")
        checks = (*(() if components else route or ()), *components)
        guarded = GUARDS.get(key.name)
        if guarded is not None:
            return self._guard(key, guarded, checks)
        refused: list[str] = []
        unchanged: list[str] = []
        for m in mutations(key):
            try:
                hit = self.changed(m, checks)
            except _Refused as exc:
                refused.append(f"{m.label}: refused ({exc})")
                continue
            if hit is not None:
                status = "engine" if hit in ENGINE_FIXTURES else "component"
                what = consumer[0] if status == "component" else f"fixture {hit}"
                return Verdict(key.label, status, f"{m.label} changes {what}")
            unchanged.append(m.label)
        if unchanged or not refused:
            return Verdict(key.label, "inert", "; ".join(unchanged) or "no mutation")
        return Verdict(key.label, "guarded", refused[0])

    def _guard(self, key: Key, guarded: tuple[Path_, Any], checks: tuple[str, ...]) -> Verdict:
        [flip] = mutations(key)
        edit = (key.file, *guarded)
        try:
            self.changed(Mutation("guarded edit", (edit,)), checks)
        except _Refused as exc:
            refusal = str(exc)
        else:
            return Verdict(key.label, "inert", f"{edit} loads although {key.name} is set")
        both = Mutation(flip.label, (*flip.edits, edit))
        ps_flip, _, _ = self._load(flip)
        ps_both, why, _ = self._load(both)
        if ps_flip is None or ps_both is None:
            return Verdict(key.label, "inert", f"flipped, the guarded edit is refused: {why}")
        if any(run_fixture(c, ps_both) != run_fixture(c, ps_flip) for c in checks):
            return Verdict(key.label, "engine", f"refuses {edit[1]} ({refusal}); flipped, the edit "
                           "loads and changes the decisions")
        return Verdict(key.label, "inert", "flipped, the guarded edit changes nothing")


class _Refused(Exception):
    pass


def verdicts(keys: list[Key] | None = None) -> list[Verdict]:
    checker = Checker()
    return [checker.verdict(k) for k in (keys if keys is not None else list(walk_keys()))]


# ====================================================================================== tests


def schema_patterns() -> set[str]:
    """Every key the models accept, as a pattern ("schedule.yaml:jobs.*.misfire_grace_seconds")."""
    out: set[str] = set()

    def walk(file: str, s: dict[str, Any], root: dict[str, Any], path: tuple[str, ...]) -> None:
        s = _resolve(s, root)
        if path:
            out.add(f"{file}:{'.'.join(path)}")
        for sub in s.get("oneOf", []):
            walk(file, sub, root, path)
        for k, sub in s.get("properties", {}).items():
            walk(file, sub, root, (*path, k))
        for sub in (s.get("items"), s.get("additionalProperties"),
                    *s.get("patternProperties", {}).values()):
            if isinstance(sub, dict):
                walk(file, sub, root, (*path, "*"))

    for file, root in SCHEMAS.items():
        walk(file, root, root, ())
    return out


def test_every_key_of_the_default_set_is_live_guarded_or_pending() -> None:
    """Each key's mutation changes a decision or its consumer's output, or the loader refuses it;
    only keys of consumers still to come (node, IB adapter) are pending. Run with -s for the
    table (status, key, the mutation that showed it)."""
    start = time.perf_counter()
    checker = Checker()
    found = [checker.verdict(k) for k in walk_keys()]
    took = time.perf_counter() - start
    counts = {s: sum(1 for v in found if v.status == s) for s in sorted({v.status for v in found})}
    print("\n".join(f"{v.status:9} {v.key}: {v.detail}" for v in found))
    print(f"{len(found)} keys {counts} in {took:.1f} s: {checker.loads} loads, {checker.runs} runs")
    wrong = [v for v in found if v.status in ("inert", "unrouted")]
    pending = sorted({v.detail for v in found if v.status == "pending"})
    assert ([], True) == (wrong, all(c.startswith(("node:", "IB adapter:")) for c in pending))


def test_routes_consumers_overrides_and_guards_name_real_keys() -> None:
    """No stale pattern: each names a key of the default set or, for consumers, a model field
    (misfire_grace_seconds is not written in the default set)."""
    names = {k.name for k in walk_keys()}
    fields = schema_patterns()
    stale = [p for p in (*ROUTES, *OVERRIDES, *GUARDS) if not fnmatch.filter(names, p)]
    stale += [p for p in CONSUMERS if not fnmatch.filter(names, p) and not fnmatch.filter(fields, p)]
    assert [] == stale


def _pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that ignores GEN-ACC's premium.min_pct and the position limit's percentage:
    it always uses the default set's values."""
    original = Engine.__init__

    def init(self: Engine, policy: PolicySet, capital: Any, **kw: Any) -> None:
        gen = policy.strategies["gen_acc"]
        floor = DEFAULT.strategies["gen_acc"].premium.min_pct
        strategies = {**policy.strategies, "gen_acc": gen.model_copy(
            update={"premium": gen.premium.model_copy(update={"min_pct": floor})})}
        limit = policy.risk.position_limit.model_copy(
            update={"max_pct_of_account": DEFAULT.risk.position_limit.max_pct_of_account})
        risk = policy.risk.model_copy(update={"position_limit": limit})
        original(self, dataclasses.replace(policy, strategies=strategies, risk=risk), capital, **kw)

    monkeypatch.setattr(Engine, "__init__", init)


def test_the_checker_reports_a_key_the_engine_ignores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Made inert by an engine that pins them, premium.min_pct and the position limit are
    reported inert; REV-ACC's premium.min_pct, still read, stays live."""
    _pinned(monkeypatch)
    names = ("strategies/gen_acc.yaml:premium.min_pct",
             "risk.yaml:position_limit.max_pct_of_account",
             "strategies/rev_acc.yaml:premium.min_pct")
    keys = [k for k in walk_keys() if k.name in names]
    assert {names[0]: "inert", names[1]: "inert", names[2]: "engine"} == {
        v.key: v.status for v in verdicts(keys)}
