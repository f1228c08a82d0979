"""`alluse policy test [DIR]`: run the test cases beside a policy set (``DIR/tests/*.yaml``).

Each case's events go through a fresh engine and what it decided is compared with what the case
expects; a failure shows expected against got, one item a line, with the traces of the rules
involved. Rule coverage says which rules of the set no case exercises. Exit 0 when every case
passes (and coverage reaches ``--min-coverage``), 1 otherwise or when a test file is invalid,
2 on usage errors. ``--junit FILE`` also writes JUnit XML for CI test reporters.
"""

from __future__ import annotations

import json
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from alluse.cli.policy_cmd import DirArg, policy_app, print_issues
from alluse.engine.errors import PolicyIssue

if TYPE_CHECKING:  # the engine is imported when the command runs, not at CLI start
    from alluse.engine.policytest import CaseResult, Coverage


class PolicyTestFormat(StrEnum):
    text = "text"
    json = "json"


@dataclass(frozen=True, slots=True)
class Timed:
    result: CaseResult
    seconds: float


def _failure_text(r: CaseResult) -> str:
    if r.status == "error":
        return r.error
    lines: list[str] = []
    for m in r.mismatches:
        lines.append(m.what)
        for label, text in (("expected", m.expected), ("got", m.got)):
            rows = text.splitlines() or [""]
            lines.append(f"  {label + ':':<10}{rows[0]}")
            lines += [f"  {'':<10}{row}" for row in rows[1:]]
        for i, why in enumerate(m.explanation):
            lines.append(f"  {'why:' if i == 0 else '':<10}{why}")
    return "\n".join(lines)


def render_text(runs: Sequence[Timed], cov: Coverage, min_coverage: float | None,
                base: Path) -> list[str]:
    out: list[str] = []
    current = ""
    for t in runs:
        r = t.result
        if r.file != current:
            current = r.file
            out.append(str(base / r.file))
        mark = {"passed": "PASS ", "failed": "FAIL ", "error": "ERROR"}[r.status]
        out.append(f"  {mark} {r.name}" + (f"  ({base / r.file}:{r.line}:{r.col})"
                                            if r.status != "passed" else ""))
        if r.status != "passed":
            out += ["        " + line for line in _failure_text(r).splitlines()]
    counts = {s: sum(1 for t in runs if t.result.status == s) for s in ("passed", "failed",
                                                                        "error")}
    seconds = sum(t.seconds for t in runs)
    out.append(f"{len(runs)} cases: {counts['passed']} passed, {counts['failed']} failed, "
               f"{counts['error']} errors ({seconds:.2f} s)")
    floor = f" (minimum {min_coverage:g}%)" if min_coverage is not None else ""
    out.append(f"rule coverage: {len(cov.exercised)}/{cov.total} rules, "
               f"{cov.percent:.1f}%{floor}")
    if cov.missing:
        out.append("not exercised by any case: " + ", ".join(cov.missing))
    return out


def render_junit(runs: Sequence[Timed], cov: Coverage, min_coverage: float | None,
                 base: Path, issues: Sequence[PolicyIssue] = ()) -> bytes:
    """JUnit XML as CI test reporters read it: testsuites > testsuite per file > testcase, with a
    failure (expectations not met) or an error (the case could not run) element."""
    root = ET.Element("testsuites", name="alluse policy test")
    by_file: dict[str, list[Timed]] = {}
    for t in runs:
        by_file.setdefault(t.result.file, []).append(t)
    for file, items in by_file.items():
        suite = ET.SubElement(root, "testsuite", name=file)
        for t in items:
            r = t.result
            case = ET.SubElement(suite, "testcase", name=r.name,
                                 classname=file.removesuffix(".yaml").replace("/", "."),
                                 file=str(base / file), line=str(r.line), time=f"{t.seconds:.4f}")
            if r.status == "failed":
                what = ", ".join(m.what for m in r.mismatches)
                el = ET.SubElement(case, "failure", message=f"expected outcomes not met: {what}",
                                   type="PolicyTestFailure")
                el.text = _failure_text(r)
            elif r.status == "error":
                el = ET.SubElement(case, "error", message=r.error, type="PolicyTestError")
                el.text = r.error
        _count(suite, items)
    if issues:
        suite = ET.SubElement(root, "testsuite", name="policy test files")
        for issue in issues:
            case = ET.SubElement(suite, "testcase", name=f"{issue.file}:{issue.line}:{issue.col}",
                                 classname="load", file=str(base / issue.file),
                                 line=str(issue.line), time="0")
            ET.SubElement(case, "error", message=issue.message, type="PolicyTestFileError")
        suite.set("tests", str(len(issues)))
        suite.set("failures", "0")
        suite.set("errors", str(len(issues)))
        suite.set("skipped", "0")
        suite.set("time", "0")
    if min_coverage is not None:
        suite = ET.SubElement(root, "testsuite", name="rule coverage", tests="1", errors="0",
                              skipped="0", time="0")
        case = ET.SubElement(suite, "testcase", name=f"rule coverage >= {min_coverage:g}%",
                             classname="coverage", time="0")
        low = cov.percent < min_coverage
        suite.set("failures", "1" if low else "0")
        if low:
            el = ET.SubElement(case, "failure", type="CoverageBelowMinimum",
                               message=f"rule coverage {cov.percent:.1f}% is below "
                                       f"{min_coverage:g}%")
            el.text = "not exercised by any case:\n" + "\n".join(cov.missing)
    for key in ("tests", "failures", "errors", "time"):
        root.set(key, _sum(root, key))
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _count(suite: ET.Element, items: Sequence[Timed]) -> None:
    suite.set("tests", str(len(items)))
    suite.set("failures", str(sum(1 for t in items if t.result.status == "failed")))
    suite.set("errors", str(sum(1 for t in items if t.result.status == "error")))
    suite.set("skipped", "0")
    suite.set("time", f"{sum(t.seconds for t in items):.4f}")


