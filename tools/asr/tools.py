"""The speech-recognition tool: transcribe an audio file."""

from __future__ import annotations

from typing import Annotated

from visorch.tools.asr.transcripts import normalise_language, silence_note
from visorch.tools.audio import SPEECH_SAMPLE_RATE, AudioRef
from visorch.tools.context import ToolContext
from visorch.tools.registry import Tool, tool
from visorch.tools.text import Transcript


@tool(
    name="TRANSCRIBE",
    category="audio",
    capability="asr",
    cacheable=True,
    example="TEXT0=TRANSCRIBE(audio=AUDIO)",
    limitations=(
        "Whisper models: numbers often come out as digits ('10 of clubs'), names and rare words may be "
        "misspelt, and music or noise can produce invented text (silent audio, below -50 dBFS, gives empty "
        "text with a note instead). The offline default is English "
        "only; other languages need a multilingual backend (faster-whisper-base). Word times come from "
        "attention alignment and are approximate."
    ),
)
def transcribe(
    audio: Annotated[AudioRef, "the audio to transcribe"],
    ctx: ToolContext,
    language: Annotated[str | None, "spoken language as a code such as 'en' or 'fr'; None detects it"] = None,
) -> Transcript:
    """Transcribe the speech in the audio (text, language, words with start and end times)."""
    backend = ctx.models.backend_for("asr")
    samples = audio.samples()
    silent = silence_note(samples, SPEECH_SAMPLE_RATE)
    if silent is not None:  # Whisper invents words for silence; the model is not even loaded
        return Transcript(audio=audio, text="", language=None, words=[], source=backend.name, notes=[silent])
    with ctx.models.use(backend.name) as recognizer:
        text, detected, words = recognizer.transcribe(samples, normalise_language(language))
    return Transcript(audio=audio, text=text, language=detected, words=words, source=backend.name)


TOOLS: list[Tool] = [transcribe]
