"""Running policy test cases through the engine, comparing what they gave with what they expect,
and the rule coverage of a set of cases. Pure: cases come loaded (`alluse.engine.policy.testload`),
results are records; rendering (text, JSON, JUnit XML) happens at the edge.

Each case runs its events through a fresh `Engine` (no broker: fills are events like any other).
A case *exercises* a rule when a trace of its decisions names it — fired, evaluated and not fired,
or could not be evaluated — or a transition, an alert or a script carries it; a protocol
transition also exercises the level it enters. Coverage is the share of `PolicySet.rules` that
some case exercises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from alluse.engine import portfolio
from alluse.engine.core import Engine
from alluse.engine.decisions import ActionScript, Alert, Decision, ScriptStep
from alluse.engine.errors import AlluseError
from alluse.engine.policy import PolicySet, rule_id
from alluse.engine.policy.testload import LoadedCase

MONEY_TOLERANCE = 0.005


def trace_rule_id(trace_rule: str, step: str = "") -> str:
    """The stable id (`PolicySet.rules`) of the rule a decision trace names: the engine's traces
    carry stable ids, with the check that failed as ``step``. The strike a scan picked is a step
    of the entry, not its outcome: "" (it neither fires nor refuses the entry). Engine facts
    (``position.open``, ``data.bar_order``) come back unchanged."""
    return "" if step == "strike" else trace_rule


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One expectation the case did not meet: expected vs got (one item a line), and why —
    the rules involved with their traces in this case."""

    what: str
    expected: str
    got: str
    explanation: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "expected": self.expected, "got": self.got,
                "explanation": list(self.explanation)}


@dataclass(frozen=True, slots=True)
class CaseResult:
    file: str
    line: int
    col: int
    name: str
    status: str  # passed | failed | error
    mismatches: tuple[Mismatch, ...] = ()
    error: str = ""
    exercised: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "col": self.col, "name": self.name,
                "status": self.status, "mismatches": [m.as_dict() for m in self.mismatches],
                "error": self.error, "exercised": sorted(self.exercised)}


@dataclass(frozen=True, slots=True)
class Coverage:
    total: int
    exercised: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else 100.0 * len(self.exercised) / self.total

    def as_dict(self) -> dict[str, Any]:
        return {"rules": self.total, "exercised": len(self.exercised),
                "percent": round(self.percent, 2), "missing": list(self.missing)}


def coverage(ps: PolicySet, results: Iterable[CaseResult]) -> Coverage:
    """Which rules of ``ps`` the cases exercised, and which none did (in `ps.rules` order)."""
    seen: set[str] = set()
    for r in results:
        seen |= r.exercised
    hit = tuple(r for r in ps.rules if r in seen)
    return Coverage(len(ps.rules), hit, tuple(r for r in ps.rules if r not in seen))


# --------------------------------------------------------------------------- running


