"""The value kinds of the program language and how Python types map onto them.

A tool's type hints are the single source of truth: :func:`kind_of` turns them into the kinds
the validator checks, the grammar constrains and the prompt shows; :func:`coerce` converts a
value of a compatible kind (an OCR result where text is expected, say) at run time.

The value classes (:data:`VALUE_TYPES`) carry their own kind, conversions and renderings (the
:class:`~visorch.tools.kinds.ProgramValue` protocol); the functions here only add the plain
Python values (numbers, yes/no, text, lists) that cannot carry methods.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from visorch.tools.audio import AudioRef
from visorch.tools.detections import Detections
from visorch.tools.images import ImageRef
from visorch.tools.kinds import ProgramValue, ValueKind
from visorch.tools.quoting import quote_text
from visorch.tools.text import OCRText, Transcript

__all__ = [
    "VALUE_TYPES",
    "AudioRef",
    "Detections",
    "ImageRef",
    "OCRText",
    "ProgramValue",
    "Transcript",
    "ValueKind",
    "accepts",
    "coerce",
    "describe_value",
    "kind_of",
    "kind_of_value",
    "value_to_json",
]

VALUE_TYPES: tuple[type[ProgramValue], ...] = (ImageRef, Detections, AudioRef, Transcript, OCRText)
"""Every program value class; a new kind is one more class here with the ProgramValue methods."""

_PLAIN_TO_KIND: dict[Any, ValueKind] = {
    str: ValueKind.TEXT,
    int: ValueKind.NUMBER,
    float: ValueKind.NUMBER,
    bool: ValueKind.BOOL,
    Any: ValueKind.ANY,
    object: ValueKind.ANY,
}

# A value of the key kind may be passed where any kind in the set is expected.
_WIDENS_TO: dict[ValueKind, frozenset[ValueKind]] = {
    ValueKind.BOOL: frozenset({ValueKind.TEXT}),
    ValueKind.NUMBER: frozenset({ValueKind.TEXT}),
    **{value_type.value_kind: value_type.widens_to for value_type in VALUE_TYPES if value_type.widens_to},
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
    if isinstance(inner, type) and issubclass(inner, VALUE_TYPES):
        return inner.value_kind
    if inner in _PLAIN_TO_KIND:
        return _PLAIN_TO_KIND[inner]
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
    return expected in _WIDENS_TO.get(actual, frozenset())


def kind_of_value(value: Any) -> ValueKind:
    """The kind of a run-time value."""
    if isinstance(value, VALUE_TYPES):
        return value.value_kind
    if isinstance(value, bool):
        return ValueKind.BOOL
    if isinstance(value, int | float):
        return ValueKind.NUMBER
    if isinstance(value, str):
        return ValueKind.TEXT
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ValueKind.TEXT_LIST
    return ValueKind.ANY


def coerce(value: Any, expected: ValueKind) -> Any:
    """Convert ``value`` to the representation a parameter of kind ``expected`` takes."""
    if isinstance(value, VALUE_TYPES):
        return value.as_kind(expected)
    if expected == ValueKind.TEXT and isinstance(value, bool):
        return "yes" if value else "no"
    if expected == ValueKind.TEXT and isinstance(value, int | float):
        return format_number(value)
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
    if isinstance(value, VALUE_TYPES):
        text = value.describe()
    elif isinstance(value, bool | int | float):
        text = format_number(value)
    elif isinstance(value, str):  # text may come from the content (OCR, speech): quoted as data, closed
        return quote_text(value, limit=limit)
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def value_to_json(value: Any) -> Any:
    """A JSON-ready form of any program value, without pixels."""
    if isinstance(value, VALUE_TYPES):
        return value.to_json_data()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [value_to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): value_to_json(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)
