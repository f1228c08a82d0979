"""The rule registry (`PolicySet.rules`): stable ids from where each rule lives, with its line."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import pytest

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine.errors import PolicyLoadError
from alluse.engine.policy import RuleInfo, load_policy_set, rule_id


def default_files() -> dict[str, bytes]:
    return read_policy_files(default_policy_dir())


def edited(file: str, old: str, new: str) -> dict[str, bytes]:
    files = default_files()
    text = files[file].decode()
    assert old in text
    files[file] = text.replace(old, new, 1).encode()
    return files


def test_entry_rule_info_says_where_the_rule_is_and_what_it_tests():
    """A strategy rule: id from its file and `id:`, its `- id:` line, kind, expression, text."""
    files = default_files()
    ps = load_policy_set(files)
    line = files["strategies/gen_acc.yaml"].decode().splitlines().index(
        "  - id: premium_floor") + 1
    assert RuleInfo("strategies/gen_acc#rules/premium_floor", "strategies/gen_acc.yaml", line, 5,
                    "entry_rule", "premium_pct >= min_premium_pct",
                    "Premium must reach the minimum, or a human decides.",
                    ("rules", 0)) == ps.rules["strategies/gen_acc#rules/premium_floor"]


def test_every_kind_of_rule_that_fires_has_an_id():
    """Levels, step-down, week modes and types, forks, merge, reinvestment, breakers, limits,
    entries and covered calls are all in the registry, with the test each applies."""
    rules = load_policy_set(default_files()).rules
    assert {
        "protocols#levels/1": ("protocol_level", "atr_multiple >= 1"),
        "protocols#step_down": ("protocol_step_down", "atr_multiple < level_threshold - 0.5"),
        "week_types#modes/green": ("week_mode", "week_return_pct >= 0.5 * atr_pct"),
        "week_types#types/P-EW": ("week_type", "right == 'P' and outcome == 'expired'"),
        "accounts#fork/GEN-ACC": ("fork", "post_tax_gain >= 50000"),
        "accounts#merge": ("merge", "unit_total >= 500000"),
        "accounts#reinvestment/COM-ACC": ("reinvestment", "cadence == 'quarterly'"),
        "risk#circuit_breakers/consecutive_losses": ("circuit_breaker",
                                                     "consecutive_losses >= 3"),
        "risk#circuit_breakers/daily_drawdown_pct": ("circuit_breaker", "drawdown_pct >= 5"),
        "risk#circuit_breakers/max_simultaneous_breaches": ("circuit_breaker", "breaches >= 2"),
        "risk#position_limit": ("limit", "contracts * 100 * atr * 1 <= 5% of equity"),
        "risk#blacklist": ("blacklist", "symbol not in ()"),
        "strategies/gen_acc#entry": ("entry",
                                     "day in ('thu',) and '10:00' <= time < '11:00'"),
        "strategies/com_acc#covered_calls": ("covered_calls",
                                             "wheel == 'stock' and strike >= basis"),
    } == {k: (rules[k].kind, rules[k].expression) for k in (
        "protocols#levels/1", "protocols#step_down", "week_types#modes/green",
        "week_types#types/P-EW", "accounts#fork/GEN-ACC", "accounts#merge",
        "accounts#reinvestment/COM-ACC", "risk#circuit_breakers/consecutive_losses",
        "risk#circuit_breakers/daily_drawdown_pct",
        "risk#circuit_breakers/max_simultaneous_breaches", "risk#position_limit",
        "risk#blacklist", "strategies/gen_acc#entry", "strategies/com_acc#covered_calls")}


def test_rules_are_ordered_by_file_then_line():
    """The registry reads like the files: file by file, top to bottom."""
    rules = list(load_policy_set(default_files()).rules.values())
    assert sorted(rules, key=lambda r: (r.file, r.line, r.col)) == rules


def test_id_survives_reordering_the_rules_and_edits_above_them():
    """The id comes from the rule's own key, not its index: moving it keeps the id, moves the line."""
    files = default_files()
    text = files["strategies/rev_acc.yaml"].decode()
    first, second = text.index("  - id: premium_floor"), text.index("  - id: strike_out")
    end = text.index("\ncovered_calls:")
    files["strategies/rev_acc.yaml"] = ("# a comment\n" + text[:first] + text[second:end]
                                        + text[first:second] + text[end:]).encode()
    before = load_policy_set(default_files()).rules
    after = load_policy_set(files).rules
    ids = ("strategies/rev_acc#rules/premium_floor",
           "strategies/rev_acc#rules/strike_out_of_the_money")
    assert ([("rules", 0), ("rules", 1)], [("rules", 1), ("rules", 0)]) == (
        [before[i].path for i in ids], [after[i].path for i in ids])
    assert (before[ids[0]].line + 1 + 5, before[ids[0]].line + 1) == (
        after[ids[0]].line, after[ids[1]].line)


def test_a_rule_named_entry_does_not_collide_with_the_strategy_entry():
    """`id: entry` is the rule strategies/x#rules/entry, not the entry strategies/x#entry."""
    files = edited("strategies/gen_acc.yaml", "  - id: premium_floor", "  - id: entry")
    rules = load_policy_set(files).rules
    assert ("entry_rule", "entry") == (rules["strategies/gen_acc#rules/entry"].kind,
                                       rules["strategies/gen_acc#entry"].kind)


def test_each_expression_carries_the_id_of_its_rule():
    """Conditions belong to their rule; a script's expressions to the rule that renders it."""
    ps = load_policy_set(default_files())
    assert ["strategies/com_acc#rules/delta_in_band", "week_types#modes/red",
            "strategies/gen_acc#entry", "protocols#levels/2"] == [
        ps.expr("strategies/com_acc.yaml", "rules", 1, "if").rule_id,
        ps.expr("week_types.yaml", "modes", "red", "when").rule_id,
        ps.expr("strategies/gen_acc.yaml", "script", "steps", 0, "limit").rule_id,
        ps.expr("protocols.yaml", "levels", 2, "script", "steps", 0, "limit").rule_id]


def test_duplicate_ids_are_an_error_at_the_second_naming_the_first():
    """Two fork rules for one account type: the second is refused, pointing at the first."""
    files = edited("accounts.yaml", "\nmerge:", "\n  - account_type: REV-ACC\n"
                   "    threshold_post_tax_gain: 1000\n    split: {GEN-ACC: 100}\n\nmerge:")
    with pytest.raises(PolicyLoadError) as info:
        load_policy_set(files)
    first = load_policy_set(default_files()).rules["accounts#fork/REV-ACC"]
    issue = info.value.issues[0]
    assert (1, "duplicate-rule-id", f"duplicate rule id 'accounts#fork/REV-ACC': first defined "
            f"at accounts.yaml:{first.line}:{first.col}", "fork[REV-ACC]") == (
        len(info.value.issues), issue.code, issue.message, issue.rule)


def test_registry_is_read_only():
    """The registry belongs to an immutable policy set."""
    rules = load_policy_set(default_files()).rules
    with pytest.raises(TypeError):
        rules["x"] = rules["accounts#merge"]  # type: ignore[index]


def test_rule_id_is_file_and_key():
    """The id format: file without .yaml, '#', the key path joined with '/'."""
    assert "strategies/gen_acc#rules/premium_floor" == rule_id(
        "strategies/gen_acc.yaml", "rules", "premium_floor")
