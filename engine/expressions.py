"""The sandboxed expression language of policy rules (`if:` conditions, order templates).

simpleeval is a deny-list sandbox with a history of escapes, so every expression is first checked
against an allow-list of AST nodes here: comparisons, boolean and arithmetic operators, names from
the rule's context, numbers, strings, tuples of literals (for ``in``), conditional expressions and
calls to a few named functions. No attributes, subscripts, lambdas, comprehensions, keyword
arguments or star-args; ``**`` only with a small literal exponent. Names are checked against the
variables the rule's context provides. The text is parsed once at load; evaluation reuses the
parsed tree (``previously_parsed``) and never re-parses.

A top-level ``and`` chain is split into clauses, each compiled separately, so an explanation can
say which clause failed and with which values ("premium_pct 1.21 < min_premium_pct 1.5").
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simpleeval import SimpleEval

from alluse.engine.errors import ExecutionError

MAX_LENGTH = 500
MAX_POW_EXPONENT = 8
MAX_NODES = 200


def _round(x: float, ndigits: int = 0) -> float:
    return float(round(x, int(ndigits)))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": _round,
    "floor": math.floor,
    "ceil": math.ceil,
}

_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
_CMPOPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "==", "in": "not in",
            "not in": "in"}


class ExpressionError(ValueError):
    """An expression is not allowed or does not parse; ``col`` is 1-based within the text."""

    def __init__(self, message: str, col: int = 1) -> None:
        super().__init__(message)
        self.col = col


class ExpressionRuntimeError(ExecutionError):
    """A checked expression failed when evaluated (e.g. a division by zero)."""


@dataclass(frozen=True, slots=True)
class Clause:
    text: str
    parsed: ast.Expr
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClauseResult:
    text: str
    result: bool
    values: tuple[tuple[str, Any], ...]
    failing: str  # readable clause with values, e.g. "premium_pct 1.21 < min_premium_pct 1.5"
    error: str | None = None  # the clause could not be evaluated (it is neither true nor false)


@dataclass(frozen=True, slots=True)
class EvalResult:
    result: bool
    clauses: tuple[ClauseResult, ...]

    @property
    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for clause in self.clauses:
            out.update(clause.values)
        return out

    @property
    def failed(self) -> ClauseResult | None:
        return next((c for c in self.clauses if not c.result), None)

    @property
    def error(self) -> str | None:
        return next((c.error for c in self.clauses if c.error is not None), None)


@dataclass(frozen=True, slots=True)
class Expression:
    """A checked, parsed expression. Evaluate with an `Evaluator` (one per thread/task)."""

    text: str
    clauses: tuple[Clause, ...]
    names: tuple[str, ...] = field(default=())


def _simple_eval(functions: Mapping[str, Callable[..., Any]]) -> SimpleEval:
    """simpleeval without compound types, plus the literal tuples/lists `_check` allows for ``in``.

    Plain SimpleEval refuses ``ast.Tuple`` at evaluation time, so ``symbol in ('TSLA', 'NVDA')``
    passed lint and then failed on the first event; `_check` has already limited them to literals.
    """
    s = SimpleEval(functions=dict(functions))
    s.nodes[ast.Tuple] = lambda node: tuple(s._eval(e) for e in node.elts)
    s.nodes[ast.List] = lambda node: [s._eval(e) for e in node.elts]
    return s


def _check(node: ast.AST, allowed: frozenset[str], functions: Mapping[str, object]) -> None:
    col = getattr(node, "col_offset", 0) + 1
    if isinstance(node, ast.Expression):
        _check(node.body, allowed, functions)
    elif isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, allowed, functions)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed", col)
        if isinstance(node.op, ast.Pow):
            exp = node.right
            if isinstance(exp, ast.UnaryOp) and isinstance(exp.op, ast.USub | ast.UAdd):
                exp = exp.operand  # "x ** -2": the literal is wrapped in a unary minus
            if not (isinstance(exp, ast.Constant) and isinstance(exp.value, int | float)
                    and not isinstance(exp.value, bool) and abs(exp.value) <= MAX_POW_EXPONENT):
                raise ExpressionError(
                    f"'**' needs a literal exponent between -{MAX_POW_EXPONENT} and "
                    f"{MAX_POW_EXPONENT}", col)
        _check(node.left, allowed, functions)
        _check(node.right, allowed, functions)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.Not | ast.USub | ast.UAdd):
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed", col)
        _check(node.operand, allowed, functions)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _CMPOPS:
                raise ExpressionError(f"comparison {type(op).__name__} is not allowed", col)
        _check(node.left, allowed, functions)
        for c in node.comparators:
            _check(c, allowed, functions)
    elif isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            _check(part, allowed, functions)
    elif isinstance(node, ast.Name):
        if node.id not in allowed:
            hint = difflib.get_close_matches(node.id, sorted(allowed), n=1)
            more = f"; did you mean '{hint[0]}'?" if hint else ""
            raise ExpressionError(f"unknown name '{node.id}'{more} (known: "
                                  f"{', '.join(sorted(allowed))})", col)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, int | float | str | bool) and node.value is not None:
            raise ExpressionError(f"literal {node.value!r} is not allowed", col)
        if isinstance(node.value, str) and len(node.value) > 100:
            raise ExpressionError("string literal longer than 100 characters", col)
    elif isinstance(node, ast.Tuple | ast.List):
        for elt in node.elts:
            if not isinstance(elt, ast.Constant):
                raise ExpressionError("a tuple or list may hold literals only", col)
            _check(elt, allowed, functions)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in functions:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExpressionError(f"call to '{name}' is not allowed (allowed functions: "
                                  f"{', '.join(sorted(functions))})", col)
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError("keyword and star arguments are not allowed", col)
        for a in node.args:
            _check(a, allowed, functions)
    elif isinstance(node, ast.Attribute):
        raise ExpressionError("attribute access ('.') is not allowed", col)
    elif isinstance(node, ast.Subscript):
        raise ExpressionError("subscripts ('[...]') are not allowed", col)
    elif isinstance(node, ast.Lambda):
        raise ExpressionError("lambda is not allowed", col)
    elif isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        raise ExpressionError("comprehensions are not allowed", col)
    else:
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression", col)


def compile_expression(
    text: str,
    allowed_names: frozenset[str],
    functions: Mapping[str, Callable[..., Any]] = FUNCTIONS,
) -> Expression:
    """Check and parse ``text``; raise `ExpressionError` with a 1-based column when not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    if "\n" in text.strip():
        raise ExpressionError("expression must be on one line")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}", exc.offset or 1) from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExpressionError(f"expression has more than {MAX_NODES} parts")
    _check(tree, allowed_names, functions)
    body = tree.body
    parts = body.values if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And) else [body]
    evaluator = _simple_eval(functions)
    clauses = []
    all_names: list[str] = []
    for part in parts:
        clause_text = ast.unparse(part)
        names = tuple(dict.fromkeys(n.id for n in ast.walk(part) if isinstance(n, ast.Name)
                                    and n.id not in functions))
        all_names += names
        clauses.append(Clause(clause_text, evaluator.parse(clause_text), names))
    return Expression(text.strip(), tuple(clauses), tuple(dict.fromkeys(all_names)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return repr(value) if isinstance(value, str) else str(value)


def _describe(clause: Clause, values: Mapping[str, Any], result: bool) -> str:
    """The clause with its operands' values, negated when it failed (what made it false)."""
    node = ast.parse(clause.text, mode="eval").body
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op = _CMPOPS[type(node.ops[0])]
        left, right = node.left, node.comparators[0]

        def side(n: ast.expr) -> str:
            src = ast.unparse(n)
            if isinstance(n, ast.Name):
                return f"{src} {_fmt(values.get(src))}"
            if isinstance(n, ast.Constant | ast.Tuple | ast.List):
                return src
            names = [x.id for x in ast.walk(n) if isinstance(x, ast.Name) and x.id in values]
            shown = ", ".join(f"{k}={_fmt(values[k])}" for k in dict.fromkeys(names))
            return f"{src} ({shown})" if shown else src

        shown_op = op if result else _NEGATED[op]
        return f"{side(left)} {shown_op} {side(right)}"
    shown = ", ".join(f"{k}={_fmt(values.get(k))}" for k in clause.names)
    return f"{clause.text} is {result}" + (f" ({shown})" if shown else "")


def what_would_differ(clause: str, values: Mapping[str, Any]) -> str:
    """For a failed ``name op value`` clause: the value the name would have needed, and the gap
    ("premium_pct >= 1.5, 0.29 more"). Empty when the clause is not that simple."""
    node = ast.parse(clause, mode="eval").body
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1
            and isinstance(node.left, ast.Name)
            and type(node.ops[0]) in (ast.Lt, ast.LtE, ast.Gt, ast.GtE)):
        return ""
    right = node.comparators[0]
    if isinstance(right, ast.Name):
        target = values.get(right.id)
    elif isinstance(right, ast.Constant):
        target = right.value
    else:
        return ""
    have = values.get(node.left.id)
    if not isinstance(have, int | float) or not isinstance(target, int | float):
        return ""
    op = _CMPOPS[type(node.ops[0])]
    gap = abs(float(target) - float(have))
    direction = "more" if op in (">", ">=") else "less"
    return f"{node.left.id} {op} {_fmt(target)}, {_fmt(gap)} {direction}"


class Evaluator:
    """Evaluates checked expressions. Not thread-safe (simpleeval mutates ``names``)."""

    __slots__ = ("_s",)

    def __init__(self, functions: Mapping[str, Callable[..., Any]] = FUNCTIONS) -> None:
        self._s = _simple_eval(functions)

    def _eval(self, clause: Clause) -> Any:
        try:
            return self._s.eval(clause.text, previously_parsed=clause.parsed)
        except Exception as exc:
            raise ExpressionRuntimeError(f"'{clause.text}': {type(exc).__name__}: {exc}") from exc

    def value(self, expr: Expression, names: Mapping[str, Any]) -> Any:
        """The value of a one-clause expression (order templates: strikes, quantities, limits).
        Raises `ExpressionRuntimeError` when evaluation fails (division by zero, say)."""
        self._s.names = dict(names)
        if len(expr.clauses) == 1:
            return self._eval(expr.clauses[0])
        return all(self._eval(c) for c in expr.clauses)

    def test(self, expr: Expression, names: Mapping[str, Any]) -> EvalResult:
        """Evaluate every clause (no short-circuit, so the trace shows every value it read)."""
        self._s.names = dict(names)
        results = []
        ok = True
        for clause in expr.clauses:
            values = tuple((n, names.get(n)) for n in clause.names)
            try:
                res = bool(self._eval(clause))
            except ExpressionRuntimeError as exc:  # a clause that cannot be evaluated is false
                ok = False
                results.append(ClauseResult(clause.text, False, values, f"error in {exc}",
                                            str(exc)))
                continue
            ok = ok and res
            results.append(ClauseResult(clause.text, res, values, _describe(clause, names, res)))
        return EvalResult(ok, tuple(results))
