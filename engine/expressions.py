"""The sandboxed expression language of policy rules (`if:` conditions, order templates).

Every expression is first checked against the allow-list in `alluse.engine.sandbox` (simpleeval
is a deny-list sandbox with a history of escapes), with names checked against the variables the
rule's context provides. The text is parsed once at load; evaluation reuses the parsed tree
(``previously_parsed``) and never re-parses.

A top-level ``and`` chain is split into clauses, each analysed once at load (for a single
comparison: its operator and both sides), so a test returns structured `ClauseTrace` records —
which clause failed, with which values, and what the changing side would have needed
("premium_pct 1.21 < min_premium_pct 1.5"; "premium_pct >= 1.5, 0.29 more") — without parsing.
"""

from __future__ import annotations

import ast
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simpleeval import SimpleEval

from alluse.engine.errors import ExecutionError
from alluse.engine.sandbox import CMPOPS, ExpressionError, check, infer_type

__all__ = [
    "FUNCTIONS",
    "MAX_LENGTH",
    "MAX_NODES",
    "Clause",
    "ClauseTrace",
    "Evaluator",
    "Expression",
    "ExpressionError",
    "ExpressionRuntimeError",
    "Operand",
    "TestResult",
    "compile_expression",
    "what_would_differ",
]

MAX_LENGTH = 500
MAX_NODES = 200


MAX_ROUND_DIGITS = 15
MAX_POWER_BITS = 4096  # a power whose result needs more bits is refused at evaluation


def _round(x: float, ndigits: int = 0) -> float:
    digits = int(ndigits)
    if abs(digits) > MAX_ROUND_DIGITS:  # round(5, -10**8) computes 10**100000000
        raise ValueError(f"round(): ndigits must be between -{MAX_ROUND_DIGITS} and "
                         f"{MAX_ROUND_DIGITS}")
    return float(round(x, digits))


def _no_sequence(*values: Any) -> None:
    if any(isinstance(v, str | bytes | list | tuple) for v in values):
        raise TypeError("repeating or formatting strings and lists is not allowed")


def _mult(a: Any, b: Any) -> Any:
    _no_sequence(a, b)
    return a * b


def _mod(a: Any, b: Any) -> Any:
    _no_sequence(a)
    return a % b


def _pow(a: Any, b: Any) -> Any:
    """``a ** b``, refused when the result would need more than `MAX_POWER_BITS` bits."""
    _no_sequence(a, b)
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 and \
            b * math.log2(abs(a)) > MAX_POWER_BITS:
        raise OverflowError(f"the power would need more than {MAX_POWER_BITS} bits")
    return a ** b


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": _round,
    "floor": math.floor,
    "ceil": math.ceil,
}

_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "==", "in": "not in",
            "not in": "in"}


class ExpressionRuntimeError(ExecutionError):
    """A checked expression failed when evaluated (e.g. a division by zero)."""


_ORDERING = frozenset({"<", "<=", ">", ">="})
_MIRRORED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


@dataclass(frozen=True, slots=True)
class Operand:
    """One side of a single comparison, analysed once at load."""

    source: str  # the name, the literal as written, or the sub-expression's text
    kind: str  # "name" | "literal" | "expr"
    node: ast.expr  # evaluated (for "expr") with the evaluator's parsed-tree path
    value: Any = None  # a literal's value
    names: tuple[str, ...] = ()  # the names inside an "expr" side, for the trace


@dataclass(frozen=True, slots=True)
class Clause:
    """One top-level ``and`` clause: its text and tree, and, for a single comparison
    (``a op b``), the operator and both sides, so a trace needs no parsing at run time."""

    text: str
    parsed: ast.Expr
    names: tuple[str, ...]
    operator: str | None = None
    compare: type[ast.cmpop] | None = None
    left: Operand | None = None
    right: Operand | None = None
    subject: int = 0  # the side that can change: 0 left, 1 right (a literal on the left)


@dataclass(frozen=True, slots=True)
class Expression:
    """A checked, parsed expression. Evaluate with an `Evaluator` (one per thread/task).

    ``rule_id`` is the stable id of the rule it belongs to (`PolicySet.rules`), set at load."""

    text: str
    clauses: tuple[Clause, ...]
    names: tuple[str, ...] = field(default=())
    rule_id: str = ""


