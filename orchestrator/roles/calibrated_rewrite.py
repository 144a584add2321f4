"""Counting and "is there" programs written the LOC + COUNT way, rewritten onto HOW_MANY and EXISTS.

A small planner follows the LOC + COUNT programs it learned before the worked examples it is shown:
Qwen2.5-Coder-1.5B plans "How many people are in the image?" as LOC then COUNT while the HOW_MANY
example for that very question is in its prompt. Both programs ask the same thing, how many objects
of one class the image holds, but HOW_MANY fuses every installed detector, is calibrated and looks
closer when the evidence is weak, and its result answers by rule (no decision-maker call). So when the
agent offers HOW_MANY and EXISTS, the planned

    BOXj=LOC(image=I, object='x')                   no other argument; BOXj read by the COUNT alone
    ANSWERk=COUNT(box=BOXj)                         the program's result ...
    ANSWERm=EVAL(expr="'yes' if ANSWERk > 0 ...")   ... or read only by this yes/no EVAL, the result

becomes ``ANSWERk=HOW_MANY(image=I, object='x')`` for a "how many" question, and
``ANSWERk=EXISTS(image=I, object='x')`` for a yes/no one. Anything else (a ``min_score``, a filter,
boxes used again, arithmetic on the count) is run as planned. The rewrite is reported with the plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from visorch.grounding import question_form
from visorch.programs.ast import Literal, Reference, Step, format_value
from visorch.programs.errors import ProgramError
from visorch.programs.parser import parse_program
from visorch.programs.validator import ValidatedProgram, validate_program
from visorch.tools.registry import ToolRegistry

_YES_IF_ANY = re.compile(r"^'yes' if (?P<count>ANSWER[0-9]+) (> 0|>= 1|!= 0) else 'no'$")
"""The EVAL that turns a count into yes/no (the LOC + COUNT way to ask "is there")."""


@dataclass(frozen=True)
class Rewrite:
    """The program to run instead of the planned one, and what was changed."""

    source: str
    note: str


def calibrated_rewrite(
    source: str, question: str, registry: ToolRegistry, inputs: dict[str, Any] | None = None
) -> Rewrite | None:
    """The planned ``source`` with its LOC + COUNT counting (or "is there") on HOW_MANY (or EXISTS), when the
    question asks for that and ``registry`` offers them; None when nothing is rewritten (an invalid program
    is left for the agent's validation to report)."""
    form = question_form(question)
    tool = {"count": "HOW_MANY", "yes_no": "EXISTS"}.get(form)
    if tool is None or tool not in registry:
        return None
    try:
        validated = validate_program(parse_program(source), registry, inputs)
    except ProgramError:
        return None
    program = validated.program
    result = validated.dependencies.get(validated.result, ())  # what the RESULT line names
    answer = program.step(result[0]) if len(result) == 1 else None
    if answer is None:
        return None
    replaced = [answer]
    if form == "yes_no" and answer.tool == "EVAL":
        expression = validated.expressions.get(answer.target)
        matched = _YES_IF_ANY.match(expression.source.strip()) if expression is not None else None
        count = program.step(matched["count"]) if matched else None
        if count is None or _readers(validated, count.target) != [answer]:
            return None
        replaced.insert(0, count)
    count = replaced[0]
    if count.tool != "COUNT":
        return None
    box = count.argument("box")
    located = program.step(box.value.name) if box is not None and isinstance(box.value, Reference) else None
    if located is None or located.tool != "LOC" or _readers(validated, located.target) != [count]:
        return None
    image, obj = located.argument("image"), located.argument("object")
    if len(located.arguments) != 2 or image is None or obj is None or not isinstance(image.value, Reference):
        return None
    if not isinstance(obj.value, Literal) or not isinstance(obj.value.value, str):
        return None
    call = f"{answer.target}={tool}(image={image.value.name}, object={format_value(obj.value)})"
    gone = {step.target for step in replaced}
    lines = [call if step is located else step.text.strip() for step in program.steps if step.target not in gone]
    planned = "; ".join(step.text.strip() for step in (located, *replaced))
    return Rewrite("\n".join(lines), f"{planned} -> {call} (the fused, calibrated experts)")


def _readers(validated: ValidatedProgram, target: str) -> list[Step]:
    """The steps that read ``target`` (the validator's dependencies: arguments and EVAL expressions)."""
    return [step for step in validated.steps if target in validated.dependencies.get(step.target, ())]
