"""Decoding grammars for programs, rendered from the tool registry.

The same tool specs that the validator checks against produce a GBNF grammar (llama.cpp) and a
regular expression / JSON schema (OpenAI-compatible servers that offer constrained decoding), so
an LLM can only write calls to registered tools, with their real argument names, in order.

Generated programs also follow VisProg's naming convention, which lets the grammar enforce kinds
between steps: a step's variable is named after what its tool returns (IMAGE0 for images, BOX0
for detections, TEXT0 for text read or heard, ANSWER0 for everything else), and each argument
accepts only variables of a fitting kind. Checks a grammar cannot express (use before
definition) stay with the validator, which accepts any names.
"""

from __future__ import annotations

import re
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


def _value_atoms(spec: ToolSpec, param: ParamSpec) -> list[_Atom]:
    if spec.expression_param == param.name:
        return [ATOMS["expression"]]
    if param.choices:
        return [_Atom(_gbnf_literal(f"'{choice}'"), re.escape(f"'{choice}'")) for choice in param.choices]
    atoms = [ATOMS[_number_atom(param) if name == "number" else name] for name in _KIND_ATOMS[param.kind]]
    return atoms + ([ATOMS["none"]] if param.optional_none else [])


def _prefix(spec: ToolSpec) -> str:
    return OUTPUT_PREFIX.get(spec.output, "ANSWER")


def _call(spec: ToolSpec, gbnf: bool) -> str:
    """The call's text pattern: required arguments in order, optional ones in order and skippable."""
    parts = [_gbnf_literal(f"{spec.name}(") if gbnf else re.escape(f"{spec.name}(")]
    first = True
    for param in spec.params:
        separator = "" if first else ", "
        atoms = _value_atoms(spec, param)
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


def program_gbnf(registry: ToolRegistry, max_steps: int = 12) -> str:
    """A GBNF grammar for programs of 1 to ``max_steps`` tool lines plus the final RESULT line."""
    steps = _steps(registry)
    result_atoms = " | ".join(ATOMS[name].gbnf for name in _KIND_ATOMS[ValueKind.ANY])
    lines = [
        f'root ::= step{{1,{max_steps}}} "FINAL=RESULT(var=" ({result_atoms}) ")"',
        "step ::= (" + " | ".join(f"step-{spec.name.lower().replace('_', '-')}" for spec in steps) + ') "\\n"',
    ]
    for spec in steps:
        name = spec.name.lower().replace("_", "-")
        prefix = _gbnf_literal(_prefix(spec))
        lines.append(f'step-{name} ::= {prefix} [0-9] "=" {_call(spec, gbnf=True)}')
    lines.append(f"string ::= {ATOMS['string'].gbnf}")
    lines.append(f"number ::= {ATOMS['number'].gbnf}")
    lines += _EXPRESSION_GBNF
    return "\n".join(lines) + "\n"


def program_regex(registry: ToolRegistry, max_steps: int = 12) -> str:
    """A regular expression matching the same programs as :func:`program_gbnf` (expressions loosely)."""
    steps = "|".join(f"{_prefix(spec)}[0-9]={_call(spec, gbnf=False)}" for spec in _steps(registry))
    result = "|".join(ATOMS[name].regex for name in _KIND_ATOMS[ValueKind.ANY])
    return rf"(({steps})\n){{1,{max_steps}}}FINAL=RESULT\(var=({result})\)"


def program_json_schema(registry: ToolRegistry, max_steps: int = 12) -> dict[str, Any]:
    """A JSON schema ``{"program": "<text>"}`` whose string follows :func:`program_regex`."""
    return {
        "type": "object",
        "properties": {"program": {"type": "string", "pattern": "^" + program_regex(registry, max_steps) + "$"}},
        "required": ["program"],
        "additionalProperties": False,
    }
