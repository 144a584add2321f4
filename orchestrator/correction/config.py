"""Settings of the correction: thresholds, bounds and which stages use the LLM."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

RewriteMode = Literal["auto", "llm", "rules"]


class CorrectionConfig(BaseModel):
    """How claims are checked and the text rewritten."""

    existence_min_score: float = Field(default=0.3, ge=0.0, le=1.0)
    """A detector box at least this confident makes an object present."""
    second_look: str | None = "fused"
    """The detection backend that looks again at objects with no box at existence_min_score: every installed
    expert fused, with the classifier and calibrated existence (present: kept; absent: removed; uncertain:
    unverified, kept and flagged). None, or not installed: the second_opinion detector on unsure boxes."""
    absent_at_most: float = Field(default=0.5, ge=0.0, le=1.0)
    """The second look says absent when the calibrated P(present) of the fused experts (best and second fused box
    score and the classifier's best view, fitted on POPE-style coco128 questions) is at most this; present when it
    is >= 0.7 or a fused box is as likely real as not; else uncertain. Tuned on coco128
    (``benchmarks/correction.py --data ../shared/data/coco128 --sweep``): the earlier rule on the boxes' noisy-or
    and the classifier separately, (0.2, 0.2), removed 0.854 of injected objects and lost 0.060 of true ones there;
    this one 0.893 / 0.033 (with recheck_below)."""
    recheck_below: float = Field(default=0.5, ge=0.0, le=1.0)
    """A first-look box at existence_min_score but below this is weak: the second look checks it too, and the
    object is removed only when the look says absent (a detector's false positive on a co-occurring class): when
    P(present) <= absent_at_most, or when no other expert voted for the fused box at the weak box's place and the
    look does not say present (LogicCheckGPT-style agreement of two detectors on one box). On coco128 the
    cross-check took injected removed / true lost from 0.890 / 0.033 to 0.899 / 0.033 (``--modes fused``; the
    sweep's per-image looks: 0.893 / 0.033 to 0.902 / 0.038); the ImageNet classifier on the weak box's crop did
    not separate (about 0 for true and injected furniture, bags and tables alike)."""
    uncertain_min_score: float = Field(default=0.2, ge=0.0, le=1.0)
    """Without a second look: a best box between this and existence_min_score is unsure, and a second
    installed detector decides."""
    second_opinion: tuple[str, ...] = ("centernet-mb3",)
    """Without a second look: detector backends asked about unsure objects, the first installed one that
    knows the class."""
    count_min_score: float = Field(default=0.3, ge=0.0, le=1.0)
    """Boxes at least this confident are counted (the top box always counts once the object is present)."""
    merge_iou: float = Field(default=0.6, gt=0.0, le=1.0)
    """Boxes of one class overlapping more than this are merged as duplicates (class-agnostic NMS)."""
    max_words: int = Field(default=300, ge=10)
    """Longer texts are cut here: only the first max_words words are checked and rewritten."""
    concepts: Literal["auto", "llm", "lexical"] = "auto"
    """Stage 1 by the LLM under a grammar (with the lexical safety net), or by the lexical scan only; auto: the
    lexical scan when it covers all the tools can check (no written text, no relative position, no
    open-vocabulary detector), else the LLM."""
    rewrite: RewriteMode = "auto"
    """Stage 5 by the LLM (checked, with claim-by-claim fallback), or claim-by-claim rules only; auto: the rules
    when every edit is a cut phrase, a dropped sentence or a fixed word, the LLM only when a sentence whose
    subject is gone must be rewritten."""
    max_boxes_inline: int = Field(default=5, ge=1)
    """At most this many boxes are written after one mention."""
