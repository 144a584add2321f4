"""Fuzzing the program language: generated and mutated programs raise only the language's own errors.

A few thousand cases here; benchmarks/fuzz_programs.py runs 10^5 and prints the figures.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, given, settings

from tests.program_fuzzing import PROGRAMS, check_program, expressions

FUZZ_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
    "phases": [Phase.generate],  # shrinking long programs takes minutes; the failure names its case
}


@settings(max_examples=600, **FUZZ_SETTINGS)
@given(PROGRAMS)
def test_parser_and_validator_raise_only_language_errors(source: str) -> None:
    outcome = check_program(source, bound_s=5.0)
    assert outcome.kind in ("valid", "typed error"), outcome.detail


@settings(max_examples=200, **FUZZ_SETTINGS)
@given(expressions())
def test_eval_expressions_raise_only_language_errors(expression: str) -> None:
    source = 'ANSWER0=EVAL(expr="' + expression.replace('"', "'").replace("\n", " ") + '")\nFINAL=RESULT(var=ANSWER0)\n'
    outcome = check_program(source, bound_s=5.0)
    assert outcome.kind in ("valid", "typed error"), outcome.detail
