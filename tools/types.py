"""The value kinds of the program language and how Python types map onto them.

A tool's type hints are the single source of truth: :func:`kind_of` turns them into the kinds
the validator checks, the grammar constrains and the prompt shows; :func:`coerce` converts a
value of a compatible kind (an OCR result where text is expected, say) at run time.
"""

from __future__ import annotations

import types
import typing
from enum import StrEnum
from typing import Any, Literal, get_args, get_origin

from visorch.tools.audio import AudioRef
from visorch.tools.detections import Detections
from visorch.tools.images import ImageRef
from visorch.tools.text import OCRText, Transcript

__all__ = [
    "AudioRef",
    "Detections",
    "ImageRef",
    "OCRText",
    "Transcript",
    "ValueKind",
    "accepts",
    "coerce",
    "describe_value",
    "kind_of",
    "kind_of_value",
]


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


_PYTHON_TO_KIND: dict[Any, ValueKind] = {
    ImageRef: ValueKind.IMAGE,
    Detections: ValueKind.DETECTIONS,
    str: ValueKind.TEXT,
    int: ValueKind.NUMBER,
    float: ValueKind.NUMBER,
    bool: ValueKind.BOOL,
    AudioRef: ValueKind.AUDIO,
    Transcript: ValueKind.TRANSCRIPT,
    OCRText: ValueKind.OCR_TEXT,
    Any: ValueKind.ANY,
    object: ValueKind.ANY,
}

# A value of the key kind may be passed where any kind in the set is expected.
_WIDENS_TO: dict[ValueKind, set[ValueKind]] = {
    ValueKind.TRANSCRIPT: {ValueKind.TEXT},
    ValueKind.OCR_TEXT: {ValueKind.TEXT, ValueKind.DETECTIONS},
    ValueKind.BOOL: {ValueKind.TEXT},
    ValueKind.NUMBER: {ValueKind.TEXT},
}


def strip_optional(annotation: Any) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) for ``X | None`` / ``Optional[X]``."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0], len(members) != len(get_args(annotation))
    return annotation, False


def literal_choices(annotation: Any) -> tuple[str, ...] | None:
    """The allowed strings of a ``Literal[...]`` annotation, else None."""
    inner, _ = strip_optional(annotation)
    if get_origin(inner) is Literal:
        return tuple(str(choice) for choice in get_args(inner))
    return None


def kind_of(annotation: Any) -> ValueKind:
    """The value kind of a Python type hint (Optional and Literal unwrapped)."""
    inner, _ = strip_optional(annotation)
    if get_origin(inner) is typing.Annotated:
        inner = get_args(inner)[0]
        inner, _ = strip_optional(inner)
    if get_origin(inner) is Literal:
        return ValueKind.TEXT
    if get_origin(inner) is list and get_args(inner) and get_args(inner)[0] is str:
        return ValueKind.TEXT_LIST
    if inner in _PYTHON_TO_KIND:
        return _PYTHON_TO_KIND[inner]
    if get_origin(inner) in (typing.Union, types.UnionType):
        kinds = {kind_of(arg) for arg in get_args(inner) if arg is not type(None)}
        if kinds == {ValueKind.NUMBER}:
            return ValueKind.NUMBER
        return ValueKind.ANY
    raise TypeError(f"no program value kind for the type hint {annotation!r}")


def accepts(expected: ValueKind, actual: ValueKind) -> bool:
    """Whether a value of kind ``actual`` may be passed where ``expected`` is declared."""
    if expected == actual or ValueKind.ANY in (expected, actual):
        return True
    return expected in _WIDENS_TO.get(actual, set())


def kind_of_value(value: Any) -> ValueKind:
    """The kind of a run-time value."""
    if isinstance(value, bool):
        return ValueKind.BOOL
    if isinstance(value, int | float):
        return ValueKind.NUMBER
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ValueKind.TEXT_LIST
    for python_type, kind in _PYTHON_TO_KIND.items():
        if isinstance(python_type, type) and python_type not in (object,) and isinstance(value, python_type):
            return kind
    return ValueKind.ANY


def coerce(value: Any, expected: ValueKind) -> Any:
    """Convert ``value`` to the representation a parameter of kind ``expected`` takes."""
    if expected == ValueKind.TEXT and isinstance(value, Transcript | OCRText):
        return value.text
    if expected == ValueKind.TEXT and isinstance(value, bool):
        return "yes" if value else "no"
    if expected == ValueKind.TEXT and isinstance(value, int | float):
        return format_number(value)
    if expected == ValueKind.DETECTIONS and isinstance(value, OCRText):
        return value.to_detections()
    return value


def format_number(value: float) -> str:
    """Integers without a decimal point, other numbers with up to four significant decimals."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def describe_value(value: Any, limit: int = 300) -> str:
    """A short human/LLM-readable description of any program value."""
    if isinstance(value, Detections):
        text = value.describe()
    elif isinstance(value, ImageRef):
        text = f"image {value.width}x{value.height}"
    elif isinstance(value, OCRText):
        lines = " | ".join(line.text for line in value.lines)
        text = f"{len(value.lines)} text lines: {lines}" if value.lines else "no text found"
    elif isinstance(value, Transcript):
        text = f"transcript: {value.text!r}"
    elif isinstance(value, AudioRef):
        text = f"audio {value.duration_s:.1f} s"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int | float):
        text = format_number(value)
    elif isinstance(value, str):
        text = repr(value)
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
