"""Voice-activity detection before Whisper: Silero VAD, the ONNX model that faster-whisper ships in its package.

Whisper fed noise with no speech in it (hiss, hum, a quiet room at -45 dBFS) invents text, so TRANSCRIBE asks
Silero VAD first and answers "no speech" when it finds none. The model is a 2 MB file inside the
``faster_whisper`` wheel (``faster_whisper/assets``), run by onnxruntime: nothing is downloaded. faster-whisper
keeps the one ONNX session it builds (its own ``get_vad_model`` cache), so the detector loads once per process.
"""

from __future__ import annotations

import importlib.util

import numpy as np

MIN_SPEECH_MS = 250
"""Speech shorter than this in all is not speech (a click, a breath); Silero's own default."""
VAD_SAMPLE_RATE = 16_000
"""The rate Silero VAD runs at here (the rate TRANSCRIBE decodes audio to)."""


def vad_installed() -> bool:
    """Whether the voice-activity detector can run here (faster-whisper and onnxruntime are installed)."""
    return all(importlib.util.find_spec(module) is not None for module in ("faster_whisper", "onnxruntime"))


def speech_seconds(samples: np.ndarray, sample_rate: int = VAD_SAMPLE_RATE) -> float:
    """Seconds of speech Silero VAD finds in mono float32 ``samples`` at 16 kHz (0.0: none).

    Speech chunks are counted as Silero delimits them, without padding, and the total must reach
    :data:`MIN_SPEECH_MS`. Call :func:`vad_installed` first.
    """
    if sample_rate != VAD_SAMPLE_RATE:
        raise ValueError(f"Silero VAD runs on {VAD_SAMPLE_RATE} Hz audio here, not {sample_rate} Hz")
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    audio = np.ascontiguousarray(samples, dtype=np.float32)
    if audio.size == 0:
        return 0.0
    chunks = get_speech_timestamps(audio, VadOptions(speech_pad_ms=0), sampling_rate=sample_rate)
    total = sum(chunk["end"] - chunk["start"] for chunk in chunks) / sample_rate
    return total if total * 1000 >= MIN_SPEECH_MS else 0.0