@dataclass(slots=True)
class _Seen:
    """What a case's decisions said, by stable rule id."""

    ps: PolicySet
    traces: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # id → (status, text)
    exercised: set[str] = field(default_factory=set)
    levels: list[dict[str, Any]] = field(default_factory=list)
    level_rules: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    scripts: list[ActionScript] = field(default_factory=list)

    def take(self, d: Decision) -> None:
        for status, traces in (("fired", d.fired), ("not fired", d.not_fired),
                               ("could not be evaluated", d.errors)):
            for t in traces:
                rid = trace_rule_id(t.rule, t.step)
                if rid:
                    self.traces.setdefault(rid, []).append((status, t.explanation))
                    self.exercised.add(rid)
        for tr in d.transitions:
            self.exercised.add(trace_rule_id(tr.rule))
            if tr.machine == "protocol":
                self.exercised.add(rule_id("protocols.yaml", "levels", int(tr.dest[1:])))
                account, symbol = tr.subject.split(":")[:2]
                self.levels.append({"account": account, "symbol": symbol,
                                    "from": int(tr.source[1:]), "to": int(tr.dest[1:])})
                self.level_rules.append(trace_rule_id(tr.rule))
        self.alerts += d.alerts
        self.scripts += d.scripts
        self.exercised |= {trace_rule_id(a.rule) for a in d.alerts}
        self.exercised |= {trace_rule_id(s.trigger_rule) for s in d.scripts}

    def fired(self, rid: str) -> list[str]:
        return [text for status, text in self.traces.get(rid, []) if status == "fired"]

    def explain(self, rids: Iterable[str | tuple[str, tuple[str, ...]]]) -> tuple[str, ...]:
        """Each rule's traces in this case, with where it lives; a rule given with words (its
        item's account and symbol) shows the traces that name them, when some do."""
        out: list[str] = []
        wanted: dict[str, tuple[str, ...]] = {}
        for r in rids:
            rid, words = (r, ()) if isinstance(r, str) else r
            if rid and rid not in wanted:
                wanted[rid] = tuple(w for w in words if w)
        for rid, words in wanted.items():
            info = self.ps.rules.get(rid)
            where = f" ({info.file}:{info.line}: {info.expression})" if info else ""
            traces = self.traces.get(rid, [])
            named = [t for t in traces if all(w in t[1] for w in words)]
            traces = named or traces
            if not traces:
                out.append(f"{rid}{where}: no trace in this case (never evaluated)")
            for status, text in traces[:5]:
                out.append(f"{rid}{where}: {status} — {text}")
            if len(traces) > 5:
                out.append(f"{rid}: … {len(traces) - 5} more traces")
        return tuple(out)

    def refusals(self, besides: str) -> tuple[str, ...]:
        """What else did not fire in this case (what may have stopped ``besides``)."""
        out = [f"{rid}: {status} — {text}" for rid, traces in self.traces.items()
               if rid != besides for status, text in traces
               if status != "fired" and "no underlying price yet" not in text]
        return tuple(out[:5])


def run_case(case: LoadedCase) -> CaseResult:
    """Run one case through a fresh engine and compare."""
    engine = Engine(case.policy, case.case.capital)
    seen = _Seen(case.policy)
    for ev, (line, col) in zip(case.events, case.event_at, strict=True):
        try:
            seen.take(engine.handle(ev))
        except AlluseError as exc:
            return CaseResult(case.file, case.line, case.col, case.name, "error",
                              error=f"{case.file}:{line}:{col}: the engine refused the event: "
                                    f"{exc}", exercised=frozenset(_known(seen)))
    mismatches = _compare(case, seen, engine)
    return CaseResult(case.file, case.line, case.col, case.name,
                      "failed" if mismatches else "passed", tuple(mismatches),
                      exercised=frozenset(_known(seen)))


def _known(seen: _Seen) -> set[str]:
    return {r for r in seen.exercised if r in seen.ps.rules}


# --------------------------------------------------------------------------- comparing


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(round(v, 6))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_flow(x) if isinstance(x, dict) else _scalar(x) for x in v) + "]"
    text = str(v)
    plain = re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-#/]*", text) and not re.fullmatch(
        r"[-+.\d]+(e[-+]?\d+)?|true|false|null|yes|no|on|off|~", text, re.I)
    return text if plain else json.dumps(text, ensure_ascii=False)


def _flow(item: Mapping[str, Any]) -> str:
    """An item as a YAML flow mapping, so what a case got can be pasted into its expectations."""
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in item.items()) + "}"


def _alert_fields(a: Alert) -> dict[str, Any]:
    return {"type": a.type, "priority": a.priority, "account": a.account,
            "suppressed": a.suppressed, "title_contains": a.title}


def _step_fields(s: ScriptStep) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": s.kind}
    if s.kind == "order":
        out |= {"action": s.action, "symbol": s.symbol, "right": s.right or None,
                "strike": s.strike, "expiry": s.expiry or None, "quantity": s.quantity,
                "order_type": s.order_type, "limit": s.limit}
    elif s.kind == "alert":
        out |= {"priority": s.priority, "text_contains": s.text}
    else:
        out["text_contains"] = s.text
    return out


def _script_fields(s: ActionScript) -> dict[str, Any]:
    return {"template": s.template, "account": s.account, "approval": s.approval,
            "steps": [_step_fields(x) for x in s.steps]}


def _symbol(s: ActionScript) -> str:
    return next((x.symbol for x in s.steps if x.symbol), "")


