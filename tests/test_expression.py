"""EVAL's expression language: values, precedence, safety and errors."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from visorch.programs.errors import ExpressionError, ProgramError
from visorch.programs.expression import parse_expression


@pytest.mark.parametrize(
    ("source", "variables", "expected"),
    [
        ("1 + 2 * 3", {}, 7),
        ("(1 + 2) * 3", {}, 9),
        ("7 // 2 + 7 % 2", {}, 4),
        ("7 / 2", {}, 3.5),
        ("-A + 1", {"A": 3}, -2),
        ("A > 2 and B == 'yes'", {"A": 3, "B": "Yes"}, True),
        ("not A or B", {"A": True, "B": False}, False),
        ("'yes' if N > 0 else 'no'", {"N": 0}, "no"),
        ("'yes' if {N} > 0 else 'no'", {"N": 2}, "yes"),
        ("max(A, B) - min(A, B)", {"A": 2, "B": 9}, 7),
        ("round(2.567, 1)", {}, 2.6),
        ("len(T)", {"T": "abc"}, 3),
        ("'bus' in T", {"T": "A red BUS stop"}, True),
        ("'car' not in T", {"T": "a bus"}, True),
        ("C1 == C2", {"C1": "Blue", "C2": "blue "}, True),
        ("A == True", {"A": "yes"}, True),
        ("str(N) + ' people'", {"N": 3}, "3 people"),
        ("N + ' people'", {"N": 3}, "3 people"),
        ("A + B", {"A": "ab", "B": "cd"}, "abcd"),
        ("lower(T)", {"T": "ABC"}, "abc"),
        ("1 if A else 2 if B else 3", {"A": False, "B": False}, 3),
    ],
)
def test_evaluates(source: str, variables: dict, expected: object) -> None:
    assert parse_expression(source).evaluate(variables) == expected


def test_reports_the_variables_it_reads() -> None:
    assert parse_expression("A + {B} * max(C, 1) if D else E").variables == ("A", "B", "C", "D", "E")


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("", "empty"),
        ("1 +", "expected a value"),
        ("(1 + 2", r"expected '\)'"),
        ("__import__('os')", "unknown function"),
        ("A.B", "unexpected character"),
        ("open('x')", "unknown function"),
        ("1 if A", "expected 'else'"),
        ("A B", "unexpected"),
        ("{and}", "variable name"),
        ("-" * 200 + "1", "nested"),
    ],
)
def test_parse_errors(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError, match=fragment):
        parse_expression(source)


@pytest.mark.parametrize(
    ("source", "variables", "fragment"),
    [
        ("A / 0", {"A": 1}, "division by zero"),
        ("A + 1", {"A": True}, "expected a number"),
        ("A > 'x'", {"A": 1}, "cannot compare"),
        ("A", {}, "has no value"),
        ("not A", {"A": "maybe"}, "expected yes/no"),
        ("int(A)", {"A": "abc"}, r"int\(\) failed"),
        ("int(A)", {"A": 1e308 * 10}, r"int\(\) failed"),
    ],
)
def test_evaluation_errors_are_typed(source: str, variables: dict, fragment: str) -> None:
    with pytest.raises(ExpressionError, match=fragment):
        parse_expression(source).evaluate(variables)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="AB01 +-*/%()<>=!'\"{}andortifelsn", max_size=60))
def test_arbitrary_expressions_raise_only_language_errors(text: str) -> None:
    with contextlib.suppress(ProgramError):
        parse_expression(text).evaluate({"A": 1, "B": "x"})
