"""Cross-reference checks across policy files, run once every file has validated on its own.

They also compile every expression (so lint and load parse each expression exactly once) and
check every text template's placeholders against the names its context provides.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import cast

from pydantic import BaseModel

from alluse.engine.alerting import ENGINE_ALERT_TYPES
from alluse.engine.errors import PolicyIssue
from alluse.engine.expressions import Expression, ExpressionError, compile_expression
from alluse.engine.policy import names as N
from alluse.engine.policy.common import (
    WEEKDAY_INDEX,
    AlertRef,
    AlertStep,
    NoteStep,
    OrderStep,
    ScriptTemplate,
)
from alluse.engine.policy.cron import CronError, never_fires, parse_cron
from alluse.engine.policy.models import (
    STRIKE_PARAMETERS,
    AccountsPolicy,
    AlertsPolicy,
    DataPolicy,
    ProtocolsPolicy,
    SchedulePolicy,
    StrategyPolicy,
    WeekTypesPolicy,
)
from alluse.engine.policy.yamlsource import YamlDoc

_SPEC = re.compile(r"^[<>^=]?[+\- ]?#?0?\d{0,2}[,_]?(\.\d{1,2})?[deEfFgGn%s]?$")
DST_HOURS = {1, 2}


class _Checker:
    def __init__(self, docs: dict[str, YamlDoc], expressions: dict[str, Expression]) -> None:
        self.docs = docs
        self.expressions = expressions
        self.issues: list[PolicyIssue] = []
        self.present: set[str] = set()

    def add(self, file: str, path: tuple[str | int, ...], message: str, *, rule: str = "",
            key: bool = False, code: str = "crossref", col_offset: int = 0) -> None:
        doc = self.docs[file]
        line, col = doc.where(path, key=key)
        self.issues.append(PolicyIssue(file, line, col + col_offset, message,
                                       policy=file.removesuffix(".yaml"), rule=rule, code=code))

    def expression(self, file: str, path: tuple[str | int, ...], text: str,
                   allowed: frozenset[str], rule: str, *, kinds: Mapping[str, str] | None = None,
                   expect: str | None = None) -> None:
        """Compile ``text`` once; with ``kinds`` (each name's type), type-check it too:
        ``expect`` is what the whole expression must be (``bool`` for a condition)."""
        try:
            compiled = compile_expression(text, allowed, kinds=kinds, expect=expect)
        except ExpressionError as exc:
            quoted = 1 if path in self.docs[file].quoted else 0
            self.add(file, path, f"expression '{text}': {exc}", rule=rule, code="expression",
                     col_offset=quoted + exc.col - 1)
            return
        self.expressions[file + "#" + ".".join(str(p) for p in path)] = compiled

    def template(self, file: str, path: tuple[str | int, ...], text: str,
                 allowed: frozenset[str], rule: str) -> None:
        try:
            parts = list(string.Formatter().parse(text))
        except ValueError as exc:
            self.add(file, path, f"template: {exc}", rule=rule, code="template")
            return
        for _lit, field, spec, conv in parts:
            if field is None:
                continue
            if conv is not None:
                self.add(file, path, f"template field '{{{field}!{conv}}}': conversions are not "
                         "allowed", rule=rule, code="template")
            elif not field.isidentifier():
                try:
                    compile_expression(field, allowed)
                except ExpressionError as exc:
                    self.add(file, path, f"template field '{{{field}}}': {exc}", rule=rule,
                             code="template")
                    continue
                self.add(file, path, f"template field '{{{field}}}': only plain names are "
                         "allowed in templates", rule=rule, code="template")
            elif field not in allowed:
                self.add(file, path, f"template field '{{{field}}}' is not a known name (known: "
                         f"{', '.join(sorted(allowed))})", rule=rule, code="template")
            elif spec and not _SPEC.match(spec):
                self.add(file, path, f"template field '{{{field}:{spec}}}': format spec not "
                         "allowed", rule=rule, code="template")

    def alert_ref(self, file: str, path: tuple[str | int, ...], ref: AlertRef | AlertStep,
                  alert_types: set[str] | None, rule: str) -> None:
        if alert_types is not None and ref.type not in alert_types:
            self.add(file, (*path, "type"), f"alert type '{ref.type}' is not declared in "
                     f"alerts.yaml (declared: {', '.join(sorted(alert_types))})", rule=rule)

    def script(self, file: str, path: tuple[str | int, ...], script: ScriptTemplate,
               allowed: frozenset[str], alert_types: set[str] | None) -> None:
        rule = f"script {script.id}"
        self.template(file, (*path, "title"), script.title, allowed, rule)
        for i, step in enumerate(script.steps):
            sp = (*path, "steps", i)
            if isinstance(step, OrderStep):
                for fld in ("strike", "quantity", "limit"):
                    text = getattr(step, fld)
                    if text is not None:
                        self.expression(file, (*sp, fld), text, allowed, rule,
                                        kinds=N.kinds(allowed), expect="number")
                if step.order_type == "LMT" and step.limit is None:
                    self.add(file, sp, "a LMT order needs a 'limit' expression", rule=rule)
                if step.contract == "new" and step.strike is None:
                    self.add(file, sp, "an order on a new contract needs a 'strike'", rule=rule)
            elif isinstance(step, AlertStep):
                self.alert_ref(file, sp, step, alert_types, rule)
                self.template(file, (*sp, "title"), step.title, allowed, rule)
            elif isinstance(step, NoteStep):
                self.template(file, (*sp, "text"), step.text, allowed, rule)


def _sum_is_100(values: Iterable[float]) -> bool:
    return abs(sum(values) - 100.0) < 1e-9


def _protocols(c: _Checker, protocols: ProtocolsPolicy, alert_types: set[str] | None) -> None:
    """Levels 0..n-1 in order, thresholds strictly ascending from 0."""
    f = "protocols.yaml"
    for i, lv in enumerate(protocols.levels):
        rule = f"level {lv.level}"
        if lv.level != i:
            c.add(f, ("levels", i, "level"), f"levels must be contiguous and ascending from 0: "
                  f"expected level {i}, found {lv.level}", rule=rule)
        if i == 0 and lv.min_atr_multiple != 0:
            c.add(f, ("levels", i, "min_atr_multiple"), "level 0 must start at min_atr_multiple 0",
                  rule=rule)
        if i > 0 and lv.min_atr_multiple <= protocols.levels[i - 1].min_atr_multiple:
            c.add(f, ("levels", i, "min_atr_multiple"),
                  f"thresholds must be strictly ascending: {lv.min_atr_multiple} is not above "
                  f"level {protocols.levels[i - 1].level}'s "
                  f"{protocols.levels[i - 1].min_atr_multiple}", rule=rule)
        if lv.alert is not None:
            c.alert_ref(f, ("levels", i, "alert"), lv.alert, alert_types, rule)
        if lv.script is not None:
            c.script(f, ("levels", i, "script"), lv.script, N.PROTOCOL_SCRIPT, alert_types)
        if lv.covered_script is not None:
            c.script(f, ("levels", i, "covered_script"), lv.covered_script, N.PROTOCOL_SCRIPT,
                     alert_types)
    for i in range(1, len(protocols.levels)):
        if protocols.levels[i].new_risk == "allowed" and protocols.levels[i - 1].new_risk == "blocked":
            c.add(f, ("levels", i, "new_risk"), "a higher level cannot allow new risk that a "
                  "lower level blocks", rule=f"level {protocols.levels[i].level}")


def _accounts(c: _Checker, accounts: AccountsPolicy, strategies: dict[str, StrategyPolicy]) -> None:
    """Splits sum to 100, every referenced type and strategy exists."""
    f = "accounts.yaml"
    account_types = set(accounts.account_types)
    if not _sum_is_100(accounts.split.values()):
        c.add(f, ("split",), f"the account split must sum to 100%, found "
              f"{sum(accounts.split.values()):g}%")
    for t in accounts.split:
        if t not in account_types:
            c.add(f, ("split", t), f"account type '{t}' is not declared in account_types", key=True)
    for t in account_types - set(accounts.split):
        c.add(f, ("account_types", t), f"account type '{t}' gets no share of the split", key=True)
    cap = accounts.capital
    if not cap.minimum <= cap.default <= cap.maximum:
        c.add(f, ("capital",), "capital must satisfy minimum ≤ default ≤ maximum")
    for t, spec in accounts.account_types.items():
        file = f"strategies/{spec.strategy}.yaml"
        if file not in c.present:
            c.add(f, ("account_types", t, "strategy"), f"strategy '{spec.strategy}' has no file "
                  f"strategies/{spec.strategy}.yaml", rule=f"account_types.{t}")
    forking = {r.account_type for r in accounts.fork}
    for i, fr in enumerate(accounts.fork):
        rule = f"fork[{fr.account_type}]"
        if fr.account_type not in account_types:
            c.add(f, ("fork", i, "account_type"), f"account type '{fr.account_type}' is not "
                  "declared in account_types", rule=rule)
        elif not accounts.account_types[fr.account_type].forks:
            c.add(f, ("fork", i, "account_type"), f"'{fr.account_type}' has forks: false in "
                  "account_types but a fork rule here", rule=rule)
        if not _sum_is_100(fr.split.values()):
            c.add(f, ("fork", i, "split"), f"a fork split must sum to 100%, found "
                  f"{sum(fr.split.values()):g}%", rule=rule)
        for t in fr.split:
            if t not in account_types:
                c.add(f, ("fork", i, "split", t), f"account type '{t}' is not declared in "
                      "account_types", rule=rule, key=True)
    for t, spec in accounts.account_types.items():
        if spec.forks and t not in forking:
            c.add(f, ("account_types", t, "forks"), f"'{t}' forks but has no rule under fork",
                  rule=f"account_types.{t}")
    if accounts.merge.into_account_type not in account_types:
        c.add(f, ("merge", "into_account_type"), f"account type "
              f"'{accounts.merge.into_account_type}' is not declared in account_types")
    for i, r in enumerate(accounts.reinvestment):
        rule = f"reinvestment[{r.account_type}]"
        if r.account_type not in account_types:
            c.add(f, ("reinvestment", i, "account_type"), f"account type '{r.account_type}' is "
                  "not declared in account_types", rule=rule)
        elif r.reinvest_pct < 100 and not accounts.account_types[r.account_type].withdrawals:
            c.add(f, ("reinvestment", i, "reinvest_pct"), f"'{r.account_type}' has withdrawals: "
                  f"false in account_types: it keeps all its gains, so reinvest_pct must be 100 "
                  f"(found {r.reinvest_pct:g})", rule=rule)
        if r.cadence == "never" and r.reinvest_pct < 100:
            c.add(f, ("reinvestment", i, "reinvest_pct"), f"cadence: never has no period to "
                  f"withdraw from: reinvest_pct must be 100 (found {r.reinvest_pct:g})", rule=rule)


def _schedule(c: _Checker, schedule: SchedulePolicy) -> None:
    """Every cron parses, can fire at all, and stays out of the DST hours."""
    f = "schedule.yaml"
    for name, job in schedule.jobs.items():
        try:
            fields = parse_cron(job.cron)
        except CronError as exc:
            c.add(f, ("jobs", name, "cron"), f"cron '{job.cron}': {exc}", rule=f"jobs.{name}")
            continue
        if never_fires(fields):
            c.add(f, ("jobs", name, "cron"), f"cron '{job.cron}' never fires: no month has "
                  "those days", rule=f"jobs.{name}", code="cron-never-fires")
        elif fields[1] & DST_HOURS:
            c.add(f, ("jobs", name, "cron"), f"cron '{job.cron}' fires between 01:00 and 03:00, "
                  "where daylight-saving changes skip or repeat the hour", rule=f"jobs.{name}")


def _entry_times(st: StrategyPolicy, fields: list[set[int]]) -> bool:
    """Whether a job with these cron fields ever fires on an entry day inside the window."""
    days = {WEEKDAY_INDEX[d] for d in st.entry.days}
    if not days & fields[4]:
        return False
    start, end = st.entry.window.start, st.entry.window.end
    return any(start <= f"{h:02d}:{m:02d}" < end for h in fields[1] for m in fields[0])


def _entry_jobs(c: _Checker, schedule: SchedulePolicy,
                strategies: dict[str, StrategyPolicy]) -> None:
    """An entry job that never fires when a strategy entering on it trades: moved to another day
    or hour, the strategy never enters. Said at the job when no strategy on it can enter, else
    at each strategy that cannot."""
    for name, job in schedule.jobs.items():
        users = {f: st for f, st in strategies.items() if st.entry.job == name and st.enabled
                 and st.entry.window.start < st.entry.window.end}  # an empty window: said above
        if not users or not job.enabled or job.handler != "entry_scan":
            continue
        try:
            fields = parse_cron(job.cron)
        except CronError:
            continue  # said by _schedule
        missed = {f: st for f, st in users.items() if not _entry_times(st, fields)}
        if not missed:
            continue
        if len(missed) == len(users):
            when = "; ".join(f"{f.removeprefix('strategies/').removesuffix('.yaml')}: "
                             f"{','.join(st.entry.days)} {st.entry.window.start}-"
                             f"{st.entry.window.end}" for f, st in sorted(users.items()))
            c.add("schedule.yaml", ("jobs", name, "cron"), f"cron '{job.cron}' never fires when "
                  f"a strategy entering on it trades ({when})", rule=f"jobs.{name}",
                  code="entry-never-runs")
            continue
        for f, st in sorted(missed.items()):
            c.add(f, ("entry", "days"), f"job '{name}' (cron '{job.cron}') never fires on "
                  f"{','.join(st.entry.days)} between {st.entry.window.start} and "
                  f"{st.entry.window.end}: this strategy never enters", code="entry-never-runs")


def _strategy(c: _Checker, f: str, st: StrategyPolicy, accounts: AccountsPolicy | None,
              schedule: SchedulePolicy | None, alert_types: set[str] | None) -> None:
    if accounts is not None:
        account_types = set(accounts.account_types)
        if st.account_type not in account_types:
            c.add(f, ("account_type",), f"account type '{st.account_type}' is not declared in "
                  f"accounts.yaml (declared: {', '.join(sorted(account_types))})")
        elif f"strategies/{accounts.account_types[st.account_type].strategy}.yaml" != f:
            c.add(f, ("account_type",), f"accounts.yaml gives '{st.account_type}' the strategy "
                  f"'{accounts.account_types[st.account_type].strategy}', not this file")
    if schedule is not None:
        entry_job = schedule.jobs.get(st.entry.job)
        if entry_job is None:
            c.add(f, ("entry", "job"), f"schedule job '{st.entry.job}' is not declared in "
                  f"schedule.yaml (declared: {', '.join(sorted(schedule.jobs))})")
        elif entry_job.handler != "entry_scan":
            c.add(f, ("entry", "job"), f"schedule job '{st.entry.job}' runs '{entry_job.handler}', "
                  "not entry_scan")
    if st.entry.window.start >= st.entry.window.end:
        c.add(f, ("entry", "window"), f"entry window {st.entry.window.start}-"
              f"{st.entry.window.end} is empty: start must be before end")
    if st.dte.min > st.dte.max:
        c.add(f, ("dte",), f"dte min {st.dte.min} is above max {st.dte.max}")
    for sel_path, sel in ((("strike",), st.strike),) + (
            ((("covered_calls", "strike"), st.covered_calls.strike),) if st.covered_calls
            else ()):
        for param in sorted(sel.model_fields_set - {"method"}):
            if param not in STRIKE_PARAMETERS[sel.method]:
                uses = ", ".join(STRIKE_PARAMETERS[sel.method]) or "no parameter"
                c.add(f, (*sel_path, param), f"'{param}' does nothing with strike method "
                      f"'{sel.method}' (it uses {uses}): remove it or change the method",
                      key=True)
        if sel.method == "delta_band" and sel.delta_min >= sel.delta_max:
            c.add(f, (*sel_path, "delta_min"), f"delta band {sel.delta_min}-{sel.delta_max} "
                  "is empty")
    for i, entry_rule in enumerate(st.rules):  # duplicate ids: rules.build_rules
        c.expression(f, ("rules", i, "if"), entry_rule.if_, N.ENTRY_RULE, entry_rule.id,
                     kinds=N.ENTRY_RULE_KINDS, expect="bool")
        if entry_rule.on_fail == "hitl_alert" and entry_rule.alert is None:
            c.add(f, ("rules", i), "on_fail: hitl_alert needs an 'alert'", rule=entry_rule.id)
        if entry_rule.alert is not None:
            c.alert_ref(f, ("rules", i, "alert"), entry_rule.alert, alert_types, entry_rule.id)
        if entry_rule.message is not None:
            c.template(f, ("rules", i, "message"), entry_rule.message, N.ENTRY_RULE, entry_rule.id)
    c.script(f, ("script",), st.script, N.ENTRY_SCRIPT, alert_types)
    pr = st.premium
    if pr.min_yearly_pct is not None and pr.target_yearly_pct is None:
        c.add(f, ("premium", "min_yearly_pct"), "min_yearly_pct needs a target_yearly_pct")
    elif pr.min_yearly_pct is not None and pr.target_yearly_pct is not None and \
            pr.min_yearly_pct > pr.target_yearly_pct:
        c.add(f, ("premium", "min_yearly_pct"), f"min_yearly_pct {pr.min_yearly_pct:g} is "
              f"above target_yearly_pct {pr.target_yearly_pct:g}")


def check_cross_references(models: dict[str, BaseModel], docs: dict[str, YamlDoc],
                           expressions: dict[str, Expression], *,
                           present: Iterable[str] = ()) -> list[PolicyIssue]:
    """Every cross-file check whose files validated on their own: a file with schema errors
    (missing from ``models``) skips only the checks that need it, so a type error in one file
    does not hide a threshold-order error in another. ``present`` names every file of the set,
    valid or not (a strategy file with errors of its own still exists)."""
    c = _Checker(docs, expressions)
    c.present = set(present) | set(models)
    protocols = cast(ProtocolsPolicy | None, models.get("protocols.yaml"))
    accounts = cast(AccountsPolicy | None, models.get("accounts.yaml"))
    alerts = cast(AlertsPolicy | None, models.get("alerts.yaml"))
    data = cast(DataPolicy | None, models.get("data.yaml"))
    schedule = cast(SchedulePolicy | None, models.get("schedule.yaml"))
    weeks = cast(WeekTypesPolicy | None, models.get("week_types.yaml"))
    strategies = {n: cast(StrategyPolicy, m) for n, m in models.items()
                  if n.startswith("strategies/")}
    alert_types = set(alerts.types) if alerts is not None else None
    if alert_types is not None:  # the types the engine raises by itself
        for missing in sorted(set(ENGINE_ALERT_TYPES) - alert_types):
            c.add("alerts.yaml", ("types",), f"alert type '{missing}' must be declared: the "
                  f"engine raises it (engine alert types: {', '.join(ENGINE_ALERT_TYPES)})",
                  key=True)
    if protocols is not None:
        _protocols(c, protocols, alert_types)
    if accounts is not None:
        _accounts(c, accounts, strategies)
    if data is not None and data.indicators.macd.fast >= data.indicators.macd.slow:
        c.add("data.yaml", ("indicators", "macd"), "MACD fast period must be below the slow period")
    if schedule is not None:
        _schedule(c, schedule)
    if weeks is not None:
        f = "week_types.yaml"
        for name, mode in weeks.modes.items():
            c.expression(f, ("modes", name, "when"), mode.when, N.WEEK_MODE, f"modes.{name}",
                         kinds=N.WEEK_MODE_KINDS, expect="bool")
        for code, wt in weeks.types.items():
            c.expression(f, ("types", code, "when"), wt.when, N.WEEK_TYPE, f"types.{code}",
                         kinds=N.WEEK_TYPE_KINDS, expect="bool")
        _check_predictions(c, weeks)
    for f, st in sorted(strategies.items()):
        _strategy(c, f, st, accounts, schedule, alert_types)
    if schedule is not None:
        _entry_jobs(c, schedule, strategies)
    return c.issues


def _check_predictions(c: _Checker, weeks: WeekTypesPolicy) -> None:
    """Prediction rules read WEEK_PREDICTION names and predict declared modes; expected types
    are declared codes of the right family."""
    f = "week_types.yaml"
    pred = weeks.predictions
    if pred is None:
        return
    modes = ", ".join(weeks.modes)
    for name, rule in pred.rules.items():
        where = f"predictions.rules.{name}"
        c.expression(f, ("predictions", "rules", name, "when"), rule.when, N.WEEK_PREDICTION,
                     where, kinds=N.WEEK_PREDICTION_KINDS, expect="bool")
        if rule.mode not in weeks.modes:
            c.add(f, ("predictions", "rules", name, "mode"), f"mode '{rule.mode}' is not "
                  f"declared under modes (declared: {modes})", rule=where)
    for mode, expected in pred.expected_types.items():
        where = f"predictions.expected_types.{mode}"
        if mode not in weeks.modes:
            c.add(f, ("predictions", "expected_types", mode), f"mode '{mode}' is not declared "
                  f"under modes (declared: {modes})", rule=where, key=True)
        for family in ("put", "call"):
            code = getattr(expected, family)
            if code is None:
                continue
            wt = weeks.types.get(code)
            if wt is None:
                c.add(f, ("predictions", "expected_types", mode, family), f"week type '{code}' "
                      f"is not declared under types (declared: {', '.join(weeks.types)})",
                      rule=where)
            elif wt.family != family:
                c.add(f, ("predictions", "expected_types", mode, family), f"week type '{code}' "
                      f"is a {wt.family} type, not a {family} type", rule=where)
