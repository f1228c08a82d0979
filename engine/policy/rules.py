"""The rule registry: a stable id for everything in a policy set that fires.

An id names where the rule lives, ``<file without .yaml>#<section>/<key>``:

    strategies/gen_acc#rules/premium_floor    an entry rule (its ``id:``)
    strategies/gen_acc#entry                  the strategy's entry (day, window → proposal)
    strategies/gen_acc#covered_calls          the covered-call entry after an assignment
    protocols#levels/1                        a protocol level (by its ``level:`` number)
    protocols#step_down                       stepping a level back down (hysteresis)
    accounts#fork/GEN-ACC  accounts#merge  accounts#reinvestment/REV-ACC
    risk#circuit_breakers/consecutive_losses  (…/daily_drawdown_pct, …/max_simultaneous_breaches,
                                              …/resume), risk#position_limit, risk#daily_limit,
                                              risk#collateral, risk#blacklist
    week_types#modes/green  week_types#types/P-EW
    week_types#predictions/trend_up           a week-mode prediction rule (Monday, per symbol)
    week_types#predictions                    an account's predictions (its strategy's symbols)
    week_types#learning                       the weekly cycle's scoring: predicted vs actual,
                                              hit rates, performance by mode and type, targets

The id depends on the file and the rule's own key, never on its position in a list, so it
survives reordering and edits elsewhere; renaming the key renames the rule. Two rules with one
id are a lint error at the second, naming the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from pydantic import BaseModel

from alluse.engine.errors import PolicyIssue
from alluse.engine.policy.models import (
    AccountsPolicy,
    ProtocolsPolicy,
    RiskPolicy,
    StrategyPolicy,
    WeekTypesPolicy,
)
from alluse.engine.policy.yamlsource import YamlDoc

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """Where a rule lives and what it tests.

    ``line``/``col`` (1-based) are the rule's own line: its list item (``- id: premium_floor``)
    or its key (``green:``, ``merge:``). ``expression`` is the rule's YAML expression, or for a
    threshold rule the test the engine applies, written the same way
    (``post_tax_gain >= 50000``). ``path`` is its place in the file's data.
    """

    id: str
    file: str
    line: int
    col: int
    kind: str
    expression: str
    description: str = ""
    path: Path_ = ()

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "file": self.file, "line": self.line, "col": self.col,
                "kind": self.kind, "expression": self.expression,
                "description": self.description}


def rule_id(file: str, *parts: str | int) -> str:
    """``rule_id("strategies/gen_acc.yaml", "rules", "premium_floor")`` →
    ``strategies/gen_acc#rules/premium_floor``."""
    return file.removesuffix(".yaml") + "#" + "/".join(str(p) for p in parts)


@dataclass(frozen=True, slots=True)
class _Found:
    info: RuleInfo
    at: Path_  # the value that makes the id (for a duplicate's error position)
    name: str  # the rule as lint messages name it


def _g(x: float) -> str:
    return f"{x:g}"


def _rule(doc: YamlDoc, path: Path_, parts: tuple[str | int, ...], kind: str, expression: str,
          description: str = "", *, at: Path_ | None = None, name: str = "") -> _Found:
    # a list item's position is its first key; a mapping entry's is its key
    line, col = doc.values[path] if isinstance(path[-1], int) else doc.where(path, key=True)
    info = RuleInfo(rule_id(doc.file, *parts), doc.file, line, col, kind, expression,
                    " ".join(description.split()), path)
    return _Found(info, at if at is not None else path, name or "/".join(map(str, parts)))


def _protocols(doc: YamlDoc, p: ProtocolsPolicy) -> Iterator[_Found]:
    for i, lv in enumerate(p.levels):
        yield _rule(doc, ("levels", i), ("levels", lv.level), "protocol_level",
                    f"atr_multiple >= {_g(lv.min_atr_multiple)}", lv.description or lv.name,
                    at=("levels", i, "level"), name=f"level {lv.level}")
    if p.step_down.mode == "hysteresis":
        yield _rule(doc, ("step_down",), ("step_down",), "protocol_step_down",
                    f"atr_multiple < level_threshold - {_g(p.step_down.hysteresis_atr)}",
                    "A position steps down once its move falls back below its level's threshold "
                    "minus the hysteresis.")


