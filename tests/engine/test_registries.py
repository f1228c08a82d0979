"""Meta-tests of the registries: every value the policy schema accepts has exactly one
implementation, every implementation is reachable from the schema, and the names each kind of
expression may read are the names the engine gives it."""

from __future__ import annotations

import datetime as dt
import typing
from pathlib import Path
from typing import Any

import pytest

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine import entry, risk, scripts
from alluse.engine.events import iter_events
from alluse.engine.expressions import Evaluator
from alluse.engine.handlers import HANDLERS
from alluse.engine.policy import PolicySet, names
from alluse.engine.policy.common import Step
from alluse.engine.policy.models import Job, Limit, StrikeSelection
from alluse.engine.testing import capture_decisions

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _literal(model: Any, field: str) -> set[str]:
    return set(typing.get_args(model.model_fields[field].annotation))


@pytest.fixture(scope="module")
def ps() -> PolicySet:
    return load_policy_dir(default_policy_dir())


@pytest.mark.parametrize(("registry", "accepted"), [
    (set(HANDLERS), _literal(Job, "handler")),
    (set(entry.STRIKE_METHODS), _literal(StrikeSelection, "method")),
    (set(risk.LIMIT_MEASURES), _literal(Limit, "measure")),
    (set(scripts.STEP_KINDS), {m.model_fields["kind"].annotation.__args__[0]  # type: ignore[union-attr]
                               for m in typing.get_args(typing.get_args(Step)[0])}),
], ids=["job handlers", "strike methods", "limit measures", "script step kinds"])
def test_each_schema_value_has_exactly_one_implementation(registry: set[str], accepted: set[str]) -> None:
    """The YAML values the models accept are the registry's keys, no more, no less."""
    assert accepted == registry


def test_every_handler_declares_only_data_needs_the_engine_serves() -> None:
    """A job handler's needs are among those `Engine.data_needs` turns into requests."""
    assert set() == {n for h in HANDLERS.values() for n in h.needs} - {
        "option_chains", "position_quotes"}


def _captured(ps: PolicySet, monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """The names the engine passes to each kind of expression over the scenarios."""
    seen: dict[str, set[str]] = {}
    original = Evaluator.test

    def spy(self: Evaluator, expr: Any, values: Any) -> Any:
        kind = expr.rule_id.split("#")[1].split("/")[0] if "#" in expr.rule_id else "?"
        seen.setdefault(kind, set()).update(values)
        return original(self, expr, values)

    monkeypatch.setattr(Evaluator, "test", spy)
    for path in sorted(SCENARIOS.glob("*.jsonl")):
        events = [ev for _, ev in iter_events(path.read_text().splitlines())]
        capture_decisions(ps, events, capital=100_000)
    # a Saturday weekly cycle after a week of bars classifies modes and outcome types
    from alluse.engine.testing import EventBuilder

    ev = EventBuilder("2026-11-16")
    first = ev.daily_bars("TSLA", [250.0 + i for i in range(20)], spread=5.0,
                          end=dt.date(2026, 11, 14))
    week = ev.daily_bars("TSLA", [270.0 + i for i in range(5)], spread=5.0,
                         end=dt.date(2026, 11, 21))
    capture_decisions(ps, [*first, EventBuilder("2026-11-14").clock("weekly_cycle", "10:00"),
                           EventBuilder("2026-11-16").clock("week_prediction", "08:00"),
                           *week, EventBuilder("2026-11-21").clock("weekly_cycle", "10:00")],
                      capital=100_000)
    return seen


def test_entry_rules_and_week_tables_read_exactly_the_names_lint_allows(
        ps: PolicySet, monkeypatch: pytest.MonkeyPatch) -> None:
    """names.py (what lint lets an expression read) equals what the engine provides: entry rules
    get every ENTRY_RULE name (and the script's extras), week modes exactly WEEK_MODE, week
    predictions exactly WEEK_PREDICTION."""
    seen = _captured(ps, monkeypatch)
    assert (set(), names.WEEK_MODE, names.WEEK_PREDICTION) == (
        names.ENTRY_RULE - seen["rules"], seen["modes"], seen["predictions"])
    assert seen["rules"] <= names.ENTRY_SCRIPT
