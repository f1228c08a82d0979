"""Fuzzing the loader with mutated default policy texts (Hypothesis).

Whatever the bytes, loading either raises `PolicyLoadError` whose every issue points at a real
place (a known file, line ≥ 1, col ≥ 1), or returns a set that re-validates and keeps the
cross-file invariants. Any other exception, or an invalid set accepted, is a bug.
"""

from __future__ import annotations

import itertools
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine.errors import PolicyLoadError
from alluse.engine.policy import POLICY_FILES, PolicySet, load_policy_set
from alluse.engine.policy.common import PRIORITY_RANK
from alluse.engine.policy.cron import parse_cron

DEFAULT = read_policy_files(default_policy_dir())
NAMES = sorted(DEFAULT)
NUMBER = re.compile(rb"(?<![\w.])\d+(\.\d+)?")
KEY = re.compile(rb"^(\s*-?\s*)([a-z_][a-z0-9_]*):", re.M)

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\n")


@st.composite
def mutation(draw: st.DrawFn, raw: bytes) -> bytes:
    """One change of the kind a hurried edit, a bad merge or a broken disk makes."""
    kind = draw(st.sampled_from([
        "delete_line", "duplicate_line", "swap_chars", "change_number", "insert_tab",
        "random_bytes", "truncate", "rename_key", "indent_line",
    ]))
    lines = _lines(raw)
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "delete_line":
        return b"\n".join(lines[:i] + lines[i + 1:])
    if kind == "duplicate_line":
        return b"\n".join(lines[:i + 1] + lines[i:])
    if kind == "indent_line":
        return b"\n".join([*lines[:i], b"  " + lines[i], *lines[i + 1:]])
    if kind == "insert_tab":
        return b"\n".join([*lines[:i], b"\t" + lines[i].lstrip(b" "), *lines[i + 1:]])
    pos = draw(st.integers(0, max(len(raw) - 2, 0)))
    if kind == "swap_chars":
        return raw[:pos] + raw[pos + 1:pos + 2] + raw[pos:pos + 1] + raw[pos + 2:]
    if kind == "random_bytes":
        return raw[:pos] + draw(st.binary(min_size=1, max_size=8)) + raw[pos:]
    if kind == "truncate":
        return raw[:pos]
    if kind == "change_number":
        numbers = list(NUMBER.finditer(raw))
        if not numbers:
            return raw
        m = numbers[draw(st.integers(0, len(numbers) - 1))]
        new = draw(st.sampled_from([b"0", b"-1", b"1", b"2", b"3", b"99", b"100", b"101", b"0.5",
                                    b"1e9", b"24", b"60", b"365", b"1.0e-3"]))
        return raw[:m.start()] + new + raw[m.end():]
    keys = list(KEY.finditer(raw))
    if not keys:
        return raw
    m = keys[draw(st.integers(0, len(keys) - 1))]
    name = m.group(2)
    j = draw(st.integers(0, len(name) - 1))
    replacement = draw(st.sampled_from([b"", b"x", b"_", b"A", name[j:j + 1] * 2]))
    new_name = name[:j] + replacement + name[j + 1:]
    return raw[:m.start(2)] + new_name + raw[m.end(2):]


@st.composite
def mutated_sets(draw: st.DrawFn) -> dict[str, bytes]:
    files = dict(DEFAULT)
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(NAMES))
        files[name] = draw(mutation(files[name]))
    return files


def check_invariants(ps: PolicySet) -> None:
    """What an accepted set guarantees to the engine, whatever the text said."""
    for name, model in POLICY_FILES.items():
        part = getattr(ps, name.removesuffix(".yaml"))
        assert part == model.model_validate(part.model_dump(by_alias=True))
    accounts = ps.accounts
    assert abs(sum(accounts.split.values()) - 100) < 1e-9
    assert set(accounts.split) == set(accounts.account_types)
    for fork in accounts.fork:
        assert abs(sum(fork.split.values()) - 100) < 1e-9
        assert set(fork.split) <= set(accounts.account_types)
        assert accounts.account_types[fork.account_type].forks
    assert accounts.capital.minimum <= accounts.capital.default <= accounts.capital.maximum
    levels = ps.protocols.levels
    assert [lv.level for lv in levels] == list(range(len(levels)))
    assert levels[0].min_atr_multiple == 0
    assert all(a.min_atr_multiple < b.min_atr_multiple for a, b in itertools.pairwise(levels))
    alert_types = set(ps.alerts.types)
    assert all(lv.alert.type in alert_types for lv in levels if lv.alert)
    assert all(p in PRIORITY_RANK for p in (ch.min_priority for ch in ps.alerts.channels.values()))
    for job in ps.schedule.jobs.values():
        assert not parse_cron(job.cron)[1] & {1, 2}
    for name, strategy in ps.strategies.items():
        assert strategy.account_type in accounts.account_types
        assert accounts.account_types[strategy.account_type].strategy == name
        assert ps.schedule.jobs[strategy.entry.job].handler == "entry_scan"
        assert strategy.entry.window.start < strategy.entry.window.end
        assert strategy.dte.min <= strategy.dte.max
        assert all(r.alert.type in alert_types for r in strategy.rules if r.alert)
    assert all(len(text) > 0 for text in ps.expressions)


@FUZZ
@given(files=mutated_sets())
def test_mutated_policy_is_either_rejected_with_located_issues_or_valid(files):
    """Lint never crashes and never accepts an invalid set, whatever the mutation."""
    try:
        ps = load_policy_set(files)
    except PolicyLoadError as exc:
        known = set(files) | set(POLICY_FILES) | {"strategies/"}
        assert exc.issues
        assert [] == [i for i in exc.issues if i.line < 1 or i.col < 1 or i.file not in known]
        return
    check_invariants(ps)


@FUZZ
@given(name=st.sampled_from(NAMES), raw=st.binary(max_size=300))
def test_arbitrary_bytes_in_a_policy_file_are_rejected_cleanly(name, raw):
    """A file replaced by any bytes at all gives issues, never an exception of another kind."""
    files = {**DEFAULT, name: raw}
    try:
        check_invariants(load_policy_set(files))
    except PolicyLoadError as exc:
        assert all(i.line >= 1 and i.col >= 1 for i in exc.issues)


def test_unmutated_default_set_satisfies_the_invariants():
    """The invariants the fuzzer checks hold for the default set (so they are not vacuous)."""
    check_invariants(load_policy_set(DEFAULT))
