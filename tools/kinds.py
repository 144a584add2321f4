"""The value kinds of the program language, and the protocol every program value class follows.

A value class (an image, detections, OCR text, ...) carries its own behaviour, the way
``sv.Detections`` does: its kind, the kinds it may stand in for, and how it describes itself in
text, JSON and HTML. Code that handles values (the trace, its HTML, the evidence, argument
checks) asks the value instead of testing its type, so a new kind is one class, not six edits.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable


class ValueKind(StrEnum):
    """The kinds of value a program variable can hold."""

    IMAGE = "image"
    DETECTIONS = "detections"
    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    AUDIO = "audio"
    TRANSCRIPT = "transcript"
    OCR_TEXT = "ocr_text"
    TEXT_LIST = "text_list"
    ANY = "any"


@runtime_checkable
class ProgramValue(Protocol):
    """What a program value class offers (plain Python scalars and text are handled in :mod:`visorch.tools.types`)."""

    value_kind: ClassVar[ValueKind]
    """The kind of every value of this class."""
    widens_to: ClassVar[frozenset[ValueKind]]
    """Other kinds a value of this class may be passed as (see :meth:`as_kind`)."""

    def describe(self) -> str:
        """A short description for people and the LLM (no pixels)."""
        ...

    def to_json_data(self) -> dict[str, Any]:
        """JSON-ready data without pixels, with a ``kind`` key."""
        ...

    def to_html(self) -> str:
        """An HTML fragment showing the value (images embedded as thumbnails)."""
        ...

    def as_kind(self, expected: ValueKind) -> Any:
        """This value converted for a parameter of kind ``expected`` (itself when no conversion applies)."""
        ...