def _matches(expected: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    for k, want in expected.items():
        have = got.get(k)
        if k.endswith("_contains"):
            if not isinstance(have, str) or str(want) not in have:
                return False
        elif k == "steps":
            if not isinstance(have, list) or len(have) != len(want) or not all(
                    _matches(w, h) for w, h in zip(want, have, strict=True)):
                return False
        elif isinstance(want, float) or isinstance(have, float):
            if have is None or abs(float(want) - float(have)) > MONEY_TOLERANCE:
                return False
        elif want != have:
            return False
    return True


def _project(expected: Mapping[str, Any] | None, got: Mapping[str, Any]) -> dict[str, Any]:
    """``got`` shown with the fields the expectation names (all its fields when none does)."""
    if expected is None:
        return {k: v for k, v in got.items() if v is not None and v != ""}
    out: dict[str, Any] = {}
    for k, want in expected.items():
        have = got.get(k)
        if k == "steps" and isinstance(have, list):
            out[k] = [_project(want[i] if i < len(want) else None, h) for i, h in enumerate(have)]
        else:
            out[k] = have
    return out


Why = tuple[str, tuple[str, ...]]  # a rule, and words its traces must hold (account, symbol)


def _list(what: str, expected: Sequence[Mapping[str, Any]], got: Sequence[Mapping[str, Any]],
          rules: Sequence[Why], seen: _Seen) -> list[Mismatch]:
    ok = len(expected) == len(got) and all(
        _matches(e, g) for e, g in zip(expected, got, strict=True))
    if ok:
        return []
    shown = [_flow(_project(expected[i] if i < len(expected) else None, g))
             for i, g in enumerate(got)]
    return [Mismatch(what, "\n".join(_flow(e) for e in expected) or "(none)",
                     "\n".join(shown) or "(none)", seen.explain(rules))]


def _dump(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True)
    return out


def _compare(case: LoadedCase, seen: _Seen, engine: Engine) -> list[Mismatch]:
    ex = case.case.expect
    out: list[Mismatch] = []
    for rid in ex.fired:
        if not seen.fired(rid):
            got = "not fired" if rid in seen.traces else "no trace (never evaluated)"
            out.append(Mismatch(f"fired {rid}", "fired", got,
                                seen.explain([rid]) + seen.refusals(rid)))
    for rid in ex.not_fired:
        if seen.fired(rid):
            out.append(Mismatch(f"not_fired {rid}", "not fired", "fired", seen.explain([rid])))
    if ex.levels is not None:
        out += _list("levels", [_dump(x) for x in ex.levels], seen.levels,
                     [(r, (lv["account"], lv["symbol"]))
                      for r, lv in zip(seen.level_rules, seen.levels, strict=True)], seen)
    if ex.alerts is not None:
        out += _list("alerts", [_dump(x) for x in ex.alerts],
                     [_alert_fields(a) for a in seen.alerts],
                     [(trace_rule_id(a.rule), (a.account,)) for a in seen.alerts], seen)
    if ex.scripts is not None:
        out += _list("scripts", [_dump(x) for x in ex.scripts],
                     [_script_fields(s) for s in seen.scripts],
                     [(trace_rule_id(s.trigger_rule), (s.account, _symbol(s)))
                      for s in seen.scripts], seen)
    out += _accounts(case, engine)
    state = engine.state
    for key, want in ex.wheels.items():
        account, _, symbol = key.partition(":")
        w = state.wheels.get((account, symbol))
        have = w.state if w is not None else "cash"
        if have != want:
            out.append(Mismatch(f"wheels {key}", want, have))
    return out


def _accounts(case: LoadedCase, engine: Engine) -> list[Mismatch]:
    state = engine.state
    out: list[Mismatch] = []
    for acc_id, want in case.case.expect.accounts.items():
        acc = state.tree.accounts.get(acc_id)
        if acc is None:
            out.append(Mismatch(f"accounts {acc_id}", "the account exists",
                                "no such account (accounts: "
                                f"{', '.join(sorted(state.tree.accounts))})"))
            continue
        have: dict[str, Any] = {"state": acc.state, "type": acc.type, "parent": acc.parent,
                                "cash": float(state.ledger.cash(acc_id)),
                                "equity": float(portfolio.equity(state, acc_id))}
        for k, v in _dump(want).items():
            got = have[k]
            same = abs(float(v) - float(got)) <= MONEY_TOLERANCE if isinstance(
                got, float | Decimal) else v == got
            if not same:
                out.append(Mismatch(f"accounts {acc_id} {k}", _scalar(v), _scalar(got)))
    return out
