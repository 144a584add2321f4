"""What each task predicts with, as small protocols, and the real predictors built from the runtime.

- detect: an :class:`ObjectDetector` (real one: :class:`BackendDetector`, a detection backend of
  the model manager);
- ocr: a :class:`LineReader` (real one: :class:`BackendLineReader`);
- asr: a :class:`Transcriber` (real one: :class:`BackendTranscriber`);
- qa, pope: an :class:`Answerer` (the agent: ``Agent(config).ask(image=..., question=..., audio=...)``).

The CLI hands the harness an :class:`EvaluationRuntime`; each task picks what it needs from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import supervision as sv
from pydantic import BaseModel
from visorch.evaluation.errors import PredictorUnavailableError
from visorch.tools.audio import AudioRef
from visorch.tools.images import ImageRef
from visorch.tools.models.manager import ModelManager
from visorch.tools.text import TextLine

DETECTION = "detection"
OCR = "ocr"
ASR = "asr"


@runtime_checkable
class ObjectDetector(Protocol):
    """Finds labelled boxes on one image."""

    def detect(self, image: ImageRef, categories: Sequence[str]) -> sv.Detections:
        """Boxes with ``data['class_name']`` and ``confidence``; ``categories`` are the data set's class names."""
        ...


@runtime_checkable
class LineReader(Protocol):
    """Reads text lines with boxes from one image."""

    def read(self, image: ImageRef) -> list[TextLine]:
        """Lines in reading order."""
        ...


@runtime_checkable
class Transcriber(Protocol):
    """Transcribes one speech clip."""

    def transcribe(self, audio: AudioRef) -> str:
        """The recognised text."""
        ...


class AnswerLike(Protocol):
    """What the harness reads from an answer: its text (``stop_reason``, ``trace``, ``timings`` if present)."""

    @property
    def text(self) -> str:
        """The final answer text."""
        ...


class Answerer(Protocol):
    """Answers a question about an image, optionally with a speech clip (the agent)."""

    def ask(self, *, image: str, question: str, audio: str | None = None) -> AnswerLike:
        """An answer; image and audio are file paths."""
        ...


@dataclass(frozen=True)
class EvaluationRuntime:
    """What the evaluation may use from the running system; tasks take only what they need.

    ``make_answerer(backend)`` builds the agent lazily, so tool tasks never load the LLM.
    ``config`` is recorded verbatim in every summary, so a rerun can reproduce it.
    """

    models: ModelManager | None = None
    make_answerer: Callable[[str | None], Answerer] | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def require_models(self, task: str) -> ModelManager:
        """The model manager, or a clear error when the caller gave none."""
        if self.models is None:
            raise PredictorUnavailableError(f"the {task} task needs the model manager; build the runtime with models")
        return self.models

    def answerer(self, task: str, backend: str | None) -> Answerer:
        """The agent, or a clear error when the caller gave no way to build it."""
        if self.make_answerer is None:
            raise PredictorUnavailableError(f"the {task} task needs the agent; build the runtime with make_answerer")
        return self.make_answerer(backend)


def _backend_facts(models: ModelManager, name: str) -> dict[str, Any]:
    backend = models.backend(name)
    return {
        "backend": backend.name,
        "capability": backend.capability,
        "title": backend.title,
        "version": backend.version,
        "license": backend.license,
        "device": models.device_for(backend),
    }


class BackendDetector:
    """A detection backend of the model manager as an :class:`ObjectDetector` (low score floor, as mAP wants)."""

    def __init__(self, models: ModelManager, backend: str | None = None, min_score: float = 0.001) -> None:
        self.models = models
        self.backend_name = models.backend_for(DETECTION, backend).name
        self.min_score = min_score

    def detect(self, image: ImageRef, categories: Sequence[str]) -> sv.Detections:
        """All classes of a closed-vocabulary model; the data set's categories for an open-vocabulary one."""
        with self.models.use(self.backend_name) as model:
            queries = None if model.class_names is not None else list(categories)
            return model.detect([image.pil()], queries, self.min_score)[0]

    def describe(self) -> dict[str, Any]:
        """Backend facts for the summary."""
        return {**_backend_facts(self.models, self.backend_name), "min_score": self.min_score}


class BackendLineReader:
    """An OCR backend of the model manager as a :class:`LineReader`."""

    def __init__(self, models: ModelManager, backend: str | None = None) -> None:
        self.models = models
        self.backend_name = models.backend_for(OCR, backend).name

    def read(self, image: ImageRef) -> list[TextLine]:
        """Lines in the backend's reading order."""
        with self.models.use(self.backend_name) as model:
            return list(model.read(image.pil()))

    def describe(self) -> dict[str, Any]:
        """Backend facts for the summary."""
        return _backend_facts(self.models, self.backend_name)


class BackendTranscriber:
    """A speech recognition backend of the model manager as a :class:`Transcriber`."""

    def __init__(self, models: ModelManager, backend: str | None = None, language: str | None = "en") -> None:
        self.models = models
        self.backend_name = models.backend_for(ASR, backend).name
        self.language = language

    def transcribe(self, audio: AudioRef) -> str:
        """The text of the clip, decoded to 16 kHz mono."""
        samples = audio.samples()
        with self.models.use(self.backend_name) as model:
            text, _language, _words = model.transcribe(samples, self.language)
        return str(text)

    def describe(self) -> dict[str, Any]:
        """Backend facts for the summary."""
        return {**_backend_facts(self.models, self.backend_name), "language": self.language}


def describe_predictor(predictor: object) -> dict[str, Any]:
    """The predictor's ``describe()`` (or its pydantic ``config``) and class; recorded in summaries."""
    describe = getattr(predictor, "describe", None)
    described: dict[str, Any] = dict(describe()) if callable(describe) else {}
    config = getattr(predictor, "config", None)
    if "config" not in described and isinstance(config, BaseModel):
        described["config"] = config.model_dump(mode="json")
    described.setdefault("class", f"{type(predictor).__module__}.{type(predictor).__qualname__}")
    return described
