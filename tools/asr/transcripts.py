"""What every speech recogniser shares: language checks and word-timestamp clean-up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from visorch.tools.errors import ToolArgumentError
from visorch.tools.text import Word


def check_language(language: str | None, supported: Sequence[str], backend: str) -> None:
    """Raise :class:`ToolArgumentError` unless ``language`` is None or a code ``backend`` can transcribe."""
    if language is None or language in supported:
        return
    if list(supported) == ["en"]:
        raise ToolArgumentError(
            f"{backend} transcribes English only, not {language!r}; call TRANSCRIBE without a language, or "
            "install a multilingual model (visorch models install-offline gives faster-whisper-base)"
        )
    raise ToolArgumentError(
        f"{backend} has no language {language!r}; use a Whisper language code such as 'en', 'fr', 'de', 'es' "
        "or leave language out to detect it"
    )


def clean_words(words: Iterable[tuple[str, float, float, float | None]], duration_s: float) -> list[Word]:
    """Words with blank ones dropped and times clamped into the audio and made non-decreasing.

    Whisper's word times come from cross-attention alignment and can overlap by a few
    milliseconds or end past the audio; callers expect ordered times within the file.
    """
    cleaned: list[Word] = []
    previous_start = 0.0
    for text, start, end, probability in words:
        word = text.strip()
        if not word:
            continue
        begin = min(max(float(start), previous_start), duration_s)
        finish = min(max(float(end), begin), duration_s)
        cleaned.append(
            Word(
                word=word,
                start=round(begin, 3),
                end=round(finish, 3),
                probability=None if probability is None else round(float(probability), 4),
            )
        )
        previous_start = begin
    return cleaned


def normalise_language(language: str | None) -> str | None:
    """A lower-case language code, or None for 'detect it' (empty strings included)."""
    if language is None:
        return None
    code = language.strip().lower()
    return code or None
