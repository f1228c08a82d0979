"""The allow-list every policy expression's syntax tree must pass before simpleeval sees it.

simpleeval is a deny-list sandbox with a history of escapes, so nothing reaches it that is not
explicitly allowed here: comparisons, boolean and arithmetic operators, names from the rule's
context, numbers, strings, tuples of literals (for ``in``), conditional expressions and calls to
a few named functions. No attributes, subscripts, lambdas, comprehensions, keyword arguments or
star-args; ``**`` only with a small literal exponent.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping

MAX_POW_EXPONENT = 8

_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
CMPOPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}


class ExpressionError(ValueError):
    """An expression is not allowed or does not parse; ``col`` is 1-based within the text."""

    def __init__(self, message: str, col: int = 1) -> None:
        super().__init__(message)
        self.col = col


def check(node: ast.AST, allowed: frozenset[str], functions: Mapping[str, object]) -> None:
    """Raise `ExpressionError` (with a 1-based column) at the first node not allowed; names must
    be in ``allowed``, calls must be to ``functions``."""
    col = getattr(node, "col_offset", 0) + 1
    if isinstance(node, ast.Expression):
        check(node.body, allowed, functions)
    elif isinstance(node, ast.BoolOp):
        for v in node.values:
            check(v, allowed, functions)
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
        check(node.left, allowed, functions)
        check(node.right, allowed, functions)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.Not | ast.USub | ast.UAdd):
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed", col)
        check(node.operand, allowed, functions)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in CMPOPS:
                raise ExpressionError(f"comparison {type(op).__name__} is not allowed", col)
        check(node.left, allowed, functions)
        for c in node.comparators:
            check(c, allowed, functions)
    elif isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            check(part, allowed, functions)
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
            check(elt, allowed, functions)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in functions:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExpressionError(f"call to '{name}' is not allowed (allowed functions: "
                                  f"{', '.join(sorted(functions))})", col)
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError("keyword and star arguments are not allowed", col)
        for a in node.args:
            check(a, allowed, functions)
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
