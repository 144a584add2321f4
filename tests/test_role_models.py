"""Smaller models for the decision-maker and refiner, fewer LLM calls per question, and jump-forward decoding.

The routing tests use ScriptedLLM (a test double) over the real agent graph; the forced-text tests use
the real tool registry's program regex; the slow tests load the offline pack's real GGUF models.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visorch.agent import Agent, AgentConfig
from visorch.config import VisorchSettings
from visorch.llm import LLMSettings, ScriptedLLM
from visorch.llm.grammar_decode import ForcedText
from visorch.llm.llama_cpp_backend import LlamaCppBackend, default_gguf_path, pack_gguf_path
from visorch.llm.roles import RoleBackends
from visorch.programs.grammar import program_gbnf, program_regex
from visorch.runtime import Runtime
from visorch.tools.catalog import builtin_tools, model_tools
from visorch.tools.errors import MissingWeightsError
from visorch.tools.registry import ToolRegistry

from tests.helpers import TEST_TOOLS

SMALL = "qwen2.5-coder-0.5b-instruct"
TEST_COUNT = "BOX0=TEST_BOXES(image=IMAGE, label='person', count=3)\nANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)"
TEST_LABEL = "BOX0=TEST_BOXES(image=IMAGE, label='tram', count=1)\nFINAL=RESULT(var=BOX0)"
ANSWER = json.dumps({"verdict": "ANSWER", "reason": "fine", "missing": ""})


# --- per-role models ---------------------------------------------------------------------------


def test_roles_without_a_model_use_the_main_backend() -> None:
    main = ScriptedLLM([])
    roles = RoleBackends(main, LLMSettings())
    assert roles.for_role("decision") is main and roles.for_role("refiner") is main and roles.models == {}


def test_roles_naming_the_same_gguf_share_one_backend(tmp_path: Path) -> None:
    gguf = tmp_path / "small.gguf"
    gguf.write_bytes(b"GGUF")  # never loaded: backends load on their first call
    settings = LLMSettings(roles={"decision": str(gguf), "refiner": str(gguf)}, n_threads=1)
    roles = RoleBackends(ScriptedLLM([]), settings)
    decision, refiner = roles.for_role("decision"), roles.for_role("refiner")
    assert decision is refiner and isinstance(decision, LlamaCppBackend)
    assert (
        decision.model_path == gguf
        and decision.n_threads == 1
        and roles.models == {"decision": "small.gguf", "refiner": "small.gguf"}
    )


def test_a_pack_name_resolves_into_the_weights_root_and_a_missing_one_says_how_to_install(tmp_path: Path) -> None:
    assert pack_gguf_path(SMALL, tmp_path) == tmp_path / SMALL / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    with pytest.raises(MissingWeightsError, match=f"install-offline {SMALL}"):
        RoleBackends(ScriptedLLM([]), LLMSettings(roles={"decision": SMALL}), tmp_path)


def test_the_small_model_is_an_optional_pack_item() -> None:
    from visorch.tools.offline_pack.installer import optional_item_names, pack_item_names

    assert optional_item_names() == [SMALL] and SMALL not in pack_item_names()  # installed only when named


@pytest.mark.slow
def test_the_installed_small_model_matches_its_recorded_checksum() -> None:
    from visorch.tools.offline_pack.installer import check_offline_pack

    _gguf(pack_gguf_path(SMALL))
    report = check_offline_pack(pack_gguf_path(SMALL).parents[1], [SMALL])
    assert report.ok and report.item(SMALL).status == "present" and report.item(SMALL).size_mb > 400


def test_roles_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISORCH_LLM_ROLES", json.dumps({"refiner": SMALL}))
    assert VisorchSettings().llm.roles == {"refiner": SMALL}
    monkeypatch.setenv("VISORCH_LLM_ROLES", json.dumps({"planner": SMALL}))
    with pytest.raises(ValueError, match="decision"):  # the planner always uses llm.model
        VisorchSettings()


# --- the agent: which role calls which backend, and how many calls ------------------------------


@pytest.fixture()
def agent_with_roles(tmp_path: Path):
    agents: list[Agent] = []

    def make(planner: list[str], judge: list[str], writer: list[str], **config) -> tuple[Agent, ...]:
        runtime = Runtime.create(
            VisorchSettings(home=tmp_path / "home"), tools=[*builtin_tools(), *TEST_TOOLS], backends=[]
        )
        main, decision, refiner = ScriptedLLM(planner), ScriptedLLM(judge), ScriptedLLM(writer)
        agent = Agent(AgentConfig(plan_cache=False, **config), runtime=runtime, llm=main)
        agent.services.roles = RoleBackends.of(main, {"decision": decision, "refiner": refiner})
        agents.append(agent)
        return agent, main, decision, refiner

    yield make
    for agent in agents:
        agent.close()


def test_the_decision_and_the_refiner_call_their_own_backends(agent_with_roles, bus_path: Path) -> None:
    agent, main, decision, refiner = agent_with_roles([TEST_LABEL], [ANSWER], ["one tram"], rule_answers=False)
    answer = agent.ask(image=bus_path, question="What is in the picture?")
    assert answer.text == "one tram" and answer.timings.llm_calls == 3
    assert len(main.requests) == len(decision.requests) == len(refiner.requests) == 1
    assert "judge" in decision.requests[0].messages[0].content  # the decision-maker's own prompt


def test_a_result_in_the_questions_form_needs_no_refiner(agent_with_roles, bus_path: Path) -> None:
    # rule answers off: the LLM judges the count, but the answer is the count itself (verify would state it)
    agent, _, decision, refiner = agent_with_roles([TEST_COUNT], [ANSWER], [], rule_answers=False)
    answer = agent.ask(image=bus_path, question="How many people are in the image?")
    assert answer.text == "3" and answer.timings.llm_calls == 2 and len(decision.requests) == 1
    assert refiner.requests == [] and len(answer.boxes) == 3
    # switched off, the refiner writes it (verify keeps it: 'three' states the count)
    agent, _, _, refiner = agent_with_roles([TEST_COUNT], [ANSWER], ["three"], rule_answers=False,
                                            form_answers=False)  # fmt: skip
    answer = agent.ask(image=bus_path, question="How many people are in the image?")
    assert len(refiner.requests) == 1 and answer.text == "three" and answer.timings.llm_calls == 3


def test_verdict_answers_write_the_answer_in_the_decision_call(agent_with_roles, bus_path: Path) -> None:
    reply = json.dumps({"verdict": "ANSWER", "reason": "a tram box", "missing": "", "answer": "a tram"})
    agent, _, decision, refiner = agent_with_roles([TEST_LABEL], [reply], [], rule_answers=False,
                                                   verdict_answers=True)  # fmt: skip
    answer = agent.ask(image=bus_path, question="What is in the picture?")
    assert answer.text == "a tram" and answer.timings.llm_calls == 2 and refiner.requests == []
    schema = decision.requests[0].json_schema
    assert schema is None or "answer" in schema["properties"]  # a scripted LLM enforces no schema
    assert '"answer"' in decision.requests[0].messages[0].content


def test_a_verdict_without_an_answer_still_goes_to_the_refiner(agent_with_roles, bus_path: Path) -> None:
    agent, _, _, refiner = agent_with_roles([TEST_LABEL], [ANSWER], ["a tram"], rule_answers=False,
                                            verdict_answers=True)  # fmt: skip
    answer = agent.ask(image=bus_path, question="What is in the picture?")
    assert answer.text == "a tram" and len(refiner.requests) == 1 and answer.timings.llm_calls == 3


# --- jump-forward: what the program grammar forces -----------------------------------------------


@pytest.fixture(scope="module")
def program_forcing() -> ForcedText:
    registry = ToolRegistry.of([*builtin_tools(), *model_tools()])
    return ForcedText(program_regex(registry, max_steps=10, inputs=["IMAGE"]))


LOC_LINE = "BOX0=LOC(image=IMAGE, object='bus')\n"


def test_argument_names_and_closing_text_are_forced(program_forcing: ForcedText) -> None:
    assert program_forcing.after(LOC_LINE + "ANSWER0=COU") == ("NT(box=BOX", False)
    assert program_forcing.after(LOC_LINE + "ANSWER0=COUNT(box=BOX0") == (")\n", False)
    assert program_forcing.after(LOC_LINE + "ANSWER0=COUNT(box=BOX0)\nFINA") == ("L=RESULT(var=", False)
    assert program_forcing.after(LOC_LINE + "ANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0") == (")", True)


def test_nothing_is_forced_where_the_model_must_choose(program_forcing: ForcedText) -> None:
    assert program_forcing.after("") == ("", False)  # which variable first
    assert program_forcing.after(LOC_LINE) == ("", False)  # another step, or FINAL
    assert program_forcing.after(LOC_LINE + "ANSWER0=EVAL(expr=\"'ye") == ("", False)  # inside an expression's text


# --- the real models (slow) -----------------------------------------------------------------------


def _gguf(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"no GGUF at {path}: run visorch models install-offline {path.parent.name}")
    return path


@pytest.mark.slow
def test_the_small_model_gives_a_readable_verdict(tmp_path: Path) -> None:
    from visorch.roles.decision import decide
    from visorch.state import ProgramAttempt

    small = LlamaCppBackend(_gguf(pack_gguf_path(SMALL)), n_ctx=2048, prefix_state_dir=tmp_path)
    attempt = ProgramAttempt(round=1, source=TEST_COUNT, valid=True, ok=True, result="3",
                             evidence="BOX0=LOC(...) gave 3 boxes: person 0.91, person 0.88, person 0.86\n"
                                      "ANSWER0=COUNT(box=BOX0) gave 3", trace_id="t")  # fmt: skip
    with small:
        verdict, response = decide(small, "How many people are in the image?", attempt, 1, 3)
    assert response.model == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" and response.constraint_enforced
    assert not verdict.reason.startswith("unparsed") and verdict.verdict in ("ANSWER", "CONTINUE")


@pytest.mark.slow
def test_jump_forward_and_the_grammar_check_keep_the_planners_program(tmp_path: Path) -> None:
    from visorch.examples import load_examples, usable_examples
    from visorch.llm import ChatMessage, LLMRequest
    from visorch.roles.controller import PlanRequest, example_messages, system_prompt, user_prompt

    registry = ToolRegistry.of(builtin_tools())
    examples = usable_examples(load_examples(), registry)[:2]
    plan = PlanRequest(question="How many cars are there?", inputs={"IMAGE": "image 640x480"}, examples=examples)
    request = LLMRequest(
        messages=[ChatMessage(role="system", content=system_prompt(registry)), *example_messages(examples),
                  ChatMessage(role="user", content=user_prompt(plan))],
        max_tokens=96, grammar=program_gbnf(registry, max_steps=4), forced_regex=program_regex(registry, 4),
    )  # fmt: skip
    programs = {}
    for check_first, jump in ((False, False), (True, False), (True, True)):
        # a fresh model each time: the prompt evaluated whole, in the same batches (a KV cache left by the call
        # before would re-evaluate only its last token, whose numbers can turn a near tie the other way)
        with LlamaCppBackend(_gguf(default_gguf_path()), n_ctx=2048, prompt_cache_mb=0) as llm:
            llm.grammar_check_first, llm.jump_forward = check_first, jump
            response = llm.complete(request)
        programs[(check_first, jump)] = response.text
        assert response.finish_reason == "stop" and response.constraint_enforced
        assert (response.forced_tokens > 0) == jump
    plain = programs[(False, False)]
    assert "COUNT(" in plain and plain.endswith(")")
    assert programs[(True, False)] == plain  # checking the likeliest token first is exact at temperature 0
    assert programs[(True, True)] == plain  # forced drafts are kept only where greedy decoding takes them
    # the program's validity is the planner's (the validator and a retry handle it), not the decoding's: not asserted
