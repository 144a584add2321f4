"""Static validation: every kind of problem is found before anything runs, with its position."""

from __future__ import annotations

import pytest
from visorch.programs.errors import ProgramValidationError
from visorch.programs.parser import parse_program
from visorch.programs.registry import program_registry
from visorch.programs.validator import validate_program
from visorch.tools.catalog import builtin_tools
from visorch.tools.types import ValueKind

from tests.helpers import TEST_TOOLS

REGISTRY = program_registry([*builtin_tools(), *TEST_TOOLS])


def issues(source: str, inputs: dict | None = None) -> list[str]:
    with pytest.raises(ProgramValidationError) as caught:
        validate_program(parse_program(source), REGISTRY, inputs)
    return [str(issue) for issue in caught.value.issues]


def test_valid_program_gives_dependencies_and_inputs() -> None:
    validated = validate_program(
        parse_program(
            "BOX0=TEST_BOXES(image=IMAGE, label='person')\n"
            "IMG=CROP(image=IMAGE, box=BOX0)\n"
            "C=COLOR(image=IMG)\n"
            "N=COUNT(box=BOX0)\n"
            "A=EVAL(expr=\"C + ' ' + str(N)\")\n"
            "FINAL=RESULT(var=A)\n"
        ),
        REGISTRY,
    )
    assert validated.dependencies == {
        "BOX0": (),
        "IMG": ("BOX0",),
        "C": ("IMG",),
        "N": ("BOX0",),
        "A": ("C", "N"),
        "FINAL": ("A",),
    }
    assert validated.inputs == {"IMAGE": ValueKind.IMAGE}
    assert validated.output_kinds["BOX0"] == ValueKind.DETECTIONS
    assert validated.output_kinds["FINAL"] == ValueKind.ANY
    assert validated.result == "FINAL"


def test_unknown_tool_suggests_the_closest_name() -> None:
    found = issues("A=CORP(image=IMAGE, box=IMAGE)\nFINAL=RESULT(var=A)")
    assert any("unknown tool CORP; did you mean CROP?" in issue for issue in found)
    assert found[0].startswith("line 1, column 3")


def test_missing_extra_and_mistyped_arguments() -> None:
    found = issues(
        "BOX0=TEST_BOXES(image=IMAGE, count=1.5)\n"
        "IMG=CROP(image=IMAGE, bx=BOX0)\n"
        "N=COUNT(box='BOX0')\n"
        "S=SELECT(box=BOX0, by='biggest')\n"
        "FINAL=RESULT(var=N)\n"
    )
    text = "\n".join(found)
    assert "'count' expects a whole number, got 1.5" in text
    assert "CROP has no argument 'bx'" in text and "did you mean box?" in text
    assert "CROP needs argument 'box' (detections)" in text
    assert "'box' expects detections from a variable" in text
    assert "'by' must be one of" in text


def test_output_kind_must_fit_the_input_kind() -> None:
    found = issues("N=COUNT(box=IMAGE)\nFINAL=RESULT(var=N)")
    assert found == ["line 1, column 13: COUNT: 'box' expects detections, but IMAGE holds image"]
    found = issues("BOX0=TEST_BOXES(image=IMAGE)\nC=COLOR(image=BOX0)\nFINAL=RESULT(var=C)")
    assert "'image' expects image, but BOX0 holds detections" in found[0]


def test_use_before_definition_and_undefined_names() -> None:
    found = issues("N=COUNT(box=BOX0)\nBOX0=TEST_BOXES(image=IMAGE)\nFINAL=RESULT(var=N)")
    assert "BOX0 is used before it is defined (it is assigned on line 2)" in found[0]
    found = issues("BOX0=TEST_BOXES(image=IMAGE)\nN=COUNT(box=BOX1)\nFINAL=RESULT(var=N)")
    assert "BOX1 is not defined" in found[0] and "did you mean BOX0?" in found[0]


def test_reassignment_and_assigning_an_input() -> None:
    found = issues("A=COLOR(image=IMAGE)\nA=COLOR(image=IMAGE)\nIMAGE=COLOR(image=IMAGE)\nFINAL=RESULT(var=A)")
    assert "A is assigned again (first assigned on line 1)" in found[0]
    assert "IMAGE is an input name" in found[1]


def test_result_rules() -> None:
    assert any("no RESULT step" in issue for issue in issues("A=COLOR(image=IMAGE)"))
    assert any(
        "RESULT must be the last step" in issue for issue in issues("FINAL=RESULT(var=IMAGE)\nA=COLOR(image=IMAGE)")
    )
    assert any("2 RESULT steps" in issue for issue in issues("F=RESULT(var=IMAGE)\nG=RESULT(var=IMAGE)"))
    assert issues("") == ["line 1, column 1: the program has no steps"]


def test_eval_expressions_are_checked() -> None:
    found = issues('A=EVAL(expr="1 +")\nFINAL=RESULT(var=A)')
    assert "expression error" in found[0]
    found = issues('BOX0=TEST_BOXES(image=IMAGE)\nA=EVAL(expr="BOX0 > 1")\nFINAL=RESULT(var=A)')
    assert "BOX0 holds detections, which an expression cannot use (use COUNT first)" in found[0]
    found = issues('A=EVAL(expr="MISSING + 1")\nFINAL=RESULT(var=A)')
    assert "MISSING is not defined" in found[0]
    found = issues("A=EVAL(expr=3)\nFINAL=RESULT(var=A)")
    assert "must be a quoted string" in found[0]


def test_declared_inputs_replace_the_naming_convention() -> None:
    found = issues("A=COLOR(image=IMAGE2)\nFINAL=RESULT(var=A)", inputs={"IMAGE": ValueKind.IMAGE})
    assert "needs --image IMAGE2=PATH (it reads the input IMAGE2, which was not given)" in found[0]
    validated = validate_program(parse_program("A=COLOR(image=IMAGE_LEFT)\nFINAL=RESULT(var=A)"), REGISTRY)
    assert validated.inputs == {"IMAGE_LEFT": ValueKind.IMAGE}


def test_every_problem_is_reported_at_once() -> None:
    found = issues("A=NOPE(x=1)\nB=COUNT()\nC=COUNT(box=Z)")
    assert len(found) == 4
