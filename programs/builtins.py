"""The language's own steps: EVAL (a safe expression over variables) and RESULT (the answer)."""

from __future__ import annotations

from typing import Annotated, Any

from visorch.programs.expression import Expression, parse_expression
from visorch.tools.registry import tool

RESULT_TOOL = "RESULT"
EVAL_TOOL = "EVAL"


@tool(
    name=EVAL_TOOL,
    category="logic",
    example="ANSWER0=EVAL(expr=\"'yes' if COUNT0 > 0 else 'no'\")",
    limitations=(
        "Only numbers, text, yes/no, + - * / // %, comparisons, and/or/not, 'in', "
        "'X if C else Y' and the functions min, max, abs, round, len, lower, upper, strip, str, int, float."
    ),
    expression_param="expr",
)
def evaluate(
    expr: Annotated[str, 'an expression over earlier variables, e.g. "COUNT0 + COUNT1"'],
    variables: dict[str, Any],
    parsed: Expression | None = None,
) -> Any:
    """Compute a number, yes/no or text from earlier results (arithmetic, comparison, logic)."""
    # In a program the validator has parsed the expression already; only a direct call parses it here.
    return (parsed or parse_expression(expr)).evaluate(variables)


@tool(
    name=RESULT_TOOL,
    category="logic",
    example="FINAL=RESULT(var=ANSWER0)",
    limitations="Every program ends with exactly one RESULT step.",
    listed_in_prompt=False,  # the planner prompt's rules explain it
    evidence_limit=0,  # it repeats the output of the step it names
)
def result(var: Annotated[Any, "the variable holding the program's answer"]) -> Any:
    """Mark the program's answer."""
    return var
