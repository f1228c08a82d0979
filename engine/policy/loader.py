"""Policy set loading: structure, then types, then cross-references. Pure: takes file contents.

Every problem in every file is reported (never just the first), each as ``file:line:col`` with
the policy and rule named. A set with any problem is never returned: `load_policy_set` raises
`PolicyLoadError` carrying all of them.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from alluse.engine.errors import PolicyIssue, PolicyLoadError
from alluse.engine.expressions import Expression
from alluse.engine.policy.crossref import check_cross_references
from alluse.engine.policy.models import (
    POLICY_FILES,
    REMOVED_KEYS,
    STRATEGY_DIR,
    AccountsPolicy,
    AlertsPolicy,
    DataPolicy,
    ProtocolsPolicy,
    RiskPolicy,
    SchedulePolicy,
    StrategyPolicy,
    WeekTypesPolicy,
)
from alluse.engine.policy.rules import RuleInfo, build_rules, owner
from alluse.engine.policy.testfile import TESTS_DIR
from alluse.engine.policy.yamlsource import YamlDoc, parse_yaml

REQUIRED_FILES = tuple(POLICY_FILES)


@dataclass(frozen=True, slots=True)
class PolicySet:
    """An immutable, validated policy set, identified by the hash of what it says.

    ``rules`` maps every stable rule id (``strategies/gen_acc#rules/premium_floor``, see
    `alluse.engine.policy.rules`) to where the rule lives; each compiled expression carries the
    id of the rule it belongs to (`Expression.rule_id`).
    """

    protocols: ProtocolsPolicy
    accounts: AccountsPolicy
    alerts: AlertsPolicy
    risk: RiskPolicy
    data: DataPolicy
    schedule: SchedulePolicy
    week_types: WeekTypesPolicy
    strategies: Mapping[str, StrategyPolicy]
    expressions: Mapping[str, Expression]
    expressions_by_path: Mapping[tuple[str | int, ...], Expression]
    hash: str
    file_hashes: Mapping[str, str]
    rules: Mapping[str, RuleInfo]

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    def expr(self, file: str, *path: str | int) -> Expression:
        return self.expressions_by_path[(file, *path)]


def expr_key(file: str, path: tuple[str | int, ...]) -> str:
    return file + "#" + ".".join(str(p) for p in path)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _allowed_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the model accepts at ``loc`` (for "did you mean")."""
    current: Any = root
    for seg in loc:
        for _ in range(8):  # unwrap Annotated / Optional / unions until a container or model
            origin = typing.get_origin(current)
            if origin is typing.Annotated:
                current = typing.get_args(current)[0]
            elif origin in (typing.Union, types.UnionType):
                members = [a for a in typing.get_args(current) if a is not type(None)]
                picked = [m for m in members if _is_model(m) and "kind" in m.model_fields
                          and typing.get_args(m.model_fields["kind"].annotation) == (seg,)]
                if picked:
                    current = picked[0]
                    break
                current = members[0]
            else:
                break
        if _is_model(current):
            if typing.get_args(current.model_fields.get("kind", None).annotation
                               if "kind" in current.model_fields else None) == (seg,):
                continue
            fields = {(f.alias or n): f for n, f in current.model_fields.items()}
            if seg not in fields:
                return []
            current = fields[seg].annotation
        elif typing.get_origin(current) is list:
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return []
    for _ in range(8):
        origin = typing.get_origin(current)
        if origin is typing.Annotated:
            current = typing.get_args(current)[0]
        elif origin in (typing.Union, types.UnionType):
            current = next((a for a in typing.get_args(current) if a is not type(None)), current)
        else:
            break
    if _is_model(current):
        return sorted((f.alias or n) for n, f in current.model_fields.items())
    return []


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Map a pydantic ``loc`` onto the data, skipping segments that are not in it (union tags)."""
    path: list[str | int] = []
    node = data
    for seg in loc:
        in_map = isinstance(node, dict) and isinstance(seg, str) and seg in node
        in_list = isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node)
        if in_map or in_list:
            path.append(seg)
            node = node[seg]
        elif isinstance(node, dict) and isinstance(seg, str) and seg == "[key]":
            continue
    return tuple(path)


def _rule_name(data: Any, path: tuple[str | int, ...]) -> str:
    """The rule/level/job the path is inside of, for the message's context."""
    node = data
    name = ""
    for i, seg in enumerate(path):
        try:
            node = node[seg]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(seg, int) and isinstance(node, dict):
            for k in ("id", "name", "level", "account_type"):
                if k in node:
                    name = f"{path[i - 1]}[{node[k]}]" if i else str(node[k])
                    break
        elif i > 0 and path[i - 1] in ("jobs", "types", "modes", "account_types"):
            name = f"{path[i - 1]}.{seg}"
    return name


