"""The agent end to end on the embedded LLM (Qwen2.5-Coder-1.5B GGUF) and the offline tools.

Slow: each question costs a few LLM calls on the CPU. Needs the offline pack (CI installs it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from visorch.agent import Agent, AgentConfig
from visorch.config import VisorchSettings
from visorch.evaluation.answers import exact_match
from visorch.evaluation.questions import load_questions
from visorch.llm.llama_cpp_backend import default_gguf_path
from visorch.tools.models.manager import default_weights_root

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory):
    if not default_gguf_path().is_file() or not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")
    home = tmp_path_factory.mktemp("home")
    settings = VisorchSettings(home=home, weights_dir=default_weights_root())
    with Agent(AgentConfig(max_rounds=2), settings=settings) as running:
        yield running


def test_counts_the_people_on_the_bus_photo_with_grounded_boxes(agent: Agent, bus_path: Path, tmp_path: Path) -> None:
    answer = agent.ask(image=bus_path, question="How many people are in the picture?")
    assert answer.programs and all(program.valid for program in answer.programs if program.trace_id)
    assert answer.trace is not None and answer.trace.ok
    # counted by COUNT over LOC's boxes, or by HOW_MANY over the fused experts' (the default worked example)
    assert {"COUNT", "HOW_MANY"} & {record.tool for record in answer.trace.steps}, "the program should count"
    stated = re.match(r"(probably )?(?P<count>\d+)\b", answer.text)  # a count, hedged when a box is doubtful
    assert stated is not None, answer.text
    assert len([box for box in answer.boxes if box.label == "person"]) == int(stated["count"]) >= 3
    # plan (unless cached) + decision unless by rule; the refiner is skipped when the result has the question's form
    assert answer.timings.llm_calls >= (0 if answer.verdicts[-1].by_rule else 2) and answer.timings.llm_s >= 0
    page = answer.save_html(tmp_path / "answer.html").read_text(encoding="utf-8")
    assert "How many people are in the picture?" in page and "data:image/jpeg;base64," in page


QUESTION_IDS = ["receipt-total-039", "receipt-date-023", "exists-139-person", "speech-card-003"]
"""Ids in the bundled set (its COCO questions are on coco-val since the set was rebuilt from val2017)."""


def test_answers_a_handful_of_the_question_set(agent: Agent, shared_data: Path) -> None:
    questions = {question.id: question for question in load_questions(data_root=shared_data)}
    results = {}
    for identifier in QUESTION_IDS:
        question = questions[identifier]
        answer = agent.ask(image=question.image_path, question=question.question, audio=question.audio_path)
        results[identifier] = (
            answer.text,
            question.answer,
            exact_match(answer.text, question.answer, question.answer_type),
        )
        assert all(program.valid for program in answer.programs if program.trace_id)
    correct = sum(ok for _, _, ok in results.values())
    assert correct >= 3, f"answers (given, expected, correct): {results}"
