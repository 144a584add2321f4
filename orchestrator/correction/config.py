"""Settings of the correction: thresholds, bounds and which stages use the LLM."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CorrectionConfig(BaseModel):
    """How claims are checked and the text rewritten."""

    existence_min_score: float = Field(default=0.3, ge=0.0, le=1.0)
    """A detector box at least this confident makes an object present."""
    uncertain_min_score: float = Field(default=0.2, ge=0.0, le=1.0)
    """A best box between this and existence_min_score is unsure: a second installed detector decides."""
    second_opinion: tuple[str, ...] = ("centernet-mb3",)
    """Detector backends asked about unsure objects, the first installed one that knows the class."""
    count_min_score: float = Field(default=0.3, ge=0.0, le=1.0)
    """Boxes at least this confident are counted (the top box always counts once the object is present)."""
    merge_iou: float = Field(default=0.6, gt=0.0, le=1.0)
    """Boxes of one class overlapping more than this are merged as duplicates (class-agnostic NMS)."""
    max_words: int = Field(default=300, ge=10)
    """Longer texts are cut here: only the first max_words words are checked and rewritten."""
    concepts: Literal["llm", "lexical"] = "llm"
    """Stage 1 by the LLM under a grammar (with the lexical safety net), or by the lexical scan only."""
    rewrite: Literal["llm", "rules"] = "llm"
    """Stage 5 by the LLM (checked, with claim-by-claim fallback), or claim-by-claim rules only."""
    max_boxes_inline: int = Field(default=5, ge=1)
    """At most this many boxes are written after one mention."""
