"""Decoding grammars rendered from the registry accept the programs the language accepts."""

from __future__ import annotations

import re

import pytest
from visorch.examples import load_examples
from visorch.programs.grammar import program_gbnf, program_json_schema, program_regex
from visorch.programs.library import library_programs
from visorch.programs.parser import parse_program
from visorch.programs.registry import program_registry
from visorch.programs.validator import validate_program
from visorch.tools.catalog import builtin_tools, model_tools

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


def test_grammar_names_variables_by_kind_so_kinds_fit() -> None:
    pattern = re.compile(program_regex(REGISTRY))
    ok = (
        "TEXT0=OCR(image=IMAGE)\nBOX0=LOC(image=IMAGE, object=TEXT0)\n"
        "ANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)"
    )
    assert pattern.fullmatch(ok)
    assert not pattern.fullmatch("TEXT0=OCR(image=IMAGE)\nTEXT1=OCR(image=TEXT0)\nFINAL=RESULT(var=TEXT1)")
    assert not pattern.fullmatch("ANSWER0=OCR(image=IMAGE)\nFINAL=RESULT(var=ANSWER0)")
    assert not pattern.fullmatch("BOX0=LOC(image=IMAGE, object='bus')\nBOX1=COUNT(box=BOX0)\nFINAL=RESULT(var=BOX1)")


def _rules(grammar: str) -> tuple[set[str], set[str]]:
    """(defined rule names, referenced rule names) of a GBNF text."""
    defined, referenced = set(), set()
    for line in grammar.splitlines():
        name, _, body = line.partition("::=")
        defined.add(name.strip())
        body = re.sub(r'"(?:\\.|[^"\\])*"', " ", body)  # drop literals
        body = re.sub(r"\[(?:\\.|[^\]\\])*\]", " ", body)  # drop character classes
        referenced |= set(re.findall(r"[a-z][a-z0-9-]*", body))
    return defined, referenced


def test_gbnf_defines_every_rule_it_uses() -> None:
    grammar = program_gbnf(REGISTRY)
    defined, referenced = _rules(grammar)
    assert referenced <= defined, f"undefined rules: {referenced - defined}"
    for item in REGISTRY:
        if item.name != "RESULT":
            assert f"{item.name}(" in grammar


@pytest.mark.slow
def test_gbnf_compiles_in_llama_cpp() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    from visorch.llm.llama_cpp_backend import default_gguf_path

    path = default_gguf_path()
    if not path.is_file():
        pytest.skip("the planner GGUF is not installed: run visorch models install-offline")
    from llama_cpp import Llama
    from visorch.llm.llama_cpp_backend import _compile_grammar

    vocab = Llama(str(path), vocab_only=True, verbose=False)
    for inputs in (("IMAGE", "IMAGE2", "AUDIO"), ("IMAGE",)):
        grammar = program_gbnf(REGISTRY, inputs=inputs)
        assert _compile_grammar(llama_cpp.llama_model_get_vocab(vocab.model), grammar) is not None


def test_json_schema_pattern_is_the_program_regex() -> None:
    schema = program_json_schema(REGISTRY)
    pattern = schema["properties"]["program"]["pattern"]
    assert re.compile(pattern).fullmatch("BOX0=LOC(image=IMAGE, object='bus')\nFINAL=RESULT(var=BOX0)")


def test_the_first_step_reads_only_the_inputs_given() -> None:
    """A first line that names a variable no step assigned yet, or an input not given, is not a program."""
    pattern = re.compile(program_regex(REGISTRY, inputs=["IMAGE"]))
    assert pattern.fullmatch("TEXT0=OCR(image=IMAGE)\nFINAL=RESULT(var=TEXT0)")
    assert not pattern.fullmatch("TEXT0=OCR(image=IMAGE2)\nFINAL=RESULT(var=TEXT0)")  # one image was given
    assert not pattern.fullmatch("ANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)")  # BOX0 does not exist yet
    assert not pattern.fullmatch("TEXT0=TRANSCRIBE(audio=AUDIO)\nFINAL=RESULT(var=TEXT0)")  # no audio was given
    crop = "BOX0=LOC(image=IMAGE, object='bus')\nIMAGE0=CROP(image=IMAGE, box=BOX0)\nTEXT0=OCR(image=IMAGE0)"
    assert pattern.fullmatch(crop + "\nFINAL=RESULT(var=TEXT0)")  # later steps read what earlier ones assigned
    with_audio = re.compile(program_regex(REGISTRY, inputs=["IMAGE", "AUDIO"]))
    assert with_audio.fullmatch("TEXT0=TRANSCRIBE(audio=AUDIO)\nFINAL=RESULT(var=TEXT0)")
    # nor later: a step's image is never named IMAGE2 unless that second image was given
    later = "BOX0=LOC(image=IMAGE, object='card')\nTEXT0=OCR(image=IMAGE2)\nFINAL=RESULT(var=TEXT0)"
    assert not pattern.fullmatch(later)
    assert pattern.fullmatch(crop.replace("IMAGE0", "IMAGE3") + "\nFINAL=RESULT(var=TEXT0)")
    two_images = re.compile(program_regex(REGISTRY, inputs=["IMAGE", "IMAGE2"]))
    assert two_images.fullmatch(later)
    assert two_images.fullmatch("BOX0=LOC(image=IMAGE2, object='person')\nFINAL=RESULT(var=BOX0)")


def test_gbnf_for_given_inputs_defines_every_rule_and_leaves_out_what_cannot_run_first() -> None:
    grammar = program_gbnf(REGISTRY, inputs=["IMAGE"])
    defined, referenced = _rules(grammar)
    assert referenced <= defined, f"undefined rules: {referenced - defined}"
    first = {line.split("::=")[0].strip() for line in grammar.splitlines() if line.startswith("first-step-")}
    assert "first-step-loc" in first and "first-step-ocr" in first
    assert "first-step-count" not in first and "first-step-crop" not in first  # they need a BOX
    assert "TRANSCRIBE(" not in grammar  # no audio was given: no line may transcribe
    assert '"IMAGE2"' not in grammar
