"""The policy loader on the bad-policy corpus (tests/policies/bad) and the good fixtures.

Each bad case is an overlay on the default set: the files it holds replace or join the default
files, ``delete.txt`` names files to remove, and ``expected.txt`` holds the exact lint lines.
"""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir, read_policy_files
from alluse.engine.errors import PolicyLoadError
from alluse.engine.policy import load_policy_set

CORPUS = Path(__file__).resolve().parents[1] / "policies"
BAD_CASES = sorted(p for p in (CORPUS / "bad").iterdir() if p.is_dir())
OVERLAY_META = {"expected.txt", "delete.txt"}


def materialise(cases: list[Path], target: Path) -> Path:
    """Write the default set into ``target`` with every case's overlay applied, in order."""
    for rel, raw in read_policy_files(default_policy_dir()).items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(raw)
    for case in cases:
        for src in sorted(case.rglob("*")):
            rel = src.relative_to(case).as_posix()
            if src.is_file() and rel not in OVERLAY_META:
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                (target / rel).write_bytes(src.read_bytes())
        deletions = case / "delete.txt"
        if deletions.is_file():
            for rel in deletions.read_text("utf-8").split():
                (target / rel).unlink()
    return target


def lint_lines(directory: Path) -> list[str]:
    try:
        load_policy_dir(directory)
    except PolicyLoadError as exc:
        return [issue.format() for issue in exc.issues]
    return []


def expected_lines(case: Path) -> list[str]:
    return (case / "expected.txt").read_text("utf-8").splitlines()


def test_corpus_has_at_least_forty_cases_each_with_expected_lines():
    """The corpus is big enough and every case says what lint must print."""
    assert len(BAD_CASES) >= 40
    assert [] == [c.name for c in BAD_CASES if not expected_lines(c)]


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda p: p.name)
def test_bad_policy_is_rejected_with_exact_lines(case, tmp_path, monkeypatch):
    """Each broken set is refused with exactly the expected file:line:col lines, and no side effect."""
    monkeypatch.chdir(tmp_path)  # the hostile cases try to `touch pwned` in the working directory
    directory = materialise([case], tmp_path / "policies")
    assert expected_lines(case) == lint_lines(directory)
    assert not (tmp_path / "pwned").exists()


def test_issues_locate_a_real_position_in_a_known_file(tmp_path):
    """Every issue of every case has line ≥ 1, col ≥ 1 and names a file of the set (or the set)."""
    bad = []
    for case in BAD_CASES:
        directory = materialise([case], tmp_path / case.name)
        with pytest.raises(PolicyLoadError) as info:
            load_policy_dir(directory)
        known = set(read_policy_files(default_policy_dir())) | {"strategies/"} | {
            f.relative_to(case).as_posix() for f in case.rglob("*") if f.is_file()}
        bad += [(case.name, i) for i in info.value.issues
                if i.line < 1 or i.col < 1 or i.file not in known]
    assert [] == bad


@pytest.mark.parametrize(
    "names",
    [
        # cross-reference errors in five different files
        ["39_split_not_100", "52_cron_does_not_parse", "35_levels_not_ascending",
         "56_dte_min_above_max", "58_template_unknown_placeholder"],
        # structure and type errors in six different files
        ["15_bool_yes_stays_string", "16_number_as_string", "57_bad_tickers",
         "05_tab_indentation", "22_unknown_step_kind"],
    ],
    ids=["crossref", "types"],
)
def test_lint_reports_every_error_across_files_at_once(names, tmp_path):
    """Several files broken at once: one lint run reports all of their lines, not the first."""
    cases = [CORPUS / "bad" / n for n in names]
    directory = materialise(cases, tmp_path / "policies")
    expected = sorted(line for c in cases for line in expected_lines(c))
    assert expected == sorted(lint_lines(directory))


def test_cross_file_checks_still_run_when_another_file_has_type_errors(tmp_path):
    """A type error in alerts.yaml does not hide the split error in accounts.yaml any more."""
    cases = [CORPUS / "bad" / "16_number_as_string", CORPUS / "bad" / "39_split_not_100"]
    directory = materialise(cases, tmp_path / "policies")
    assert sorted(expected_lines(cases[0]) + expected_lines(cases[1])) == lint_lines(directory)


def test_default_set_loads_with_three_strategies():
    """The shipped default set is valid."""
    policy = load_policy_dir(default_policy_dir())
    assert ["com_acc", "gen_acc", "rev_acc"] == list(policy.strategies)
    assert [0, 1, 2, 3] == [lv.level for lv in policy.protocols.levels]


def test_minimal_good_set_with_one_strategy_loads():
    """The minimal fixture (one account type, one strategy, defaults elsewhere) is valid."""
    policy = load_policy_dir(CORPUS / "good" / "minimal")
    assert ["only"] == list(policy.strategies)
    assert {"ONE-ACC": 100.0} == dict(policy.accounts.split)


def test_hash_ignores_comments_and_layout_but_not_values():
    """The policy hash identifies what the set says: comments do not change it, values do."""
    files = read_policy_files(default_policy_dir())
    base = load_policy_set(files).hash
    commented = dict(files)
    commented["risk.yaml"] = files["risk.yaml"] + b"\n# a reviewer's note\n"
    changed = dict(files)
    changed["risk.yaml"] = files["risk.yaml"].replace(b"consecutive_losses: 3",
                                                      b"consecutive_losses: 4")
    assert base == load_policy_set(commented).hash
    assert base != load_policy_set(changed).hash


def test_policy_set_is_immutable():
    """A loaded set cannot be changed in place, so a swap is the only way it changes."""
    policy = load_policy_dir(default_policy_dir())
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.hash = "x"  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        policy.accounts.capital.default = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.strategies["x"] = policy.strategies["gen_acc"]  # type: ignore[index]


def test_missing_directory_is_a_policy_load_error(tmp_path):
    """A directory that is not there is reported like any other policy problem."""
    with pytest.raises(PolicyLoadError) as info:
        load_policy_dir(tmp_path / "nope")
    assert ["missing-dir"] == [i.code for i in info.value.issues]


def test_oversized_file_is_refused_without_parsing(tmp_path):
    """A file over 1 MB is not a policy: refused by size before YAML sees it."""
    directory = materialise([], tmp_path / "policies")
    (directory / "risk.yaml").write_bytes(b"# " + b"x" * 1_000_100 + b"\n")
    with pytest.raises(PolicyLoadError) as info:
        load_policy_dir(directory)
    assert ["risk.yaml:1:1: file is larger than 1000000 bytes"] == [
        i.format() for i in info.value.issues]
