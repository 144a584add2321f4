"""``pope``: POPE object-hallucination questions from a COCO-format file, answered by the agent.

Questions come from :mod:`visorch.evaluation.pope_sampling` (random, popular and
adversarial negatives, 50 % yes). Answers are read as yes/no by
:func:`visorch.evaluation.answers.parse_yes_no`; per setting the harness reports accuracy,
precision, recall, F1 and the yes ratio with yes as the positive class. Unanswered items (errors,
answers that are neither yes nor no, failures and hedges) are wrong in accuracy and left out of the
other four. Answers that state uncertainty ("yes, probably", "I cannot tell ... leaning no") are counted,
with how often their lean was right, and accuracy is given per class. Each setting's accuracy comes with a 95 %
bootstrap interval over images: on coco-val's 27 images it is about +-0.07 wide, so smaller differences between
two runs are not evidence. The default data is coco-val
(COCO val2017, unseen by the offline detectors); the summary names the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from visorch.evaluation.answers import parse_yes_no
from visorch.evaluation.asking import ask, mean_agent_timings
from visorch.evaluation.coco import open_coco
from visorch.evaluation.metrics import BinaryMetrics, binary_metrics, image_bootstrap_interval, interval_text
from visorch.evaluation.paths import COCO_VAL
from visorch.evaluation.plots import bar_chart, confusion_matrices
from visorch.evaluation.pope_sampling import POPE_SETTINGS, build_pope_questions
from visorch.evaluation.predictors import Answerer, EvaluationRuntime
from visorch.evaluation.task import Aggregate, EvalItem, ItemContext, ItemResult, ItemScore, Prediction
from visorch.evaluation.uncertainty import states_uncertainty, yes_no_lean

MIN_PER_CLASS = 8


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


def _per_class(pairs: Sequence[tuple[PopeItem, ItemResult]]) -> dict[str, dict[str, float | int]]:
    """Questions and accuracy per asked class (all settings together), where a class has enough questions."""
    by_class: dict[str, list[bool]] = {}
    for item, result in pairs:
        by_class.setdefault(item.object, []).append(bool(result.correct))
    ranked = sorted(by_class.items(), key=lambda entry: (-len(entry[1]), entry[0]))
    return {name: {"questions": len(rows), "accuracy": round(sum(rows) / len(rows), 4)}
            for name, rows in ranked if len(rows) >= MIN_PER_CLASS}  # fmt: skip


def _accuracy_interval(pairs: Sequence[tuple[PopeItem, ItemResult]]) -> tuple[float, float] | None:
    """The 95 % interval of accuracy, resampling images (an image's questions share its detections)."""
    return image_bootstrap_interval([(item.image_id, bool(result.correct)) for item, result in pairs])


class PopeTask:
    """POPE: yes/no existence questions with three negative-sampling settings."""

    name = "pope"
    summary = "POPE object hallucination (random, popular, adversarial)"

    def __init__(self) -> None:
        self.split: str | None = None
        """The split of the last :meth:`load_items`, for the summary."""

    def default_data(self, data_root: Path) -> Path:
        """coco-val (COCO val2017, which the offline detectors never saw) in the shared data."""
        return data_root / COCO_VAL

    def load_items(self, data_path: Path, seed: int, data_root: Path) -> list[PopeItem]:
        """POPE questions for the COCO data set at ``data_path``, seeded."""
        dataset = open_coco(data_path)
        self.split = dataset.split_label()
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
            for name, value in (("accuracy", m.accuracy), ("f1", m.f1), ("yes_ratio", m.yes_ratio)):
                metrics[f"{setting}_{name}"] = None if value is None else round(value, 4)
            interval = interval_text(_accuracy_interval([(i, r) for i, r in pairs if i.type == setting]))
            metrics[f"{setting}_accuracy_95ci"] = per_type[setting]["accuracy_95ci"] = interval
        hedged = [(item, r) for item, r in pairs if r.prediction and states_uncertainty(str(r.prediction["answer"]))]
        metrics["uncertain_answers"] = len(hedged)
        metrics["uncertain_lean_right"] = sum(
            1 for item, r in hedged if r.prediction and yes_no_lean(str(r.prediction["answer"])) == item.answer
        )
        timings = mean_agent_timings([result.prediction for _, result in pairs])
        details: dict[str, Any] = {f"accuracy per class (at least {MIN_PER_CLASS} questions)": _per_class(pairs)}
        if timings:
            details["agent timings per question (mean)"] = timings
        return Aggregate(metrics=metrics, per_type=per_type, breakdown="setting", details=details, split=self.split)

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
