"""Metric functions: text error rates (jiwer), yes/no classification metrics (POPE), and bootstrap intervals of
an accuracy that resample whole images (scipy), since the questions about one image are not independent.

Error rates pool edits over all pairs, as jiwer does: (substitutions + deletions + insertions)
divided by the reference length. An empty hypothesis is all deletions; an empty reference (a
predicted line with no reference line) is all insertions.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import jiwer
import numpy as np
from pydantic import BaseModel


class EditCounts(BaseModel):
    """Edit operations between references and hypotheses, pooled over pairs."""

    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def reference_length(self) -> int:
        """Tokens (words or characters) in the references."""
        return self.hits + self.substitutions + self.deletions

    @property
    def rate(self) -> float | None:
        """(S + D + I) / reference length; None when the references are empty."""
        if self.reference_length == 0:
            return None
        return (self.substitutions + self.deletions + self.insertions) / self.reference_length

    def as_scores(self, prefix: str) -> dict[str, float]:
        """The four counts as ``{prefix}_hits`` ... item scores (results.jsonl keeps numbers flat)."""
        return {f"{prefix}_{name}": float(getattr(self, name)) for name in EditCounts.model_fields}

    @classmethod
    def from_scores(cls, scores: dict[str, float], prefix: str) -> EditCounts:
        """The counts stored by :meth:`as_scores` (missing ones are 0)."""
        return cls(**{name: int(scores.get(f"{prefix}_{name}", 0)) for name in cls.model_fields})

    def __add__(self, other: EditCounts) -> EditCounts:
        return EditCounts(
            hits=self.hits + other.hits,
            substitutions=self.substitutions + other.substitutions,
            deletions=self.deletions + other.deletions,
            insertions=self.insertions + other.insertions,
        )


def pooled_rate(score_sets: Sequence[dict[str, float]], prefix: str) -> float | None:
    """The error rate of the edits stored under ``prefix`` in each item's scores, pooled."""
    total = EditCounts()
    for scores in score_sets:
        total = total + EditCounts.from_scores(scores, prefix)
    return None if total.rate is None else round(total.rate, 4)


def word_edits(references: Sequence[str], hypotheses: Sequence[str]) -> EditCounts:
    """Word edits (for WER) between already-normalised texts, via jiwer."""
    if not references:
        return EditCounts()
    output = jiwer.process_words(list(references), list(hypotheses))
    return EditCounts(
        hits=output.hits,
        substitutions=output.substitutions,
        deletions=output.deletions,
        insertions=output.insertions,
    )


def character_edits(references: Sequence[str], hypotheses: Sequence[str]) -> EditCounts:
    """Character edits (for CER; spaces count) between already-normalised texts, via jiwer."""
    if not references:
        return EditCounts()
    output = jiwer.process_characters(list(references), list(hypotheses))
    return EditCounts(
        hits=output.hits,
        substitutions=output.substitutions,
        deletions=output.deletions,
        insertions=output.insertions,
    )


class BinaryMetrics(BaseModel):
    """Yes/no answers against the truth, with 'yes' as the positive class (POPE's metrics).

    Unanswered items (errors, answers that are neither yes nor no) count as wrong in
    ``accuracy``; precision, recall, F1 and the yes ratio are over answered items only, and None
    where they are undefined (nothing answered yes, nothing answered at all), never a 0 that would
    read as "all answered no".
    """

    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int
    unanswered: int

    @property
    def total(self) -> int:
        """All items, answered or not."""
        return self.answered + self.unanswered

    @property
    def answered(self) -> int:
        """Items with a yes or no answer."""
        return self.true_positives + self.false_positives + self.true_negatives + self.false_negatives

    @property
    def accuracy(self) -> float:
        """Correct answers over all items (unanswered ones are wrong)."""
        return (self.true_positives + self.true_negatives) / self.total if self.total else 0.0

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP); None when nothing was answered yes."""
        predicted_yes = self.true_positives + self.false_positives
        return self.true_positives / predicted_yes if predicted_yes else None

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN); None when no answered item was a yes."""
        actual_yes = self.true_positives + self.false_negatives
        return self.true_positives / actual_yes if actual_yes else None

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall (0 when both are 0, None when either is undefined)."""
        precision, recall = self.precision, self.recall
        if precision is None or recall is None:
            return None
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    @property
    def yes_ratio(self) -> float | None:
        """Share of answered items answered yes; None when nothing was answered."""
        return (self.true_positives + self.false_positives) / self.answered if self.answered else None

    def as_dict(self) -> dict[str, float | int | None]:
        """The counts and the derived metrics, for summaries."""
        return {
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "yes_ratio": self.yes_ratio,
            "items": self.total,
            "unanswered": self.unanswered,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "true_negatives": self.true_negatives,
            "false_negatives": self.false_negatives,
        }


def binary_metrics(truths: Sequence[bool], predictions: Sequence[bool | None]) -> BinaryMetrics:
    """Confusion counts of yes/no predictions (None = unanswered) against the truth."""
    if len(truths) != len(predictions):
        raise ValueError(f"{len(truths)} truths but {len(predictions)} predictions")
    pairs = list(zip(truths, predictions, strict=True))
    return BinaryMetrics(
        true_positives=sum(1 for truth, guess in pairs if truth and guess is True),
        false_positives=sum(1 for truth, guess in pairs if not truth and guess is True),
        true_negatives=sum(1 for truth, guess in pairs if not truth and guess is False),
        false_negatives=sum(1 for truth, guess in pairs if truth and guess is False),
        unanswered=sum(1 for _, guess in pairs if guess is None),
    )


INTERVAL_CONFIDENCE = 0.95
INTERVAL_RESAMPLES = 2000


def image_bootstrap_interval(
    outcomes: Sequence[tuple[Hashable, bool]], confidence: float = INTERVAL_CONFIDENCE, seed: int = 0
) -> tuple[float, float] | None:
    """A percentile bootstrap interval of the share of right outcomes, resampling images, not questions
    (``outcomes``: (image, right) per question; ``scipy.stats.bootstrap``, paired over each image's right and asked
    counts). None with fewer than two images, where no interval exists."""
    from scipy.stats import bootstrap

    right: dict[Hashable, int] = {}
    asked: dict[Hashable, int] = {}
    for image, correct in outcomes:
        right[image] = right.get(image, 0) + int(correct)
        asked[image] = asked.get(image, 0) + 1
    if len(asked) < 2:
        return None
    images = list(asked)
    rights = np.array([right[image] for image in images], dtype=float)
    totals = np.array([asked[image] for image in images], dtype=float)

    def share(r: np.ndarray, t: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(r.sum(axis=axis) / t.sum(axis=axis))

    generator = np.random.default_rng(seed)
    result = bootstrap((rights, totals), share, paired=True, vectorized=True, confidence_level=confidence,
                       n_resamples=INTERVAL_RESAMPLES, method="percentile", rng=generator)  # fmt: skip
    low, high = result.confidence_interval
    return float(low), float(high)


def interval_text(interval: tuple[float, float] | None) -> str | None:
    """'0.71-0.86', or None when there is no interval."""
    return None if interval is None else f"{interval[0]:.2f}-{interval[1]:.2f}"
