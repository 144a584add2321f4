"""Calibrated confidence for fused detections: each box's probability of being a real object, counts as the
most likely number of real boxes, and existence as present / absent / uncertain with a probability.

Fitted on coco128 (train2017) by ``python -m visorch.tools.fusion.fit_calibration`` into ``calibration.json``
beside this file, checked on coco-val (val2017) by ``benchmarks/fusion.py``:

- box probability: a logistic regression (scikit-learn) of "matches a ground-truth box of its class at IoU
  0.5" on the fused score, per class where coco128 has enough boxes of it, else one for all classes; the
  per-class threshold is the score where that probability is 0.5;
- count: the mode of the Poisson-binomial distribution of the boxes' probabilities (the most likely number
  of real boxes), with that probability as its confidence; boxes between 0.25 and 0.5 are "doubtful";
- existence: 1 - prod(1 - p_box); where the class has a clean ImageNet mapping, a second logistic
  regression on (that, the classifier's best view score) fitted on the same images.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import numpy as np

CALIBRATION_FILE = "calibration.json"
PRESENT_AT = 0.7
ABSENT_AT = 0.3
DOUBTFUL_FROM = 0.25
Verdict = Literal["present", "absent", "uncertain"]


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, value))))


@dataclass(frozen=True)
class Logistic:
    """p = sigmoid(intercept + coefficients . features)."""

    intercept: float
    coefficients: tuple[float, ...]

    def __call__(self, *features: float) -> float:
        return _sigmoid(self.intercept + sum(c * f for c, f in zip(self.coefficients, features, strict=True)))

    def to_json(self) -> dict[str, Any]:
        return {"intercept": self.intercept, "coefficients": list(self.coefficients)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Logistic:
        return cls(float(data["intercept"]), tuple(float(c) for c in data["coefficients"]))


@dataclass(frozen=True)
class CountEstimate:
    """The most likely count, its probability, and how many boxes are doubtful."""

    count: int
    confidence: float
    doubtful: int
    box_probabilities: tuple[float, ...]


@dataclass(frozen=True)
class Existence:
    """Whether a class is in the image, with the probability and the evidence it rests on."""

    verdict: Verdict
    probability: float
    detector_probability: float
    classifier_score: float | None
    localised: bool
    """False when the boxes say little but the classifier sees the class: present, not localised."""

    def describe(self, name: str) -> str:
        """One line for the trace and the decision-maker."""
        clf = "" if self.classifier_score is None else f", classifier {self.classifier_score:.2f}"
        where = "" if self.localised or self.verdict != "present" else " (present, not localised: no box)"
        return (f"{name}: {self.verdict}{where}, p={self.probability:.2f} "
                f"(detectors {self.detector_probability:.2f}{clf})")  # fmt: skip


@dataclass(frozen=True)
class Calibration:
    """Fitted box, count and existence rules; :func:`default_calibration` loads the shipped fit."""

    per_class: dict[str, Logistic]
    overall: Logistic
    presence_with_classifier: Logistic | None
    fitted_on: str = ""
    presence_from_boxes: Logistic | None = None
    """Image-level presence from the boxes alone (a box that misses its object at IoU 0.5 still says 'there')."""

    def box_probability(self, class_name: str, score: float) -> float:
        """P(box is a real object of its class) from its fused score."""
        return self.per_class.get(class_name, self.overall)(score)

    def threshold(self, class_name: str) -> float:
        """The fused score at which a box of ``class_name`` is as likely real as not."""
        model = self.per_class.get(class_name, self.overall)
        return float(min(1.0, max(0.0, -model.intercept / model.coefficients[0])))

    def count(self, class_name: str, scores: Sequence[float]) -> CountEstimate:
        """The Poisson-binomial mode of the boxes' probabilities, and its probability."""
        probabilities = [self.box_probability(class_name, s) for s in scores]
        distribution = np.array([1.0])
        for p in probabilities:
            distribution = np.convolve(distribution, [1.0 - p, p])
        mode = int(distribution.argmax())
        doubtful = sum(1 for p in probabilities if DOUBTFUL_FROM <= p < 0.5)
        return CountEstimate(
            mode, round(float(distribution[mode]), 3), doubtful, tuple(round(p, 3) for p in probabilities)
        )

    def existence(self, class_name: str, scores: Sequence[float], classifier_score: float | None) -> Existence:
        """present / absent / uncertain from the boxes and, where mapped, the classifier."""
        detector = 1.0 - float(np.prod([1.0 - self.box_probability(class_name, s) for s in scores]))
        probability = detector if self.presence_from_boxes is None else self.presence_from_boxes(detector)
        if classifier_score is not None and self.presence_with_classifier is not None:
            probability = self.presence_with_classifier(detector, classifier_score)
        verdict: Verdict = (
            "present" if probability >= PRESENT_AT else "absent" if probability <= ABSENT_AT else "uncertain"
        )
        localised = any(self.box_probability(class_name, s) >= 0.5 for s in scores)
        return Existence(verdict, round(probability, 3), round(detector, 3), classifier_score, localised)

    def to_json(self) -> dict[str, Any]:
        return {
            "fitted_on": self.fitted_on,
            "overall": self.overall.to_json(),
            "per_class": {name: model.to_json() for name, model in sorted(self.per_class.items())},
            "presence_with_classifier": None
            if self.presence_with_classifier is None
            else self.presence_with_classifier.to_json(),
            "presence_from_boxes": None if self.presence_from_boxes is None else self.presence_from_boxes.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        presence = data.get("presence_with_classifier")
        from_boxes = data.get("presence_from_boxes")
        return cls(
            per_class={name: Logistic.from_json(m) for name, m in data["per_class"].items()},
            overall=Logistic.from_json(data["overall"]),
            presence_with_classifier=None if presence is None else Logistic.from_json(presence),
            fitted_on=str(data.get("fitted_on", "")),
            presence_from_boxes=None if from_boxes is None else Logistic.from_json(from_boxes),
        )


@cache
def default_calibration() -> Calibration:
    """The fit shipped beside this module."""
    text = resources.files("visorch.tools.fusion").joinpath(CALIBRATION_FILE).read_text()
    return Calibration.from_json(json.loads(text))
