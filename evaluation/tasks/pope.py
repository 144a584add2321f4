"""``pope``: POPE object-hallucination questions from a COCO-format file, answered by the agent.

Questions come from :mod:`visorch.evaluation.pope_sampling` (random, popular and
adversarial negatives, 50 % yes). Answers are read as yes/no by
:func:`visorch.evaluation.answers.parse_yes_no`; per setting the harness reports accuracy,
precision, recall, F1 and the yes ratio with yes as the positive class. Unanswered items (errors,
answers that are neither yes nor no) are wrong in accuracy and left out of the other four.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from visorch.evaluation.answers import parse_yes_no
from visorch.evaluation.asking import ask
from visorch.evaluation.coco import open_coco
from visorch.evaluation.metrics import BinaryMetrics, binary_metrics
from visorch.evaluation.paths import default_data_root
from visorch.evaluation.plots import bar_chart, confusion_matrices
from visorch.evaluation.pope_sampling import POPE_SETTINGS, build_pope_questions
from visorch.evaluation.predictors import Answerer, EvaluationRuntime
from visorch.evaluation.task import Aggregate, EvalItem, ItemContext, ItemResult, ItemScore, Prediction


class PopeItem(EvalItem):
    """One POPE question; ``type`` is its setting."""

    image_id: int
    image_path: Path
    object: str
    question: str
    answer: Literal["yes", "no"]


def _answered(result: ItemResult) -> bool | None:
    if result.prediction is None:
        return None
    parsed = parse_yes_no(result.prediction["answer"])
    return None if parsed is None else parsed == "yes"


class PopeTask:
    """POPE: yes/no existence questions with three negative-sampling settings."""

    name = "pope"
    summary = "POPE object hallucination (random, popular, adversarial)"

    def default_data(self) -> Path:
        """coco128 in the shared data."""
        return default_data_root() / "coco128"

    def load_items(self, data_path: Path, seed: int) -> list[PopeItem]:
        """POPE questions for the COCO data set at ``data_path``, seeded."""
        dataset = open_coco(data_path)
        by_file = {dataset.coco.imgs[image_id]["file_name"]: image_id for image_id in dataset.coco.imgs}
        objects = {
            dataset.coco.imgs[image_id]["file_name"]: names for image_id, names in dataset.objects_by_image().items()
        }
        questions = build_pope_questions(objects, sorted(dataset.category_names.values()), seed)
        return [
            PopeItem(
                id=f"{question.setting}-{by_file[question.image]}-{question.object.replace(' ', '_')}",
                type=question.setting,
                image_id=by_file[question.image],
                image_path=dataset.image_dir / question.image,
                object=question.object,
                question=question.question,
                answer=question.answer,
            )
            for question in questions
        ]

    def build_predictor(self, runtime: EvaluationRuntime, backend: str | None) -> Answerer:
        """The agent."""
        return runtime.answerer(self.name, backend)

    def predict(self, item: PopeItem, predictor: Answerer, context: ItemContext) -> Prediction:
        """The agent's answer."""
        return ask(predictor, item.id, item.image_path, item.question, None, context)

    def score(self, item: PopeItem, prediction: dict[str, Any] | None) -> ItemScore:
        """Correct when the answer reads as the truth; unreadable answers are wrong."""
        parsed = None if prediction is None else parse_yes_no(prediction["answer"])
        return ItemScore(correct=parsed == item.answer, scores={"answered": float(parsed is not None)})

    def matrices(self, pairs: Sequence[tuple[PopeItem, ItemResult]]) -> dict[str, BinaryMetrics]:
        """Confusion counts per setting, in POPE's order."""
        found: dict[str, BinaryMetrics] = {}
        for setting in POPE_SETTINGS:
            of_setting = [(item, result) for item, result in pairs if item.type == setting]
            if of_setting:
                truths = [item.answer == "yes" for item, _ in of_setting]
                found[setting] = binary_metrics(truths, [_answered(result) for _, result in of_setting])
        return found

    def aggregate(self, pairs: Sequence[tuple[PopeItem, ItemResult]]) -> Aggregate:
        """POPE's five metrics per setting, plus overall accuracy."""
        matrices = self.matrices(pairs)
        per_type: dict[str, dict[str, float | int | str | None]] = {
            setting: {
                name: round(value, 4) if isinstance(value, float) else value for name, value in m.as_dict().items()
            }
            for setting, m in matrices.items()
        }
        metrics: dict[str, float | int | str | None] = {
            "accuracy": round(sum(1 for _, r in pairs if r.correct) / len(pairs), 4) if pairs else None,
            "questions": len(pairs),
            "errors": sum(1 for _, r in pairs if r.status == "error"),
            "unanswered": sum(m.unanswered for m in matrices.values()),
        }
        for setting, m in matrices.items():
            metrics[f"{setting}_accuracy"] = round(m.accuracy, 4)
            metrics[f"{setting}_f1"] = round(m.f1, 4)
            metrics[f"{setting}_yes_ratio"] = round(m.yes_ratio, 4)
        return Aggregate(metrics=metrics, per_type=per_type, breakdown="setting")

    def plots(self, pairs: Sequence[tuple[PopeItem, ItemResult]], aggregate: Aggregate, out_dir: Path) -> list[Path]:
        """Confusion matrices and accuracy per setting."""
        matrices = self.matrices(pairs)
        if not matrices:
            return []
        accuracy = {setting: m.accuracy for setting, m in matrices.items()}
        counts = {setting: m.total for setting, m in matrices.items()}
        return [
            confusion_matrices(matrices, out_dir / "pope_confusion.png", "POPE: truth vs answer"),
            bar_chart(
                accuracy, out_dir / "accuracy_per_setting.png", "POPE accuracy per setting", "accuracy", counts=counts
            ),
        ]
