"""Lint warnings: what a reviewer of a policy change misses, on a set that may still load.

Each check runs on the files that validated (a broken file hides only the checks that need it)
and yields `PolicyIssue`s with ``severity="warning"``:

- definitions nothing references: an alert type no rule, level or script raises (and the engine
  does not raise on its own), an entry-scan job no strategy enters on;
- names that look like typos of another name in the same map (``TRADE_OPPORTUNTY``: did you mean
  ``TRADE_OPPORTUNITY``?);
- first-match rules shadowed by an earlier catch-all (a week mode after ``when: "True"``) or by
  an earlier mode with the same condition, and conditions that are always false;
- thresholds that make a rule unreachable: an entry rule clause no value in the variable's range
  can pass (``dte >= 3`` with ``dte: {max: 1}``), a circuit breaker above the highest protocol
  level or above the positions an account can hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

from pydantic import BaseModel

from alluse.engine.errors import PolicyIssue
from alluse.engine.expressions import Clause, Evaluator, Expression
from alluse.engine.policy import names as N
from alluse.engine.policy.models import (
    AccountsPolicy,
    AlertsPolicy,
    ProtocolsPolicy,
    RiskPolicy,
    SchedulePolicy,
    StrategyPolicy,
    WeekTypesPolicy,
)
from alluse.engine.policy.yamlsource import YamlDoc

Path_ = tuple[str | int, ...]
INF = math.inf


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (insert, delete, replace, swap two neighbours)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def looks_like_typo(a: str, b: str) -> bool:
    """Two names one slip apart: one edit for names of 6+ characters, two for 12+. Short codes
    (``P-EW``, ``C-EW``) and names that differ only in digits (``level1``) are deliberate."""
    shortest = min(len(a), len(b))
    if a == b or shortest < 6 or [c for c in a if not c.isdigit()] == [
            c for c in b if not c.isdigit()]:
        return False
    return edit_distance(a.lower(), b.lower()) <= (2 if shortest >= 12 else 1)


class _Review:
    def __init__(self, docs: Mapping[str, YamlDoc]) -> None:
        self.docs = docs
        self.issues: list[PolicyIssue] = []

    def warn(self, file: str, path: Path_, message: str, *, code: str, rule: str = "",
             key: bool = False) -> None:
        line, col = self.docs[file].where(path, key=key)
        self.issues.append(PolicyIssue(file, line, col, message, policy=file.removesuffix(".yaml"),
                                       rule=rule, code=code, severity="warning"))

    def typos(self, file: str, base: Path_, names: list[str], what: str,
              used: set[str] | None = None) -> set[str]:
        """Warn at each name of one map that looks like a typo of another; return them.

        Of two near names the one nothing uses is the typo, else the later one."""
        flagged: set[str] = set()
        for i, later in enumerate(names):
            for earlier in names[:i]:
                if not looks_like_typo(earlier, later):
                    continue
                typo, meant = later, earlier
                if used is not None and earlier not in used and later in used:
                    typo, meant = earlier, later
                if typo in flagged:
                    continue
                flagged.add(typo)
                self.warn(file, (*base, typo), f"{what} {typo}: did you mean {meant}?",
                          code="typo", rule=f"{base[-1]}.{typo}", key=True)
        return flagged


def _alert_refs(protocols: ProtocolsPolicy | None,
                strategies: Mapping[str, StrategyPolicy]) -> set[str]:
    used: set[str] = set()
    scripts = []
    if protocols is not None:
        for lv in protocols.levels:
            if lv.alert is not None:
                used.add(lv.alert.type)
            if lv.script is not None:
                scripts.append(lv.script)
    for st in strategies.values():
        used.update(r.alert.type for r in st.rules if r.alert is not None)
        scripts.append(st.script)
    for script in scripts:
        used.update(getattr(step, "type", "") for step in script.steps if step.kind == "alert")
    return used


def _constant(expr: Expression) -> bool | None:
    """The value of a condition that reads no name (``"True"``, ``"1 > 2"``), else None."""
    if expr.names:
        return None
    try:
        return bool(Evaluator().value(expr, {}))
    except Exception:  # an error at evaluation is not a constant
        return None


def _never_true(clause: Clause, ranges: Mapping[str, tuple[float, float, str]]
                ) -> tuple[str, str] | None:
    """For ``name op number`` (either way round) whose name has a known range: the name and
    why the clause can never be true, else None."""
    if clause.operator is None or clause.left is None or clause.right is None:
        return None
    op = clause.operator
    name, value = clause.left, clause.right
    if name.kind != "name":
        name, value = value, name
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
    if name.kind != "name" or value.kind != "literal" or name.source not in ranges:
        return None
    if not isinstance(value.value, int | float) or isinstance(value.value, bool):
        return None
    v = float(value.value)
    lo, hi, why = ranges[name.source]
    never = {">=": hi < v, ">": hi <= v, "<=": lo > v, "<": lo >= v,
             "==": v < lo or v > hi}.get(op, False)
    if not never:
        return None
    upper = op in (">=", ">") or (op == "==" and v > hi)
    bound = f"at most {hi:g}" if upper else f"at least {lo:g}"
    return name.source, f"{name.source} is {bound} here{f' ({why})' if why else ''}"


def _strategy_ranges(st: StrategyPolicy, right: str) -> dict[str, tuple[float, float, str]]:
    cc = st.covered_calls
    dte, floor = ((cc.dte, cc.min_premium_pct) if right == "C" and cc is not None
                  else (st.dte, st.premium.min_pct))
    where = "covered_calls.dte" if right == "C" and cc is not None else "dte"
    out = {n: (0.0, INF, "") for n in ("price", "atr", "strike", "premium", "premium_pct", "iv",
                                       "account_equity", "account_cash", "open_positions")}
    out.update({
        "dte": (float(dte.min), float(dte.max), f"{where}: {dte.min}-{dte.max}"),
        "delta": (-1.0, 1.0, ""),
        "rsi": (0.0, 100.0, ""),
        "min_premium_pct": (floor, floor, "the strategy's floor"),
        "target_weekly_pct": (st.premium.target_weekly_pct, st.premium.target_weekly_pct,
                              "premium.target_weekly_pct"),
    })
    return out


def _unreachable(r: _Review, f: str, st: StrategyPolicy,
                 expressions: Mapping[str, Expression]) -> None:
    for i, rule in enumerate(st.rules):
        expr = expressions.get(f"{f}#rules.{i}.if")
        if expr is None:
            continue
        rights = [x for x in rule.rights if x == "P" or (st.covered_calls is not None
                                                         and st.covered_calls.enabled)]
        for clause in expr.clauses:
            found = [_never_true(clause, _strategy_ranges(st, x)) for x in rights]
            if found and all(found):
                why = "; ".join(dict.fromkeys(w for _n, w in (x for x in found if x)))
                r.warn(f, ("rules", i, "if"), f"'{clause.text}' can never be true: {why}; the "
                       "rule never passes", code="unreachable", rule=rule.id)
                break
        if _constant(expr) is False:
            r.warn(f, ("rules", i, "if"), f"'{expr.text}' is always false: the rule never passes",
                   code="unreachable", rule=rule.id)


def _week_modes(r: _Review, weeks: WeekTypesPolicy, expressions: Mapping[str, Expression]) -> None:
    f = "week_types.yaml"
    ranges = {"week_range_pct": (0.0, INF, ""), "atr_pct": (0.0, INF, "")}
    catch_all: str | None = None
    seen: dict[str, str] = {}
    for name in weeks.modes:
        expr = expressions.get(f"{f}#modes.{name}.when")
        if expr is None:
            continue
        rule = f"modes.{name}"
        if catch_all is not None:
            r.warn(f, ("modes", name), f"mode '{name}' is never reached: '{catch_all}' before it "
                   f"matches every week (first match wins)", code="shadowed", rule=rule, key=True)
        elif expr.text in seen:
            r.warn(f, ("modes", name), f"mode '{name}' is never reached: '{seen[expr.text]}' "
                   f"before it has the same condition (first match wins)", code="shadowed",
                   rule=rule, key=True)
        else:
            constant = _constant(expr)
            if constant is False or any(_never_true(c, ranges) for c in expr.clauses):
                r.warn(f, ("modes", name, "when"), f"'{expr.text}' is never true: mode '{name}' "
                       "never matches", code="unreachable", rule=rule)
            if constant is True:
                catch_all = name
        seen.setdefault(expr.text, name)


def _breakers(r: _Review, risk: RiskPolicy, protocols: ProtocolsPolicy | None,
              accounts: AccountsPolicy | None, strategies: Mapping[str, StrategyPolicy]) -> None:
    f = "risk.yaml"
    cb = risk.circuit_breakers
    base = ("circuit_breakers",)
    if protocols is not None:
        top = max(lv.level for lv in protocols.levels)
        if cb.breach_min_level > top:
            r.warn(f, (*base, "breach_min_level"), f"breach_min_level {cb.breach_min_level} is "
                   f"above the highest protocol level ({top}): no position ever counts as a breach",
                   code="unreachable", rule="circuit_breakers/max_simultaneous_breaches")
    if accounts is None or not strategies:
        return
    most = 0
    for spec in accounts.account_types.values():
        st = strategies.get(f"strategies/{spec.strategy}.yaml")
        if st is None:
            return  # a strategy that did not validate: its capacity is unknown
        calls = 2 if st.covered_calls is not None and st.covered_calls.enabled else 1
        most = max(most, len(st.symbols) * st.max_open_per_symbol * calls)
    if cb.max_simultaneous_breaches > most:
        r.warn(f, (*base, "max_simultaneous_breaches"), f"max_simultaneous_breaches "
               f"{cb.max_simultaneous_breaches}: no account can hold more than {most} option "
               "positions at once, so the breaker never fires", code="unreachable",
               rule="circuit_breakers/max_simultaneous_breaches")


def _unused(r: _Review, alerts: AlertsPolicy | None, schedule: SchedulePolicy | None,
            protocols: ProtocolsPolicy | None, strategies: Mapping[str, StrategyPolicy],
            typos: set[str]) -> None:
    if alerts is not None and protocols is not None:
        used = _alert_refs(protocols, strategies) | N.ENGINE_ALERT_TYPES
        for name in alerts.types:
            if name not in used and name not in typos:
                r.warn("alerts.yaml", ("types", name), f"alert type {name} is never raised: no "
                       "level, rule or script names it", code="unused", rule=f"types.{name}",
                       key=True)
    if schedule is not None:
        entering = {st.entry.job for st in strategies.values()}
        for name, job in schedule.jobs.items():
            if job.handler == "entry_scan" and name not in entering and name not in typos:
                r.warn("schedule.yaml", ("jobs", name), f"job {name} runs entry_scan but no "
                       "strategy enters on it (entry.job)", code="unused", rule=f"jobs.{name}",
                       key=True)


def review(models: Mapping[str, BaseModel], docs: Mapping[str, YamlDoc],
           expressions: Mapping[str, Expression]) -> list[PolicyIssue]:
    """Every lint warning for the files in ``models`` (those that validated)."""
    r = _Review(docs)
    protocols = cast(ProtocolsPolicy | None, models.get("protocols.yaml"))
    accounts = cast(AccountsPolicy | None, models.get("accounts.yaml"))
    alerts = cast(AlertsPolicy | None, models.get("alerts.yaml"))
    risk = cast(RiskPolicy | None, models.get("risk.yaml"))
    schedule = cast(SchedulePolicy | None, models.get("schedule.yaml"))
    weeks = cast(WeekTypesPolicy | None, models.get("week_types.yaml"))
    strategies = {n: cast(StrategyPolicy, m) for n, m in models.items()
                  if n.startswith("strategies/")}
    every_strategy = all(n in models for n in docs if n.startswith("strategies/"))
    typos: set[str] = set()
    if alerts is not None:
        used = _alert_refs(protocols, strategies) | N.ENGINE_ALERT_TYPES
        typos |= r.typos("alerts.yaml", ("types",), list(alerts.types), "alert type", used)
    if schedule is not None:
        entering = {st.entry.job for st in strategies.values()}
        typos |= r.typos("schedule.yaml", ("jobs",), list(schedule.jobs), "job", entering)
    if weeks is not None:
        r.typos("week_types.yaml", ("modes",), list(weeks.modes), "week mode")
        r.typos("week_types.yaml", ("types",), list(weeks.types), "week type")
        _week_modes(r, weeks, expressions)
    if accounts is not None:
        r.typos("accounts.yaml", ("account_types",), list(accounts.account_types), "account type")
    if every_strategy:
        _unused(r, alerts, schedule, protocols, strategies, typos)
    for f, st in sorted(strategies.items()):
        _unreachable(r, f, st, expressions)
    if risk is not None:
        _breakers(r, risk, protocols, accounts, strategies if every_strategy else {})
    return r.issues
