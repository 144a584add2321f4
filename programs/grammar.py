"""Decoding grammars for programs, rendered from the tool registry.

The same tool specs that the validator checks against produce a GBNF grammar (llama.cpp) and a
regular expression / JSON schema (OpenAI-compatible servers that offer constrained decoding), so
an LLM can only write calls to registered tools with their real argument names and value kinds.
Checks a grammar cannot express (use before definition, output/input kinds between steps) stay
with the validator.
"""

from __future__ import annotations

import re
from typing import Any

from programs.builtins import RESULT_TOOL
from programs.expression import FUNCTIONS
from tools.registry import ParamSpec, ToolRegistry, ToolSpec
from tools.types import ValueKind

_REFERENCE_KINDS = {ValueKind.IMAGE, ValueKind.DETECTIONS, ValueKind.AUDIO, ValueKind.TRANSCRIPT, ValueKind.OCR_TEXT}


def _rule_name(tool: str) -> str:
    return "call-" + tool.lower().replace("_", "-")


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _gbnf_value(spec: ToolSpec, param: ParamSpec) -> str:
    if spec.expression_param == param.name:
        return "expression"
    if param.choices:
        return "(" + " | ".join(_gbnf_literal(f"'{choice}'") for choice in param.choices) + ")"
    kind = param.kind
    if kind in _REFERENCE_KINDS:
        return "variable"
    alternatives = {
        ValueKind.TEXT: "string | variable",
        ValueKind.NUMBER: "number | variable",
        ValueKind.BOOL: "boolean | variable",
        ValueKind.TEXT_LIST: "string-list | variable",
        ValueKind.ANY: "variable | string | number",
    }[kind]
    if param.optional_none:
        alternatives += ' | "None"'
    return f"({alternatives})"


def _gbnf_call(spec: ToolSpec) -> str:
    parts = [_gbnf_literal(f"{spec.name}(")]
    first = True
    for param in spec.params:
        separator = "" if first else ", "
        piece = f"{_gbnf_literal(f'{separator}{param.name}=')} {_gbnf_value(spec, param)}"
        if param.required:
            parts.append(piece)
            first = False
        else:
            parts.append(f"({piece})?")
    parts.append('")"')
    return " ".join(parts)


def program_gbnf(registry: ToolRegistry, max_steps: int = 12) -> str:
    """A GBNF grammar accepting programs of up to ``max_steps`` tool lines plus the final RESULT line."""
    tools = [item.spec for item in registry if item.name != RESULT_TOOL]
    calls = " | ".join(_rule_name(spec.name) for spec in tools)
    lines = [
        f'root ::= step{{1,{max_steps}}} "FINAL=RESULT(var=" variable ")"',
        'step ::= variable "=" call "\\n"',
        f"call ::= {calls}",
    ]
    lines += [f"{_rule_name(spec.name)} ::= {_gbnf_call(spec)}" for spec in tools]
    lines += [
        "variable ::= [A-Z] [A-Z0-9_]{0,15}",
        'string ::= "\'" [^\'\\n\\\\]{0,120} "\'"',
        'string-list ::= "[" string (", " string){0,15} "]"',
        'number ::= "-"? [0-9]{1,9} ("." [0-9]{1,6})?',
        'boolean ::= "True" | "False"',
    ]
    lines += _EXPRESSION_GBNF
    return "\n".join(lines) + "\n"


_FUNCTIONS = " | ".join(f'"{name}"' for name in sorted(FUNCTIONS))
_EXPRESSION_GBNF = [
    # EVAL's own expression language (programs/expression.py), inside double quotes.
    'expression ::= "\\"" expr "\\""',
    'expr ::= disjunction (" if " disjunction " else " expr)?',
    'disjunction ::= conjunction (" or " conjunction)*',
    'conjunction ::= negation (" and " negation)*',
    'negation ::= "not " negation | comparison',
    'comparison ::= sum (" " ("==" | "!=" | "<=" | ">=" | "<" | ">" | "in" | "not in") " " sum)?',
    'sum ::= product (" " ("+" | "-") " " product)*',
    'product ::= atom (" " ("*" | "//" | "/" | "%") " " atom)*',
    'atom ::= number | text | variable | "True" | "False" | function "(" expr (", " expr)* ")" | "(" expr ")"',
    'text ::= "\'" [^\'"\\n\\\\]{0,60} "\'"',
    f"function ::= {_FUNCTIONS}",
]

_VARIABLE = r"[A-Z][A-Z0-9_]{0,15}"
_STRING = r"'[^'\n\\]{0,120}'"
_NUMBER = r"-?[0-9]{1,9}(\.[0-9]{1,6})?"


def _regex_value(spec: ToolSpec, param: ParamSpec) -> str:
    if spec.expression_param == param.name:
        return r'"[^"\n\\]{1,200}"'
    if param.choices:
        return "(" + "|".join(re.escape(f"'{choice}'") for choice in param.choices) + ")"
    kind = param.kind
    if kind in _REFERENCE_KINDS:
        return _VARIABLE
    options = {
        ValueKind.TEXT: [_STRING, _VARIABLE],
        ValueKind.NUMBER: [_NUMBER, _VARIABLE],
        ValueKind.BOOL: ["True", "False", _VARIABLE],
        ValueKind.TEXT_LIST: [rf"\[{_STRING}(, {_STRING}){{0,15}}\]", _VARIABLE],
        ValueKind.ANY: [_VARIABLE, _STRING, _NUMBER],
    }[kind]
    if param.optional_none:
        options.append("None")
    return "(" + "|".join(options) + ")"


def _regex_call(spec: ToolSpec) -> str:
    pattern = re.escape(f"{spec.name}(")
    first = True
    for param in spec.params:
        separator = "" if first else ", "
        piece = re.escape(f"{separator}{param.name}=") + _regex_value(spec, param)
        if param.required:
            pattern += piece
            first = False
        else:
            pattern += f"({piece})?"
    return pattern + r"\)"


def program_regex(registry: ToolRegistry, max_steps: int = 12) -> str:
    """A regular expression matching the same programs as :func:`program_gbnf`."""
    calls = "|".join(_regex_call(item.spec) for item in registry if item.name != RESULT_TOOL)
    return rf"({_VARIABLE}=({calls})\n){{1,{max_steps}}}FINAL=RESULT\(var={_VARIABLE}\)"


def program_json_schema(registry: ToolRegistry, max_steps: int = 12) -> dict[str, Any]:
    """A JSON schema ``{"program": "<text>"}`` whose string follows :func:`program_regex`."""
    return {
        "type": "object",
        "properties": {"program": {"type": "string", "pattern": "^" + program_regex(registry, max_steps) + "$"}},
        "required": ["program"],
        "additionalProperties": False,
    }
