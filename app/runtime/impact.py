"""Policy impact: the same history replayed under two policy sets, and what would have changed.

Both replays run in this process on one loaded `History` and one calendar (`Replay(history=…)`).
An observer on each driver records every decision as (date, account, symbol, rule) → outcome,
every short option opened (an entry taken), level transition, alert and script; forks, merges,
P&L, drawdown and tax come from each replay's result. Two sets with one hash decide alike (the
engine is deterministic): nothing is replayed for them.

Each difference names the rule that made it: the rule whose outcome for that account and symbol
on that day differs between the two runs (a rule both runs evaluated comes first), or none when
every rule decided alike there — the difference then follows from an earlier one (a position
one run holds and the other does not, a different account size).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alluse.adapters.sim.data import History
from alluse.adapters.sim.market import MARKET_REFERENCE
from alluse.engine.calendar import NY, nyse_calendar
from alluse.engine.decisions import Decision
from alluse.engine.events import Event, Fill
from alluse.engine.policy import PolicySet
from alluse.engine.policytest import trace_rule_id
from alluse.runtime.replay import Replay, ReplayParams

KINDS = ("entries", "levels", "alerts", "scripts", "forks", "decisions")
Key = tuple[str, str, str, str]  # date, account, symbol, rule
_ACCOUNT = r"[A-Z]{2,8}-ACC-\d+"
_ACC_SYM = re.compile(rf"({_ACCOUNT})(?: ([A-Z][A-Z0-9.\-]{{0,9}})\b(?!-))?")
_SYM_POS = re.compile(rf"([A-Z][A-Z0-9.\-]{{0,9}}) [\d.]+[PC] \(({_ACCOUNT})\)")


def trace_subject(text: str, values: Mapping[str, Any]) -> tuple[str, str]:
    """(account, symbol) a trace is about, read from its explanation (``GEN-ACC-001 TSLA: …``,
    ``TSLA 245P (GEN-ACC-001): …``, ``GEN-ACC-001: …``) or its values; "" where it names none.
    The one place that reads the traces' wording: structured fields would replace it."""
    m = _SYM_POS.match(text)
    if m is not None:
        return m.group(2), m.group(1)
    m = _ACC_SYM.match(text)
    symbol = values.get("symbol")
    if m is not None:
        return m.group(1), m.group(2) or (symbol if isinstance(symbol, str) else "")
    return "", symbol if isinstance(symbol, str) else ""


@dataclass(slots=True)
class RunRecord:
    """What one replay decided, as records the two runs can be compared by."""

    outcomes: dict[Key, list[tuple[str, str]]] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    levels: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    scripts: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def observe(self, ev: Event, d: Decision) -> None:
        if d.empty and not isinstance(ev, Fill):
            return
        day = ev.ts.astimezone(NY).date().isoformat()
        if isinstance(ev, Fill) and ev.side == "SELL" and ev.expiry is not None:
            self.entries.append({"date": day, "account": ev.account, "symbol": ev.symbol,
                                 "contract": f"{ev.expiry.isoformat()} {ev.strike:g}{ev.right}",
                                 "quantity": ev.quantity, "price": round(ev.price, 2)})
        symbols: dict[str, set[str]] = {}  # by account: the symbols traced, for the alerts
        for status, traces in (("fired", d.fired), ("not fired", d.not_fired),
                               ("error", d.errors)):
            for t in traces:
                rid = trace_rule_id(t.rule, t.step)
                if "#" not in rid:
                    continue
                account, symbol = trace_subject(t.explanation, dict(t.values))
                symbols.setdefault(account, set()).add(symbol)
                self.outcomes.setdefault((day, account, symbol, rid), []).append(
                    (status, t.explanation))
        for tr in d.transitions:
            if tr.machine == "protocol":
                account, symbol = tr.subject.split(":")[:2]
                self.levels.append({"date": day, "account": account, "symbol": symbol,
                                    "position": tr.subject, "from": tr.source, "to": tr.dest,
                                    "rule": trace_rule_id(tr.rule)})
        for a in d.alerts:
            words = set(re.findall(r"[A-Z][A-Z0-9.\-]*", a.title))
            named = sorted(symbols.get(a.account, set()) & words)
            self.alerts.append({"date": day, "account": a.account,
                                "symbol": named[0] if len(named) == 1 else "", "type": a.type,
                                "priority": a.priority, "rule": trace_rule_id(a.rule),
                                "title": a.title})
        for s in d.scripts:
            symbol = next((x.symbol for x in s.steps if x.symbol), "")
            self.scripts.append({"date": day, "account": s.account, "symbol": symbol,
                                 "template": s.template, "rule": trace_rule_id(s.trigger_rule),
                                 "title": s.title})


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # one of KINDS
    change: str  # added (head only) | removed (base only) | changed
    date: str
    account: str
    symbol: str
    what: str
    rule: str = ""  # the rule that made the difference ("" when every rule decided alike)
    why: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "change": self.change, "date": self.date,
                "account": self.account, "symbol": self.symbol, "what": self.what,
                "rule": self.rule, "why": self.why}


