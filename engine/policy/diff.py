"""A semantic diff of two policy sets, each change graded by rules that are data.

`diff_sets(a, b, grading)` compares two sets file by file as parsed YAML (comments, layout and key
order do not count) and returns one `Change` per changed value: where it is on each side
(file:line:col), its old and new value, and a grade — ``loosens`` or ``tightens`` risk,
``neutral``, or ``unclear`` when no grading rule speaks for it.

Paths name values the way the grading rules match them: the file without ``.yaml``, then the
keys, list items by what identifies them (``protocols.levels[1].min_atr_multiple``,
``strategies/gen_acc.rules[premium_floor].if``, ``risk.blacklist[TSLA]``), so a reordered list
is no change. The grading rules (`Grading`, shipped as YAML with the CLI) say per path pattern
what a higher or lower number, an added or removed item, a switch to true or false, or a move
along an ordered scale means; the first rule whose pattern matches decides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alluse.engine.policy.yamlsource import YamlDoc

Grade = Literal["loosens", "tightens", "neutral", "unclear"]
GRADES: tuple[Grade, ...] = ("loosens", "tightens", "neutral", "unclear")
_IDENTITY = ("id", "level", "account_type", "name")  # what identifies an item of a list
_HHMM = re.compile(r"^\d\d:\d\d$")


class GradingRule(BaseModel):
    """What a change at ``path`` does to risk.

    ```yaml
    - path: "strategies/*.premium.min_pct"
      decrease: loosens
      increase: tightens
      why: a lower premium floor lets cheaper premiums through
    ```
    ``*`` matches within one name, ``**`` across names, ``[*]`` any list item."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)
    increase: Grade | None = None
    decrease: Grade | None = None
    added: Grade | None = None
    removed: Grade | None = None
    to_true: Grade | None = None
    to_false: Grade | None = None
    scale: list[str] | None = Field(None, description="Ordered values: a move to a later one is "
                                                      "an increase")
    any: Grade | None = Field(None, description="Any other change at this path")
    why: str = ""


