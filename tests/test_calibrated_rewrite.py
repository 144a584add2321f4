"""LOC + COUNT counting and "is there" programs run on the fused, calibrated HOW_MANY / EXISTS when offered."""

from __future__ import annotations

from pathlib import Path

import pytest
from visorch.agent import Agent, AgentConfig
from visorch.config import VisorchSettings
from visorch.llm import ScriptedLLM
from visorch.programs.parser import parse_program
from visorch.programs.registry import program_registry
from visorch.programs.validator import validate_program
from visorch.roles.calibrated_rewrite import calibrated_rewrite
from visorch.tools.catalog import builtin_tools, model_tools
from visorch.tools.models.manager import default_weights_root

REGISTRY = program_registry([*builtin_tools(), *model_tools()])
WITHOUT_FUSION = REGISTRY.without("HOW_MANY", "EXISTS")
LOC_COUNT = "BOX0=LOC(image=IMAGE, object='person')\nANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)"


def _valid(source: str) -> str:
    validate_program(parse_program(source), REGISTRY)
    return source


def test_a_count_by_loc_and_count_runs_on_how_many() -> None:
    rewrite = calibrated_rewrite(LOC_COUNT, "How many people are in the image?", REGISTRY)
    assert rewrite is not None
    assert _valid(rewrite.source) == "ANSWER0=HOW_MANY(image=IMAGE, object='person')\nFINAL=RESULT(var=ANSWER0)"
    assert "LOC" in rewrite.note and "HOW_MANY" in rewrite.note


def test_is_there_by_count_or_by_a_yes_eval_runs_on_exists() -> None:
    rewrite = calibrated_rewrite(LOC_COUNT.replace("person", "cell phone"), "Is there a cell phone?", REGISTRY)
    assert rewrite is not None and rewrite.source.startswith("ANSWER0=EXISTS(image=IMAGE, object='cell phone')")
    with_eval = (
        "TEXT0=OCR(image=IMAGE)\nBOX0=LOC(image=IMAGE, object='cat')\nANSWER0=COUNT(box=BOX0)\n"
        "ANSWER1=EVAL(expr=\"'yes' if ANSWER0 > 0 else 'no'\")\nFINAL=RESULT(var=ANSWER1)"
    )
    rewrite = calibrated_rewrite(with_eval, "Are there any cats?", REGISTRY)
    assert rewrite is not None
    assert _valid(rewrite.source) == (
        "TEXT0=OCR(image=IMAGE)\nANSWER1=EXISTS(image=IMAGE, object='cat')\nFINAL=RESULT(var=ANSWER1)"
    )


def test_programs_that_need_the_boxes_or_other_settings_run_as_planned() -> None:
    unchanged = [
        # a score threshold of its own
        LOC_COUNT.replace("object='person')", "object='person', min_score=0.6)"),
        # the boxes are used again
        "BOX0=LOC(image=IMAGE, object='person')\nANSWER0=COUNT(box=BOX0)\nIMAGE0=CROP(image=IMAGE, box=BOX0)\n"
        "FINAL=RESULT(var=ANSWER0)",
        # arithmetic on the counts (HOW_MANY answers in words, not a number)
        "BOX0=LOC(image=IMAGE, object='dog')\nBOX1=LOC(image=IMAGE, object='cat')\nANSWER0=COUNT(box=BOX0)\n"
        'ANSWER1=COUNT(box=BOX1)\nANSWER2=EVAL(expr="ANSWER0 + ANSWER1")\nFINAL=RESULT(var=ANSWER2)',
        # filtered boxes
        "BOX0=LOC(image=IMAGE, object='person')\nBOX1=FILTER(box=BOX0, min_score=0.5)\nANSWER0=COUNT(box=BOX1)\n"
        "FINAL=RESULT(var=ANSWER0)",
    ]
    for source in unchanged:
        assert calibrated_rewrite(_valid(source), "How many people are there?", REGISTRY) is None, source
    assert calibrated_rewrite(LOC_COUNT, "What is the man holding?", REGISTRY) is None  # not a count
    assert calibrated_rewrite(LOC_COUNT, "How many people are in the image?", WITHOUT_FUSION) is None
    assert calibrated_rewrite("not a program", "How many people?", REGISTRY) is None


def test_a_cached_loc_count_template_runs_on_how_many(tmp_path: Path, bus_path: Path) -> None:
    """A template stored before the rewrite (or with it off) is rewritten on a plan-cache hit too."""
    if not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")
    settings = VisorchSettings(home=tmp_path / "home", weights_dir=default_weights_root())
    with Agent(AgentConfig.from_settings(settings), settings=settings, llm=ScriptedLLM([])) as agent:
        assert agent.services.plan_cache is not None
        agent.services.plan_cache.store("How many people are in the image?", LOC_COUNT, ["IMAGE"])
        answer = agent.ask(image=bus_path, question="How many people are in the image?")
    assert answer.programs[0].source.startswith("ANSWER0=HOW_MANY(image=IMAGE, object='person')")
    assert answer.timings.plan_cache_hits == 1 and answer.timings.llm_calls == 0  # a calibrated count, by rule
    assert answer.trace is not None and {step.tool for step in answer.trace.steps} == {"HOW_MANY", "RESULT"}
