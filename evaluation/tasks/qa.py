"""``qa``: the agent on the question set, scored by exact match after normalisation, per question type.

Normalisation is :mod:`visorch.evaluation.answers` ("two" == "2" == "2.0", "Yes." == "yes",
case and punctuation ignored). An item that fails counts as wrong, and so does an unanswered one (a
failure or hedge, e.g. "LOC failed: no class for X", is never read as "no" or as a number). The
bundled set's COCO questions come from coco-val (COCO val2017); the summary names the COCO splits
the questions' sources use.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from visorch.evaluation.answers import AnswerType, exact_match, normalise_answer
from visorch.evaluation.asking import ask, mean_agent_timings
from visorch.evaluation.paths import COCO_TRAIN_SAMPLE, COCO_VAL, QUESTIONS_PATH
from visorch.evaluation.plots import bar_chart
from visorch.evaluation.predictors import Answerer, EvaluationRuntime
from visorch.evaluation.questions import load_questions
from visorch.evaluation.task import (
    Aggregate,
    EvalItem,
    ItemContext,
    ItemResult,
    ItemScore,
    Prediction,
    accuracy_by_type,
)


class QuestionItem(EvalItem):
    """One question with resolved file paths."""

    question: str
    answer: str
    answer_type: AnswerType
    image_path: Path
    audio_path: Path | None = None
    sources: list[str]


def coco_split_label(items: Sequence[QuestionItem]) -> str | None:
    """Which COCO folders the questions' answers come from, with a warning for training images."""
    folders = sorted({s.split(":", 1)[0] for item in items for s in item.sources} & {COCO_VAL, COCO_TRAIN_SAMPLE})
    labels = {
        COCO_VAL: f"{COCO_VAL} (COCO val2017)",
        COCO_TRAIN_SAMPLE: f"{COCO_TRAIN_SAMPLE} (COCO train2017: the offline detectors' training split, optimistic)",
    }
    return "COCO questions on " + " and ".join(labels[folder] for folder in folders) if folders else None


class QaTask:
    """Question answering by the agent: exact-match accuracy overall and per question type."""

    name = "qa"
    summary = "agent accuracy on the question set (exact match after normalisation)"

    def default_data(self, data_root: Path) -> Path:
        """The bundled question set (its paths resolve against ``data_root`` when loaded)."""
        return QUESTIONS_PATH

    def load_items(self, data_path: Path, seed: int, data_root: Path) -> list[QuestionItem]:
        """Questions from a .jsonl file (paths under ``data_root``), or the bundled set under ``data_path``."""
        questions = load_questions(data_root=data_path) if data_path.is_dir() else load_questions(data_path, data_root)
        return [
            QuestionItem(
                id=question.id,
                type=question.type,
                question=question.question,
                answer=question.answer,
                answer_type=question.answer_type,
                image_path=question.image_path or Path(question.image),
                audio_path=question.audio_path,
                sources=question.sources,
            )
            for question in questions
        ]

    def build_predictor(self, runtime: EvaluationRuntime, backend: str | None) -> Answerer:
        """The agent."""
        return runtime.answerer(self.name, backend)

    def predict(self, item: QuestionItem, predictor: Answerer, context: ItemContext) -> Prediction:
        """The agent's answer, with its normalised form for reading results."""
        prediction = ask(predictor, item.id, item.image_path, item.question, item.audio_path, context)
        prediction.value["normalised"] = normalise_answer(prediction.value["answer"], item.answer_type)
        return prediction

    def score(self, item: QuestionItem, prediction: dict[str, Any] | None) -> ItemScore:
        """Exact match after normalisation; no prediction is wrong."""
        if prediction is None:
            return ItemScore(correct=False)
        return ItemScore(correct=exact_match(prediction["answer"], item.answer, item.answer_type))

    def aggregate(self, pairs: Sequence[tuple[QuestionItem, ItemResult]]) -> Aggregate:
        """Accuracy overall and per type; unanswered items (errors, failures, hedges) and stop reasons counted."""
        results = [result for _, result in pairs]
        unanswered = sum(
            1
            for item, r in pairs
            if r.prediction is None or normalise_answer(r.prediction["answer"], item.answer_type) is None
        )
        stop_reasons = Counter(str((r.prediction or {}).get("stop_reason", "none")) for r in results if r.prediction)
        details: dict[str, Any] = {"stop reasons": dict(stop_reasons)} if stop_reasons else {}
        timings = mean_agent_timings([result.prediction for result in results])
        if timings:
            details["agent timings per question (mean)"] = timings
        return Aggregate(
            metrics={
                "accuracy": round(sum(1 for r in results if r.correct) / len(results), 4) if results else None,
                "questions": len(results),
                "correct": sum(1 for r in results if r.correct),
                "errors": sum(1 for r in results if r.status == "error"),
                "unanswered": unanswered,
            },
            per_type=accuracy_by_type(results),
            breakdown="question type",
            details=details,
            split=coco_split_label([item for item, _ in pairs]),
        )

    def plots(
        self, pairs: Sequence[tuple[QuestionItem, ItemResult]], aggregate: Aggregate, out_dir: Path
    ) -> list[Path]:
        """Accuracy per question type."""
        values = {name: float(row["accuracy"] or 0.0) for name, row in aggregate.per_type.items()}
        counts = {name: int(row["items"] or 0) for name, row in aggregate.per_type.items()}
        if not values:
            return []
        return [
            bar_chart(
                values, out_dir / "accuracy_per_type.png", "Accuracy per question type", "accuracy", counts=counts
            )
        ]