def _accounts(doc: YamlDoc, a: AccountsPolicy) -> Iterator[_Found]:
    for i, fr in enumerate(a.fork):
        split = ", ".join(f"{t} {_g(v)}%" for t, v in fr.split.items())
        yield _rule(doc, ("fork", i), ("fork", fr.account_type), "fork",
                    f"post_tax_gain >= {_g(fr.threshold_post_tax_gain)}",
                    f"{fr.account_type} forks its gain into a new unit ({split}).",
                    at=("fork", i, "account_type"), name=f"fork[{fr.account_type}]")
    yield _rule(doc, ("merge",), ("merge",), "merge",
                f"unit_total >= {_g(a.merge.unit_total_threshold)}",
                f"A forked unit merges into its parent's {a.merge.into_account_type}.")
    for i, r in enumerate(a.reinvestment):
        yield _rule(doc, ("reinvestment", i), ("reinvestment", r.account_type), "reinvestment",
                    f"cadence == '{r.cadence}'",
                    f"{r.account_type} reinvests {_g(r.reinvest_pct)}% of its gains.",
                    at=("reinvestment", i, "account_type"), name=f"reinvestment[{r.account_type}]")


def _risk(doc: YamlDoc, r: RiskPolicy) -> Iterator[_Found]:
    cb = r.circuit_breakers
    base = ("circuit_breakers",)
    pause = f"New entries pause until {cb.resume.replace('_', ' ')}."
    for key, test, text in (
            ("consecutive_losses", f"consecutive_losses >= {cb.consecutive_losses}",
             "Losing closes in a row in one account."),
            ("daily_drawdown_pct", f"drawdown_pct >= {_g(cb.daily_drawdown_pct)}",
             "An account's fall from its equity at the day's first protocol check."),
            ("max_simultaneous_breaches", f"breaches >= {cb.max_simultaneous_breaches}",
             f"Positions of one account at protocol level {cb.breach_min_level} or above."),
            ("resume", f"resume == '{cb.resume}'", "A paused account resumes.")):
        yield _rule(doc, (*base, key), (*base, key), "circuit_breaker", test,
                    text if key == "resume" else f"{text} {pause}")
    for key in ("position_limit", "daily_limit"):
        lim = r.position_limit if key == "position_limit" else r.daily_limit
        unit = {"atr_risk": f"100 * atr * {_g(lim.atr_multiple)}", "collateral": "100 * strike",
                "premium": "100 * premium"}[lim.measure]
        used, scope = (("", "one position") if key == "position_limit" else
                       ("used_today + ", "the positions opened in a day"))
        yield _rule(doc, (key,), (key,), "limit",
                    f"{used}contracts * {unit} <= {_g(lim.max_pct_of_account)}% of equity",
                    f"What {scope} may put at risk ({lim.measure}).")
    if r.collateral.cash_secured:
        yield _rule(doc, ("collateral",), ("collateral",), "limit",
                    f"100 * strike * contracts <= {_g(r.collateral.max_pct_of_cash)}% of free "
                    "cash", "Puts are cash-secured.")
    listed = ", ".join(repr(s) for s in r.blacklist)
    yield _rule(doc, ("blacklist",), ("blacklist",), "blacklist",
                f"symbol not in ({listed}{',' if len(r.blacklist) == 1 else ''})",
                "Symbols never traded.")