def _fmt_input(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _validation_issues(doc: YamlDoc, model: type[BaseModel], policy: str,
                       exc: ValidationError) -> list[PolicyIssue]:
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        typ = err["type"]
        if typ == "extra_forbidden":
            path = _data_path(doc.data, loc)
            key = str(loc[-1])
            allowed = _allowed_keys(model, loc[:-1])
            hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            msg = f"unknown key '{key}'"
            msg += f"; did you mean '{hint[0]}'?" if hint else (
                f" (allowed: {', '.join(allowed)})" if allowed else "")
            line, col = doc.where(path, key=True)
        elif typ == "missing":
            path = _data_path(doc.data, loc[:-1])
            msg = f"missing required key '{loc[-1]}'"
            line, col = doc.where(path, key=True)
        else:
            path = _data_path(doc.data, loc)
            field = ".".join(str(p) for p in loc if not (isinstance(p, str) and p in
                                                         ("order", "alert", "note")))
            shown = f" (got {_fmt_input(err['input'])})" if "input" in err and not isinstance(
                err["input"], dict | list) else ""
            msg = f"{field}: {err['msg']}{shown}" if field else f"{err['msg']}{shown}"
            line, col = doc.where(path)
        issues.append(PolicyIssue(doc.file, line, col, msg, policy=policy,
                                  rule=_rule_name(doc.data, path), code=typ))
    return issues


def _removed_keys(doc: YamlDoc, name: str, policy: str) -> tuple[list[PolicyIssue], Any]:
    """An error naming the replacement for each removed key (`REMOVED_KEYS`), and the data
    without those keys, so the rest of the file is still checked."""
    out = []
    data = doc.data
    for (file, path), message in REMOVED_KEYS.items():
        parent = data
        for seg in path[:-1]:
            parent = parent.get(seg) if isinstance(parent, dict) else None
        if file != name or not isinstance(parent, dict) or path[-1] not in parent:
            continue
        line, col = doc.where(path, key=True)
        out.append(PolicyIssue(name, line, col, message, policy=policy, code="removed-key"))
        if data is doc.data:
            data = copy.deepcopy(doc.data)
        target = data
        for seg in path[:-1]:
            target = target[seg]
        del target[path[-1]]
    return out, data


def _canonical_hash(parts: Mapping[str, BaseModel]) -> str:
    canon = {name: m.model_dump(mode="json", by_alias=True) for name, m in sorted(parts.items())}
    text = json.dumps(canon, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PolicyCheck:
    """What checking a policy set found: the set (None when any error was found), every error
    and, when asked for, every lint warning (`alluse.engine.policy.review`)."""

    policy: PolicySet | None
    errors: tuple[PolicyIssue, ...]
    warnings: tuple[PolicyIssue, ...] = ()

    @property
    def issues(self) -> list[PolicyIssue]:
        """Errors and warnings in file, line, column order."""
        return sorted((*self.errors, *self.warnings),
                      key=lambda i: (i.file, i.line, i.col, i.message))


def load_policy_set(files: Mapping[str, bytes]) -> PolicySet:
    """Validate a whole policy set given as {relative path: content}; raise with every issue."""
    checked = check_policy_set(files, warnings=False)
    if checked.policy is None:
        raise PolicyLoadError(list(checked.errors))
    return checked.policy


def check_policy_set(files: Mapping[str, bytes], *, warnings: bool = True) -> PolicyCheck:
    """Check a whole policy set: structure, then types, then cross-references (each on every
    file that passed the steps before, so one broken file hides nothing in the others), then,
    with ``warnings``, what review misses (never refuses a set)."""
    from alluse.engine.policy.review import review

    # Files under ``tests/`` are the set's tests (`alluse policy test` loads and checks them), not
    # part of the set: they are left out here, of the set's hashes too.
    files = {k: v for k, v in files.items() if not k.startswith(TESTS_DIR + "/")}
    issues: list[PolicyIssue] = []
    notes: list[PolicyIssue] = []
    docs: dict[str, YamlDoc] = {}
    models: dict[str, BaseModel] = {}
    yaml_files = {k: v for k, v in files.items() if k.endswith((".yaml", ".yml"))}
    for name in REQUIRED_FILES:
        if name not in yaml_files:
            issues.append(PolicyIssue(name, 1, 1, f"required policy file '{name}' is missing",
                                      policy=name.removesuffix(".yaml"), code="missing-file"))
    if not any(k.startswith(STRATEGY_DIR + "/") for k in yaml_files):
        issues.append(PolicyIssue(STRATEGY_DIR + "/", 1, 1, "no strategy files in strategies/",
                                  code="missing-file"))
    known = [*REQUIRED_FILES, STRATEGY_DIR + "/<name>.yaml"]
    for name in sorted(yaml_files):
        if name.endswith(".yml"):
            issues.append(PolicyIssue(name, 1, 1, "policy files end in .yaml, not .yml",
                                      code="file-name"))
            continue
        is_strategy = name.startswith(STRATEGY_DIR + "/") and name.count("/") == 1
        if name not in POLICY_FILES and not is_strategy:
            hint = difflib.get_close_matches(name, REQUIRED_FILES, n=1)
            msg = f"unknown policy file '{name}'" + (f"; did you mean '{hint[0]}'?" if hint
                                                     else f" (expected: {', '.join(known)})")
            issues.append(PolicyIssue(name, 1, 1, msg, code="unknown-file"))
            continue
        doc, found = parse_yaml(name, yaml_files[name])
        errors = [i for i in found if not i.is_warning]
        issues += errors
        notes += [i for i in found if i.is_warning]
        if doc is None or errors:
            continue
        docs[name] = doc
        model: type[BaseModel] = StrategyPolicy if is_strategy else POLICY_FILES[name]
        policy = name.removesuffix(".yaml")
        removed, data = _removed_keys(doc, name, policy)
        issues += removed
        try:
            models[name] = model.model_validate(data)
        except ValidationError as exc:
            issues += _validation_issues(doc, model, policy, exc)
    expressions: dict[str, Expression] = {}
    issues += check_cross_references(models, docs, expressions, present=yaml_files)
    rules, duplicates = build_rules(models, docs)
    issues += duplicates
    if warnings:
        notes += review(models, docs, expressions)
    if issues:
        return PolicyCheck(None, tuple(sorted(issues, key=_order)), tuple(sorted(notes, key=_order)))
    by_path: dict[tuple[str | int, ...], Expression] = {}
    for key, compiled in expressions.items():
        file, _, dotted = key.partition("#")
        path = tuple(int(p) if p.isdigit() else p for p in dotted.split("."))
        expressions[key] = replace(compiled, rule_id=owner(rules, file, path))
        by_path[(file, *path)] = expressions[key]
    strategies = {n.removeprefix(STRATEGY_DIR + "/").removesuffix(".yaml"): m
                  for n, m in models.items() if n.startswith(STRATEGY_DIR + "/")}
    return PolicyCheck(PolicySet(
        protocols=typing.cast(ProtocolsPolicy, models["protocols.yaml"]),
        accounts=typing.cast(AccountsPolicy, models["accounts.yaml"]),
        alerts=typing.cast(AlertsPolicy, models["alerts.yaml"]),
        risk=typing.cast(RiskPolicy, models["risk.yaml"]),
        data=typing.cast(DataPolicy, models["data.yaml"]),
        schedule=typing.cast(SchedulePolicy, models["schedule.yaml"]),
        week_types=typing.cast(WeekTypesPolicy, models["week_types.yaml"]),
        strategies=types.MappingProxyType(
            {k: typing.cast(StrategyPolicy, v) for k, v in sorted(strategies.items())}),
        expressions=types.MappingProxyType(expressions),
        expressions_by_path=types.MappingProxyType(by_path),
        hash=_canonical_hash(models),
        file_hashes=types.MappingProxyType(
            {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())}),
        rules=types.MappingProxyType(rules),
    ), (), tuple(sorted(notes, key=_order)))


def _order(issue: PolicyIssue) -> tuple[str, int, int, str]:
    return issue.file, issue.line, issue.col, issue.message
