"""Docs rendered from the registry stay in step with it."""

from __future__ import annotations

import re
from pathlib import Path

from visorch.programs.registry import program_registry
from visorch.tools.cards import markdown_reference, prompt_text
from visorch.tools.catalog import builtin_tools, model_tools

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tools.md"


def test_tool_reference_matches_the_registry() -> None:
    registry = program_registry([*builtin_tools(), *model_tools()])
    expected = markdown_reference(item.spec for item in registry)
    assert DOCS.read_text(encoding="utf-8") == expected, "run: visorch tools --markdown > docs/tools.md"


def test_every_tool_has_a_summary_example_and_described_arguments() -> None:
    registry = program_registry([*builtin_tools(), *model_tools()])
    for item in registry:
        spec = item.spec
        assert spec.summary and spec.example.startswith(spec.example.split("=")[0])
        assert f"={spec.name}(" in spec.example, spec.name
        for param in spec.params:
            assert param.description, f"{spec.name}.{param.name} has no description"
    from visorch.programs.grammar import OUTPUT_PREFIX

    for item in registry:
        if item.name != "RESULT":
            prefix = OUTPUT_PREFIX.get(item.spec.output, "ANSWER")
            assert re.fullmatch(prefix + "[0-9]", item.spec.example.split("=")[0]), item.spec.example
    prompt = prompt_text(item.spec for item in registry)
    assert all(f"{item.name}(" in prompt for item in registry)
