"""The program parser: valid programs, every syntax error kind with its position, and fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from visorch.programs.ast import ListValue, Literal, Reference
from visorch.programs.errors import ProgramError, ProgramSyntaxError
from visorch.programs.parser import parse_program


def test_parses_steps_values_and_comments() -> None:
    program = parse_program(
        "# count people\n"
        "BOX0=LOC(image=IMAGE, object='person')  # detector\n"
        "\n"
        'X=F(a=1, b=-2.5, c=True, d=false, e=None, f=["a", \'b\'], g=BOX0, h="it\\\'s")\n'
        "FINAL=RESULT(var=X)\n"
    )
    assert [step.target for step in program.steps] == ["BOX0", "X", "FINAL"]
    first = program.steps[0]
    assert first.tool == "LOC"
    assert first.argument("object") is not None and first.argument("object").value == Literal(
        "person", first.argument("object").value.position
    )
    x = program.steps[1]
    values = {argument.name: argument.value for argument in x.arguments}
    assert values["a"].value == 1 and values["b"].value == -2.5
    assert values["c"].value is True and values["d"].value is False and values["e"].value is None
    assert isinstance(values["f"], ListValue) and [item.value for item in values["f"].items] == ["a", "b"]
    assert isinstance(values["g"], Reference) and values["g"].name == "BOX0"
    assert values["h"].value == "it's"
    assert x.position.line == 4 and x.text.startswith("X=F(")


def test_arguments_may_span_lines_inside_parentheses() -> None:
    program = parse_program("A=F(\n  x=1,\n  y=[1,\n 2],\n)\nFINAL=RESULT(var=A)")
    assert len(program.steps) == 2


@pytest.mark.parametrize(
    ("source", "line", "column", "fragment"),
    [
        ("BOX0 LOC(image=IMAGE)", 1, 6, "expected '='"),
        ("BOX0=(image=IMAGE)", 1, 6, "expected a tool name"),
        ("BOX0=LOC image=IMAGE)", 1, 10, "expected '('"),
        ("BOX0=LOC(image=IMAGE", 1, 21, "expected ','"),
        ("BOX0=LOC(image=IMAGE object='x')", 1, 22, "expected ','"),
        ("BOX0=LOC(image IMAGE)", 1, 16, "expected '='"),
        ("BOX0=LOC(=IMAGE)", 1, 10, "expected an argument name"),
        ("BOX0=LOC(image=)", 1, 16, "expected a value"),
        ("A=F(x='abc)", 1, 7, "not closed"),
        ("A=F(x='a\\qb')", 1, 9, "unknown escape"),
        ("A=F(x=1, x=2)", 1, 10, "given twice"),
        ("A=F(x=G(y=1))", 1, 7, "cannot be nested"),
        ("A=F(x=1) B=G(y=2)", 1, 10, "end of the line"),
        ("A=F(x=$)", 1, 7, "unexpected character"),
        ("A=F(x=12abc)", 1, 7, "number cannot run into a name"),
        ("A=F(x=-'a')", 1, 8, "expected a number after '-'"),
        ("A=F(x=[1, 2)", 1, 12, "expected ','"),
        ("True=F(x=1)", 1, 1, "cannot be assigned"),
        ("\n\n  9=F()", 3, 3, "expected a variable name"),
    ],
)
def test_syntax_errors_name_line_and_column(source: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(ProgramSyntaxError) as caught:
        parse_program(source)
    error = caught.value
    assert (error.position.line, error.position.column) == (line, column)
    assert fragment in error.message
    assert f"line {line}, column {column}" in str(error)


def test_error_message_points_at_the_column() -> None:
    with pytest.raises(ProgramSyntaxError) as caught:
        parse_program("OK=F(a=1)\nBOX0=LOC(image=IMAGE object='x')")
    text = str(caught.value)
    assert "BOX0=LOC(image=IMAGE object='x')" in text
    assert text.splitlines()[-1].index("^") == 4 + 21


def test_deeply_nested_lists_are_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(ProgramSyntaxError, match="nested"):
        parse_program("A=F(x=" + "[" * 500 + "]" * 500 + ")")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_language_errors(text: str) -> None:
    with contextlib.suppress(ProgramError):
        parse_program(text)


program_like = st.lists(
    st.sampled_from(
        [
            "A",
            "B0",
            "=",
            "LOC",
            "(",
            ")",
            ",",
            "image",
            "IMAGE",
            "'x'",
            '"y"',
            "1",
            "-",
            "2.5",
            "[",
            "]",
            "\n",
            " ",
            "#c",
            "True",
            "None",
            "\\",
            "'",
            "x=",
            "FINAL=RESULT(var=A)",
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=600, deadline=None)
@given(program_like)
def test_program_like_text_raises_only_language_errors(text: str) -> None:
    with contextlib.suppress(ProgramError):
        parse_program(text)
