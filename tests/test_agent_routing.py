"""Agent routing with a scripted LLM (a test double): every path through the graph, no model needed."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from visorch.agent import Agent, AgentConfig, AgentInterrupted
from visorch.config import VisorchSettings
from visorch.llm import LLMUnreachableError, OpenAICompatibleBackend, ScriptedLLM
from visorch.llm.types import LLMRequest, LLMResponse
from visorch.runtime import Runtime
from visorch.tools.catalog import builtin_tools

from tests.helpers import TEST_TOOLS

COUNT_PROGRAM = (
    "BOX0=TEST_BOXES(image=IMAGE, label='person', count=3)\nANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)"
)
ANSWER = json.dumps({"verdict": "ANSWER", "reason": "the count answers it", "missing": ""})
CONTINUE = json.dumps({"verdict": "CONTINUE", "reason": "doubtful", "missing": "try a crop"})


@pytest.fixture()
def make_agent(tmp_path: Path):
    agents: list[Agent] = []

    def make(replies: list, **config) -> tuple[Agent, ScriptedLLM]:
        settings = VisorchSettings(home=tmp_path / "home")
        runtime = Runtime.create(settings, tools=[*builtin_tools(), *TEST_TOOLS], backends=[])
        llm = ScriptedLLM(replies)
        # The LLM roles' paths: rule answers, form answers and the plan cache (tested in test_fast_loop.py and
        # test_role_models.py) are off
        levers_off = {"rule_answers": False, "form_answers": False, "plan_cache": False}
        agent = Agent(AgentConfig(**{**levers_off, **config}), runtime=runtime, llm=llm)
        agents.append(agent)
        return agent, llm

    yield make
    for agent in agents:
        agent.close()


def test_plan_execute_decide_refine(make_agent, bus_path: Path) -> None:
    agent, llm = make_agent([COUNT_PROGRAM, ANSWER, "3"])
    answer = agent.ask(image=bus_path, question="How many people are there?")
    assert answer.text == "3" and answer.stop_reason == "answered"
    assert [p.source for p in answer.programs] == [COUNT_PROGRAM]
    assert answer.verdicts[0].verdict == "ANSWER"
    assert len(answer.boxes) == 3 and {b.image for b in answer.boxes} == {"IMAGE"}
    assert answer.timings.llm_calls == 3 and llm.remaining == 0
    assert answer.trace is not None and answer.trace.ok and "BOX0" in answer.evidence
    planner_prompt = llm.requests[0].messages[0].content
    assert "TEST_BOXES(image: image" in planner_prompt and "COUNT(box: detections)" in planner_prompt
    assert "How many people are there?" in llm.requests[0].messages[1].content
    assert "<!DOCTYPE html>" in answer.to_html() and answer._repr_html_().startswith("<div class='visorch-trace'>")


def test_invalid_program_is_repaired_and_never_executed(make_agent, bus_path: Path) -> None:
    bad = "BOX0=TEST_BOXEZ(image=IMAGE)\nFINAL=RESULT(var=BOX0)"
    agent, llm = make_agent([bad, COUNT_PROGRAM, ANSWER, "3"])
    events = list(agent.stream(image=bus_path, question="How many people?"))
    kinds = [event.event for event in events]
    assert kinds.count("planned") == 2 and "invalid" in kinds
    assert kinds.index("invalid") < kinds.index("step_started")
    answer = events[-1].answer
    assert answer is not None and answer.text == "3"
    assert not answer.programs[0].valid and "did you mean TEST_BOXES" in answer.programs[0].issues[0]
    repair_prompt = llm.requests[1].messages[1].content
    assert "Your previous program was invalid" in repair_prompt and "TEST_BOXEZ" in repair_prompt


def test_no_valid_program_stops_with_a_reason(make_agent, bus_path: Path) -> None:
    bad = "X=NOPE(a=1)\nFINAL=RESULT(var=X)"
    agent, _ = make_agent([bad, bad, "I cannot tell from the tools' results."], max_plan_attempts=2)
    answer = agent.ask(image=bus_path, question="How many?")
    assert answer.stop_reason == "no valid program after 2 attempts"
    assert all(not p.valid for p in answer.programs) and answer.trace is None


def test_continue_replans_with_the_evidence(make_agent, bus_path: Path) -> None:
    second = COUNT_PROGRAM.replace("count=3", "count=2")
    agent, llm = make_agent([COUNT_PROGRAM, CONTINUE, second, ANSWER, "2"])
    answer = agent.ask(image=bus_path, question="How many people?")
    assert answer.text == "2" and len(answer.programs) == 2
    replan = llm.requests[2].messages[1].content
    assert "An earlier program" in replan and "try a crop" in replan and "3 boxes" in replan


def test_failed_program_gets_a_rule_verdict_without_an_llm_call(make_agent, bus_path: Path) -> None:
    failing = "A=TEST_FAIL(message='model crashed')\nFINAL=RESULT(var=A)"
    agent, _ = make_agent([failing, COUNT_PROGRAM, ANSWER, "3"])
    answer = agent.ask(image=bus_path, question="How many people?")
    assert answer.verdicts[0].by_rule and answer.verdicts[0].verdict == "CONTINUE"
    assert answer.text == "3" and answer.timings.llm_calls == 4


def test_round_limit(make_agent, bus_path: Path) -> None:
    second = COUNT_PROGRAM.replace("count=3", "count=2")
    agent, _ = make_agent([COUNT_PROGRAM, CONTINUE, second, CONTINUE, "2"], max_rounds=2)
    answer = agent.ask(image=bus_path, question="How many people?")
    assert answer.stop_reason == "reached the limit of 2 rounds" and answer.text == "2"


def test_a_repeated_program_is_not_run_again(make_agent, bus_path: Path) -> None:
    agent, llm = make_agent([COUNT_PROGRAM, CONTINUE, COUNT_PROGRAM, "3"], max_rounds=3)
    events = list(agent.stream(image=bus_path, question="How many people?"))
    answer = events[-1].answer
    assert answer is not None and answer.stop_reason == "the planner repeated a program it had already run"
    assert [e.event for e in events].count("step_started") == 3 and llm.remaining == 0


def test_consistency_applies_only_to_the_question_form(make_agent, bus_path: Path) -> None:
    agent, _ = make_agent([COUNT_PROGRAM, ANSWER, "yes"])
    answer = agent.ask(image=bus_path, question="Is there a person and does the speaker mention one?")
    assert answer.text == "yes" and answer.corrections == []


def test_refined_answer_contradicting_the_result_is_corrected(make_agent, bus_path: Path) -> None:
    agent, _ = make_agent([COUNT_PROGRAM, ANSWER, "There are 5 people."])
    answer = agent.ask(image=bus_path, question="How many people?")
    assert answer.text == "3" and "did not state the program's result 3" in answer.corrections[0]


def test_plan_approval_interrupts_and_resumes(make_agent, bus_path: Path) -> None:
    agent, _ = make_agent([COUNT_PROGRAM, ANSWER, "2"], approve_plans=True)
    with pytest.raises(AgentInterrupted) as caught:
        agent.ask(image=bus_path, question="How many people?", thread_id="t1")
    assert caught.value.program == COUNT_PROGRAM
    edited = COUNT_PROGRAM.replace("count=3", "count=2")
    events = list(agent.resume("t1", edited))
    answer = events[-1].answer
    assert answer is not None and answer.text == "2" and answer.programs[-1].source == edited


def test_rejected_plan_stops(make_agent, bus_path: Path) -> None:
    agent, _ = make_agent([COUNT_PROGRAM, "I cannot tell from the tools' results."], approve_plans=True)
    with pytest.raises(AgentInterrupted):
        agent.ask(image=bus_path, question="How many people?", thread_id="t2")
    answer = list(agent.resume("t2", False))[-1].answer
    assert answer is not None and answer.stop_reason == "the plan was rejected"


def test_bad_inputs_are_typed_errors(make_agent, tmp_path: Path) -> None:
    from visorch.tools.errors import ImageLoadError, InputError

    agent, _ = make_agent([])
    with pytest.raises(ImageLoadError):
        agent.ask(image=tmp_path / "missing.jpg", question="How many?")
    with pytest.raises(InputError, match="question is empty"):
        agent.ask(image=tmp_path / "missing.jpg", question=" ")


def test_dead_llm_endpoint_is_a_typed_error(tmp_path: Path, bus_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    llm = OpenAICompatibleBackend(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="none", model="m", timeout_s=5, max_retries=1
    )
    runtime = Runtime.create(
        VisorchSettings(home=tmp_path / "home"), tools=[*builtin_tools(), *TEST_TOOLS], backends=[]
    )
    with Agent(runtime=runtime, llm=llm) as agent, pytest.raises(LLMUnreachableError):
        agent.ask(image=bus_path, question="How many people?")


class QuestionKeyedLLMForTest(ScriptedLLM):
    """Test double, not a model: replies by role and by the number in the question's brackets, so
    concurrent questions can be told apart whatever order their calls arrive in."""

    def __init__(self) -> None:
        super().__init__([])

    def complete(self, request: LLMRequest) -> LLMResponse:
        with self._lock:
            self.requests.append(request)
        system, question = request.messages[0].content, request.messages[-1].content
        wanted = question.rsplit("(", 1)[1].split(")", 1)[0]
        if system.startswith("You judge"):
            text = ANSWER
        elif system.startswith("You write the final answer"):
            text = wanted
        else:
            text = COUNT_PROGRAM.replace("count=3", f"count={wanted}")
        return LLMResponse(
            text=text, prompt_tokens=1, completion_tokens=1, seconds=0.0, backend=self.name, model=self.model,
            finish_reason="stop", constraint_enforced=False,
        )  # fmt: skip


def test_concurrent_questions_on_one_agent_keep_their_own_state(tmp_path: Path, bus_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    settings = VisorchSettings(home=tmp_path / "home")
    runtime = Runtime.create(settings, tools=[*builtin_tools(), *TEST_TOOLS], backends=[])
    with (
        Agent(AgentConfig(), runtime=runtime, llm=QuestionKeyedLLMForTest()) as agent,
        ThreadPoolExecutor(max_workers=4) as pool,
    ):
        answers = list(pool.map(lambda n: agent.ask(image=bus_path, question=f"How many people? ({n})"), range(1, 9)))
    for n, answer in enumerate(answers, 1):
        assert answer.text == str(n) and answer.stop_reason == "answered" and len(answer.boxes) == n
        assert answer.programs[0].source.count(f"count={n})") == 1


def test_answer_rests_on_one_trace_when_the_last_program_fails(make_agent, bus_path: Path) -> None:
    failing = "A=TEST_FAIL(message='model crashed')\nFINAL=RESULT(var=A)"
    agent, llm = make_agent([COUNT_PROGRAM, CONTINUE, failing, "3"], max_rounds=2)
    answer = agent.ask(image=bus_path, question="How many people?")
    assert [p.ok for p in answer.programs] == [True, False]
    # text, boxes, evidence and HTML all come from the first program, the last one that produced a result
    assert answer.trace is not None and answer.trace.source == COUNT_PROGRAM
    assert answer.text == "3" and len(answer.boxes) == 3 and {b.step for b in answer.boxes} == {"BOX0"}
    assert "BOX0" in answer.evidence and "model crashed" not in answer.evidence
    refiner_prompt = llm.requests[-1].messages[-1].content
    assert "3 boxes" in refiner_prompt and "TEST_FAIL" not in refiner_prompt
    page = answer.to_html()
    assert "TEST_BOXES" in page and "model crashed" not in page


def test_only_failed_programs_show_the_last_failure(make_agent, bus_path: Path) -> None:
    failing = "A=TEST_FAIL(message='model crashed')\nFINAL=RESULT(var=A)"
    agent, _ = make_agent([failing, "I cannot tell from the tools' results."], max_rounds=1)
    answer = agent.ask(image=bus_path, question="How many people?")
    assert answer.trace is not None and not answer.trace.ok and answer.boxes == []
    assert "model crashed" in answer.evidence and "model crashed" in answer.to_html()


def test_each_program_is_validated_once_and_eval_is_not_parsed_again(
    make_agent, bus_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from visorch.programs import builtins, validator

    validations: list[str] = []
    real_validate = validator._Validator.validate

    def counting_validate(self: validator._Validator) -> validator.ValidatedProgram:
        validations.append(self.program.source)
        return real_validate(self)

    def no_second_parse(source: str) -> None:
        raise AssertionError(f"EVAL parsed {source!r} again")

    ending = 'ANSWER1=EVAL(expr="ANSWER0 + 0")\nFINAL=RESULT(var=ANSWER1)'
    program = COUNT_PROGRAM.replace("FINAL=RESULT(var=ANSWER0)", ending)
    agent, _ = make_agent([program, ANSWER, "3"], approve_plans=True)
    monkeypatch.setattr(validator._Validator, "validate", counting_validate)  # after the examples are checked
    monkeypatch.setattr(builtins, "parse_expression", no_second_parse)
    with pytest.raises(AgentInterrupted):
        agent.ask(image=bus_path, question="How many people?", thread_id="once")
    answer = list(agent.resume("once", True))[-1].answer  # validate -> approve -> validate -> execute
    assert answer is not None and answer.trace is not None and answer.trace.ok and answer.text == "3"
    assert validations == [program]
