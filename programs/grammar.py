"""Decoding grammars for programs, rendered from the tool registry.

The same tool specs that the validator checks against produce a GBNF grammar (llama.cpp) and a
regular expression / JSON schema (OpenAI-compatible servers that offer constrained decoding), so
an LLM can only write calls to registered tools, with their real argument names, in order.

Generated programs also follow VisProg's naming convention, which lets the grammar enforce kinds
between steps: a step's variable is named after what its tool returns (IMAGE0 for images, BOX0
for detections, TEXT0 for text read or heard, ANSWER0 for everything else), and each argument
accepts only variables of a fitting kind. The first step can use only the question's inputs
(the images, the audio and the question it was given: no ``IMAGE2`` without a second image, no
``COUNT(box=BOX0)`` before a BOX0 exists), because a small planner otherwise writes such a line
again after each rejection. Use before definition past the first step is left to the validator,
which accepts any names (a grammar that tracked every defined variable would multiply its rules).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from visorch.programs.builtins import RESULT_TOOL
from visorch.programs.expression import FUNCTIONS
from visorch.tools.registry import ParamSpec, ToolRegistry, ToolSpec
from visorch.tools.types import ValueKind

OUTPUT_PREFIX: dict[ValueKind, str] = {
    ValueKind.IMAGE: "IMAGE",
    ValueKind.DETECTIONS: "BOX",
    ValueKind.OCR_TEXT: "TEXT",
    ValueKind.TRANSCRIPT: "TEXT",
    ValueKind.AUDIO: "AUDIO",
}
"""Variable name prefix by output kind in generated programs; any other kind is an ANSWER."""


@dataclass(frozen=True)
class _Atom:
    """One kind of value an argument can take, rendered as GBNF and as a regular expression."""

    gbnf: str
    regex: str


_NUMBERS = "[0-9]"
ATOMS: dict[str, _Atom] = {
    "image": _Atom('"IMAGE" [0-9]?', r"IMAGE[0-9]?"),
    "box": _Atom(f'"BOX" {_NUMBERS}', f"BOX{_NUMBERS}"),
    "text-variable": _Atom(f'"TEXT" {_NUMBERS}', f"TEXT{_NUMBERS}"),
    "answer": _Atom(f'"ANSWER" {_NUMBERS}', f"ANSWER{_NUMBERS}"),
    "audio": _Atom('"AUDIO"', "AUDIO"),
    "question": _Atom('"QUESTION"', "QUESTION"),
    "string": _Atom('"\'" [^\'\\n\\\\]{0,120} "\'"', r"'[^'\n\\]{0,120}'"),
    "number": _Atom('"-"? [0-9]{1,9} ("." [0-9]{1,6})?', r"-?[0-9]{1,9}(\.[0-9]{1,6})?"),
    "non-negative-number": _Atom('[0-9]{1,9} ("." [0-9]{1,6})?', r"[0-9]{1,9}(\.[0-9]{1,6})?"),
    "fraction": _Atom('("0" ("." [0-9]{1,6})? | "1" (".0")?)', r"(0(\.[0-9]{1,6})?|1(\.0)?)"),
    "boolean": _Atom('("True" | "False")', "(True|False)"),
    "string-list": _Atom('"[" string (", " string){0,15} "]"', r"\['[^'\n\\]{0,120}'(, '[^'\n\\]{0,120}'){0,15}\]"),
    "none": _Atom('"None"', "None"),
    "expression": _Atom("expression", r'"[^"\n\\]{1,200}"'),
}

DEFAULT_INPUTS = ("IMAGE", "IMAGE2", "AUDIO")
"""The inputs a program may name when the question's own are not given (the planner's prompt lists these)."""
_KIND_ATOMS: dict[ValueKind, tuple[str, ...]] = {
    ValueKind.IMAGE: ("image",),
    ValueKind.DETECTIONS: ("box",),
    ValueKind.AUDIO: ("audio",),
    ValueKind.TRANSCRIPT: ("text-variable",),
    ValueKind.OCR_TEXT: ("text-variable",),
    ValueKind.TEXT: ("string", "text-variable", "answer", "question"),
    ValueKind.NUMBER: ("number", "answer"),
    ValueKind.BOOL: ("boolean", "answer"),
    ValueKind.TEXT_LIST: ("string-list", "answer"),
    ValueKind.ANY: ("answer", "text-variable", "box", "image"),
}


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number_atom(param: ParamSpec) -> str:
    """The narrowest number literal the grammar can hold for the argument's declared range."""
    limits = param.value_range
    if limits is None or limits.minimum is None or limits.minimum < 0:
        return "number"
    return "fraction" if limits.minimum == 0 and limits.maximum == 1 else "non-negative-number"