class Grading(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    rules: list[GradingRule]


@dataclass(frozen=True, slots=True)
class Change:
    """One changed value. ``a``/``b`` are (file, line, col) on each side, None where absent."""

    file: str
    path: str  # the full path the grading rules match
    where: str  # the path inside the file, for people
    kind: Literal["changed", "added", "removed"]
    old: Any
    new: Any
    a: tuple[str, int, int] | None
    b: tuple[str, int, int] | None
    grade: Grade
    why: str = ""
    rule: str = ""  # the grading pattern that decided

    def as_dict(self) -> dict[str, object]:
        def loc(p: tuple[str, int, int] | None) -> dict[str, object] | None:
            return {"file": p[0], "line": p[1], "col": p[2]} if p else None

        return {"file": self.file, "path": self.path, "where": self.where, "kind": self.kind,
                "old": self.old, "new": self.new, "a": loc(self.a), "b": loc(self.b),
                "grade": self.grade, "why": self.why, "rule": self.rule}


def _pattern(glob: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob.startswith("[*]", i):
            out.append(r"\[[^\]]*\]")
            i += 3
        elif glob[i] == "*":
            out.append(r"[^.\[\]]*")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _ordered(old: Any, new: Any, scale: list[str] | None) -> int | None:
    """+1 when new is above old, -1 below, 0 equal, None when they do not compare."""
    def num(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    if num(old) and num(new):
        return int(float(new) > float(old)) - int(float(new) < float(old))
    if scale and old in scale and new in scale:
        i, j = scale.index(old), scale.index(new)
        return (j > i) - (j < i)
    if isinstance(old, str) and isinstance(new, str) and _HHMM.match(old) and _HHMM.match(new):
        return (new > old) - (new < old)
    return None


class Grader:
    """The grading rules, compiled once."""

    def __init__(self, grading: Grading) -> None:
        self.rules = [(rule, _pattern(rule.path)) for rule in grading.rules]

    def grade(self, path: str, kind: str, old: Any, new: Any) -> tuple[Grade, str, str]:
        for rule, pattern in self.rules:
            if not pattern.match(path):
                continue
            grade: Grade | None = None
            if kind == "added":
                grade = rule.added
            elif kind == "removed":
                grade = rule.removed
            elif isinstance(old, bool) and isinstance(new, bool):
                grade = rule.to_true if new else rule.to_false
            else:
                step = _ordered(old, new, rule.scale)
                if step is not None and step != 0:
                    grade = rule.increase if step > 0 else rule.decrease
            grade = grade or rule.any
            if grade is not None:
                return grade, rule.why, rule.path
        return "unclear", "", ""


def _identity(a: list[Any], b: list[Any]) -> str | None:
    """The key that identifies every item of two lists of mappings (unique on each side)."""
    if not a + b or not all(isinstance(i, dict) for i in a + b):
        return None
    for key in _IDENTITY:
        sides = [[i.get(key) for i in side] for side in (a, b)]
        if all(isinstance(v, str | int) and not isinstance(v, bool) for s in sides for v in s) \
                and all(len(set(s)) == len(s) for s in sides):
            return key
    return None


def _scalars(items: list[Any]) -> bool:
    return all(isinstance(i, str | int | float) and not isinstance(i, bool) for i in items) and \
        len(set(items)) == len(items)


class _Walk:
    def __init__(self, file: str, a: YamlDoc | None, b: YamlDoc | None, grader: Grader) -> None:
        self.file, self.da, self.db, self.grader = file, a, b, grader
        self.changes: list[Change] = []
        self.stem = file.removesuffix(".yaml")

    def add(self, where: str, kind: Literal["changed", "added", "removed"], old: Any, new: Any,
            pa: tuple[str | int, ...] | None, pb: tuple[str | int, ...] | None) -> None:
        path = self.stem + ("." + where if where and not where.startswith("[") else where)
        grade, why, rule = self.grader.grade(path, kind, old, new)
        a = (self.file, *self.da.where(pa)) if pa is not None and self.da else None
        b = (self.file, *self.db.where(pb)) if pb is not None and self.db else None
        self.changes.append(Change(self.file, path, where, kind, old, new, a, b, grade, why, rule))

    def walk(self, where: str, va: Any, vb: Any, pa: tuple[str | int, ...],
             pb: tuple[str | int, ...]) -> None:
        if isinstance(va, dict) and isinstance(vb, dict):
            for k in [*va, *(k for k in vb if k not in va)]:
                w = f"{where}.{k}" if where else str(k)
                if k not in vb:  # the other side's position: where it would have been
                    self.add(w, "removed", va[k], None, (*pa, k), pb)
                elif k not in va:
                    self.add(w, "added", None, vb[k], pa, (*pb, k))
                else:
                    self.walk(w, va[k], vb[k], (*pa, k), (*pb, k))
        elif isinstance(va, list) and isinstance(vb, list):
            self.walk_list(where, va, vb, pa, pb)
        elif va != vb or type(va) is not type(vb):
            self.add(where, "changed", va, vb, pa, pb)

    def walk_list(self, where: str, va: list[Any], vb: list[Any], pa: tuple[str | int, ...],
                  pb: tuple[str | int, ...]) -> None:
        key = _identity(va, vb)
        if key is not None:
            ia = {item[key]: n for n, item in enumerate(va)}
            ib = {item[key]: n for n, item in enumerate(vb)}
            labels = [*ia, *(x for x in ib if x not in ia)]
        elif _scalars(va) and _scalars(vb):
            ia = {item: n for n, item in enumerate(va)}
            ib = {item: n for n, item in enumerate(vb)}
            labels = [*ia, *(x for x in ib if x not in ia)]
        else:
            ia = {n: n for n in range(len(va))}
            ib = {n: n for n in range(len(vb))}
            labels = list(range(max(len(va), len(vb))))
        for label in labels:
            w = f"{where}[{label}]"
            if label not in ib:
                self.add(w, "removed", va[ia[label]], None, (*pa, ia[label]), pb)
            elif label not in ia:
                self.add(w, "added", None, vb[ib[label]], pa, (*pb, ib[label]))
            elif key is not None or not (_scalars(va) and _scalars(vb)):
                self.walk(w, va[ia[label]], vb[ib[label]], (*pa, ia[label]), (*pb, ib[label]))


def diff_sets(a: Mapping[str, YamlDoc], b: Mapping[str, YamlDoc], grading: Grading
              ) -> list[Change]:
    """Every change from set ``a`` to set ``b`` (parsed files by name), graded, in file order.
    A file only on one side is one change (``added``/``removed``) graded at its file path."""
    grader = Grader(grading)
    changes: list[Change] = []
    for file in sorted(set(a) | set(b)):
        w = _Walk(file, a.get(file), b.get(file), grader)
        da, db = a.get(file), b.get(file)
        if da is None and db is not None:
            grade, why, rule = grader.grade(w.stem, "added", None, db.data)
            changes.append(Change(file, w.stem, "", "added", None, db.data, None, (file, 1, 1),
                                  grade, why, rule))
        elif db is None and da is not None:
            grade, why, rule = grader.grade(w.stem, "removed", da.data, None)
            changes.append(Change(file, w.stem, "", "removed", da.data, None, (file, 1, 1), None,
                                  grade, why, rule))
        elif da is not None and db is not None:
            w.walk("", da.data, db.data, (), ())
            changes += w.changes
    return changes


def summary(changes: list[Change]) -> dict[str, int]:
    return {g: sum(1 for c in changes if c.grade == g) for g in GRADES}
