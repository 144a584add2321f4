"""``count``: "How many X are in the image?" for every (image, class present) pair of a COCO-format file,
answered by the agent.

The truth is the number of non-crowd annotations of the class. An answer counts when it gives one number
(:func:`visorch.evaluation.answers.parse_number`: "2", "two", "probably 2; another box is doubtful");
failures and hedges without a number ("I cannot tell") are unanswered and wrong. The summary gives exact
match, mean absolute error over the answered items, both per class (classes with at least
``MIN_PER_CLASS`` items), and how many answers stated uncertainty ("probably") and how many of those were
right, and a 95 % bootstrap interval of exact match that resamples images. The default data is coco-val (COCO
val2017, unseen by the offline detectors).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from visorch.evaluation.answers import parse_number
from visorch.evaluation.asking import ask, mean_agent_timings
from visorch.evaluation.build_questions import plural
from visorch.evaluation.coco import open_coco
from visorch.evaluation.metrics import image_bootstrap_interval, interval_text
from visorch.evaluation.paths import COCO_VAL
from visorch.evaluation.plots import bar_chart
from visorch.evaluation.predictors import Answerer, EvaluationRuntime
from visorch.evaluation.task import Aggregate, EvalItem, ItemContext, ItemResult, ItemScore, Prediction
from visorch.evaluation.uncertainty import states_uncertainty

MIN_PER_CLASS = 4


class CountItem(EvalItem):
    """One counting question; ``type`` is the class."""

    image_id: int
    image_path: Path
    object: str
    question: str
    count: int


def _counted(prediction: dict[str, Any] | None) -> int | None:
    if prediction is None:
        return None
    value = parse_number(str(prediction["answer"]))
    return None if value is None or value != value.to_integral_value() or value < 0 else int(value)


class CountTask:
    """Counting: exact match and absolute error of the agent's counts, per class."""

    name = "count"
    summary = "agent counting on COCO (every image x present class; exact match, MAE)"

    def __init__(self) -> None:
        self.split: str | None = None

    def default_data(self, data_root: Path) -> Path:
        """coco-val (COCO val2017, which the offline detectors never saw) in the shared data."""
        return data_root / COCO_VAL

    def load_items(self, data_path: Path, seed: int, data_root: Path) -> list[CountItem]:
        """One item per (image, class with non-crowd annotations), image by image, classes by name."""
        dataset = open_coco(data_path)
        self.split = dataset.split_label()
        counts: dict[tuple[int, str], int] = defaultdict(int)
        for annotation in dataset.coco.dataset["annotations"]:
            if not annotation.get("iscrowd"):
                counts[(annotation["image_id"], dataset.category_names[annotation["category_id"]])] += 1
        return [
            CountItem(
                id=f"count-{image_id}-{name.replace(' ', '_')}",
                type=name,
                image_id=image_id,
                image_path=dataset.image_path(image_id),
                object=name,
                question=f"How many {plural(name)} are in the image?",
                count=count,
            )
            for (image_id, name), count in sorted(counts.items())
        ]

    def build_predictor(self, runtime: EvaluationRuntime, backend: str | None) -> Answerer:
        """The agent."""
        return runtime.answerer(self.name, backend)

    def predict(self, item: CountItem, predictor: Answerer, context: ItemContext) -> Prediction:
        """The agent's answer."""
        return ask(predictor, item.id, item.image_path, item.question, None, context)

    def score(self, item: CountItem, prediction: dict[str, Any] | None) -> ItemScore:
        """Exact when the stated count is the truth; the absolute error when there is a count."""
        counted = _counted(prediction)
        scores = {"answered": float(counted is not None)}
        if counted is not None:
            scores["abs_error"] = float(abs(counted - item.count))
        return ItemScore(correct=counted == item.count, scores=scores)

    def aggregate(self, pairs: Sequence[tuple[CountItem, ItemResult]]) -> Aggregate:
        """Exact match and MAE overall and per class; answers stating uncertainty and how often they were right."""
        errors = [r.scores["abs_error"] for _, r in pairs if "abs_error" in r.scores]
        hedged = [(item, r) for item, r in pairs if r.prediction and states_uncertainty(str(r.prediction["answer"]))]
        per_class: dict[str, dict[str, float | int | str | None]] = {}
        by_class: dict[str, list[ItemResult]] = defaultdict(list)
        for item, result in pairs:
            by_class[item.object].append(result)
        for name, results in sorted(by_class.items(), key=lambda entry: (-len(entry[1]), entry[0])):
            if len(results) >= MIN_PER_CLASS:
                class_errors = [r.scores["abs_error"] for r in results if "abs_error" in r.scores]
                per_class[name] = {
                    "items": len(results),
                    "exact": round(sum(1 for r in results if r.correct) / len(results), 4),
                    "mae": round(statistics.fmean(class_errors), 3) if class_errors else None,
                }
        metrics: dict[str, float | int | str | None] = {
            "exact": round(sum(1 for _, r in pairs if r.correct) / len(pairs), 4) if pairs else None,
            "exact_95ci": interval_text(image_bootstrap_interval([(i.image_id, bool(r.correct)) for i, r in pairs])),
            "mae": round(statistics.fmean(errors), 3) if errors else None,
            "questions": len(pairs),
            "errors": sum(1 for _, r in pairs if r.status == "error"),
            "unanswered": sum(1 for _, r in pairs if r.scores.get("answered") != 1.0),
            "uncertain_answers": len(hedged),
            "uncertain_right": sum(1 for _, r in hedged if r.correct),
        }
        timings = mean_agent_timings([result.prediction for _, result in pairs])
        return Aggregate(
            metrics=metrics,
            per_type=per_class,
            breakdown=f"class (at least {MIN_PER_CLASS} items)",
            details={"agent timings per question (mean)": timings} if timings else {},
            split=self.split,
        )

    def plots(self, pairs: Sequence[tuple[CountItem, ItemResult]], aggregate: Aggregate, out_dir: Path) -> list[Path]:
        """Exact match per class."""
        values = {name: float(row["exact"] or 0.0) for name, row in aggregate.per_type.items()}
        counts = {name: int(row["items"] or 0) for name, row in aggregate.per_type.items()}
        if not values:
            return []
        return [bar_chart(values, out_dir / "exact_per_class.png", "Counting: exact match per class", "exact",
                          counts=counts)]  # fmt: skip
