"""Text values with provenance: OCR results (lines with boxes) and speech transcripts (words with times)."""

from __future__ import annotations

import html
from typing import Any, ClassVar

from pydantic import BaseModel
from visorch.tools.audio import AudioRef
from visorch.tools.detections import Detections
from visorch.tools.images import ImageRef
from visorch.tools.kinds import ValueKind
from visorch.tools.quoting import quote_lines, quote_text
from visorch.tools.rendering import meta_line, text_block

READ_TEXT_LIMIT = 2300
"""Characters of read text a description keeps (below OCR's and TRANSCRIBE's evidence limit, so the
description is never cut after its quotes were opened)."""


def describe_read_lines(lines: list[str]) -> str:
    """``2 text lines read: ["STOP", "Main St"]``: what OCR read, each line a quoted JSON string."""
    if not lines:
        return "no text found"
    return f"{len(lines)} text lines read: {quote_lines(lines, READ_TEXT_LIMIT)}"


def describe_heard_text(text: str, notes: list[str] | None = None) -> str:
    """``transcript heard: "hello there"``: what speech recognition heard, as a quoted JSON string."""
    described = f"transcript heard: {quote_text(text, limit=READ_TEXT_LIMIT)}"
    return described + (f" ({'; '.join(notes)})" if notes else "")


class TextLine(BaseModel):
    """One line of text read from an image, with its box and confidence."""

    text: str
    box: tuple[float, float, float, float]
    confidence: float


class OCRText(BaseModel):
    """Text read from an image: lines in reading order; usable wherever text or boxes are expected."""

    value_kind: ClassVar[ValueKind] = ValueKind.OCR_TEXT
    widens_to: ClassVar[frozenset[ValueKind]] = frozenset({ValueKind.TEXT, ValueKind.DETECTIONS})

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

    def describe(self) -> str:
        """``2 text lines read: ["STOP", "Main St"]`` (or ``no text found``): the text quoted as data."""
        return describe_read_lines([line.text for line in self.lines])

    def to_json_data(self) -> dict[str, Any]:
        """The lines with their boxes, and the joined text."""
        return {"kind": self.value_kind.value, "text": self.text, **self.model_dump(mode="json")}

    def to_html(self) -> str:
        """The text, then the image with the line boxes drawn."""
        text = f"<div class='text'>{html.escape(self.text) or '(no text found)'}</div>"
        return text + self.to_detections().to_html()

    def as_kind(self, expected: ValueKind) -> OCRText | str | Detections:
        """The joined text where text is expected, the line boxes where detections are, else itself."""
        if expected == ValueKind.TEXT:
            return self.text
        if expected == ValueKind.DETECTIONS:
            return self.to_detections()
        return self

    def _repr_html_(self) -> str:
        return self.to_html()

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

    value_kind: ClassVar[ValueKind] = ValueKind.TRANSCRIPT
    widens_to: ClassVar[frozenset[ValueKind]] = frozenset({ValueKind.TEXT})

    audio: AudioRef
    text: str
    language: str | None = None
    words: list[Word] = []
    source: str
    notes: list[str] = []
    """Why the text is what it is, when that needs saying (silent audio gives no text, not invented words)."""

    def describe(self) -> str:
        """``transcript heard: "hello there"`` (with its notes, if any): the text quoted as data."""
        return describe_heard_text(self.text, self.notes)

    def to_json_data(self) -> dict[str, Any]:
        """Text, language and timed words."""
        return {"kind": self.value_kind.value, **self.model_dump(mode="json")}

    def to_html(self) -> str:
        """The text, language, source and the first words with their times."""
        words = ", ".join(f"{w.word.strip()} {w.start:.1f}-{w.end:.1f}s" for w in self.words[:40])
        facts = meta_line(f"language: {self.language or '?'}; source: {self.source}")
        return text_block(self.text) + facts + meta_line(words)

    def as_kind(self, expected: ValueKind) -> Transcript | str:
        """The text where text is expected, else itself."""
        return self.text if expected == ValueKind.TEXT else self

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.text
