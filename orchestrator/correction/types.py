"""The values of a correction: concepts, questions, claims with boxes, verdicts, and the result."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ClaimVerdict = Literal["supported", "corrected", "removed", "unverified"]
"""supported: the tools agree; corrected: the tools found something else (the text is fixed);
removed: the object is not there; unverified: no installed tool could check it (kept, flagged)."""

ClaimKind = Literal["existence", "count", "colour", "text", "relation"]


class Concept(BaseModel):
    """One object the text talks about, with what it says about it."""

    model_config = ConfigDict(frozen=True)

    name: str
    """The object as an English singular noun ('dog')."""
    detector_class: str | None = None
    """The detector class it maps onto ('person' for 'men'); None when the detector has none."""
    count: int | None = None
    """How many the text says there are (None: not said, e.g. 'dogs')."""
    colour: str | None = None
    """The basic colour the text gives it (COLOR's names: red, blue, gray, ...)."""
    reads: str | None = None
    """Text the text says is written on it."""
    relation: str | None = None
    """Its position relative to another object: 'left of', 'right of', 'above', 'below', 'next to', 'on', ..."""
    relation_to: str | None = None
    source: Literal["llm", "lexical"] = "llm"
    """Who found it: the LLM, or the lexical scan of detector class names (a recall safety net)."""


class Question(BaseModel):
    """A question about one concept and the program step that answers it."""

    model_config = ConfigDict(frozen=True)

    concept: str
    kind: ClaimKind
    text: str
    step: str | None
    """The visual program variable that answers it (None: no installed tool can)."""
    tool: str | None = None


class NormalisedBox(BaseModel):
    """A box with coordinates normalised to 0-1 of the image (x1, y1, x2, y2), and its pixel box."""

    model_config = ConfigDict(frozen=True)

    label: str
    box: tuple[float, float, float, float]
    pixels: tuple[float, float, float, float]
    score: float | None = None

    def inline(self) -> str:
        """``[0.04, 0.28, 1.00, 0.92]`` as written in the corrected text."""
        return "[" + ", ".join(f"{value:.2f}" for value in self.box) + "]"


class Claim(BaseModel):
    """One visual claim of the text, what the tools found, and the verdict."""

    id: str
    concept: str
    kind: ClaimKind
    statement: str
    """What the text claims ('3 dog', 'bus is red')."""
    verdict: ClaimVerdict
    finding: str
    """What the tools found, in words ('no dog found at score >= 0.30')."""
    fix: str | None = None
    """For corrected claims: the value the tools gave ('blue', '1')."""
    steps: list[str] = Field(default_factory=list)
    """The program variables this verdict rests on."""
    boxes: list[NormalisedBox] = Field(default_factory=list)
    cross_check: str | None = None
    """The logical cross-check in the other direction (e.g. which detected object is red)."""


class StageRecord(BaseModel):
    """One stage of the correction subgraph, as it appears in the trace."""

    name: str
    seconds: float
    cpu_seconds: float = 0.0
    """Process CPU time during the stage (all threads: the LLM's, the detectors'; 2 cores give up to 2 s a second)."""
    llm_calls: int = 0
    llm_seconds: float = 0.0
    summary: str
    detail: Any = None


RewriteMethod = Literal["unchanged", "llm", "claim-by-claim", "none"]
