"""``qa``: the question set answered by a scripted test double of the agent (a real ``Answer`` each time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from visorch.evaluation import EvaluationRuntime, load_questions, run_evaluation
from visorch.evaluation.errors import ResumeMismatchError

from tests.evaluation_doubles import ScriptedAnswererForTest

FAILURES = [
    "The detector could not run on this image.",
    "LOC failed: no class for refrigerator",
    "Nothing was detected (the tool failed).",
    "None",
]


def _read_results(out_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out_dir / "results.jsonl").read_text().splitlines() if line.strip()]


def _question_file(shared_data: Path, tmp_path: Path, count: int) -> Path:
    questions = load_questions(data_root=shared_data)[:count]
    missing = questions[0].model_copy(update={"id": "missing-image", "image": "coco-val/val2017/nope.jpg"})
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(q.model_dump_json() + "\n" for q in [*questions, missing]))
    return path


def test_qa_scores_per_type_and_records_a_missing_image(shared_data: Path, tmp_path: Path) -> None:
    path = _question_file(shared_data, tmp_path, 16)
    answers = {(q.image, q.question, q.audio): q for q in load_questions(path, shared_data)}

    def script(image: str, question: str, audio: str | None) -> str:
        relative = Path(image).relative_to(shared_data).as_posix()
        truth = answers[(relative, question, audio and Path(audio).relative_to(shared_data).as_posix())]
        if truth.type == "count":
            return f"There are {truth.answer}.0 of them."  # right, in another form
        if truth.type == "exists":
            return "No."  # right only for the 'no' questions
        return truth.answer.lower()

    answerer = ScriptedAnswererForTest(script)
    runtime = EvaluationRuntime(make_answerer=lambda _: answerer, data_root=shared_data)
    summary = run_evaluation("qa", path, tmp_path / "out", runtime=runtime, show_progress=False)
    assert summary.items == 17 and summary.errors == 1
    assert summary.error_types == {"ImageLoadError": 1}
    assert len(answerer.calls) == 16  # the missing image never reached the answerer
    # Three count questions answered right; the fourth is the missing-image copy, wrong by rule.
    assert summary.per_type["count"] == {"accuracy": 0.75, "items": 4, "errors": 1}
    exists = [q for q in load_questions(path, shared_data) if q.type == "exists"]
    assert summary.per_type["exists"]["accuracy"] == pytest.approx(sum(q.answer == "no" for q in exists) / len(exists))
    assert summary.split == "COCO questions on coco-val (COCO val2017)"
    results = {row["id"]: row for row in _read_results(tmp_path / "out")}
    assert results["missing-image"]["status"] == "error" and results["missing-image"]["correct"] is False
    first = next(row for row in results.values() if row["status"] == "ok")
    record = json.loads((tmp_path / "out" / first["trace"]).read_text())
    assert record["answer"]["text"] == first["prediction"]["answer"] and record["trace"] is None
    assert first["prediction"]["stop_reason"] == "answered" and "total_s" in first["prediction"]["timings"]
    assert "agent timings per question (mean)" in summary.details
    assert (tmp_path / "out" / "accuracy_per_type.png").is_file()


def test_qa_failure_answers_score_zero_on_yes_no_and_count_questions(shared_data: Path, tmp_path: Path) -> None:
    """The audit's case: failures once read as "no" and scored right on every "no" question."""
    questions = [q for q in load_questions(data_root=shared_data) if q.type in ("exists", "count", "speech_person")]
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(q.model_dump_json() + "\n" for q in questions))
    answerer = ScriptedAnswererForTest(lambda image, question, audio: FAILURES[len(answerer.calls) % len(FAILURES)])
    runtime = EvaluationRuntime(make_answerer=lambda _: answerer, data_root=shared_data)
    summary = run_evaluation("qa", path, tmp_path / "out", runtime=runtime, show_progress=False)
    assert summary.errors == 0 and summary.metrics["accuracy"] == 0.0
    assert summary.metrics["unanswered"] == len(questions)


def test_resume_continues_after_an_interruption(shared_data: Path, tmp_path: Path) -> None:
    path = _question_file(shared_data, tmp_path, 8)
    answerer = ScriptedAnswererForTest(lambda image, question, audio: "yes")
    runtime = EvaluationRuntime(make_answerer=lambda _: answerer, data_root=shared_data)
    first = run_evaluation("qa", path, tmp_path / "out", limit=4, runtime=runtime, show_progress=False)
    assert first.finished == 4 and len(answerer.calls) == 4
    stale = [{**row, "scores": {"stale": 1.0}} for row in _read_results(tmp_path / "out")]
    (tmp_path / "out" / "results.jsonl").write_text("".join(json.dumps(row) + "\n" for row in stale))
    with (tmp_path / "out" / "results.jsonl").open("a") as handle:
        handle.write('{"id": "cut-off-mid-wri')  # a crash while writing a line
    second = run_evaluation("qa", path, tmp_path / "out", runtime=runtime, workers=3, show_progress=False)
    assert second.items == 9 and second.finished == 9 and second.resumed == 4
    assert len(answerer.calls) == 4 + 4  # the four new questions with images; the missing one fails before asking
    rows = _read_results(tmp_path / "out")
    assert len({row["id"] for row in rows}) == len(rows) == 9
    assert not any("stale" in row["scores"] for row in rows)  # kept results are scored again
    with pytest.raises(ResumeMismatchError):
        run_evaluation("qa", path, tmp_path / "out", seed=5, runtime=runtime, show_progress=False)


def test_interrupted_run_keeps_finished_items(shared_data: Path, tmp_path: Path) -> None:
    path = _question_file(shared_data, tmp_path, 6)

    def script(image: str, question: str, audio: str | None) -> str:
        if len(answerer.calls) > 3:
            raise KeyboardInterrupt  # the user presses Ctrl-C during the fourth question
        return "yes"

    answerer = ScriptedAnswererForTest(script)
    runtime = EvaluationRuntime(make_answerer=lambda _: answerer, data_root=shared_data)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation("qa", path, tmp_path / "out", runtime=runtime, show_progress=False)
    assert len(_read_results(tmp_path / "out")) == 3
    answerer.script = lambda image, question, audio: "yes"
    summary = run_evaluation("qa", path, tmp_path / "out", runtime=runtime, show_progress=False)
    assert summary.resumed == 3 and summary.finished == 7
