"""Text values with provenance: OCR results (lines with boxes) and speech transcripts (words with times)."""

from __future__ import annotations

from pydantic import BaseModel
from visorch.tools.audio import AudioRef
from visorch.tools.detections import Detections
from visorch.tools.images import ImageRef


class TextLine(BaseModel):
    """One line of text read from an image, with its box and confidence."""

    text: str
    box: tuple[float, float, float, float]
    confidence: float


class OCRText(BaseModel):
    """Text read from an image: lines in reading order; usable wherever text or boxes are expected."""

    image: ImageRef
    lines: list[TextLine]
    source: str

    @property
    def text(self) -> str:
        """All lines joined with newlines, in reading order."""
        return "\n".join(line.text for line in self.lines)

    def to_detections(self) -> Detections:
        """The lines as boxes labelled 'text' with their strings attached."""
        return Detections.from_boxes(
            self.image,
            [line.box for line in self.lines],
            labels=["text"] * len(self.lines),
            scores=[line.confidence for line in self.lines],
            texts=[line.text for line in self.lines],
            source=self.source,
        )

    def __str__(self) -> str:
        return self.text


class Word(BaseModel):
    """One recognised word with its start and end time in seconds."""

    word: str
    start: float
    end: float
    probability: float | None = None


class Transcript(BaseModel):
    """Speech recognised from an audio file; usable wherever text is expected."""

    audio: AudioRef
    text: str
    language: str | None = None
    words: list[Word] = []
    source: str

    def __str__(self) -> str:
        return self.text
