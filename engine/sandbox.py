"""The allow-list every policy expression's syntax tree must pass before simpleeval sees it.

simpleeval is a deny-list sandbox with a history of escapes, so nothing reaches it that is not
explicitly allowed here: comparisons, boolean and arithmetic operators, names from the rule's
context, numbers, strings, tuples of literals (for ``in``), conditional expressions and calls to
a few named functions. No attributes, subscripts, lambdas, comprehensions, keyword arguments or
star-args; ``**`` only with a small literal exponent and never on another power; no operation
whose result can grow without bound: no string formatting with ``%`` (``'%0999999999d' % dte``
builds a gigabyte) and no repetition of a string or list with ``*``.

`infer_type` type-checks a tree against each name's type (numbers, strings, booleans): a
condition must be boolean, arithmetic needs numbers, and a division by a literal zero is refused.
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
        if isinstance(node.op, ast.Mod) and _is_text(node.left):
            raise ExpressionError("string formatting with '%' is not allowed", col)
        if isinstance(node.op, ast.Mult) and (_is_text(node.left) or _is_text(node.right)
                                              or _is_sequence(node.left)
                                              or _is_sequence(node.right)):
            raise ExpressionError("repeating a string or a list with '*' is not allowed (the "
                                  "result can grow without bound)", col)
        if isinstance(node.op, ast.Pow) and any(isinstance(n, ast.BinOp) and
                                                isinstance(n.op, ast.Pow)
                                                for n in ast.walk(node.left)):
            raise ExpressionError("a power of a power ('(a ** b) ** c') is not allowed (the "
                                  "result can grow without bound)", col)
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


def _is_text(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(
        node, ast.JoinedStr)


def _is_sequence(node: ast.AST) -> bool:
    return isinstance(node, ast.Tuple | ast.List)


# ------------------------------------------------------------------------------ types

NUMBER, STR, BOOL, NONE, SEQUENCE = "number", "str", "bool", "none", "sequence"
_SHOWN = {NUMBER: "a number", STR: "a string", BOOL: "true or false", NONE: "None",
          SEQUENCE: "a list"}
_OPS = {ast.And: "and", ast.Or: "or", ast.Not: "not", ast.USub: "-", ast.UAdd: "+"}
# each function: (fewest, most) arguments, all numbers; the result is a number
_SIGNATURES = {"abs": (1, 1), "floor": (1, 1), "ceil": (1, 1), "round": (1, 2), "min": (2, 20),
               "max": (2, 20)}


def _constant_type(value: object) -> str:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return STR
    return NONE


def _is_zero(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        node = node.operand
    return (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
            and not isinstance(node.value, bool) and node.value == 0)


def infer_type(node: ast.AST, kinds: Mapping[str, str], expect: str | None = None) -> str:
    """The type of a checked tree (``number``, ``str``, ``bool``, ``none``, ``sequence``) given
    each name's type; raise `ExpressionError` (1-based column) where the types do not fit, and
    when the whole is not ``expect``."""
    body = node.body if isinstance(node, ast.Expression) else node
    found = _type(body, kinds)
    if expect == BOOL and found != BOOL:
        raise ExpressionError(f"a condition must be true or false, but this is {_SHOWN[found]}",
                              1)
    if expect == NUMBER and found != NUMBER:
        raise ExpressionError(f"must be a number, but this is {_SHOWN[found]}", 1)
    return found


def _type(node: ast.AST, kinds: Mapping[str, str]) -> str:
    col = getattr(node, "col_offset", 0) + 1
    if isinstance(node, ast.Constant):
        return _constant_type(node.value)
    if isinstance(node, ast.Name):
        return kinds.get(node.id, NUMBER)
    if isinstance(node, ast.Tuple | ast.List):
        return SEQUENCE
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            t = _type(value, kinds)
            if t != BOOL:
                raise ExpressionError(f"'{_OPS[type(node.op)]}' joins conditions, but "
                                      f"'{ast.unparse(value)}' is {_SHOWN[t]}",
                                      getattr(value, "col_offset", 0) + 1)
        return BOOL
    if isinstance(node, ast.UnaryOp):
        t = _type(node.operand, kinds)
        want = BOOL if isinstance(node.op, ast.Not) else NUMBER
        if t != want:
            raise ExpressionError(f"'{_OPS[type(node.op)]}' needs {_SHOWN[want]}, but "
                                  f"'{ast.unparse(node.operand)}' is {_SHOWN[t]}", col)
        return want
    if isinstance(node, ast.BinOp):
        op = _BINOPS[type(node.op)]
        if op in ("/", "//", "%") and _is_zero(node.right):
            raise ExpressionError(f"division by zero ('{op} {ast.unparse(node.right)}')",
                                  getattr(node.right, "col_offset", 0) + 1)
        left, right = _type(node.left, kinds), _type(node.right, kinds)
        if left != NUMBER or right != NUMBER:
            side = node.left if left != NUMBER else node.right
            raise ExpressionError(f"'{op}' needs numbers, but '{ast.unparse(side)}' is "
                                  f"{_SHOWN[left if left != NUMBER else right]}", col)
        return NUMBER
    if isinstance(node, ast.Compare):
        left = _type(node.left, kinds)
        for cmpop, comparator in zip(node.ops, node.comparators, strict=True):
            right = _type(comparator, kinds)
            name = CMPOPS[type(cmpop)]
            if name in ("in", "not in"):
                if right not in (SEQUENCE, STR):
                    raise ExpressionError(f"'{name}' needs a list or a string on its right, but "
                                          f"'{ast.unparse(comparator)}' is {_SHOWN[right]}", col)
                if isinstance(comparator, ast.Tuple | ast.List):
                    kinds_in = {_type(e, kinds) for e in comparator.elts}
                    if kinds_in and left not in kinds_in:
                        raise ExpressionError(f"'{ast.unparse(node.left)}' is {_SHOWN[left]} "
                                              "and the list holds none", col)
            elif NONE not in (left, right) and left != right:
                raise ExpressionError(f"'{name}' compares {_SHOWN[left]} with {_SHOWN[right]}",
                                      col)
            elif name not in ("==", "!=") and left not in (NUMBER, STR):
                raise ExpressionError(f"'{name}' orders numbers or strings, not "
                                      f"{_SHOWN[left]}", col)
            left = right
        return BOOL
    if isinstance(node, ast.IfExp):
        test = _type(node.test, kinds)
        if test != BOOL:
            raise ExpressionError(f"the test of 'if … else' must be true or false, but "
                                  f"'{ast.unparse(node.test)}' is {_SHOWN[test]}",
                                  getattr(node.test, "col_offset", 0) + 1)
        body, orelse = _type(node.body, kinds), _type(node.orelse, kinds)
        if body != orelse:
            raise ExpressionError(f"'if … else' gives {_SHOWN[body]} or {_SHOWN[orelse]}: both "
                                  "branches must have one type", col)
        return body
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        fewest, most = _SIGNATURES.get(node.func.id, (0, 20))
        if not fewest <= len(node.args) <= most:
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise ExpressionError(f"{node.func.id}() takes {wanted} arguments, got "
                                  f"{len(node.args)}", col)
        for arg in node.args:
            t = _type(arg, kinds)
            if t != NUMBER:
                raise ExpressionError(f"{node.func.id}() needs numbers, but '{ast.unparse(arg)}'"
                                      f" is {_SHOWN[t]}", getattr(arg, "col_offset", 0) + 1)
        return NUMBER
    return NUMBER