def _names_atom(names: list[str]) -> _Atom | None:
    """An atom for exactly these names (None when there are none)."""
    if not names:
        return None
    gbnf = "(" + " | ".join(_gbnf_literal(name) for name in names) + ")"
    return _Atom(gbnf, "(" + "|".join(map(re.escape, names)) + ")")


def _image_digits(inputs: Collection[str]) -> str:
    """The digits of images that steps assign: not 2 unless a second image IMAGE2 was given, since a small
    planner names the second image it was never given as if a step had made it (``OCR(image=IMAGE2)``)."""
    return "[0-9]" if "IMAGE2" in inputs else "[013-9]"


def _variable_atoms(inputs: Collection[str], first_step: bool) -> dict[str, _Atom | None]:
    """The variables one step may read: the inputs given, and after the first step what earlier steps assigned."""
    given = _names_atom(sorted(name for name in inputs if re.fullmatch(r"IMAGE[0-9]*", name)))
    audio = ATOMS["audio"] if "AUDIO" in inputs else None
    if first_step:
        return {"image": given, "audio": audio, "box": None, "text-variable": None, "answer": None}
    digits = _image_digits(inputs)
    generated = _Atom(f'"IMAGE" {digits}', f"IMAGE{digits}")  # CROP's IMAGE0, IMAGE1, ...
    image = (
        generated
        if given is None
        else _Atom(f"({given.gbnf} | {generated.gbnf})", f"({given.regex}|{generated.regex})")
    )
    return {"image": image, "audio": audio, **{name: ATOMS[name] for name in ("box", "text-variable", "answer")}}


def _value_atoms(spec: ToolSpec, param: ParamSpec, variables: dict[str, _Atom | None]) -> list[_Atom]:
    """What the argument may be: literals of its kind, and the variables of its kind in ``variables``."""
    if spec.expression_param == param.name:
        return [ATOMS["expression"]]
    if param.choices:
        return [_Atom(_gbnf_literal(f"'{choice}'"), re.escape(f"'{choice}'")) for choice in param.choices]
    kinds = _KIND_ATOMS[param.kind]
    atoms = [variables[name] if name in variables else ATOMS[_number_atom(param) if name == "number" else name]
             for name in kinds]  # fmt: skip
    return [atom for atom in atoms if atom is not None] + ([ATOMS["none"]] if param.optional_none else [])


def _prefix(spec: ToolSpec) -> str:
    return OUTPUT_PREFIX.get(spec.output, "ANSWER")


def _call(spec: ToolSpec, gbnf: bool, variables: dict[str, _Atom | None]) -> str | None:
    """The call's text pattern: required arguments in order, optional ones in order and skippable;
    None when a required argument has nothing it could be (no variable of its kind exists yet)."""
    parts = [_gbnf_literal(f"{spec.name}(") if gbnf else re.escape(f"{spec.name}(")]
    first = True
    for param in spec.params:
        separator = "" if first else ", "
        atoms = _value_atoms(spec, param, variables)
        if not atoms:
            if param.required:
                return None
            continue
        if gbnf:
            value = "(" + " | ".join(atom.gbnf for atom in atoms) + ")"
            piece = f"{_gbnf_literal(f'{separator}{param.name}=')} {value}"
        else:
            value = "(" + "|".join(atom.regex for atom in atoms) + ")"
            piece = re.escape(f"{separator}{param.name}=") + value
        if param.required:
            parts.append(piece)
            first = False
        else:
            parts.append(f"({piece})?")
    parts.append('")"' if gbnf else r"\)")
    return (" " if gbnf else "").join(parts)


def _steps(registry: ToolRegistry) -> list[ToolSpec]:
    return [item.spec for item in registry if item.name != RESULT_TOOL]


