"""Decoding grammars rendered from the registry accept the programs the language accepts."""

from __future__ import annotations

import re

import pytest

from orchestrator.examples import load_examples
from programs.grammar import program_gbnf, program_json_schema, program_regex
from programs.library import library_programs
from programs.parser import parse_program
from programs.registry import program_registry
from programs.validator import validate_program
from tools.catalog import builtin_tools, model_tools

REGISTRY = program_registry([*builtin_tools(), *model_tools()])


def _canonical(source: str) -> str:
    return "\n".join(line.strip() for line in source.splitlines() if line.strip() and not line.startswith("#"))


def test_every_library_program_validates_and_matches_the_grammar() -> None:
    programs = library_programs()
    assert len(programs) >= 12
    pattern = re.compile(program_regex(REGISTRY))
    for program in programs:
        validate_program(parse_program(program.source), REGISTRY)
        assert pattern.fullmatch(_canonical(program.source)), program.name


def test_every_worked_example_validates_and_matches_the_grammar() -> None:
    pattern = re.compile(program_regex(REGISTRY))
    for example in load_examples():
        validate_program(parse_program(example.program), REGISTRY)
        assert pattern.fullmatch(example.program), example.question


def test_grammar_rejects_unknown_tools_and_arguments() -> None:
    pattern = re.compile(program_regex(REGISTRY))
    assert not pattern.fullmatch("BOX0=LOCATE(image=IMAGE, object='bus')\nFINAL=RESULT(var=BOX0)")
    assert not pattern.fullmatch("BOX0=LOC(img=IMAGE, object='bus')\nFINAL=RESULT(var=BOX0)")
    assert not pattern.fullmatch("BOX0=LOC(image='photo.jpg', object='bus')\nFINAL=RESULT(var=BOX0)")
    assert not pattern.fullmatch("BOX0=SELECT(box=BOX0, by='biggest')\nFINAL=RESULT(var=BOX0)")


def test_gbnf_compiles_in_llama_cpp() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    grammar = program_gbnf(REGISTRY)
    for spec in REGISTRY:
        if spec.name != "RESULT":
            assert f"{spec.name}(" in grammar
    assert llama_cpp.LlamaGrammar.from_string(grammar, verbose=False) is not None


def test_json_schema_pattern_is_the_program_regex() -> None:
    schema = program_json_schema(REGISTRY)
    pattern = schema["properties"]["program"]["pattern"]
    assert re.compile(pattern).fullmatch("BOX0=LOC(image=IMAGE, object='bus')\nFINAL=RESULT(var=BOX0)")