def _sum(root: ET.Element, key: str) -> str:
    values = [float(s.get(key, "0")) for s in root.iter("testsuite")]
    return f"{sum(values):.4f}" if key == "time" else str(int(sum(values)))


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        typer.echo(f"error: --junit: cannot write '{path}': {exc.strerror}", err=True)
        raise typer.Exit(2) from None


def _json(runs: Sequence[Timed], cov: Coverage, min_coverage: float | None, ok: bool,
          policy_hash: str) -> dict[str, Any]:
    return {
        "policy_hash": policy_hash,
        "cases": [{**t.result.as_dict(), "seconds": round(t.seconds, 4)} for t in runs],
        "summary": {"cases": len(runs),
                    **{s: sum(1 for t in runs if t.result.status == s)
                       for s in ("passed", "failed", "error")}},
        "coverage": cov.as_dict(), "min_coverage": min_coverage, "ok": ok,
    }


@policy_app.command("test")
def run_tests(
    directory: DirArg = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Also write JUnit XML here")] =
    None,
    fmt: Annotated[PolicyTestFormat, typer.Option("--format", help="text or json")] = (
        PolicyTestFormat.text),
    min_coverage: Annotated[float | None, typer.Option(
        "--min-coverage", min=0, max=100, help="Fail when fewer than N% of the rules are "
                                               "exercised")] = None,
) -> None:
    """Run the policy tests in DIR/tests/*.yaml: expected decisions and rule coverage."""
    from alluse.adapters.policy_files import read_policy_files
    from alluse.cli.policy_dir import policy_dir
    from alluse.engine.errors import PolicyLoadError
    from alluse.engine.policy import load_policy_set
    from alluse.engine.policy.testfile import TESTS_DIR
    from alluse.engine.policy.testload import load_policy_tests
    from alluse.engine.policytest import coverage, run_case

    base = policy_dir(directory)
    try:
        files = read_policy_files(base, tests=True)
        ps = load_policy_set(files)
    except PolicyLoadError as exc:
        print_issues(exc.issues, fmt.value, base)
        raise typer.Exit(1) from None
    cases, issues = load_policy_tests(files, ps)
    if issues:
        print_issues(issues, fmt.value, base)
        if junit is not None:
            _write(junit, render_junit([], coverage(ps, []), None, base, issues))
        raise typer.Exit(1)
    if not cases:
        typer.echo(f"error: no policy tests in {base / TESTS_DIR} (write {TESTS_DIR}/<name>.yaml "
                   "files; see `alluse policy test --help`)", err=True)
        raise typer.Exit(1)
    runs: list[Timed] = []
    for case in cases:
        t0 = time.perf_counter()
        result = run_case(case)
        runs.append(Timed(result, time.perf_counter() - t0))
    cov = coverage(ps, [t.result for t in runs])
    ok = all(t.result.status == "passed" for t in runs) and (
        min_coverage is None or cov.percent >= min_coverage)
    if junit is not None:
        _write(junit, render_junit(runs, cov, min_coverage, base))
    if fmt is PolicyTestFormat.json:
        typer.echo(json.dumps(_json(runs, cov, min_coverage, ok, ps.hash), indent=2))
    else:
        for line in render_text(runs, cov, min_coverage, base):
            typer.echo(line)
    if not ok:
        raise typer.Exit(1)