_FUNCTIONS = " | ".join(f'"{name}"' for name in sorted(FUNCTIONS))
_EXPRESSION_GBNF = [
    # EVAL's own expression language (programs/expression.py), inside double quotes. Generated
    # expressions read only ANSWER variables (numbers, yes/no, words): boxes and images cannot be
    # computed with, and long texts (OCR, transcripts) are for the semantic refiner to read.
    'expression ::= "\\"" expr "\\""',
    'expr ::= disjunction (" if " disjunction " else " expr)?',
    'disjunction ::= conjunction (" or " conjunction)*',
    'conjunction ::= negation (" and " negation)*',
    'negation ::= "not " negation | comparison',
    'comparison ::= sum (" " ("==" | "!=" | "<=" | ">=" | "<" | ">" | "in" | "not in") " " sum)?',
    'sum ::= product (" " ("+" | "-") " " product)*',
    'product ::= atom (" " ("*" | "//" | "/" | "%") " " atom)*',
    'atom ::= number | text | value-variable | "True" | "False" | function "(" expr (", " expr)* ")" | "(" expr ")"',
    'text ::= "\'" [^\'"\\n\\\\]{0,60} "\'"',
    f"value-variable ::= {ATOMS['answer'].gbnf}",
    f"function ::= {_FUNCTIONS}",
]


def _step_calls(
    registry: ToolRegistry, gbnf: bool, variables: dict[str, _Atom | None], inputs: Collection[str]
) -> dict[str, str]:
    """Tool name -> the pattern of one step calling it (``BOX3=LOC(...)``), for the tools it can call."""
    calls = {}
    for spec in _steps(registry):
        call = _call(spec, gbnf, variables)
        if call is None:
            continue
        digits = _image_digits(inputs) if _prefix(spec) == "IMAGE" else "[0-9]"
        prefix = _gbnf_literal(_prefix(spec)) + f' {digits} "="' if gbnf else f"{_prefix(spec)}{digits}="
        calls[spec.name] = f"{prefix} {call}" if gbnf else prefix + call
    return calls


def _result_atoms(gbnf: bool) -> str:
    atoms = [ATOMS[name] for name in _KIND_ATOMS[ValueKind.ANY]]
    return " | ".join(atom.gbnf for atom in atoms) if gbnf else "|".join(atom.regex for atom in atoms)


def program_gbnf(registry: ToolRegistry, max_steps: int = 12, inputs: Collection[str] = DEFAULT_INPUTS) -> str:
    """A GBNF grammar for programs of 1 to ``max_steps`` tool lines plus the final RESULT line, reading ``inputs``
    (the first line only them)."""
    lines = [
        f'root ::= first-step step{{0,{max_steps - 1}}} "FINAL=RESULT(var=" ({_result_atoms(gbnf=True)}) ")"',
    ]
    for rule, first_step in (("first-step", True), ("step", False)):
        calls = _step_calls(registry, True, _variable_atoms(inputs, first_step), inputs)
        names = {tool: f"{rule}-{tool.lower().replace('_', '-')}" for tool in calls}
        lines.append(f"{rule} ::= (" + " | ".join(names.values()) + ') "\\n"')
        lines += [f"{names[tool]} ::= {call}" for tool, call in calls.items()]
    lines.append(f"string ::= {ATOMS['string'].gbnf}")
    lines.append(f"number ::= {ATOMS['number'].gbnf}")
    lines += _EXPRESSION_GBNF
    return "\n".join(lines) + "\n"


def program_regex(registry: ToolRegistry, max_steps: int = 12, inputs: Collection[str] = DEFAULT_INPUTS) -> str:
    """A regular expression matching the same programs as :func:`program_gbnf` (expressions loosely)."""
    first = "|".join(_step_calls(registry, False, _variable_atoms(inputs, first_step=True), inputs).values())
    steps = "|".join(_step_calls(registry, False, _variable_atoms(inputs, first_step=False), inputs).values())
    result = _result_atoms(gbnf=False)
    return rf"({first})\n(({steps})\n){{0,{max_steps - 1}}}FINAL=RESULT\(var=({result})\)"


def program_json_schema(
    registry: ToolRegistry, max_steps: int = 12, inputs: Collection[str] = DEFAULT_INPUTS
) -> dict[str, Any]:
    """A JSON schema ``{"program": "<text>"}`` whose string follows :func:`program_regex`."""
    pattern = "^" + program_regex(registry, max_steps, inputs) + "$"
    return {
        "type": "object",
        "properties": {"program": {"type": "string", "pattern": pattern}},
        "required": ["program"],
        "additionalProperties": False,
    }
