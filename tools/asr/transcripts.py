"""What every speech recogniser shares: language checks and word-timestamp clean-up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from visorch.tools.errors import ToolArgumentError
from visorch.tools.text import Word

SILENCE_DBFS = -50.0
"""Audio whose loudest 30 ms frame is quieter than this (RMS, dB full scale) holds no speech to transcribe.

Quiet speech is around -40 dBFS and normal speech -30 to -15; Whisper fed silence invents text
("You You You ..."), so silence is answered without the model.
"""
_FRAME_SECONDS = 0.03


def loudest_frame_dbfs(samples: np.ndarray, sample_rate: int) -> float:
    """The RMS level of the loudest 30 ms frame, in dB full scale (-inf for digital silence)."""
    frame = max(1, int(sample_rate * _FRAME_SECONDS))
    usable = len(samples) - len(samples) % frame
    frames: np.ndarray
    if usable == 0:
        frames = np.asarray(samples, dtype=np.float64).reshape(1, -1)
    else:
        frames = np.asarray(samples[:usable], dtype=np.float32).reshape(-1, frame)
    # mean of squares per frame in float64 so ten minutes of audio stays exact and takes milliseconds
    power = float(np.max(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frames.shape[1]))
    return float(10 * np.log10(power)) if power > 0 else float("-inf")


def silence_note(samples: np.ndarray, sample_rate: int) -> str | None:
    """A note saying the audio is silent, or None when it may hold speech."""
    level = loudest_frame_dbfs(samples, sample_rate)
    if level >= SILENCE_DBFS:
        return None
    shown = "digital silence" if level == float("-inf") else f"loudest part {level:.0f} dBFS"
    return f"no speech: the audio is silent ({shown}, below {SILENCE_DBFS:.0f} dBFS), so nothing was transcribed"


def no_speech_note(samples: np.ndarray, sample_rate: int) -> str:
    """The note for audio that is loud enough but in which voice-activity detection found no speech."""
    level = loudest_frame_dbfs(samples, sample_rate)
    return (
        f"no speech: voice-activity detection (Silero VAD) found none in the audio (loudest part {level:.0f} dBFS: "
        "noise, hum or music), so nothing was transcribed"
    )


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
