"""Whisper through the reference ``openai-whisper`` package, from a ``.pt`` checkpoint in the weights root.

No checkpoint ships in any package: ``visorch models pull openai-whisper`` downloads one on a
machine with internet (the package checks its SHA-256).
"""

from __future__ import annotations

import base64
import gzip
import threading
from pathlib import Path
from typing import Any

import numpy as np
from visorch.tools.asr.transcripts import check_language, clean_words
from visorch.tools.audio import SPEECH_SAMPLE_RATE
from visorch.tools.models.backend import LoadRequest
from visorch.tools.text import Word

MODEL_NAME = "small"
"""The checkpoint this backend uses (multilingual, 244 M parameters, 461 MB)."""

FOLDER = "openai-whisper"
"""Folder under the weights root that holds ``<MODEL_NAME>.pt``."""


class OpenAIWhisperRecognizer:
    """Transcribes 16 kHz mono speech with a loaded ``whisper.Whisper`` model."""

    def __init__(self, model: Any, name: str = "openai-whisper", fp16: bool = False) -> None:
        self.model = model
        self.name = name
        self.fp16 = fp16
        self._lock = threading.Lock()  # transcription installs hooks on the shared model

    def supported_languages(self) -> list[str]:
        """Language codes this checkpoint can transcribe."""
        from whisper.tokenizer import LANGUAGES

        return list(LANGUAGES) if self.model.is_multilingual else ["en"]

    def transcribe(self, samples: np.ndarray, language: str | None) -> tuple[str, str | None, list[Word]]:
        """(text, detected language, words with start/end times)."""
        check_language(language, self.supported_languages(), self.name)
        audio = np.ascontiguousarray(samples, dtype=np.float32)
        with self._lock:
            result = self.model.transcribe(audio, language=language, word_timestamps=True, fp16=self.fp16, verbose=None)
        raw_words = [
            (word["word"], word["start"], word["end"], word.get("probability"))
            for segment in result["segments"]
            for word in segment.get("words", [])
        ]
        text = str(result["text"]).strip()
        return text, result.get("language"), clean_words(raw_words, len(audio) / SPEECH_SAMPLE_RATE)


def locate_openai_whisper(weights_root: Path) -> Path | None:
    """The folder holding ``small.pt`` under the weights root, if it is there."""
    folder = weights_root / FOLDER
    return folder if (folder / f"{MODEL_NAME}.pt").is_file() else None


def _official_alignment_heads(model: Any) -> bytes | None:
    """The published word-alignment heads of MODEL_NAME, when the checkpoint has that decoder shape.

    ``whisper.load_model`` sets them only for checkpoints it downloads by name; a checkpoint
    loaded from a path (ours) otherwise falls back to 'the last half of the decoder layers',
    which gives worse word times.
    """
    import whisper

    heads = getattr(whisper, "_ALIGNMENT_HEADS", {}).get(MODEL_NAME)
    if heads is None:
        return None
    size = np.frombuffer(gzip.decompress(base64.b85decode(heads)), dtype=bool).size
    return heads if size == model.dims.n_text_layer * model.dims.n_text_head else None


def load_openai_whisper(request: LoadRequest) -> OpenAIWhisperRecognizer:
    """Load ``small.pt`` with openai-whisper's own loader (any checkpoint of that format works)."""
    import whisper

    model = whisper.load_model(str(request.weights_dir / f"{MODEL_NAME}.pt"), device=request.device)
    heads = _official_alignment_heads(model)
    if heads is not None:
        model.set_alignment_heads(heads)
    return OpenAIWhisperRecognizer(model, fp16=request.device == "cuda")


def pull_openai_whisper(weights_root: Path) -> None:
    """Download ``small.pt`` from OpenAI's CDN into the weights root (needs internet)."""
    import whisper

    folder = weights_root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    # load_model downloads and verifies the SHA-256 when given a model name; the model it
    # then builds is dropped at once.
    whisper.load_model(MODEL_NAME, device="cpu", download_root=str(folder))