def _week_types(doc: YamlDoc, w: WeekTypesPolicy) -> Iterator[_Found]:
    for name, mode in w.modes.items():
        yield _rule(doc, ("modes", name), ("modes", name), "week_mode", mode.when,
                    mode.description or mode.label)
    for code, wt in w.types.items():
        yield _rule(doc, ("types", code), ("types", code), "week_type", wt.when, wt.label)
    if w.predictions is not None:
        yield _rule(doc, ("predictions",), ("predictions",), "week_prediction_account",
                    "symbol in account_symbols",
                    "An account's week: the predictions of its strategy's symbols and the week "
                    "types its positions are expected to end with.")
        for name, rule in w.predictions.rules.items():
            yield _rule(doc, ("predictions", "rules", name), ("predictions", name),
                        "week_prediction", rule.when,
                        f"Predicts {rule.mode}. {rule.description}".strip(),
                        at=("predictions", "rules", name), name=f"predictions/{name}")
        learning_at: Path_ = ("learning",) if "learning" in doc.data else ("predictions",)
        yield _rule(doc, learning_at, ("learning",), "learning",
                    f"predicted == actual over the last {w.learning.rolling_weeks} weeks and "
                    "cumulatively",
                    "The weekly cycle scores last week's predictions against the actual modes "
                    "and week types.")


def _strategy(doc: YamlDoc, st: StrategyPolicy) -> Iterator[_Found]:
    days = ", ".join(repr(d) for d in st.entry.days)
    yield _rule(doc, ("entry",), ("entry",), "entry",
                f"day in ({days}{',' if len(st.entry.days) == 1 else ''}) and "
                f"'{st.entry.window.start}' <= time < '{st.entry.window.end}'",
                f"{st.account_type} proposes puts on "
                f"{', '.join(st.symbols)}.")
    for i, rule in enumerate(st.rules):
        yield _rule(doc, ("rules", i), ("rules", rule.id), "entry_rule", rule.if_,
                    rule.description, at=("rules", i, "id"), name=rule.id)
    cc = st.covered_calls
    if cc is not None and cc.enabled:
        basis = " and strike >= basis" if cc.min_strike_vs_basis == "at_or_above_basis" else ""
        yield _rule(doc, ("covered_calls",), ("covered_calls",), "covered_calls",
                    f"wheel == 'stock'{basis}",
                    f"{st.account_type} sells covered calls on assigned stock.")


def build_rules(models: dict[str, BaseModel], docs: dict[str, YamlDoc]
                ) -> tuple[dict[str, RuleInfo], list[PolicyIssue]]:
    """Every rule of a validated set by id, ordered by file then line, and a lint issue for each
    id defined twice (at the second, naming the first)."""
    found: list[_Found] = []
    for file, model in models.items():
        doc = docs[file]
        if file == "protocols.yaml":
            found += _protocols(doc, cast(ProtocolsPolicy, model))
        elif file == "accounts.yaml":
            found += _accounts(doc, cast(AccountsPolicy, model))
        elif file == "risk.yaml":
            found += _risk(doc, cast(RiskPolicy, model))
        elif file == "week_types.yaml":
            found += _week_types(doc, cast(WeekTypesPolicy, model))
        elif file.startswith("strategies/"):
            found += _strategy(doc, cast(StrategyPolicy, model))
    found.sort(key=lambda f: (f.info.file, f.info.line, f.info.col))
    rules: dict[str, RuleInfo] = {}
    issues: list[PolicyIssue] = []
    for f in found:
        first = rules.get(f.info.id)
        if first is None:
            rules[f.info.id] = f.info
            continue
        line, col = docs[f.info.file].where(f.at)
        issues.append(PolicyIssue(
            f.info.file, line, col, f"duplicate rule id '{f.info.id}': first defined at "
            f"{first.file}:{first.line}:{first.col}", policy=f.info.file.removesuffix(".yaml"),
            rule=f.name, code="duplicate-rule-id"))
    return rules, issues


def owner(rules: dict[str, RuleInfo], file: str, path: Path_) -> str:
    """The id of the rule an expression at ``path`` belongs to: the rule whose path is its
    longest prefix; a strategy's script belongs to its entry. Empty when no rule holds it."""
    if file.startswith("strategies/") and path[:1] == ("script",):
        return rule_id(file, "entry")
    best = ""
    depth = -1
    for info in rules.values():
        n = len(info.path)
        if info.file == file and n > depth and path[:n] == info.path:
            best, depth = info.id, n
    return best