@dataclass(slots=True)
class Impact:
    base_hash: str
    head_hash: str
    params: ReplayParams
    changes: list[Change]
    accounts: list[dict[str, Any]]
    totals: dict[str, Any]
    seconds: dict[str, float]

    @property
    def identical_sets(self) -> bool:
        return self.base_hash == self.head_hash

    def count(self, kind: str) -> dict[str, int]:
        c = Counter(ch.change for ch in self.changes if ch.kind == kind)
        return {k: c.get(k, 0) for k in ("added", "removed", "changed")}

    def differs(self, kind: str) -> bool:
        if kind == "pnl":
            return any(a["differs"] for a in self.accounts)
        return any(ch.kind == kind for ch in self.changes)


def shared_history(sets: Iterable[PolicySet], params: ReplayParams) -> History | None:
    """One History for every set's symbols, when the sets read bad rows alike (else None)."""
    sets = list(sets)
    modes = {ps.data.quality.on_bad_rows for ps in sets}
    if len(modes) != 1:
        return None
    symbols = sorted({s for ps in sets for st in ps.strategies.values() for s in st.symbols})
    return History.load([*symbols, MARKET_REFERENCE, "VIX"], params.start, params.end,
                        repair="refuse" if modes == {"refuse"} else "repair",
                        intraday=symbols if params.bars == "1min" else ())


def replay_record(ps: PolicySet, params: ReplayParams, history: History | None) -> RunRecord:
    record = RunRecord()
    t0 = time.perf_counter()
    replay = Replay(ps, params, calendar=nyse_calendar(), history=history)
    replay.driver.observers.append(record.observe)
    record.result = replay.run()
    record.seconds = time.perf_counter() - t0
    return record


def impact(base: PolicySet, head: PolicySet, params: ReplayParams) -> Impact:
    """Replay ``params``' window under both sets and compare."""
    t0 = time.perf_counter()
    if base.hash == head.hash:
        return Impact(base.hash, head.hash, params, [], [], {}, {"total": 0.0})
    history = shared_history((base, head), params)
    b = replay_record(base, params, history)
    h = replay_record(head, params, history)
    changes = compare(b, h, [*head.rules, *(r for r in base.rules if r not in head.rules)])
    accounts, totals = side_by_side(b.result, h.result)
    return Impact(base.hash, head.hash, params, changes, accounts, totals,
                  {"base": b.seconds, "head": h.seconds, "total": time.perf_counter() - t0})


# --------------------------------------------------------------------------- comparing


def _statuses(items: list[tuple[str, str]] | None) -> str:
    return " and ".join(sorted({s for s, _ in items})) if items else "not evaluated"


class _Attribution:
    """The rule that made a difference for (date, account, symbol), from the decision diff."""

    def __init__(self, base: RunRecord, head: RunRecord, order: list[str]) -> None:
        self.base, self.head = base, head
        rank = {r: i for i, r in enumerate(order)}
        self.by_subject: dict[tuple[str, str, str], list[Key]] = {}
        for key in sorted(set(base.outcomes) | set(head.outcomes)):
            if _statuses(base.outcomes.get(key)) != _statuses(head.outcomes.get(key)):
                self.by_subject.setdefault(key[:3], []).append(key)
        for keys in self.by_subject.values():  # rules both runs evaluated first, then by id order
            keys.sort(key=lambda k: (k not in base.outcomes or k not in head.outcomes,
                                     rank.get(k[3], len(rank))))

    def differing(self) -> list[Key]:
        return [k for keys in self.by_subject.values() for k in keys]

    def why(self, key: Key) -> str:
        parts = []
        for side, rec in (("base", self.base), ("head", self.head)):
            items = rec.outcomes.get(key)
            text = f" ({items[0][1]})" if items else ""
            parts.append(f"{side} {_statuses(items)}{text}")
        return "; ".join(parts)

    def of(self, date: str, account: str, symbol: str, fallback: str = "") -> tuple[str, str]:
        keys = self.by_subject.get((date, account, symbol)) or self.by_subject.get(
            (date, account, ""))
        if keys:
            return keys[0][3], self.why(keys[0])
        return fallback, ("every rule decided alike for this account and symbol that day: a "
                          "consequence of an earlier difference")


