"""Generated programs for fuzzing the parser, validator and EVAL (hypothesis strategies and one checker).

Programs are built from the real tool registry (valid calls with fitting, unfitting and
out-of-range arguments, EVAL expressions of any shape), then mutated at the character, token and
line level. :func:`check_program` runs the language on one text and says how it ended; anything
but a result or one of the language's own errors (:class:`ProgramError`) is a crash. Used by
tests/test_reliability_fuzz.py (a few thousand cases) and benchmarks/fuzz_programs.py (10^5).
"""

from __future__ import annotations

import contextlib
import random
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from visorch.programs.errors import ProgramError
from visorch.programs.expression import FUNCTIONS
from visorch.programs.parser import parse_program
from visorch.programs.registry import program_registry
from visorch.programs.validator import validate_program
from visorch.tools.catalog import builtin_tools, model_tools
from visorch.tools.registry import ParamSpec, ToolRegistry
from visorch.tools.types import ValueKind

REGISTRY: ToolRegistry = program_registry([*builtin_tools(), *model_tools()])
NAMES = ["IMAGE", "AUDIO", "QUESTION", "BOX0", "BOX1", "IMAGE0", "TEXT0", "ANSWER0", "ANSWER1", "FINAL", "X", "_"]
_ODD_TEXT = st.sampled_from(["", "'", '"', "\\", "\n", "\ufeff", "\u2028", "\x00", "\x0c", "é", "🚌", "{", "#", ")("])

numbers = st.one_of(
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 5, -5, 1e308, 10**99]),
)
texts = st.one_of(st.text(max_size=20), _ODD_TEXT, st.text(alphabet="x", min_size=200, max_size=2000))


def _number_text(value: float | int) -> str:
    return repr(value) if not isinstance(value, float) or value == value else "nan"


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    """EVAL expression text: numbers, strings, names, operators, calls, conditionals, any nesting."""
    if depth > 6 or draw(st.integers(0, 3)) == 0:
        return draw(
            st.one_of(
                numbers.map(_number_text),
                texts.map(_quoted),
                st.sampled_from([*NAMES, "True", "false", "{ANSWER0}", "{and}", "COUNT0"]),
            )
        )
    choice = draw(st.integers(0, 5))
    left = draw(expressions(depth + 1))
    if choice == 0:
        operator = draw(st.sampled_from(["+", "-", "*", "/", "//", "%", "==", "!=", "<", ">=", "and", "or", "in"]))
        return f"{left} {operator} {draw(expressions(depth + 1))}"
    if choice == 1:
        return f"({left})"
    if choice == 2:
        return f"{draw(st.sampled_from(['not ', '-', 'not not ']))}{left}"
    if choice == 3:
        name = draw(st.sampled_from([*FUNCTIONS, "open", "__import__"]))
        arguments = draw(st.lists(expressions(depth + 1), max_size=3))
        return f"{name}({', '.join(arguments)})"
    if choice == 4:
        return f"{left} if {draw(expressions(depth + 1))} else {draw(expressions(depth + 1))}"
    # long flat chains of short operands (of long ones, the size limit is tested apart); chains of
    # chains would grow as 300**depth
    count = draw(st.integers(2, 300)) if len(left) <= 40 else 2
    return draw(st.sampled_from(["+", "*", " and ", " or "])).join([left] * count)


def _value(draw: st.DrawFn, param: ParamSpec, defined: list[str]) -> str:
    kind_choice = draw(st.integers(0, 9))
    if kind_choice == 0:
        return draw(numbers.map(_number_text))
    if kind_choice == 1:
        return _quoted(draw(texts))
    if kind_choice == 2:
        return draw(st.sampled_from([*defined, *NAMES]))
    if kind_choice == 3:
        items = draw(st.lists(st.one_of(texts.map(_quoted), st.sampled_from(NAMES)), max_size=4))
        return "[" + ", ".join(items) + "]"
    if kind_choice == 4:
        return draw(st.sampled_from(["True", "None", "none", "[[]]", "-x", "1e999"]))
    if param.choices:
        return _quoted(draw(st.sampled_from(param.choices)))
    if param.kind == ValueKind.NUMBER:
        if param.value_range is not None and draw(st.booleans()):
            low = param.value_range.minimum if param.value_range.minimum is not None else -10
            high = param.value_range.maximum if param.value_range.maximum is not None else low + 1000
            return repr(draw(st.floats(low, high, allow_nan=False)))
        return draw(numbers.map(_number_text))
    if param.kind == ValueKind.TEXT:
        return _quoted(draw(st.text(max_size=30)))
    if param.kind == ValueKind.TEXT_LIST:
        return "[" + ", ".join(_quoted(item) for item in draw(st.lists(st.text(max_size=10), max_size=4))) + "]"
    if param.kind == ValueKind.BOOL:
        return draw(st.sampled_from(["True", "False"]))
    fitting = {
        ValueKind.IMAGE: ["IMAGE", "IMAGE0", "IMAGE2"],
        ValueKind.DETECTIONS: ["BOX0", "BOX1"],
        ValueKind.AUDIO: ["AUDIO", "AUDIO_2"],
    }.get(param.kind, defined or NAMES)
    return draw(st.sampled_from(fitting))


