"""Static validation of a program against the tool registry, before anything runs.

Checks unknown tools (with the closest name), missing / extra / mistyped arguments, use before
definition, reassignment, the final RESULT, EVAL expressions, and that each step's output kind
fits the parameter it is passed to. The result carries the dependency graph the executor runs.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from visorch.programs.ast import ListValue, Literal, Program, Reference, Step, Value, references_in
from visorch.programs.builtins import RESULT_TOOL
from visorch.programs.errors import ExpressionError, ProgramValidationError, SourcePosition, ValidationIssue, quoted
from visorch.programs.expression import Expression, parse_expression
from visorch.tools.registry import ParamSpec, Tool, ToolRegistry
from visorch.tools.types import ValueKind, accepts, strip_optional

STANDARD_INPUTS: dict[str, ValueKind] = {
    "IMAGE": ValueKind.IMAGE,
    "AUDIO": ValueKind.AUDIO,
    "QUESTION": ValueKind.TEXT,
}
"""Inputs every program may use; more images and audio files are named IMAGE_*/IMAGE2/AUDIO_*."""

MAX_TEXT_LITERAL = 10_000
"""Characters a text argument written in the program may have (an object name, a question, a colour); EVAL's
expression has its own bound (``MAX_SOURCE_LENGTH``). Text a tool read (OCR, a transcript) is not a literal."""
_EXTRA_INPUT = re.compile(r"^(IMAGE|AUDIO)_?[A-Z0-9_]+$")


def input_kind(name: str) -> ValueKind | None:
    """The kind of an input name by convention (IMAGE, IMAGE2, IMAGE_LEFT, AUDIO, QUESTION)."""
    if name in STANDARD_INPUTS:
        return STANDARD_INPUTS[name]
    match = _EXTRA_INPUT.match(name)
    if match:
        return ValueKind.IMAGE if match.group(1) == "IMAGE" else ValueKind.AUDIO
    return None


def input_option(name: str) -> str:
    """The command-line option that gives input ``name`` (``--image``, ``--image IMAGE2=PATH``)."""
    if name == "QUESTION":
        return "--question"
    flag = "--image" if input_kind(name) == ValueKind.IMAGE else "--audio"
    return flag if name in STANDARD_INPUTS else f"{flag} {name}=PATH"


@dataclass(frozen=True)
class ValidatedProgram:
    """A program that passed validation, with what the executor needs to run it."""

    program: Program
    output_kinds: dict[str, ValueKind]
    dependencies: dict[str, tuple[str, ...]]
    """For each step target, the earlier steps it reads (inputs excluded)."""
    inputs: dict[str, ValueKind]
    """Inputs the program reads, with their kinds."""
    expressions: dict[str, Expression]
    """Each EVAL step's expression as parsed here; the executor evaluates these, never the text again."""
    result: str
    """The target of the RESULT step."""
    tools: dict[str, Tool]
    """Each step's tool, looked up once here; the executor runs these (no second lookup by name)."""

    @property
    def steps(self) -> tuple[Step, ...]:
        """The program's steps in source order."""
        return self.program.steps


def _literal_issue(param: ParamSpec, literal: Literal) -> str | None:
    value = literal.value
    base, _ = strip_optional(param.annotation)
    if value is None:
        return None if param.optional_none else f"'{param.name}' cannot be None"
    if param.choices:
        if not isinstance(value, str) or value not in param.choices:
            return f"'{param.name}' must be one of {', '.join(repr(c) for c in param.choices)}; got {quoted(value)}"
        return None
    kind = param.kind
    if kind == ValueKind.ANY:
        return None
    if kind == ValueKind.TEXT and isinstance(value, str):
        if len(value) > MAX_TEXT_LITERAL:
            return (f"'{param.name}' is {len(value):,} characters long, {quoted(value)}; a text argument takes "
                    f"at most {MAX_TEXT_LITERAL:,} (name the object, question or colour in a few words)")  # fmt: skip
        return None
    if kind == ValueKind.BOOL and isinstance(value, bool):
        return None
    if kind == ValueKind.NUMBER and isinstance(value, int | float) and not isinstance(value, bool):
        if base is int and isinstance(value, float):
            return f"'{param.name}' expects a whole number, got {value!r}"
        return param.value_range.problem(param.name, value) if param.value_range is not None else None
    if kind in (ValueKind.IMAGE, ValueKind.DETECTIONS, ValueKind.AUDIO, ValueKind.TRANSCRIPT, ValueKind.OCR_TEXT):
        shown = quoted(value)
        return f"'{param.name}' expects {kind.value} from a variable (like IMAGE or BOX0), got the literal {shown}"
    return f"'{param.name}' expects {kind.value}, got {type(value).__name__} {quoted(value)}"


