"""The fast agent loop's levers: rule verdicts with rule answers, the plan cache, honest timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visorch.agent import Agent, AgentConfig
from visorch.config import VisorchSettings
from visorch.llm import ScriptedLLM
from visorch.plan_cache import PlanCache, fill_template, make_template
from visorch.roles.rules import rule_answer
from visorch.runtime import Runtime
from visorch.tools.catalog import builtin_tools
from visorch.tools.models.manager import default_weights_root
from visorch.tools.registry import ToolRegistry

from tests.helpers import TEST_TOOLS

COUNT_PERSON = "BOX0=LOC(image=IMAGE, object='person')\nANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)"
EXISTS_CAT = (
    "BOX0=LOC(image=IMAGE, object='cat')\nANSWER0=COUNT(box=BOX0)\n"
    "ANSWER1=EVAL(expr=\"'yes' if ANSWER0 > 0 else 'no'\")\nFINAL=RESULT(var=ANSWER1)"
)
TEST_COUNT = "BOX0=TEST_BOXES(image=IMAGE, label='person', count=3)\nANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)"
ANSWER = json.dumps({"verdict": "ANSWER", "reason": "fine", "missing": ""})


# --- plan templates ---------------------------------------------------------------------------


def test_a_template_fills_plural_and_multi_word_slots() -> None:
    template = make_template("How many people are in the image?", COUNT_PERSON, ["IMAGE"])
    assert template.pattern == ["how", "many", "{0}", "are", "in", "the", "image"]
    assert template.slot_forms == ["singular"]
    filled = fill_template(template, "How many wine glasses are in the image?", ["IMAGE"])
    assert filled == COUNT_PERSON.replace("'person'", "'wine glass'")
    assert fill_template(template, "How many buses are in the image?", ["IMAGE"]) == COUNT_PERSON.replace(
        "person", "bus"
    )
    assert fill_template(template, "How many people are on the bus?", ["IMAGE"]) is None  # another shape
    assert fill_template(template, "How many people are in the image?", ["IMAGE", "AUDIO"]) is None  # other inputs


def test_a_template_keeps_expression_strings_and_reads_an_as_a() -> None:
    template = make_template("Is there a cat in the image?", EXISTS_CAT, ["IMAGE"])
    filled = fill_template(template, "Is there an apple in the image?", ["IMAGE"])
    assert filled == EXISTS_CAT.replace("'cat'", "'apple'")  # the EVAL's 'yes'/'no' are untouched


def test_slots_fill_by_name_when_the_program_names_them_in_another_order() -> None:
    # The program locates the bus before the person, the question names the person first.
    program = (
        "BOX0=LOC(image=IMAGE, object='bus')\nIMAGE0=CROP(image=IMAGE, box=BOX0)\n"
        "BOX1=LOC(image=IMAGE0, object='person')\nANSWER0=COUNT(box=BOX1)\nFINAL=RESULT(var=ANSWER0)"
    )
    template = make_template("How many people are in the bus?", program, ["IMAGE"])
    filled = fill_template(template, "How many dogs are in the car?", ["IMAGE"])
    assert filled == program.replace("'bus'", "'car'").replace("'person'", "'dog'")


def test_a_question_without_slots_matches_only_itself() -> None:
    program = "TEXT0=OCR(image=IMAGE)\nFINAL=RESULT(var=TEXT0)"
    template = make_template("What is the total amount on the receipt?", program, ["IMAGE"])
    assert template.slot_forms == []
    assert fill_template(template, "what is the total amount on the receipt", ["IMAGE"]) == program
    assert fill_template(template, "What is the date on the receipt?", ["IMAGE"]) is None


def test_the_cache_persists_and_is_dropped_when_the_tools_change(tmp_path: Path) -> None:
    path = tmp_path / "plan-cache.json"
    tools = ToolRegistry.of(builtin_tools())
    PlanCache(path, tools).store("How many people are in the image?", COUNT_PERSON, ["IMAGE"])
    reopened = PlanCache(path, tools)
    assert len(reopened) == 1
    assert reopened.lookup("How many dogs are in the image?", ["IMAGE"]) == COUNT_PERSON.replace("person", "dog")
    changed = PlanCache(path, ToolRegistry.of([*builtin_tools(), *TEST_TOOLS]))
    assert len(changed) == 0 and not path.exists()


# --- rule answers on real detections ----------------------------------------------------------


@pytest.fixture(scope="module")
def detector_runtime(tmp_path_factory: pytest.TempPathFactory):
    if not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")
    settings = VisorchSettings(home=tmp_path_factory.mktemp("home"), weights_dir=default_weights_root())
    runtime = Runtime.create(settings)
    yield runtime
    runtime.close()


def _run(runtime: Runtime, program: str, image: Path):
    return runtime.run_program(program, runtime.load_inputs({"IMAGE": image}))


def test_a_count_is_ruled_only_when_every_box_is_confident(detector_runtime: Runtime, bus_path: Path) -> None:
    trace = _run(detector_runtime, COUNT_PERSON, bus_path)
    scores = trace.step("BOX0").output.scores
    weakest = min(scores)
    ruled = rule_answer("How many people are in the image?", trace, min_score=weakest)
    assert ruled is not None and ruled.answer == str(trace.result) == str(len(scores))
    assert ruled.verdict.verdict == "ANSWER" and ruled.verdict.by_rule
    # a bar above the weakest box sends the same evidence to the LLM
    assert rule_answer("How many people are in the image?", trace, min_score=weakest + 0.01) is None
    # the same count behind an open question is for the LLM too
    assert rule_answer("Describe the people in the image.", trace, min_score=weakest) is None


def test_zero_detections_and_no_go_to_the_llm(detector_runtime: Runtime, bus_path: Path) -> None:
    count = _run(detector_runtime, COUNT_PERSON.replace("person", "giraffe"), bus_path)
    assert count.ok and count.result == 0
    assert rule_answer("How many giraffes are in the image?", count) is None
    absent = _run(detector_runtime, EXISTS_CAT.replace("cat", "giraffe"), bus_path)
    assert absent.result == "no" and rule_answer("Is there a giraffe in the image?", absent) is None
    present = _run(detector_runtime, EXISTS_CAT.replace("cat", "bus"), bus_path)
    ruled = rule_answer("Is there a bus in the image?", present)
    assert ruled is not None and ruled.answer == "yes"


def test_a_failed_step_goes_to_the_llm(detector_runtime: Runtime, bus_path: Path) -> None:
    failed = _run(detector_runtime, COUNT_PERSON.replace("person", "unicorn"), bus_path)
    assert not failed.ok and rule_answer("How many unicorns are in the image?", failed) is None


# --- the agent loop with the levers on (scripted LLM: a test double) --------------------------


@pytest.fixture()
def scripted_agent(tmp_path: Path):
    agents: list[Agent] = []

    def make(replies: list[str], **config) -> tuple[Agent, ScriptedLLM]:
        runtime = Runtime.create(
            VisorchSettings(home=tmp_path / "home"), tools=[*builtin_tools(), *TEST_TOOLS], backends=[]
        )
        llm = ScriptedLLM(replies)
        agent = Agent(AgentConfig(**config), runtime=runtime, llm=llm)
        agents.append(agent)
        return agent, llm

    yield make
    for agent in agents:
        agent.close()


def test_rule_answer_then_plan_cache_hit_need_one_llm_call_in_all(scripted_agent, bus_path: Path) -> None:
    agent, llm = scripted_agent([TEST_COUNT])
    first = agent.ask(image=bus_path, question="How many people are in the image?")
    assert first.text == "3" and first.stop_reason == "answered" and first.timings.llm_calls == 1
    assert first.verdicts[-1].by_rule and first.verdicts[-1].verdict == "ANSWER"
    assert len(first.boxes) == 3
    second = agent.ask(image=bus_path, question="How many dogs are in the image?")
    assert second.timings.llm_calls == 0 and second.timings.plan_cache_hits == 1
    assert second.programs[0].source == TEST_COUNT.replace("'person'", "'dog'") and second.text == "3"
    assert llm.remaining == 0


def test_levers_off_call_every_role(scripted_agent, bus_path: Path) -> None:
    agent, llm = scripted_agent([TEST_COUNT, ANSWER, "3", TEST_COUNT, ANSWER, "3"], rule_answers=False,
                                plan_cache=False, form_answers=False)  # fmt: skip
    for _ in range(2):
        answer = agent.ask(image=bus_path, question="How many people are in the image?")
        assert answer.timings.llm_calls == 3 and not answer.verdicts[-1].by_rule
    assert llm.remaining == 0


def test_timings_add_up_without_a_clamp(scripted_agent, bus_path: Path) -> None:
    agent, _ = scripted_agent([TEST_COUNT, ANSWER, "3"], rule_answers=False, plan_cache=False)
    timings = agent.ask(image=bus_path, question="How many people are in the image?").timings
    parts = timings.selection_s + timings.llm_s + timings.model_s + timings.orchestration_s
    assert parts == pytest.approx(timings.total_s)
    assert timings.prompt_s >= 0 and timings.executor_s >= 0 and timings.selection_s > 0
    assert timings.prompt_s + timings.executor_s <= timings.orchestration_s + 1e-6


def test_word_selection_needs_no_model_and_finds_the_counting_example() -> None:
    from visorch.examples import ExampleSelector, load_examples

    selector = ExampleSelector(load_examples(), None, "words")
    chosen = selector.select("How many people are in the image?", 3)
    assert selector.method == "words" and len(chosen) == 3
    assert "COUNT(" in chosen[-1].program and "LOC(" in chosen[-1].program  # most similar last
    assert "OCR(" in selector.select("What is the total amount on the receipt?", 1)[0].program


# --- text the program read or heard: the refiner answers from it ----------------------------------

HEAR = "TEXT0=TRANSCRIBE(audio=AUDIO)\nFINAL=RESULT(var=TEXT0)"
HEAR_THEN_LOOK = (
    "TEXT0=TRANSCRIBE(audio=AUDIO)\nBOX0=LOC(image=IMAGE, object=TEXT0)\nANSWER0=COUNT(box=BOX0)\n"
    "FINAL=RESULT(var=ANSWER0)"
)


def _card_speech(shared_data: Path) -> Path:
    path = shared_data / "speech" / "cards" / "001.wav"  # "ten of clubs"
    if not path.is_file():
        pytest.skip(f"{path} is missing (../shared/data)")
    return path


def test_speech_heard_is_answered_by_rule_and_written_by_the_refiner(
    detector_runtime: Runtime, bus_path: Path, shared_data: Path
) -> None:
    inputs = detector_runtime.load_inputs({"IMAGE": bus_path}, audio={"AUDIO": _card_speech(shared_data)})
    trace = detector_runtime.run_program(HEAR, inputs)
    assert trace.ok and "clubs" in trace.result.text.lower()
    ruled = rule_answer("What card does the speaker name?", trace)
    assert ruled is not None and ruled.verdict.by_rule and ruled.verdict.verdict == "ANSWER"
    assert ruled.answer == ""  # the refiner writes it from the transcript


def test_a_program_that_failed_after_hearing_is_answered_from_what_it_heard(
    tmp_path: Path, bus_path: Path, shared_data: Path
) -> None:
    """The detector cannot look for '10 of clubs.', so the program has no result: the refiner is shown the
    transcript it did hear, not the failed and skipped steps (which a small model copied as 'not run')."""
    audio = _card_speech(shared_data)
    if not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")
    runtime = Runtime.create(VisorchSettings(home=tmp_path / "home", weights_dir=default_weights_root()))
    llm = ScriptedLLM([HEAR_THEN_LOOK, "1"])  # a test double: the planner's program, then the refiner's answer
    with Agent(AgentConfig(max_rounds=1, plan_cache=False), runtime=runtime, llm=llm) as agent:
        answer = agent.ask(image=bus_path, audio=audio, question="How many playing cards does the speaker name?")
    assert answer.text == "1" and answer.trace is not None and not answer.trace.ok
    shown = llm.requests[-1].messages[-1].content
    assert "clubs" in shown.lower() and "not run" not in shown and "FAILED" not in shown
