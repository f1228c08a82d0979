"""The sandboxed expression language: what it refuses (with a column), what it evaluates, traces."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import ast

import pytest

from alluse.engine.expressions import (
    MAX_LENGTH,
    Evaluator,
    ExpressionError,
    ExpressionRuntimeError,
    compile_expression,
    what_would_differ,
)
from alluse.engine.policy import names

NAMES = frozenset({"premium_pct", "min_premium_pct", "price", "atr", "symbol", "delta", "x"})


def refusal(text: str) -> tuple[str, int]:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text, NAMES)
    return str(info.value), info.value.col


@pytest.mark.parametrize(
    ("text", "message", "col"),
    [
        ("__import__('os').system('id')", "call to '__import__('os').system' is not allowed "
         "(allowed functions: abs, ceil, floor, max, min, round)", 1),
        ("().__class__", "attribute access ('.') is not allowed", 1),
        ("x.real > 0", "attribute access ('.') is not allowed", 1),
        ("symbol[0] == 'T'", "subscripts ('[...]') are not allowed", 1),
        ("(lambda: 1) == 1", "lambda is not allowed", 2),
        ("[y for y in (1, 2)] == 1", "comprehensions are not allowed", 1),
        ("sum(y for y in (1, 2)) > 0", "call to 'sum' is not allowed (allowed functions: abs, "
         "ceil, floor, max, min, round)", 1),
        ("9**9**9", "'**' needs a literal exponent between -8 and 8", 1),
        ("x ** x", "'**' needs a literal exponent between -8 and 8", 1),
        ("x << 2", "operator LShift is not allowed", 1),
        ("~x", "operator Invert is not allowed", 1),
        ("x is None", "comparison Is is not allowed", 1),
        ("{1, 2}", "Set is not allowed in an expression", 1),
        ("{'a': 1}", "Dict is not allowed in an expression", 1),
        ("f'{x}' == '1'", "JoinedStr is not allowed in an expression", 1),
        ("(y := 1) == 1", "NamedExpr is not allowed in an expression", 2),
        ("max(x, default=0) > 1", "keyword and star arguments are not allowed", 1),
        ("min(*x) > 1", "keyword and star arguments are not allowed", 1),
        ("symbol in (x, 1)", "a tuple or list may hold literals only", 11),
        ("symbol == '" + "A" * 101 + "'", "string literal longer than 100 characters", 11),
        ("b'x' == symbol", "literal b'x' is not allowed", 1),
        ("premium_pct >= min_premum_pct", "unknown name 'min_premum_pct'; did you mean "
         "'min_premium_pct'? (known: atr, delta, min_premium_pct, premium_pct, price, symbol, x)",
         16),
        ("__builtins__ == 1", "unknown name '__builtins__' (known: atr, delta, min_premium_pct, "
         "premium_pct, price, symbol, x)", 1),
        ("x and and x", "syntax error: invalid syntax", 7),
        ("(x", "syntax error: '(' was never closed", 1),
        ("   ", "expression is empty", 1),
        ("x > 1\n or x < 0", "expression must be on one line", 1),
    ],
)
def test_refused_expression_says_why_and_where(text, message, col):
    """Anything outside the allow-list is refused at load with a message and a 1-based column."""
    assert (message, col) == refusal(text)


def test_too_long_and_too_big_expressions_are_refused():
    """Length and size are bounded before anything is evaluated."""
    assert (f"expression longer than {MAX_LENGTH} characters", 1) == refusal("x" * (MAX_LENGTH + 1))
    assert ("expression has more than 200 parts", 1) == refusal(" + ".join(["x"] * 120))


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("floor(price - atr)", {"price": 101.7, "atr": 2.0}, 99),
        ("ceil(price)", {"price": 101.2}, 102),
        ("round(price / 3, 2)", {"price": 10.0}, 3.33),
        ("max(0.05, x) * 1.05", {"x": 0.02}, 0.05 * 1.05),
        ("abs(delta) <= 0.3", {"delta": -0.25}, True),
        ("symbol in ('TSLA', 'NVDA')", {"symbol": "NVDA"}, True),
        ("symbol not in ['TSLA', 'NVDA']", {"symbol": "NVDA"}, False),
        ("1 if x > 0 else -1", {"x": -3}, -1),
        ("0 < x < 1", {"x": 0.5}, True),
        ("x ** -2", {"x": 2}, 0.25),
        ("not x", {"x": 0}, True),
        ("True", {}, True),
    ],
)
def test_allowed_expression_evaluates(text, values, expected):
    """Comparisons, arithmetic, the named functions, literal tuples and conditionals work."""
    assert expected == Evaluator().value(compile_expression(text, NAMES), values)


def test_top_level_and_is_split_into_clauses_with_their_names():
    """Each `and` clause is compiled on its own, so a trace can say which one failed."""
    expr = compile_expression("premium_pct >= min_premium_pct and abs(delta) <= 0.3", NAMES)
    assert (["premium_pct >= min_premium_pct", "abs(delta) <= 0.3"],
            ("premium_pct", "min_premium_pct", "delta")) == (
        [c.text for c in expr.clauses], expr.names)


def test_failed_test_names_the_clause_and_the_values_that_made_it_false():
    """A failing clause reads as what was true instead: premium_pct 1.21 < min_premium_pct 1.5."""
    expr = compile_expression("premium_pct >= min_premium_pct and abs(delta) <= 0.3", NAMES)
    result = Evaluator().test(expr, {"premium_pct": 1.21, "min_premium_pct": 1.5, "delta": -0.2})
    assert (False, "premium_pct >= min_premium_pct") == (result.result, result.failed.text)
    assert ["premium_pct 1.21 < min_premium_pct 1.5", "abs(delta) (delta=-0.2) <= 0.3"] == [
        c.failing for c in result.clauses]
    assert {"premium_pct": 1.21, "min_premium_pct": 1.5, "delta": -0.2} == result.values


def test_every_clause_is_evaluated_even_after_one_fails():
    """No short-circuit in a test: the trace shows every value the rule read."""
    expr = compile_expression("x > 1 and price > 1 and atr > 1", NAMES)
    result = Evaluator().test(expr, {"x": 0, "price": 5, "atr": 0})
    assert [False, True, False] == [c.result for c in result.clauses]


def test_passing_test_has_no_failed_clause():
    """All clauses true: the result is true and nothing failed."""
    result = Evaluator().test(compile_expression("x >= 1", NAMES), {"x": 1})
    assert (True, None) == (result.result, result.failed)


def test_string_repetition_is_refused_at_load():
    """A literal string or list repeated with '*' can grow without bound: refused by the check."""
    for text in ("'a' * 100000000 == symbol", "symbol in ('a',) * 9"):
        with pytest.raises(ExpressionError, match="repeating a string or a list"):
            compile_expression(text, NAMES)


def test_string_repetition_through_a_name_is_stopped_at_evaluation():
    """A name that holds a string at run time is not repeated either: the evaluator refuses."""
    expr = compile_expression("symbol * dte == symbol", NAMES | {"dte"})
    with pytest.raises(ExpressionRuntimeError, match="repeating or formatting strings"):
        Evaluator().value(expr, {"symbol": "a", "dte": 10**8})


def test_names_of_each_context_are_disjoint_from_the_functions():
    """A context name never shadows an allowed function (abs, min, …)."""
    functions = {"abs", "ceil", "floor", "max", "min", "round"}
    for context in (names.ENTRY_RULE, names.ENTRY_SCRIPT, names.PROTOCOL_SCRIPT,
                    names.WEEK_MODE, names.WEEK_TYPE):
        assert set() == functions & context


def test_evaluator_reuses_the_parsed_tree():
    """Evaluation never re-parses: the same compiled clause serves every event."""
    expr = compile_expression("x > 1", NAMES)
    parsed = expr.clauses[0].parsed
    ev = Evaluator()
    assert [False, True] == [ev.value(expr, {"x": v}) for v in (0, 2)]
    assert parsed is expr.clauses[0].parsed


# --------------------------------------------------------------------------- clause traces

ENTRY = {"premium_pct": 1.21, "min_premium_pct": 1.5, "delta": -0.2, "price": 100.0, "atr": 4.0,
         "symbol": "TSLA", "x": 0}


def test_clause_trace_of_a_comparison_has_operator_operands_needed_and_gap():
    """A failed `a >= b`: both sides with their values, the boundary and the distance to it."""
    expr = compile_expression("premium_pct >= min_premium_pct", NAMES,
                              rule_id="strategies/gen_acc#rules/premium_floor")
    trace = Evaluator().test(expr, ENTRY).clauses[0]
    assert ("strategies/gen_acc#rules/premium_floor", "premium_pct >= min_premium_pct", ">=",
            (("premium_pct", 1.21), ("min_premium_pct", 1.5)), False, 1.5, None) == (
        trace.rule_id, trace.text, trace.operator, trace.operands, trace.result, trace.needed,
        trace.error)
    assert 0.29 == pytest.approx(trace.gap)


def test_sub_expression_sides_carry_their_evaluated_value():
    """A side that is arithmetic shows its text and its value, and the boundary is that value."""
    trace = Evaluator().test(compile_expression("price >= 20 * atr + 1", NAMES), ENTRY).clauses[0]
    assert ((("price", 100.0), ("20 * atr + 1", 81.0)), True, 81.0, 19.0) == (
        trace.operands, trace.result, trace.needed, trace.gap)
    assert "price 100 >= 20 * atr + 1 (atr=4)" == trace.failing


def test_a_literal_on_the_left_makes_the_right_side_the_one_to_change():
    """`1.5 <= premium_pct` says what premium_pct needed, as `premium_pct >= 1.5` would."""
    trace = Evaluator().test(compile_expression("1.5 <= premium_pct", NAMES), ENTRY).clauses[0]
    assert (1.5, "premium_pct >= 1.5, 0.29 more") == (trace.needed, what_would_differ(trace))


def test_a_failed_equality_needs_the_other_side_and_other_operators_need_nothing():
    """`symbol == 'NVDA'` false needs 'NVDA'; `in`, `!=` and non-comparisons name no value."""
    ev = Evaluator()
    traces = [ev.test(compile_expression(t, NAMES), ENTRY).clauses[0] for t in (
        "symbol == 'NVDA'", "symbol in ('NVDA', 'AAPL')", "symbol != 'TSLA'", "not x",
        "0 < x < 1")]
    assert [("==", "NVDA", None), ("in", None, None), ("!=", None, None), (None, None, None),
            (None, None, None)] == [(t.operator, t.needed, t.gap) for t in traces]
    assert [("x", 0)] == list(traces[3].operands)


def test_evaluation_error_is_explicit_and_the_clause_is_false():
    """Division by zero: the clause and the test are false, and `error` says why."""
    expr = compile_expression("price / x > 1 and atr > 1", NAMES, rule_id="r")
    result = Evaluator().test(expr, ENTRY)
    failed = result.failed
    assert (False, "ZeroDivisionError: float division by zero", "r") == (
        result.result, result.error, result.rule_id)
    assert ("ZeroDivisionError: float division by zero", (), "error in 'price / x > 1': "
            "ZeroDivisionError: float division by zero", "") == (
        failed.error, failed.operands, failed.failing, what_would_differ(failed))
    assert [None, None] == [result.clauses[1].error, Evaluator().test(
        compile_expression("atr > 1", NAMES), ENTRY).error]


def test_a_false_clause_is_not_an_error():
    """False and failed-to-evaluate are told apart."""
    result = Evaluator().test(compile_expression("x > 1", NAMES), ENTRY)
    assert (False, None, None) == (result.result, result.error, result.failed.error)


def test_what_would_differ_reads_the_trace_and_the_older_text_form_agrees():
    """The trace's needed/gap give the same words as the clause text with the values."""
    expr = compile_expression("premium_pct >= min_premium_pct and atr < 2", NAMES)
    result = Evaluator().test(expr, ENTRY)
    assert (["premium_pct >= 1.5, 0.29 more", "atr < 2, 2 less"],
            ["premium_pct >= 1.5, 0.29 more", "atr < 2, 2 less"]) == (
        [what_would_differ(c) for c in result.clauses],
        [what_would_differ(c.text, ENTRY) for c in result.clauses])


def test_what_would_differ_is_empty_for_a_clause_that_held():
    """Nothing would have had to differ for a true clause."""
    trace = Evaluator().test(compile_expression("atr > 1", NAMES), ENTRY).clauses[0]
    assert ("", 1, 3.0) == (what_would_differ(trace), trace.needed, trace.gap)


def test_test_and_its_trace_text_never_parse(monkeypatch):
    """The clauses were analysed at load: evaluating and explaining parses nothing."""
    expr = compile_expression("premium_pct >= min_premium_pct and abs(delta) <= 0.1 and "
                              "(1 if x else 0)", NAMES)

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed at run time")

    with monkeypatch.context() as patched:
        patched.setattr(ast, "parse", no_parse)
        result = Evaluator().test(expr, ENTRY)
        failing = [c.failing for c in result.clauses]
        differ = [what_would_differ(c) for c in result.clauses]
    assert ["premium_pct 1.21 < min_premium_pct 1.5", "abs(delta) (delta=-0.2) > 0.1",
            "1 if x else 0 is False (x=0)"] == failing
    assert ["premium_pct >= 1.5, 0.29 more", "abs(delta) <= 0.1, 0.1 less", ""] == differ