class _Validator:
    def __init__(self, program: Program, registry: ToolRegistry, inputs: dict[str, ValueKind] | None) -> None:
        self.program = program
        self.registry = registry
        self.declared_inputs = inputs
        self.issues: list[ValidationIssue] = []
        self.kinds: dict[str, ValueKind] = {}
        self.defined_at: dict[str, SourcePosition] = {}
        self.dependencies: dict[str, tuple[str, ...]] = {}
        self.used_inputs: dict[str, ValueKind] = {}
        self.expressions: dict[str, Expression] = {}
        self.tools: dict[str, Tool] = {}
        self.later_targets = {step.target: step.position for step in program.steps}

    def issue(self, message: str, position: SourcePosition) -> None:
        self.issues.append(ValidationIssue(message, position))

    def input_kind(self, name: str) -> ValueKind | None:
        if self.declared_inputs is not None:
            return self.declared_inputs.get(name)
        if name in self.later_targets and name not in STANDARD_INPUTS:
            return None  # by convention, a name the program assigns (IMAGE0=CROP(...)) is not an input
        return input_kind(name)

    def read(self, name: str, position: SourcePosition, reads: list[str]) -> ValueKind | None:
        """:meth:`resolve` ``name`` for the current step, noting it in ``reads`` when an earlier step assigns it."""
        kind = self.resolve(name, position)
        if name in self.kinds:
            reads.append(name)
        return kind

    def resolve(self, name: str, position: SourcePosition) -> ValueKind | None:
        """The kind of variable ``name`` at this point, or None after recording an issue."""
        if name in self.kinds:
            return self.kinds[name]
        kind = self.input_kind(name)
        if kind is not None:
            self.used_inputs[name] = kind
            return kind
        if name in self.later_targets:
            line = self.later_targets[name].line
            self.issue(f"{name} is used before it is defined (it is assigned on line {line})", position)
            return None
        if self.declared_inputs is not None and name not in self.later_targets and input_kind(name) is not None:
            self.issue(f"this program needs {input_option(name)} (it reads the input {name}, which was not given)",
                       position)  # fmt: skip
            return None
        known = list(self.kinds) + list(self.declared_inputs or STANDARD_INPUTS)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        inputs = ", ".join(self.declared_inputs) if self.declared_inputs is not None else "IMAGE, AUDIO, QUESTION"
        self.issue(
            f"{name} is not defined: no earlier step assigns it and it is not an input ({inputs}){hint}", position
        )
        return None

    def check_value(self, step: Step, param: ParamSpec, value: Value, reads: list[str]) -> None:
        if isinstance(value, Literal):
            problem = _literal_issue(param, value)
            if problem:
                self.issue(f"{step.tool}: {problem}", value.position)
            return
        if isinstance(value, Reference):
            kind = self.read(value.name, value.position, reads)
            if kind is not None and not accepts(param.kind, kind):
                self.issue(
                    f"{step.tool}: '{param.name}' expects {param.kind.value}, but {value.name} holds {kind.value}",
                    value.position,
                )
            return
        assert isinstance(value, ListValue)
        if param.kind not in (ValueKind.TEXT_LIST, ValueKind.ANY):
            self.issue(f"{step.tool}: '{param.name}' expects {param.kind.value}, not a list", value.position)
            return
        for item in value.items:
            if isinstance(item, Literal) and not isinstance(item.value, str):
                self.issue(f"{step.tool}: list items of '{param.name}' must be text, got {item.value!r}", item.position)
            elif isinstance(item, ListValue):
                self.issue(f"{step.tool}: '{param.name}' takes a flat list of text", item.position)
            elif isinstance(item, Reference):
                kind = self.read(item.name, item.position, reads)
                if kind is not None and not accepts(ValueKind.TEXT, kind):
                    self.issue(
                        f"{step.tool}: list items of '{param.name}' must be text; {item.name} holds {kind.value}",
                        item.position,
                    )

    def check_expression(self, step: Step, value: Value, reads: list[str]) -> None:
        if not isinstance(value, Literal) or not isinstance(value.value, str):
            self.issue(f"{step.tool}: the expression must be a quoted string", value.position)
            return
        try:
            expression = parse_expression(value.value)
        except ExpressionError as error:
            self.issue(f"{step.tool}: {error}", value.position)
            return
        self.expressions[step.target] = expression
        for name in expression.variables:
            kind = self.read(name, value.position, reads)
            if kind in (ValueKind.IMAGE, ValueKind.DETECTIONS, ValueKind.AUDIO):
                hint = " (use COUNT first)" if kind == ValueKind.DETECTIONS else ""
                self.issue(
                    f"{step.tool}: {name} holds {kind.value}, which an expression cannot use{hint}", value.position
                )

    def check_step(self, step: Step) -> None:
        if step.target in self.kinds:
            line = self.defined_at[step.target].line
            self.issue(
                f"{step.target} is assigned again (first assigned on line {line}); use a new name", step.position
            )
        elif self.input_kind(step.target) is not None:
            self.issue(f"{step.target} is an input name and cannot be assigned; use another name", step.position)
        reads: list[str] = []
        output = ValueKind.ANY
        found = self.registry.get(step.tool)
        if found is None:
            close = self.registry.closest(step.tool)
            hint = f"; did you mean {close}?" if close else ""
            self.issue(f"unknown tool {step.tool}{hint}", step.tool_position)
            for argument in step.arguments:
                for ref in references_in(argument.value):
                    self.read(ref.name, ref.position, reads)
        else:
            self.tools[step.target] = found
            spec = found.spec
            output = spec.output
            given = {argument.name for argument in step.arguments}
            for argument in step.arguments:
                param = spec.param(argument.name)
                if param is None:
                    names = [p.name for p in spec.params]
                    close_names = difflib.get_close_matches(argument.name, names, n=1, cutoff=0.5)
                    hint = f"; did you mean {close_names[0]}?" if close_names else ""
                    self.issue(
                        f"{spec.name} has no argument '{argument.name}' (it takes {', '.join(names) or 'none'}){hint}",
                        argument.position,
                    )
                    for ref in references_in(argument.value):
                        self.resolve(ref.name, ref.position)
                    continue
                if spec.expression_param == param.name:
                    self.check_expression(step, argument.value, reads)
                else:
                    self.check_value(step, param, argument.value, reads)
            for param in spec.required_params:
                if param.name not in given:
                    self.issue(f"{spec.name} needs argument '{param.name}' ({param.kind.value})", step.tool_position)
            if spec.name == RESULT_TOOL:
                var = step.argument("var")
                if var is not None and isinstance(var.value, Reference):
                    output = self.kinds.get(var.value.name) or self.input_kind(var.value.name) or ValueKind.ANY
        if step.target not in self.kinds:
            self.kinds[step.target] = output
            self.defined_at[step.target] = step.position
        self.dependencies[step.target] = tuple(dict.fromkeys(reads))

    def validate(self) -> ValidatedProgram:
        steps = self.program.steps
        if not steps:
            raise ProgramValidationError([ValidationIssue("the program has no steps", SourcePosition(1, 1))])
        for step in steps:
            self.check_step(step)
        results = [step for step in steps if step.tool == RESULT_TOOL]
        end = SourcePosition(steps[-1].position.line, 1)
        if not results:
            self.issue("the program has no RESULT step; end it with FINAL=RESULT(var=...)", end)
        elif len(results) > 1:
            self.issue(f"the program has {len(results)} RESULT steps; keep only the last one", results[1].position)
        elif steps[-1].tool != RESULT_TOOL:
            self.issue("RESULT must be the last step", results[0].position)
        if self.issues:
            raise ProgramValidationError(sorted(self.issues, key=lambda i: (i.position.line, i.position.column)))
        return ValidatedProgram(
            program=self.program,
            output_kinds=dict(self.kinds),
            dependencies=dict(self.dependencies),
            inputs=dict(self.used_inputs),
            expressions=dict(self.expressions),
            result=results[0].target,
            tools=dict(self.tools),
        )


def validate_program(
    program: Program, registry: ToolRegistry, inputs: dict[str, Any] | None = None
) -> ValidatedProgram:
    """Check ``program`` against ``registry``; ``inputs`` maps input names to kinds (or values).

    Without ``inputs``, names follow the convention IMAGE / IMAGE_* / AUDIO / AUDIO_* / QUESTION.
    Raises :class:`ProgramValidationError` listing every problem found.
    """
    kinds: dict[str, ValueKind] | None = None
    if inputs is not None:
        from visorch.tools.types import kind_of_value

        kinds = {
            name: value if isinstance(value, ValueKind) else kind_of_value(value) for name, value in inputs.items()
        }
    return _Validator(program, registry, kinds).validate()
