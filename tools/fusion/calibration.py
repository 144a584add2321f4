"""Calibrated confidence for fused detections: each box's probability of being a real object, counts as the
most likely number of real boxes, and existence as present / absent / uncertain with a probability.

One fit per fusion setting (``fused``: one look; ``fused-tiles``: the closer look, with a mirrored view and
overlapping tiles), fitted on coco128 (train2017) by ``python -m visorch.tools.fusion.fit_calibration`` into
the JSON files beside this module, checked on coco-val (val2017) by ``benchmarks/fusion.py``:

- box probability: a logistic regression (scikit-learn) of "matches a ground-truth box of its class at IoU
  0.5" on the fused score, per class where coco128 has enough boxes of it, else one for all classes;
- existence: a logistic regression fitted on POPE-style questions sampled from coco128 (half present, half
  absent: random, popular and co-occurring absent classes), on the best and second-best box score of the
  class and, where the class has a clean ImageNet mapping, the classifier's best view score. The questions'
  prior is a question's (50 % yes), not a class's share of the 80 COCO classes (a few per cent), which made
  the earlier fit say 'absent' to most weakly seen objects. Which score of a box: the first look's fused
  score; the closer look's best vote in the whole image or its mirror (:data:`PRESENCE_FROM`): boxes that
  only tiles showed, and the tiles' votes, still localise and count, but do not make a class present. A
  tile is an upscaled crop, and on val2017 the experts see things in tiles that are not there: the closer
  look's existence on fused tile scores had raised the absent cell phone, clock and cup of adversarial
  questions past 0.5. Cross-validated on coco128 (``benchmarks/fusion.py --rules``), where tiles rarely
  invent objects, the two rules tie (mean accuracy 0.878 against 0.877, both with the looks pooled);
- after a closer look: the two looks' probabilities pooled (:func:`pool_looks`);
- count: the mode of the Poisson-binomial distribution of the boxes' probabilities (the most likely number
  of real boxes), and at least 1 when existence says the class is there (present, not localised: the boxes
  are too weak to count but the class is seen); boxes between 0.25 and 0.5 are "doubtful".
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

CALIBRATION_FILES = {"fused": "calibration.json", "fused-tiles": "calibration-fused-tiles.json"}
"""The shipped fit of each fusion setting the tools use."""
PresenceFrom = Literal["fused score", "whole-view vote"]
PRESENCE_FROM: dict[str, PresenceFrom] = {"fused": "fused score", "fused-tiles": "whole-view vote"}
"""Which score of each box the existence model of a fusion setting reads (see the module's docstring)."""
CLOSER_LOOK = "closer look: mirror + tiles"
"""Marks a result of the second look (``closer=True``) for the rules and the decision-maker."""
PRESENT_AT = 0.7
ABSENT_AT = 0.3
DOUBTFUL_FROM = 0.25
COUNT_CONFIDENT_AT = 0.7
"""A count below this confidence is said with 'probably'."""
CLASSIFIER_FLOOR = 1e-4
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


def presence_features(scores: Sequence[float], classifier_score: float | None) -> tuple[float, float, float, float]:
    """The existence model's inputs: best and second fused score, log classifier score and whether there is one."""
    ranked = [*sorted((float(s) for s in scores), reverse=True), 0.0, 0.0]
    if classifier_score is None:
        return ranked[0], ranked[1], 0.0, 0.0
    return ranked[0], ranked[1], math.log(max(classifier_score, CLASSIFIER_FLOOR)), 1.0


@dataclass(frozen=True)
class CountEstimate:
    """The most likely count, its probability, and how many boxes are doubtful."""

    count: int
    confidence: float
    doubtful: int
    box_probabilities: tuple[float, ...]
    localised: bool = True
    """False when the count is 1 only because existence says the class is there (no box strong enough)."""

    @property
    def confident(self) -> bool:
        """Whether the count can be stated without 'probably'."""
        return self.confidence >= COUNT_CONFIDENT_AT and self.localised


@dataclass(frozen=True)
class Existence:
    """Whether a class is in the image, with the probability and the evidence it rests on."""

    verdict: Verdict
    probability: float
    detector_probability: float
    """Noisy-or of the boxes' probabilities (the boxes alone, for the trace)."""
    classifier_score: float | None
    localised: bool
    """False when the boxes say little but the class is present: present, not localised (never a box)."""
    looks: tuple[float, float] | None = None
    """After a closer look: (the first look's P(present), the closer look's), which ``probability`` pools."""

    def describe(self, name: str) -> str:
        """One line for the trace and the decision-maker."""
        clf = "" if self.classifier_score is None else f", classifier {self.classifier_score:.2f}"
        where = "" if self.localised or self.verdict != "present" else " (present, not localised: no box)"
        pooled = "" if self.looks is None else f"first look {self.looks[0]:.2f}, closer look {self.looks[1]:.2f}; "
        return (f"{name}: {self.verdict}{where}, p={self.probability:.2f} "
                f"({pooled}detectors {self.detector_probability:.2f}{clf})")  # fmt: skip


def _verdict(probability: float) -> Verdict:
    return "present" if probability >= PRESENT_AT else "absent" if probability <= ABSENT_AT else "uncertain"


def _logit(probability: float) -> float:
    clipped = min(max(probability, 1e-6), 1.0 - 1e-6)
    return math.log(clipped / (1.0 - clipped))


def pool_looks(first: Existence, closer: Existence) -> Existence:
    """The existence after a closer look: the two looks' P(present) pooled by the mean of their log-odds, so the
    closer look adds its evidence to the first's instead of replacing it; the boxes are the closer look's.

    Cross-validated on coco128 (``benchmarks/fusion.py --rules``) the two tie on POPE-style accuracy (0.878 pooled,
    0.877 the closer look alone), but near p=0.5 (0.45-0.55) the pooled lean was right 20 of 33 times and the closer
    look's alone 12 of 26 (a coin toss), so only the pooled lean is worth stating (roles.rules.LEAN_MARGIN). On
    coco-val the agent's rule went from 0.912 / 0.814 / 0.784 to 0.922 / 0.843 / 0.804 (``benchmarks/fusion.py``)."""
    probability = _sigmoid((_logit(first.probability) + _logit(closer.probability)) / 2.0)
    looks = (first.probability, closer.probability)
    return Existence(_verdict(probability), round(probability, 3), closer.detector_probability,
                     closer.classifier_score, closer.localised, looks)  # fmt: skip


@dataclass(frozen=True)
class Calibration:
    """Fitted box, count and existence rules; :func:`default_calibration` loads a shipped fit."""

    per_class: dict[str, Logistic]
    overall: Logistic
    presence: Logistic | None = None
    """P(present) from :func:`presence_features` (fitted on POPE-style questions); None: noisy-or of the boxes."""
    fitted_on: str = ""
    presence_from: PresenceFrom = "fused score"
    """The box score the existence model reads: the fused score, or the box's best whole-view vote (then the
    callers pass ``whole_view_scores``)."""

    def box_probability(self, class_name: str, score: float) -> float:
        """P(box is a real object of its class) from its fused score."""
        return self.per_class.get(class_name, self.overall)(score)

    def threshold(self, class_name: str) -> float:
        """The fused score at which a box of ``class_name`` is as likely real as not."""
        model = self.per_class.get(class_name, self.overall)
        return float(min(1.0, max(0.0, -model.intercept / model.coefficients[0])))

    def presence_probability(
        self,
        class_name: str,
        scores: Sequence[float],
        classifier_score: float | None,
        whole_view_scores: Sequence[float] | None = None,
    ) -> float:
        """P(the class is in the image) from its boxes and, where mapped, the classifier. ``whole_view_scores``:
        each box's best vote in the whole image's views, needed when :attr:`presence_from` says so."""
        if self.presence is None:
            return 1.0 - float(np.prod([1.0 - self.box_probability(class_name, s) for s in scores]))
        if self.presence_from == "whole-view vote":
            if whole_view_scores is None:
                raise ValueError(
                    f"this calibration ({self.fitted_on}) reads each box's best whole-view vote: "
                    "pass whole_view_scores (see visorch.tools.fusion.ensemble.whole_view_scores)"
                )
            scores = whole_view_scores
        return self.presence(*presence_features(scores, classifier_score))

    def count(
        self,
        class_name: str,
        scores: Sequence[float],
        classifier_score: float | None = None,
        whole_view_scores: Sequence[float] | None = None,
    ) -> CountEstimate:
        """The Poisson-binomial mode of the boxes' probabilities, at least 1 when the class is present."""
        probabilities = [self.box_probability(class_name, s) for s in scores]
        distribution = np.array([1.0])
        for p in probabilities:
            distribution = np.convolve(distribution, [1.0 - p, p])
        mode = int(distribution.argmax())
        doubtful = sum(1 for p in probabilities if DOUBTFUL_FROM <= p < 0.5)
        rounded = tuple(round(p, 3) for p in probabilities)
        if mode == 0:
            present = self.presence_probability(class_name, scores, classifier_score, whole_view_scores)
            if present >= 0.5:  # seen, but no box is strong enough to count: at least one
                confidence = present * float(distribution[:2].sum())
                return CountEstimate(1, round(confidence, 3), max(0, doubtful - 1), rounded, localised=False)
        return CountEstimate(mode, round(float(distribution[mode]), 3), doubtful, rounded)

    def existence(
        self,
        class_name: str,
        scores: Sequence[float],
        classifier_score: float | None,
        whole_view_scores: Sequence[float] | None = None,
    ) -> Existence:
        """present / absent / uncertain from the boxes and, where mapped, the classifier."""
        detector = 1.0 - float(np.prod([1.0 - self.box_probability(class_name, s) for s in scores]))
        probability = self.presence_probability(class_name, scores, classifier_score, whole_view_scores)
        localised = any(self.box_probability(class_name, s) >= 0.5 for s in scores)
        return Existence(_verdict(probability), round(probability, 3), round(detector, 3), classifier_score, localised)

    def to_json(self) -> dict[str, Any]:
        return {
            "fitted_on": self.fitted_on,
            "overall": self.overall.to_json(),
            "per_class": {name: model.to_json() for name, model in sorted(self.per_class.items())},
            "presence": None if self.presence is None else self.presence.to_json(),
            "presence_from": self.presence_from,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        presence = data.get("presence")
        return cls(
            per_class={name: Logistic.from_json(m) for name, m in data["per_class"].items()},
            overall=Logistic.from_json(data["overall"]),
            presence=None if presence is None else Logistic.from_json(presence),
            fitted_on=str(data.get("fitted_on", "")),
            presence_from=_presence_from(data.get("presence_from", "fused score")),
        )


def _presence_from(value: object) -> PresenceFrom:
    if value == "fused score" or value == "whole-view vote":
        return value
    raise ValueError(f"unknown presence_from {value!r} in a calibration file: 'fused score' or 'whole-view vote'")


@cache
def default_calibration(backend: str = "fused") -> Calibration:
    """The fit shipped beside this module for ``backend`` ('fused' or 'fused-tiles')."""
    text = resources.files("visorch.tools.fusion").joinpath(CALIBRATION_FILES[backend]).read_text()
    return Calibration.from_json(json.loads(text))
