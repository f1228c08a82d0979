"""Lint warnings (engine/policy/review.py) on the warning corpus (tests/policies/warn).

Each case is an overlay on the default set, like the bad corpus: the set still loads, and
``expected.txt`` holds the exact warning lines (file:line:col) lint prints.
"""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

from pathlib import Path

import pytest

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine.policy.loader import check_policy_set
from alluse.engine.policy.names import ENGINE_ALERT_TYPES
from alluse.engine.policy.review import edit_distance, looks_like_typo

CORPUS = Path(__file__).resolve().parents[1] / "policies"
WARN_CASES = sorted(p for p in (CORPUS / "warn").iterdir() if p.is_dir())
ENGINE = Path(__file__).resolve().parents[2] / "engine"


def overlay(*cases: Path) -> dict[str, bytes]:
    files = read_policy_files(default_policy_dir())
    for case in cases:
        for src in sorted(case.rglob("*.yaml")):
            files[src.relative_to(case).as_posix()] = src.read_bytes()
    return files


def expected_lines(case: Path) -> list[str]:
    return (case / "expected.txt").read_text("utf-8").splitlines()


def test_default_set_has_no_warnings():
    """The shipped set is clean of warnings too."""
    assert [] == [i.format() for i in check_policy_set(overlay()).issues]


@pytest.mark.parametrize("case", WARN_CASES, ids=lambda p: p.name)
def test_warning_case_loads_and_warns_with_exact_lines(case):
    """Each case loads (warnings never refuse a set) and warns with the expected lines."""
    checked = check_policy_set(overlay(case))
    assert checked.policy is not None, [i.format() for i in checked.errors]
    assert expected_lines(case) == [i.format() for i in checked.warnings]


def test_warnings_are_reported_beside_errors():
    """A set with errors still gets its warnings (one run of lint says everything)."""
    checked = check_policy_set(overlay(CORPUS / "bad" / "39_split_not_100",
                                       CORPUS / "warn" / "04_shadowed_week_mode"))
    assert checked.policy is None
    assert (expected_lines(CORPUS / "bad" / "39_split_not_100"),
            expected_lines(CORPUS / "warn" / "04_shadowed_week_mode")) == (
        [i.format() for i in checked.errors], [i.format() for i in checked.warnings])


def test_loading_alone_computes_no_warnings():
    """The hot-reload path (load_policy_set) skips the review: check_policy_set(warnings=False)."""
    assert () == check_policy_set(overlay(CORPUS / "warn" / "02_unused_alert_type"),
                                  warnings=False).warnings


@pytest.mark.parametrize(("a", "b", "typo"), [
    ("TRADE_OPPORTUNITY", "TRADE_OPPORTUNTY", True),
    ("entry_scan", "entyr_scan", True),  # two neighbours swapped
    ("PROTOCOL_BREACH", "PROTOCOL_BREECH", True),
    ("P-EW", "C-EW", False),  # short codes are deliberate
    ("chain_open", "chain_close", False),
    ("level1_alert", "level2_alert", False),  # differ only in a digit
    ("GEN-ACC", "REV-ACC", False),
])
def test_typo_detection(a, b, typo):
    """One slip apart (or two in long names) is a typo; short codes and numbered names are not."""
    assert typo == looks_like_typo(a, b)


def test_edit_distance_counts_a_swap_as_one():
    """Damerau-Levenshtein: a transposition is one edit."""
    assert (1, 1, 2, 0) == (edit_distance("ab", "ba"), edit_distance("abc", "abd"),
                            edit_distance("abc", "a"), edit_distance("x", "x"))


def test_engine_alert_types_are_the_ones_the_engine_raises():
    """ENGINE_ALERT_TYPES lists exactly the alert types engine code raises by name."""
    import re

    raised = set()
    for path in ENGINE.glob("*.py"):
        raised |= set(re.findall(r'ctx\.alert\(\s*"([A-Z_]+)"', path.read_text("utf-8")))
    assert sorted(raised) == sorted(ENGINE_ALERT_TYPES)