def _multiset_diff(kind: str, base: list[dict[str, Any]], head: list[dict[str, Any]],
                   key: tuple[str, ...], describe: Any, att: _Attribution) -> list[Change]:
    def k(item: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(item[f] for f in key)

    out: list[Change] = []
    cb, ch = Counter(map(k, base)), Counter(map(k, head))
    in_base = {k(i): i for i in reversed(base)}
    in_head = {k(i): i for i in reversed(head)}
    for ident in sorted(set(cb) | set(ch), key=str):
        extra = ch[ident] - cb[ident]
        if extra == 0:
            continue
        item = in_head[ident] if extra > 0 else in_base[ident]
        rule, why = att.of(item["date"], item["account"], item.get("symbol", ""),
                           item.get("rule", ""))
        change = "added" if extra > 0 else "removed"
        times = f" ×{abs(extra)}" if abs(extra) > 1 else ""
        out.append(Change(kind, change, item["date"], item["account"], item.get("symbol", ""),
                          describe(item) + times, rule, why))
    return out


def compare(base: RunRecord, head: RunRecord, order: list[str]) -> list[Change]:
    att = _Attribution(base, head, order)
    out = [Change("decisions", "added" if k not in base.outcomes else
                  "removed" if k not in head.outcomes else "changed", k[0], k[1], k[2],
                  f"{k[3]}: {_statuses(base.outcomes.get(k))} → {_statuses(head.outcomes.get(k))}",
                  k[3], att.why(k)) for k in att.differing()]
    out += _multiset_diff("entries", base.entries, head.entries,
                          ("date", "account", "symbol", "contract", "quantity"),
                          lambda e: f"sold {e['quantity']} {e['symbol']} {e['contract']} at "
                                    f"{e['price']:.2f}", att)
    out += _multiset_diff("levels", base.levels, head.levels,
                          ("date", "account", "symbol", "position", "from", "to"),
                          lambda lv: f"{lv['position']} {lv['from']}→{lv['to']}", att)
    out += _multiset_diff("alerts", base.alerts, head.alerts,
                          ("date", "account", "symbol", "type", "priority", "rule"),
                          lambda a: f"{a['type']} {a['priority']}: {a['title']}", att)
    out += _multiset_diff("scripts", base.scripts, head.scripts,
                          ("date", "account", "symbol", "template"),
                          lambda s: f"{s['template']}: {s['title']}", att)
    out += _forks(base.result, head.result, att)
    return sorted(out, key=lambda c: (KINDS.index(c.kind), c.date, c.account, c.symbol))


def _forks(base: Mapping[str, Any], head: Mapping[str, Any], att: _Attribution) -> list[Change]:
    def rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
        forks = [{"date": f["date"], "account": f["parent"], "symbol": "",
                  "what": f"fork of {f['parent']} into {' + '.join(f['accounts'])}: "
                          f"{f['amount']} (tax withheld {f['tax_withheld']})"}
                 for f in result.get("forks", [])]
        merges = [{"date": m["date"], "account": m["into"], "symbol": "",
                   "what": f"merge of {' + '.join(m['accounts'])} into {m['into']}: {m['amount']}"}
                  for m in result.get("merges", [])]
        return forks + merges

    return _multiset_diff("forks", rows(base), rows(head), ("date", "account", "what"),
                          lambda r: r["what"], att)


def _figures(a: Mapping[str, Any] | None) -> dict[str, Any]:
    if a is None:
        return {"final_equity": None, "pnl": None, "return_pct": None, "max_drawdown_pct": None,
                "trades": None, "state": None}
    return {"final_equity": a["final_equity"],
            "pnl": round(a["final_equity"] - a["initial_capital"], 2),
            "return_pct": a["return_pct"], "max_drawdown_pct": a["max_drawdown_pct"],
            "trades": a["trades"], "state": a["state"]}


def side_by_side(base: Mapping[str, Any], head: Mapping[str, Any]
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per account (the union of both runs' trees) and in total: P&L, drawdown, trades, tax."""
    by_b = {a["id"]: a for a in base["accounts"]}
    by_h = {a["id"]: a for a in head["accounts"]}
    rows = []
    for acc in sorted(set(by_b) | set(by_h)):
        fb, fh = _figures(by_b.get(acc)), _figures(by_h.get(acc))
        delta = None if fb["pnl"] is None or fh["pnl"] is None else round(fh["pnl"] - fb["pnl"], 2)
        rows.append({"account": acc, "base": fb, "head": fh, "pnl_delta": delta,
                     "differs": fb != fh})

    def tax(result: Mapping[str, Any]) -> float:
        return round(sum(float(v) for v in result["taxes"]["accrued_by_year"].values()), 2)

    totals = {side: {"total_pnl": round(r["total_pnl"], 2), "trades": r["trades"],
                     "taxes_withheld": float(r["taxes"]["withheld"]), "tax_accrued": tax(r),
                     "tax_by_year": {y: float(v) for y, v in r["taxes"]["accrued_by_year"].items()}}
              for side, r in (("base", base), ("head", head))}
    totals["pnl_delta"] = round(totals["head"]["total_pnl"] - totals["base"]["total_pnl"], 2)
    return rows, totals

