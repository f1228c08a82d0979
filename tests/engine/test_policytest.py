"""Policy test cases through the engine: outcomes compared, mismatches explained, rule coverage."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import typing

import pytest

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine import machines
from alluse.engine.policy import load_policy_set
from alluse.engine.policy.testfile import AccountState, WheelState
from alluse.engine.policy.testload import load_policy_tests
from alluse.engine.policytest import coverage, run_case, trace_rule_id

FILES = read_policy_files(default_policy_dir(), tests=True)
POLICY_FILES = {k: v for k, v in FILES.items() if not k.startswith("tests/")}
PS = load_policy_set(POLICY_FILES)

CASE = """\
version: 1
cases:
  - name: premium below the floor
    day: 2026-11-19
    events:
      - {type: daily_bars, symbol: TSLA, spread: 10,
         closes: [250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250]}
      - {type: price, ts: "10:00", symbol: TSLA, price: 250}
      - {type: option_quote, ts: "10:00", symbol: TSLA, expiry: 2026-11-20, strike: 245,
         right: P, bid: 2.9, ask: 3.03}
      - {type: clock, ts: "10:00", name: entry_scan}
    expect:
EXPECT
"""


def run(expect: str):
    cases, issues = load_policy_tests(
        {**POLICY_FILES, "tests/t.yaml": CASE.replace("EXPECT", expect).encode()}, PS)
    assert [] == issues
    [case] = cases
    return run_case(case)


@pytest.mark.parametrize(("trace", "step", "stable"), [
    ("strategies/gen_acc#rules/premium_floor", "", "strategies/gen_acc#rules/premium_floor"),
    ("strategies/gen_acc#entry", "window", "strategies/gen_acc#entry"),
    ("strategies/gen_acc#entry", "strike", ""),
    ("protocols#levels/2", "", "protocols#levels/2"),
    ("risk#circuit_breakers/consecutive_losses", "", "risk#circuit_breakers/consecutive_losses"),
])
def test_trace_ids_are_the_stable_rule_ids_a_scans_strike_is_a_step(trace, step, stable):
    """The engine traces stable ids; the strike a scan picked is a step of the entry, not its
    outcome, and counts for no rule."""
    assert stable == trace_rule_id(trace, step)
    assert stable == "" or stable in PS.rules


@pytest.mark.parametrize("trace", ["position.open", "data.bar_order", "schedule.unknown_job",
                                   "protocols.monitor", "wheel.covered"])
def test_engine_fact_traces_stay_as_they_are(trace):
    """Traces no policy rule stands behind are not guessed into one."""
    assert trace == trace_rule_id(trace)


def test_the_default_set_passes_its_own_tests_with_every_rule_exercised():
    """policies/tests: every case passes and together they exercise all of PolicySet.rules."""
    cases, issues = load_policy_tests(FILES, PS)
    assert [] == issues
    results = [run_case(c) for c in cases]
    assert [] == [(r.name, r.mismatches, r.error) for r in results if r.status != "passed"]
    cov = coverage(PS, results)
    assert ((), 100.0) == (cov.missing, cov.percent)


def test_a_met_expectation_passes_and_records_what_it_exercised():
    """The premium floor is evaluated and fails: the case exercises it and the entry."""
    result = run("      not_fired: [strategies/gen_acc#rules/premium_floor]")
    assert "passed" == result.status
    assert {"strategies/gen_acc#rules/premium_floor", "strategies/gen_acc#entry"} <= \
        result.exercised


def test_a_rule_expected_to_fire_shows_why_it_did_not():
    """Expected vs got, with the rule's place, its expression and its trace in the case."""
    result = run("      fired: [strategies/gen_acc#rules/premium_floor]")
    [m] = result.mismatches
    assert ("failed", "fired strategies/gen_acc#rules/premium_floor", "fired", "not fired") == (
        result.status, m.what, m.expected, m.got)
    info = PS.rules["strategies/gen_acc#rules/premium_floor"]
    assert (f"strategies/gen_acc#rules/premium_floor (strategies/gen_acc.yaml:{info.line}: "
            "premium_pct >= min_premium_pct): not fired — GEN-ACC-001 TSLA: premium_pct 1.184 < "
            "min_premium_pct 1.5 (would fire with premium_pct >= 1.5, 0.3163 more)") == \
        m.explanation[0]


def test_a_list_that_differs_shows_every_item_expected_and_got_in_the_expected_fields():
    """Got items are projected onto the expectation's fields, as YAML to paste back."""
    result = run("      alerts: [{type: TRADE_OPPORTUNITY, priority: MEDIUM}]")
    [m] = result.mismatches
    assert ("alerts", "{type: TRADE_OPPORTUNITY, priority: MEDIUM}",
            "{type: TRADE_OPPORTUNITY, priority: HIGH}") == (m.what, m.expected, m.got)
    assert m.explanation[0].startswith("strategies/gen_acc#rules/premium_floor (")


def test_an_empty_list_expects_none_and_shows_all_fields_of_what_came():
    """``scripts: []`` fails when a script came; no expectation to project on: all fields."""
    result = run("      alerts: []")
    [m] = result.mismatches
    assert "(none)" == m.expected
    assert m.got.startswith("{type: TRADE_OPPORTUNITY, priority: HIGH, account: GEN-ACC-001, "
                            "suppressed: false, title_contains: \"No trade on TSLA")


def test_account_and_wheel_states_are_compared_at_the_end_of_the_case():
    """A missing account and a wrong state each give a line; money within half a cent."""
    result = run("      accounts: {GEN-ACC-001: {state: suspended, cash: 40000.004}, "
                 "GEN-ACC-009: {state: active}}\n      wheels: {GEN-ACC-001:TSLA: stock}")
    assert [("accounts GEN-ACC-001 state", "suspended", "active"),
            ("accounts GEN-ACC-009", "the account exists",
             "no such account (accounts: COM-ACC-001, GEN-ACC-001, REV-ACC-001)"),
            ("wheels GEN-ACC-001:TSLA", "stock", "cash")] == [
        (m.what, m.expected, m.got) for m in result.mismatches]


def test_an_event_the_engine_refuses_makes_the_case_an_error_at_that_event():
    """An unknown account in a fill: the case errors with the event's line:col."""
    text = CASE.replace("EXPECT", "      scripts: []").replace(
        "      - {type: clock", "      - {type: fill, ts: \"10:01\", account: GEN-ACC-009, "
        "symbol: TSLA, side: BUY, quantity: 1, price: 250}\n      - {type: clock")
    [case], _ = load_policy_tests({**POLICY_FILES, "tests/t.yaml": text.encode()}, PS)
    result = run_case(case)
    assert "error" == result.status
    assert result.error.startswith("tests/t.yaml:11:9: the engine refused the event: field "
                                   "'account': unknown account 'GEN-ACC-009'")


def test_coverage_lists_the_rules_no_case_exercised_in_the_sets_order():
    """One case exercises a few rules: the rest are missing, in PolicySet.rules order."""
    result = run("      scripts: []")
    cov = coverage(PS, [result])
    assert len(PS.rules) == len(cov.exercised) + len(cov.missing)
    assert [r for r in PS.rules if r in cov.missing] == list(cov.missing)
    assert "accounts#merge" in cov.missing
    assert 100.0 * len(cov.exercised) / len(PS.rules) == cov.percent


def test_the_test_file_model_knows_every_account_and_wheel_state_of_the_machines():
    """The literals of the test file model stay in step with the state machines."""
    assert (machines.ACCOUNT_STATES, machines.WHEEL_STATES) == (
        list(typing.get_args(AccountState)), list(typing.get_args(WheelState)))
