"""Loading policy test files: structure and types (the `testfile` models), then the events (the
checks of `alluse.engine.events`), then references into the policy set under test (rule ids,
alert types, script templates, jobs, policy overrides). Every problem is a `PolicyIssue` at the
test file's line:col; a file with any problem runs no case. Pure: takes file contents.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from alluse.engine.calendar import NY
from alluse.engine.errors import EventError, PolicyIssue, PolicyLoadError
from alluse.engine.events import Event, parse_event
from alluse.engine.policy.loader import (
    PolicySet,
    _rule_name,
    _validation_issues,
    load_policy_set,
)
from alluse.engine.policy.testfile import (
    TESTS_DIR,
    DailyBarsEvent,
    PolicyTestCase,
    PolicyTestFile,
    SettlementEvent,
)
from alluse.engine.policy.yamlsource import YamlDoc, parse_yaml

Path_ = tuple[str | int, ...]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DAY_HHMM = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T]([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class LoadedCase:
    """A case ready to run: its events built and the policy set it runs under."""

    file: str
    line: int
    col: int
    name: str
    case: PolicyTestCase
    policy: PolicySet
    events: tuple[Event, ...]
    event_at: tuple[tuple[int, int], ...]  # each event's line:col (a daily_bars item's, repeated)


def is_test_file(name: str) -> bool:
    return name.startswith(TESTS_DIR + "/")


class _Issues:
    def __init__(self, doc: YamlDoc) -> None:
        self.doc = doc
        self.found: list[PolicyIssue] = []

    def add(self, path: Path_, message: str, *, key: bool = False,
            code: str = "policy-test") -> None:
        line, col = self.doc.where(path, key=key)
        self.found.append(PolicyIssue(self.doc.file, line, col, message,
                                      policy=self.doc.file.removesuffix(".yaml"),
                                      rule=_rule_name(self.doc.data, path), code=code))


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _ts(text: str, day: str | None) -> str:
    """``HH:MM`` (on ``day``) or ``YYYY-MM-DD HH:MM`` in New York → ISO 8601 with its offset."""
    if _HHMM.match(text):
        if day is None:
            raise EventError(f"'{text}' is a time of day: give the case a 'day' or a full "
                             "timestamp", field="ts")
        text = f"{day} {text}"
    m = _DAY_HHMM.match(text)
    if m is None:
        return text
    try:
        d = dt.date.fromisoformat(m.group(1))
    except ValueError:
        raise EventError(f"'{m.group(1)}' is not a date", field="ts") from None
    local = dt.datetime.combine(d, dt.time(int(m.group(2)), int(m.group(3))), tzinfo=NY)
    return local.isoformat()


def _weekdays_before(end: dt.date, n: int) -> list[dt.date]:
    days: list[dt.date] = []
    d = end - dt.timedelta(days=1)
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d -= dt.timedelta(days=1)
    return days[::-1]


def _case_events(case: PolicyTestCase, path: Path_, issues: _Issues
                 ) -> tuple[list[Event], list[tuple[int, int]]]:
    events: list[Event] = []
    at: list[tuple[int, int]] = []
    for i, item in enumerate(case.events):
        here = (*path, "events", i)
        if isinstance(item, DailyBarsEvent):
            end = item.end or case.day
            if end is None:
                issues.add((*here, "type"), "daily_bars needs an 'end' date or the case's 'day'")
                continue
            half = item.spread / 2
            for d, c in zip(_weekdays_before(dt.date.fromisoformat(end), len(item.closes)),
                            item.closes, strict=True):
                raw = {"type": "bar", "ts": f"{d.isoformat()} 16:00", "symbol": item.symbol,
                       "open": c, "high": c + half, "low": c - half, "close": c,
                       "volume": 1_000_000}
                built = _event(raw, case.day, (*here, "closes"), issues)
                if built is None:
                    break
                events.append(built)
                at.append(issues.doc.where(here))
            continue
        raw = item.model_dump(exclude_none=True, by_alias=True)
        if isinstance(item, SettlementEvent) and item.ts is None:
            raw["ts"] = f"{item.expiry} 16:00"
        built = _event(raw, case.day, here, issues)
        if built is not None:
            events.append(built)
            at.append(issues.doc.where(here))
    return events, at


def _event(raw: dict[str, Any], day: str | None, here: Path_, issues: _Issues) -> Event | None:
    try:
        raw["ts"] = _ts(str(raw["ts"]), day)
        return parse_event(raw)
    except EventError as exc:
        field = exc.field if exc.field is not None and here[-1] != "closes" else None
        message = str(exc).removeprefix(f"field {exc.field!r}: ") if exc.field else str(exc)
        shown = f"{exc.field}: {message}" if exc.field else message
        issues.add((*here, field) if field else here, shown, code="event")
        return None


def _merge(base: Any, change: Any) -> Any:
    if isinstance(base, dict) and isinstance(change, dict):
        out = dict(base)
        for k, v in change.items():
            out[k] = _merge(base.get(k), v)
        return out
    return change


def _overridden(policy_files: Mapping[str, bytes], overrides: dict[str, dict[str, Any]],
                path: Path_, issues: _Issues, cache: dict[str, PolicySet]) -> PolicySet | None:
    key = json.dumps(overrides, sort_keys=True)
    if key in cache:
        return cache[key]
    files = dict(policy_files)
    for name, change in overrides.items():
        if name not in files:
            issues.add((*path, "policy", name), f"'{name}' is not a file of the policy set under "
                       f"test{_hint(name, files)}", key=True)
            return None
        doc, _ = parse_yaml(name, files[name])
        if doc is None:
            return None  # the set itself is broken: reported when it loads
        files[name] = json.dumps(_merge(doc.data, change)).encode()
    try:
        ps = load_policy_set(files)
    except PolicyLoadError as exc:
        for issue in exc.issues:
            issues.add((*path, "policy", issue.file), f"with this change, {issue.file} is invalid: "
                       f"{issue.message}", key=True)
        return None
    cache[key] = ps
    return ps


def _templates(ps: PolicySet) -> set[str]:
    found = {st.script.id for st in ps.strategies.values()}
    found |= {lv.script.id for lv in ps.protocols.levels if lv.script is not None}
    return found


def _references(case: PolicyTestCase, ps: PolicySet, path: Path_, issues: _Issues) -> None:
    ex = case.expect
    for which in ("fired", "not_fired"):
        for i, rid in enumerate(getattr(ex, which)):
            if rid not in ps.rules:
                issues.add((*path, "expect", which, i), f"no rule '{rid}' in the policy set"
                           f"{_hint(rid, ps.rules)} (`alluse policy rules` lists them)")
    for i, a in enumerate(ex.alerts or []):
        if a.type not in ps.alerts.types:
            issues.add((*path, "expect", "alerts", i, "type"), f"alert type '{a.type}' is not "
                       f"in alerts.yaml{_hint(a.type, ps.alerts.types)}")
    templates = _templates(ps)
    for i, s in enumerate(ex.scripts or []):
        if s.template is not None and s.template not in templates:
            issues.add((*path, "expect", "scripts", i, "template"), f"no script template "
                       f"'{s.template}' in the policy set{_hint(s.template, templates)}")
    for i, item in enumerate(case.events):
        if item.type == "clock" and item.name not in ps.schedule.jobs:
            issues.add((*path, "events", i, "name"), f"no job '{item.name}' in schedule.yaml"
                       f"{_hint(item.name, ps.schedule.jobs)}")
    if not (ex.fired or ex.not_fired or ex.accounts or ex.wheels) and all(
            x is None for x in (ex.levels, ex.alerts, ex.scripts)):
        issues.add((*path, "expect"), "expect checks nothing: give fired, not_fired, levels, "
                   "alerts, scripts, accounts or wheels", key=True)


def load_test_file(name: str, raw: bytes, ps: PolicySet, policy_files: Mapping[str, bytes]
                   ) -> tuple[list[LoadedCase], list[PolicyIssue]]:
    """The cases of one test file, or the issues that keep it from running."""
    doc, found = parse_yaml(name, raw)
    if doc is None or found:
        return [], found
    try:
        model = PolicyTestFile.model_validate(doc.data)
    except ValidationError as exc:
        return [], _validation_issues(doc, PolicyTestFile, name.removesuffix(".yaml"), exc)
    issues = _Issues(doc)
    cache: dict[str, PolicySet] = {}
    cases: list[LoadedCase] = []
    names: dict[str, int] = {}
    for i, case in enumerate(model.cases):
        path: Path_ = ("cases", i)
        if case.name in names:
            issues.add((*path, "name"), f"case name '{case.name}' is used twice (first in case "
                       f"{names[case.name] + 1})")
        names.setdefault(case.name, i)
        policy = ps
        if case.policy:
            changed = _overridden(policy_files, case.policy, path, issues, cache)
            if changed is None:
                continue
            policy = changed
        _references(case, policy, path, issues)
        events, at = _case_events(case, path, issues)
        line, col = doc.values[path]
        cases.append(LoadedCase(name, line, col, case.name, case, policy, tuple(events),
                                tuple(at)))
    return ([], issues.found) if issues.found else (cases, [])


def load_policy_tests(files: Mapping[str, bytes], ps: PolicySet
                      ) -> tuple[list[LoadedCase], list[PolicyIssue]]:
    """Every case of every ``tests/*.yaml`` in ``files`` (a policy directory's files, the set
    under test among them), or every issue found in them."""
    policy_files = {k: v for k, v in files.items() if not is_test_file(k)}
    cases: list[LoadedCase] = []
    issues: list[PolicyIssue] = []
    for name in sorted(k for k in files if is_test_file(k)):
        if not name.endswith(".yaml") or name.count("/") != 1:
            issues.append(PolicyIssue(name, 1, 1, f"policy tests are {TESTS_DIR}/<name>.yaml "
                                      "files", code="file-name"))
            continue
        got, found = load_test_file(name, files[name], ps, policy_files)
        cases += got
        issues += found
    return cases, sorted(issues, key=lambda i: (i.file, i.line, i.col, i.message))