def _simple_eval(functions: Mapping[str, Callable[..., Any]]) -> SimpleEval:
    """simpleeval without compound types, plus the literal tuples/lists `_check` allows for ``in``.

    Plain SimpleEval refuses ``ast.Tuple`` at evaluation time, so ``symbol in ('TSLA', 'NVDA')``
    passed lint and then failed on the first event; `_check` has already limited them to literals.
    """
    s = SimpleEval(functions=dict(functions))
    # Second line of defence behind the allow-list: no operation whose result can grow without
    # bound, whatever the names hold at run time.
    s.operators = {**s.operators, ast.Mult: _mult, ast.Mod: _mod, ast.Pow: _pow}
    s.nodes[ast.Tuple] = lambda node: tuple(s._eval(e) for e in node.elts)
    s.nodes[ast.List] = lambda node: [s._eval(e) for e in node.elts]
    return s


def compile_expression(
    text: str,
    allowed_names: frozenset[str],
    functions: Mapping[str, Callable[..., Any]] = FUNCTIONS,
    *,
    rule_id: str = "",
    kinds: Mapping[str, str] | None = None,
    expect: str | None = None,
) -> Expression:
    """Check and parse ``text``; raise `ExpressionError` with a 1-based column when not allowed.

    With ``kinds`` (each name's type, `alluse.engine.policy.names`) the tree is type-checked
    too, and must be of type ``expect`` (``bool`` for a condition, ``number`` for a strike)."""
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
    check(tree, allowed_names, functions)
    if kinds is not None:
        infer_type(tree, kinds, expect)
    body = tree.body
    parts = body.values if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And) else [body]
    fnames = frozenset(functions)
    clauses = tuple(_clause(ast.unparse(part), fnames) for part in parts)
    all_names = [n for c in clauses for n in c.names]
    return Expression(text.strip(), clauses, tuple(dict.fromkeys(all_names)), rule_id)


def _names_in(node: ast.AST, functions: frozenset[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                               and n.id not in functions))


def _operand(node: ast.expr, functions: frozenset[str]) -> Operand:
    source = ast.unparse(node)
    if isinstance(node, ast.Name):
        return Operand(source, "name", node)
    try:  # constants, literal tuples and lists, and signed numbers such as -0.5
        return Operand(source, "literal", node, ast.literal_eval(node))
    except ValueError:
        return Operand(source, "expr", node, None, _names_in(node, functions))


@functools.lru_cache(maxsize=512)
def _clause(text: str, functions: frozenset[str] = frozenset(FUNCTIONS)) -> Clause:
    """Analyse one clause. The tree is simpleeval's own parse of the clause text, the same tree
    every evaluation then reuses; memoised because the same clause recurs across strategies."""
    parsed = SimpleEval.parse(text)
    node = parsed.value
    names = _names_in(node, functions)
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
        return Clause(text, parsed, names)
    left, right = _operand(node.left, functions), _operand(node.comparators[0], functions)
    subject = 1 if left.kind == "literal" and right.kind != "literal" else 0
    compare = type(node.ops[0])
    return Clause(text, parsed, names, CMPOPS[compare], compare, left, right, subject)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return repr(value) if isinstance(value, str) else str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _needed(clause: Clause, left: Any, right: Any, result: bool) -> tuple[Any, float | None]:
    """The value the clause's subject side would need to flip the result, and how far it is."""
    have, target = (left, right) if clause.subject == 0 else (right, left)
    numeric = _is_number(have) and _is_number(target)
    gap = abs(float(target) - float(have)) if numeric else None
    if clause.operator in _ORDERING:
        return (target, gap) if numeric else (None, None)
    if clause.operator == "==" and not result:
        return target, gap
    return None, None


@dataclass(frozen=True, slots=True)
class ClauseTrace:
    """What one clause saw and decided: a structured record, rendered only at the edge.

    For a single comparison ``operator`` is its operator and ``operands`` its two sides as
    (name, literal or sub-expression text, value); otherwise ``operator`` is None and
    ``operands`` are the names the clause read. ``needed`` is the value the changing side
    would need to flip the result (the boundary of an ordering comparison, the other side of a
    failed ``==``), ``gap`` how far it is from there; both None when no single value would do.
    ``error`` says why the clause could not be evaluated (it is then false, with no operands).
    """

    rule_id: str
    text: str
    operator: str | None
    operands: tuple[tuple[str, Any], ...]
    result: bool
    needed: Any = None
    gap: float | None = None
    error: str | None = None
    values: tuple[tuple[str, Any], ...] = ()  # every name the clause reads, with its value
    clause: Clause | None = field(default=None, repr=False, compare=False)

    @property
    def failing(self) -> str:
        """The clause with its values, negated when false (what made it false):
        ``premium_pct 1.21 < min_premium_pct 1.5``."""
        if self.error is not None:
            return f"error in '{self.text}': {self.error}"
        c = self.clause
        if self.operator is None or c is None or c.left is None or c.right is None:
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in self.values)
            return f"{self.text} is {self.result}" + (f" ({shown})" if shown else "")
        known = dict(self.values)

        def side(operand: Operand, value: Any) -> str:
            if operand.kind == "name":
                return f"{operand.source} {_fmt(value)}"
            if operand.kind == "literal":
                return operand.source
            shown = ", ".join(f"{k}={_fmt(known[k])}" for k in operand.names if k in known)
            return f"{operand.source} ({shown})" if shown else operand.source

        op = self.operator if self.result else _NEGATED[self.operator]
        return f"{side(c.left, self.operands[0][1])} {op} {side(c.right, self.operands[1][1])}"


