"""Every case of the official YAML test suite, as a policy file, ends in positioned issues.

The cases (tests/fixtures/yaml_test_suite, see its README) are valid and invalid YAML of every
shape the spec allows: complex keys, directives, anchors, comments in odd places. None is a valid
policy, so each must be refused with issues that point into the file (line and column inside the
text), each on one line, with no exception and no warning escaping (pytest turns warnings into
errors here).
"""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine.policy.loader import check_policy_set
from alluse.engine.policy.yamlsource import parse_yaml

SUITE = Path(__file__).resolve().parents[1] / "fixtures" / "yaml_test_suite" / "cases.json"
CASES = json.loads(SUITE.read_text("utf-8"))
DEFAULT = read_policy_files(default_policy_dir())
TARGETS = ("protocols.yaml", "strategies/gen_acc.yaml")


def test_the_suite_is_all_there():
    """402 cases, 94 of which the suite calls invalid YAML."""
    assert (402, 94) == (len(CASES), sum(c["fail"] for c in CASES))


def _outside(text: str, line: int, col: int) -> bool:
    lines = text.split("\n")
    return not (1 <= line <= len(lines) + 1 and 1 <= col <= max(len(ln) for ln in lines) + 2)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_suite_case_as_a_policy_file_gives_positioned_issues(case):
    """The case in place of a policy file: refused, every issue inside the file and on one line."""
    target = TARGETS[sum(map(ord, case["id"])) % 2]  # half the cases in each kind of file
    checked = check_policy_set({**DEFAULT, target: case["yaml"].encode()})
    assert checked.policy is None
    mine = [i for i in checked.issues if i.file == target]
    assert mine, [i.format() for i in checked.issues]
    assert [] == [i.format() for i in mine if _outside(case["yaml"], i.line, i.col)]
    assert [] == [i.format() for i in checked.issues if "\n" in i.format()]


@pytest.mark.parametrize(("case_id", "expected"), [
    ("4FJ6", "x.yaml:3:3: mapping keys must be plain scalars, not a list or mapping"),
    ("BEC7", "x.yaml:1:1: YAML 1.3 is not supported: policies are YAML 1.2 (remove the %YAML "
             "directive)"),
    ("6SLA", None),  # keys with line breaks: parsed; the messages about them escape the breaks
    ("P94K", None),  # a comment spanning lines after a key: parsed (the loader reads no comments)
], ids=["nested_complex_keys", "yaml_1_3", "key_with_line_break", "multi_line_comment"])
def test_the_three_crashers_of_the_issue(case_id, expected):
    """The documents that crashed the loader: a positioned error, or a document."""
    case = next(c for c in CASES if c["id"] == case_id)
    doc, issues = parse_yaml("x.yaml", case["yaml"].encode())
    if expected is None:
        assert (True, []) == (doc is not None, issues)
    else:
        assert [expected] == [i.format() for i in issues]


def test_a_reused_anchor_is_a_warning_at_its_second_place():
    """ruamel's ReusedAnchorWarning becomes a lint warning with the position, not terminal text."""
    doc, issues = parse_yaml("x.yaml", b"a: &x 1\nb: &x 2\nc: *x\n")
    assert doc is not None
    assert ["x.yaml:2:4: warning: YAML: found duplicate anchor 'x'"] == [
        i.format() for i in issues]
