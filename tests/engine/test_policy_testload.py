"""Loading policy test files: every problem at the test file's line:col, none of them run."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import pytest

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine.events import Bar, OptionQuote
from alluse.engine.policy import load_policy_set
from alluse.engine.policy.testload import load_policy_tests

FILES = read_policy_files(default_policy_dir(), tests=True)
POLICY_FILES = {k: v for k, v in FILES.items() if not k.startswith("tests/")}
PS = load_policy_set(POLICY_FILES)

HEAD = "version: 1\ncases:\n"
QUOTE_CASE = """\
  - name: one quote
    day: 2026-11-19
    events:
      - {type: option_quote, ts: "10:00", symbol: TSLA, expiry: 2026-11-20, strike: 245,
         right: P, bid: 3.9, ask: 4.1}
    expect:
      scripts: []
"""


def load(text: str, name: str = "tests/t.yaml"):
    return load_policy_tests({**POLICY_FILES, name: text.encode()}, PS)


def messages(text: str) -> list[str]:
    cases, issues = load(text)
    assert [] == cases
    return [i.format() for i in issues]


def test_the_loader_of_the_set_leaves_test_files_out_of_the_set_and_its_hash():
    """tests/*.yaml are the set's tests, not policy files: same set, same hash, no lint error."""
    with_tests = load_policy_set({**POLICY_FILES, "tests/x.yaml": b"not: [a policy"})
    assert (PS.hash, dict(PS.file_hashes)) == (with_tests.hash, dict(with_tests.file_hashes))


def test_a_case_builds_its_events_with_hh_mm_times_on_its_day_in_new_york():
    """'10:00' on 2026-11-19 is 10:00 New York (-05:00); dates stay dates."""
    [case], issues = load(HEAD + QUOTE_CASE)
    assert [] == issues
    [quote] = case.events
    assert isinstance(quote, OptionQuote)
    assert ("2026-11-19T10:00:00-05:00", "2026-11-20") == (quote.ts.isoformat(),
                                                           quote.expiry.isoformat())
    assert (3, 5) == (case.line, case.col)


def test_daily_bars_make_one_bar_per_weekday_ending_the_day_before():
    """Five closes ending before Monday 2026-11-23 are the bars of Mon 16 … Fri 20 at 16:00."""
    text = HEAD + """\
  - name: bars
    events:
      - {type: daily_bars, symbol: TSLA, closes: [1, 2, 3, 4, 5], spread: 0.5, end: 2026-11-23}
    expect: {scripts: []}
"""
    [case], _ = load(text)
    assert all(isinstance(b, Bar) for b in case.events)
    assert [("2026-11-16T16:00:00-05:00", 0.75, 1.25), ("2026-11-20T16:00:00-05:00", 4.75, 5.25)] \
        == [(b.ts.isoformat(), b.low, b.high) for b in (case.events[0], case.events[-1])]


def test_structure_and_type_errors_are_positioned_like_policy_errors():
    """The models' errors go through the same file:line:col mapping as every policy file."""
    text = HEAD + "  - name: x\n    events: []\n    expect: {firedd: []}\n"
    assert ["tests/t.yaml:4:13: policy tests/t, rule cases[x]: cases.0.events: List should "
            "have at least 1 item after validation, not 0",
            "tests/t.yaml:5:14: policy tests/t, rule cases[x]: unknown key 'firedd'; did you mean "
            "'fired'?"] \
        == messages(text)


def test_an_unknown_rule_id_names_the_closest_one():
    """Rule ids are checked against PolicySet.rules, with a hint for a typo."""
    text = HEAD + QUOTE_CASE.replace("scripts: []", "fired: [strategies/gen_acc#rules/premium_flor]")
    assert ["tests/t.yaml:9:15: policy tests/t, rule cases[one quote]: no "
            "rule 'strategies/gen_acc#rules/premium_flor' in the policy set; did you mean "
            "'strategies/gen_acc#rules/premium_floor'? (`alluse policy rules` lists them)"] \
        == messages(text)


@pytest.mark.parametrize(("expect", "message"), [
    ("alerts: [{type: TRADE_OPORTUNITY}]", "alert type 'TRADE_OPORTUNITY' is not in alerts.yaml; "
                                           "did you mean 'TRADE_OPPORTUNITY'?"),
    ("scripts: [{template: gen_acc_entri}]", "no script template 'gen_acc_entri' in the policy "
                                             "set; did you mean 'gen_acc_entry'?"),
    ("{}", "expect checks nothing: give fired, not_fired, levels, alerts, scripts, accounts or "
           "wheels"),
])
def test_expectations_must_name_what_the_set_defines(expect, message):
    """Alert types and script templates come from the set; an empty expect is refused."""
    text = HEAD + QUOTE_CASE.replace("expect:\n      scripts: []", f"expect: {expect}"
                                     if expect == "{}" else f"expect:\n      {expect}")
    [got] = messages(text)
    assert message == got.split(": ", 2)[2]


def test_an_event_the_engine_would_refuse_is_reported_at_its_field():
    """The JSON Lines checks apply: a crossed quote points at 'bid'."""
    text = HEAD + QUOTE_CASE.replace("bid: 3.9", "bid: 4.3")
    assert ["tests/t.yaml:7:25: policy tests/t, rule cases[one quote]: bid: bid 4.3 is above ask "
            "4.1 (a crossed quote)"] == messages(text)


def test_a_time_of_day_needs_the_case_day():
    """'10:00' without a day is ambiguous: the message says what to add."""
    text = HEAD + QUOTE_CASE.replace("    day: 2026-11-19\n", "")
    [got] = messages(text)
    assert got.endswith("ts: '10:00' is a time of day: give the case a 'day' or a full timestamp")


def test_a_clock_event_must_name_a_job_of_the_schedule():
    """A misspelt job would otherwise run nothing and pass silently."""
    text = HEAD + QUOTE_CASE.replace(
        "      - {type: option_quote", "      - {type: clock, ts: \"10:00\", name: entry_sacn}\n"
        "      - {type: option_quote")
    [got] = messages(text)
    assert got.endswith("no job 'entry_sacn' in schedule.yaml; did you mean 'entry_scan'?")


def test_a_policy_change_for_one_case_is_validated_like_the_set():
    """An override that breaks the set is reported at the override with the set's message."""
    text = HEAD + QUOTE_CASE.replace("    day:", "    policy:\n      risk.yaml: {blacklist: "
                                                "[tsla]}\n    day:")
    [got] = messages(text)
    assert got.startswith("tests/t.yaml:5:7: policy tests/t, rule cases[one quote]: with this "
                          "change, risk.yaml is invalid: blacklist.0: String should match pattern")


def test_a_policy_change_applies_to_its_case_only():
    """The case runs under the changed set; the set under test is untouched."""
    text = HEAD + QUOTE_CASE.replace("    day:", "    policy:\n      risk.yaml: {blacklist: "
                                                "[TSLA]}\n    day:")
    [case], issues = load(text)
    assert ([], ["TSLA"], []) == (issues, case.policy.risk.blacklist, PS.risk.blacklist)


def test_an_override_of_a_file_the_set_does_not_have_is_an_error():
    """Only files of the set under test can be changed."""
    text = HEAD + QUOTE_CASE.replace("    day:", "    policy:\n      riks.yaml: {blacklist: []}"
                                                "\n    day:")
    [got] = messages(text)
    assert got.endswith("'riks.yaml' is not a file of the policy set under test; did you mean "
                        "'risk.yaml'?")


def test_two_cases_with_one_name_are_an_error():
    """Case names identify results in reports (and JUnit): they must be unique in a file."""
    [got] = messages(HEAD + QUOTE_CASE + QUOTE_CASE)
    assert got.endswith("case name 'one quote' is used twice (first in case 1)")


def test_a_test_file_outside_tests_top_level_is_refused():
    """tests/<name>.yaml only: a nested folder or a .yml is a file-name error."""
    _, issues = load(HEAD + QUOTE_CASE, name="tests/sub/t.yaml")
    assert ["tests/sub/t.yaml:1:1: policy tests are tests/<name>.yaml files"] == [
        i.format() for i in issues]