@dataclass(frozen=True, slots=True)
class TestResult:
    """Every clause of one expression evaluated (no short-circuit). ``result`` is false when a
    clause is false or could not be evaluated; ``error`` is the first evaluation error."""

    __test__ = False  # not a pytest test class, whatever its name

    result: bool
    clauses: tuple[ClauseTrace, ...]
    rule_id: str = ""
    error: str | None = None

    @property
    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for clause in self.clauses:
            out.update(clause.values)
        return out

    @property
    def failed(self) -> ClauseTrace | None:
        return next((c for c in self.clauses if not c.result), None)


def what_would_differ(clause: ClauseTrace | str, values: Mapping[str, Any] | None = None) -> str:
    """For a failed ordering comparison: the value its changing side would have needed, and the
    gap ("premium_pct >= 1.5, 0.29 more"). Empty when no single value says it.

    Takes the `ClauseTrace` (nothing is parsed). The older form, the clause text and the values,
    still works for simple ``name op name|literal`` clauses (each text analysed once)."""
    if isinstance(clause, str):
        shape = _clause(clause)
        if shape.left is None or shape.right is None or "expr" in (shape.left.kind,
                                                                   shape.right.kind):
            return ""
        got = values or {}
        left, right = (got.get(o.source) if o.kind == "name" else o.value
                       for o in (shape.left, shape.right))
        needed, gap = _needed(shape, left, right, False)
        source = (shape.left, shape.right)[shape.subject].source
    else:
        shape = clause.clause if clause.clause is not None else _clause(clause.text)
        if clause.result or clause.error is not None or len(clause.operands) != 2:
            return ""
        needed, gap = clause.needed, clause.gap
        source = clause.operands[shape.subject][0]
    if shape.operator not in _ORDERING or gap is None:
        return ""
    op = shape.operator if shape.subject == 0 else _MIRRORED[shape.operator]
    direction = "more" if op in (">", ">=") else "less"
    return f"{source} {op} {_fmt(needed)}, {_fmt(gap)} {direction}"


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

    def _side(self, clause: Clause, operand: Operand, names: Mapping[str, Any]) -> Any:
        if operand.kind == "literal":
            return operand.value
        if operand.kind == "name" and operand.source in names:
            return names[operand.source]
        # a sub-expression, or a missing name (simpleeval raises its own error for it)
        return self._s.eval(clause.text, previously_parsed=operand.node)

    def trace(self, clause: Clause, names: Mapping[str, Any], rule_id: str = "") -> ClauseTrace:
        """Evaluate one clause. ``names`` must also be the evaluator's names (see `test`)."""
        values = tuple((n, names.get(n)) for n in clause.names)
        try:
            if clause.compare is None or clause.left is None or clause.right is None:
                result = bool(self._s.eval(clause.text, previously_parsed=clause.parsed))
                return ClauseTrace(rule_id, clause.text, None, values, result, values=values,
                                   clause=clause)
            left = self._side(clause, clause.left, names)
            right = self._side(clause, clause.right, names)
            result = bool(self._s.operators[clause.compare](left, right))
        except Exception as exc:  # a clause that cannot be evaluated is false, with the error
            return ClauseTrace(rule_id, clause.text, clause.operator, (), False,
                               error=f"{type(exc).__name__}: {exc}", values=values,
                               clause=clause)
        needed, gap = _needed(clause, left, right, result)
        return ClauseTrace(rule_id, clause.text, clause.operator,
                           ((clause.left.source, left), (clause.right.source, right)), result,
                           needed, gap, None, values, clause)

    def test(self, expr: Expression, names: Mapping[str, Any]) -> TestResult:
        """Evaluate every clause (no short-circuit, so the trace shows every value it read)."""
        self._s.names = names if isinstance(names, dict) else dict(names)
        traces = tuple(self.trace(c, names, expr.rule_id) for c in expr.clauses)
        error = next((t.error for t in traces if t.error is not None), None)
        return TestResult(all(t.result for t in traces), traces, expr.rule_id, error)