@st.composite
def valid_looking_programs(draw: st.DrawFn) -> str:
    """Programs of registry tool calls with arguments that mostly fit, ending with RESULT."""
    specs = [item.spec for item in REGISTRY if item.name != "RESULT"]
    lines: list[str] = []
    defined: list[str] = []
    prefixes = {ValueKind.IMAGE: "IMAGE", ValueKind.DETECTIONS: "BOX", ValueKind.TRANSCRIPT: "TEXT"}
    for index in range(draw(st.integers(0, 6))):
        spec = draw(st.sampled_from(specs))
        arguments = []
        for param in spec.params:
            if not param.required and draw(st.booleans()):
                continue
            if spec.expression_param == param.name:
                value = '"' + draw(expressions()).replace('"', "'").replace("\n", " ") + '"'
            else:
                value = _value(draw, param, defined)
            arguments.append(f"{param.name}={value}")
        target = f"{prefixes.get(spec.output, 'ANSWER')}{index}"
        lines.append(f"{target}={spec.name}({', '.join(arguments)})")
        defined.append(target)
    lines.append(f"FINAL=RESULT(var={draw(st.sampled_from(defined or NAMES))})")
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n", "\n\n# end\n"]))


@st.composite
def mutated(draw: st.DrawFn, programs: st.SearchStrategy[str]) -> str:
    """A program with up to three mutations: characters deleted, inserted, swapped; lines shuffled or cut."""
    text = draw(programs)
    for _ in range(draw(st.integers(0, 3))):
        if not text:
            break
        position = draw(st.integers(0, len(text)))
        operation = draw(st.integers(0, 6))
        if operation == 0:
            text = text[:position] + text[position + draw(st.integers(1, 8)) :]
        elif operation == 1:
            text = text[:position] + draw(st.one_of(_ODD_TEXT, st.text(max_size=4))) + text[position:]
        elif operation == 2:
            text = (
                text[:position]
                + draw(st.sampled_from(["(", ")", "=", ",", "[", "]", '"', "'", "-", "#"]))
                + text[position:]
            )
        elif operation == 3:
            lines = text.split("\n")
            text = "\n".join(draw(st.permutations(lines)))
        elif operation == 4:
            text = text[:position]
        elif operation == 5:
            lines = text.split("\n")
            text = "\n".join(lines + lines[: draw(st.integers(0, len(lines)))])
        else:
            text = text.replace("=", draw(st.sampled_from(["==", "", " = ", "=("])), 1)
    return text


PROGRAMS = st.one_of(valid_looking_programs(), mutated(valid_looking_programs()), st.text(max_size=200))
"""What the fuzz tests and benchmark draw from."""

SAMPLE_VALUES: dict[ValueKind, Any] = {ValueKind.NUMBER: 3, ValueKind.TEXT: "yes", ValueKind.BOOL: True}


class Hang(Exception):
    """Raised by the alarm when one program takes longer than its bound."""


@contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread if the block uses more than ``seconds`` of CPU time.

    CPU time, not wall time: on a machine shared by many jobs, wall time says more about the
    neighbours than about the parser.
    """

    def alarm(signum: int, frame: object) -> None:
        raise Hang

    previous = signal.signal(signal.SIGVTALRM, alarm)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


@dataclass(frozen=True)
class Outcome:
    """How the language handled one program text."""

    kind: str
    """'valid', 'typed error', 'crash' or 'hang'."""
    seconds: float
    """CPU seconds the language took on it."""
    detail: str = ""


def check_program(source: str, bound_s: float = 2.0) -> Outcome:
    """Parse and validate ``source``; for valid programs also evaluate each EVAL on sample values."""
    started = time.process_time()
    try:
        with time_bound(bound_s):
            validated = validate_program(parse_program(source), REGISTRY)
            kinds = {**validated.inputs, **validated.output_kinds}
            for expression in validated.expressions.values():
                variables = {
                    name: SAMPLE_VALUES.get(kinds.get(name, ValueKind.ANY), 3) for name in expression.variables
                }
                with contextlib.suppress(ProgramError):  # run-time errors of the language are fine
                    expression.evaluate(variables)
        kind, detail = "valid", ""
    except ProgramError:
        kind, detail = "typed error", ""
    except Hang:
        kind, detail = "hang", repr(source[:300])
    except Exception as error:  # the point of fuzzing: anything else is a bug to report
        kind, detail = "crash", f"{type(error).__name__}: {str(error)[:200]} in {source[:300]!r}"
    return Outcome(kind, time.process_time() - started, detail)


_PUNCTUATION = ["(", ")", "=", ",", "[", "]", '"', "'", "-", "#", "\ufeff", "\x00", "\n", "é", "9" * 120]


def mutate(text: str, rng: random.Random) -> str:
    """Up to three cheap random mutations (the benchmark's way to turn a pool of programs into 10^5 cases)."""
    for _ in range(rng.randint(0, 3)):
        if not text:
            break
        position = rng.randint(0, len(text))
        operation = rng.randint(0, 5)
        if operation == 0:
            text = text[:position] + text[position + rng.randint(1, 8) :]
        elif operation == 1:
            text = text[:position] + rng.choice(_PUNCTUATION) + text[position:]
        elif operation == 2:
            lines = text.split("\n")
            rng.shuffle(lines)
            text = "\n".join(lines)
        elif operation == 3:
            text = text[:position]
        elif operation == 4:
            lines = text.split("\n")
            text = "\n".join(lines + lines[: rng.randint(0, len(lines))])
        else:
            text = text.replace("=", rng.choice(["==", "", " = ", "=("]), 1)
    return text
