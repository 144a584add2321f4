"""The speech-recognition tool: transcribe an audio file."""

from __future__ import annotations

from typing import Annotated

from visorch.tools.asr.transcripts import no_speech_note, normalise_language, silence_note
from visorch.tools.asr.voice_activity import speech_seconds, vad_installed
from visorch.tools.audio import SPEECH_SAMPLE_RATE, AudioRef
from visorch.tools.capability import Capability
from visorch.tools.models.handle import ModelHandle
from visorch.tools.models.protocols import SpeechRecognizer
from visorch.tools.registry import Tool, tool
from visorch.tools.text import Transcript


@tool(
    name="TRANSCRIBE",
    category="audio",
    capability=Capability.ASR,
    cacheable=True,
    evidence_limit=2500,  # the evidence keeps what was said in full
    example="TEXT0=TRANSCRIBE(audio=AUDIO)",
    limitations=(
        "Whisper models: numbers often come out as digits ('10 of clubs'), names and rare words may be "
        "misspelt, and music can produce invented text. Audio without speech (silence below -50 dBFS, or "
        "noise and hum in which voice-activity detection, Silero VAD, finds no speech) gives empty text with "
        "a note instead. The offline default is English "
        "only; other languages need a multilingual backend (faster-whisper-base). Word times come from "
        "attention alignment and are approximate."
    ),
)
def transcribe(
    audio: Annotated[AudioRef, "the audio to transcribe"],
    model: ModelHandle[SpeechRecognizer],
    language: Annotated[str | None, "spoken language as a code such as 'en' or 'fr'; None detects it"] = None,
) -> Transcript:
    """Transcribe the speech in the audio (text, language, words with start and end times)."""
    samples = audio.samples()
    silent = silence_note(samples, SPEECH_SAMPLE_RATE)
    if silent is None and vad_installed() and speech_seconds(samples, SPEECH_SAMPLE_RATE) == 0.0:
        silent = no_speech_note(samples, SPEECH_SAMPLE_RATE)
    if silent is not None:  # Whisper invents words for silence and noise; the model is not even loaded
        return Transcript(audio=audio, text="", language=None, words=[], source=model.name, notes=[silent])
    with model.use() as recognizer:
        text, detected, words = recognizer.transcribe(samples, normalise_language(language))
    return Transcript(audio=audio, text=text, language=detected, words=words, source=model.name)


TOOLS: list[Tool] = [transcribe]
