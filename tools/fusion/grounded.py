"""Text that carries the boxes it rests on: what EXISTS and HOW_MANY answer with.

To the program language it is text (a ``str``: RESULT, EVAL and the rules read it as such); the agent's
grounding asks it for its boxes (``to_detections``, as it asks OCR text), so a count or a 'present'
answered by the fused experts is drawn on the image like one counted from LOC's boxes.
"""

from __future__ import annotations

from typing import Any

from visorch.tools.detections import Detections


class GroundedText(str):
    """A tool's text answer and the detections it rests on (the fused boxes judged real objects)."""

    detections: Detections

    def __new__(cls, text: str, detections: Detections) -> GroundedText:
        made = super().__new__(cls, text)
        made.detections = detections
        return made

    def to_detections(self) -> Detections:
        """The boxes the text rests on (none when nothing was localised)."""
        return self.detections

    def __reduce__(self) -> tuple[Any, ...]:  # the result cache pickles tool results: keep the boxes
        return (GroundedText, (str(self), self.detections))
