"""`diff_sets`: a semantic diff of two policy sets, graded by the bundled rules (data)."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import importlib.resources

import pytest
from ruamel.yaml import YAML

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine.policy.diff import Grading, GradingRule, diff_sets, summary
from alluse.engine.policy.yamlsource import parse_yaml

DEFAULT = read_policy_files(default_policy_dir())
# the line of GEN-ACC's premium floor in the default set (1-based), read from the file itself
FLOOR_LINE = 1 + DEFAULT["strategies/gen_acc.yaml"].decode().splitlines().index(
    next(x for x in DEFAULT["strategies/gen_acc.yaml"].decode().splitlines()
         if x.startswith("  min_pct: ")))
GRADING = Grading.model_validate(YAML(typ="safe").load(
    (importlib.resources.files("alluse") / "data" / "policy_grading.yaml").read_text("utf-8")))


def docs(files: dict[str, bytes]):
    return {rel: parse_yaml(rel, raw)[0] for rel, raw in files.items()}


def edited(rel: str, old: str, new: str) -> dict[str, bytes]:
    text = DEFAULT[rel].decode("utf-8")
    assert 1 == text.count(old), old
    return {**DEFAULT, rel: text.replace(old, new).encode("utf-8")}


def changes_of(after: dict[str, bytes]):
    return diff_sets(docs(DEFAULT), docs(after), GRADING)


def test_identical_sets_have_no_changes():
    """Same files: nothing to report."""
    assert [] == changes_of(DEFAULT)


def test_lowering_the_gen_acc_premium_floor_loosens_with_both_positions():
    """1.5 → 1.0 on GEN-ACC's floor: one change, graded loosens, file:line:col on each side."""
    [change] = changes_of(edited("strategies/gen_acc.yaml", "min_pct: 1.5 ", "min_pct: 1.0 "))
    assert ("strategies/gen_acc.premium.min_pct", "changed", 1.5, 1.0, "loosens",
            ("strategies/gen_acc.yaml", FLOOR_LINE, 12), ("strategies/gen_acc.yaml", FLOOR_LINE, 12)) == (
        change.path, change.kind, change.old, change.new, change.grade, change.a, change.b)
    assert "strategies/*.premium.min_pct" == change.rule


@pytest.mark.parametrize(("rel", "old", "new", "path", "grade"), [
    ("risk.yaml", "blacklist: []", "blacklist: [GME]", "risk.blacklist[GME]", "tightens"),
    ("protocols.yaml", "min_atr_multiple: 2.0", "min_atr_multiple: 2.5",
     "protocols.levels[2].min_atr_multiple", "loosens"),
    ("risk.yaml", "max_pct_of_account: 5", "max_pct_of_account: 8",
     "risk.position_limit.max_pct_of_account", "loosens"),
    ("protocols.yaml", "new_risk: reduced", "new_risk: blocked", "protocols.levels[2].new_risk",
     "tightens"),
    ("strategies/gen_acc.yaml", "symbols: [TSLA, NVDA]", "symbols: [TSLA, NVDA, AMD]",
     "strategies/gen_acc.symbols[AMD]", "loosens"),
    ("strategies/gen_acc.yaml", "description: Premium must reach",
     "description: The premium must reach", "strategies/gen_acc.rules[premium_floor].description",
     "neutral"),
    ("data.yaml", "every_minutes: 30", "every_minutes: 15", "data.premium_tracker.every_minutes",
     "unclear"),
])
def test_grades_come_from_the_rules(rel, old, new, path, grade):
    """Each kind of change gets the grade its rule gives; an ungraded one is unclear."""
    [change] = changes_of(edited(rel, old, new))
    assert (path, grade) == (change.path, change.grade)


def test_reordered_lists_and_moved_keys_are_no_change():
    """A list keyed by id in another order, a key moved: the same policy, no change."""
    text = DEFAULT["strategies/gen_acc.yaml"].decode("utf-8")
    right = next(line for line in text.splitlines(keepends=True) if line.startswith("right: "))
    moved = text.replace(right, "") + right
    symbols = moved.replace("symbols: [TSLA, NVDA]", "symbols: [NVDA, TSLA]")
    assert [] == changes_of({**DEFAULT, "strategies/gen_acc.yaml": symbols.encode()})


def test_a_new_strategy_file_is_one_change_that_loosens():
    """A whole file only on one side is one change, graded at its file path."""
    after = {**DEFAULT, "strategies/extra.yaml": DEFAULT["strategies/gen_acc.yaml"]}
    [change] = changes_of(after)
    assert ("strategies/extra", "added", "loosens", None) == (change.path, change.kind,
                                                               change.grade, change.a)


def test_first_matching_rule_decides_and_patterns_match_whole_names():
    """`*` stays inside one name, `[*]` is a list item, the first rule that grades wins."""
    grading = Grading(version=1, rules=[
        GradingRule(path="risk.*", any="neutral"),  # does not reach two levels down
        GradingRule(path="risk.circuit_breakers.*", increase="loosens"),
        GradingRule(path="risk.**", any="tightens"),
    ])
    after = edited("risk.yaml", "consecutive_losses: 3 ", "consecutive_losses: 4 ")
    [change] = diff_sets(docs(DEFAULT), docs(after), grading)
    assert ("loosens", "risk.circuit_breakers.*") == (change.grade, change.rule)
    assert {"loosens": 1, "tightens": 0, "neutral": 0, "unclear": 0} == summary([change])
