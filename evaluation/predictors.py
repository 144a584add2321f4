"""What each task predicts with, and the real predictors built from the runtime.

Tool tasks use the model protocols of :mod:`visorch.tools.models.protocols`, the same ones the
tools use, so any backend (or a test double) of the capability can stand in:

- detect: a :class:`~visorch.tools.models.protocols.Detector` (real one: :class:`BackendDetector`);
- ocr: a :class:`~visorch.tools.models.protocols.TextReader` (real one: :class:`BackendTextReader`);
- asr: a :class:`~visorch.tools.models.protocols.SpeechRecognizer` (real one:
  :class:`BackendSpeechRecognizer`);
- qa, pope: an :class:`Answerer`, which returns the agent's public :class:`visorch.agent.Answer`
  (the real one is ``Agent(config)``).

The real predictors borrow their model from the model manager for each call (``models.use``), so
the manager's locks and eviction apply. The CLI hands the harness an :class:`EvaluationRuntime`;
each task picks what it needs from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import supervision as sv
from PIL import Image
from visorch.evaluation.errors import PredictorUnavailableError
from visorch.evaluation.paths import default_data_root
from visorch.tools.capability import Capability
from visorch.tools.models.manager import ModelManager
from visorch.tools.text import TextLine, Word

if TYPE_CHECKING:  # the agent (LangGraph, the LLM) is imported only by the tasks that ask it
    from visorch.agent import Answer

DETECTION = Capability.DETECTION
OCR = Capability.OCR
ASR = Capability.ASR


class Answerer(Protocol):
    """Answers a question about an image, optionally with a speech clip (the agent)."""

    def ask(self, *, image: str, question: str, audio: str | None = None) -> Answer:
        """The agent's answer; image and audio are file paths."""
        ...


@dataclass(frozen=True)
class EvaluationRuntime:
    """What the evaluation may use from the running system; tasks take only what they need.

    ``make_answerer(backend)`` builds the agent lazily, so tool tasks never load the LLM.
    ``config`` is recorded verbatim in every summary, so a rerun can reproduce it.
    ``data_root`` is the settings' ``data_root`` (``VISORCH_DATA_ROOT``); None resolves it from the
    settings, with ``../shared/data`` beside the repository as the last fallback.
    """

    models: ModelManager | None = None
    make_answerer: Callable[[str | None], Answerer] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    data_root: Path | None = None

    def shared_data_root(self) -> Path:
        """Where the tasks' default data lives."""
        return default_data_root(self.data_root)

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
    """A detection backend of the model manager as a :class:`~visorch.tools.models.protocols.Detector`."""

    def __init__(self, models: ModelManager, backend: str | None = None, min_score: float | None = None) -> None:
        self.models = models
        self.backend_name = models.backend_for(DETECTION, backend).name
        self.min_score = min_score
        """A score floor over the caller's (to reproduce figures measured at a higher floor); None: the caller's."""
        with models.use(self.backend_name) as model:  # loads the model: the task is about to use it
            self.class_names: Sequence[str] | None = model.class_names

    def detect(
        self, images: Sequence[Image.Image], queries: Sequence[str] | None, min_score: float
    ) -> list[sv.Detections]:
        """The backend's detections, one per image."""
        floor = min_score if self.min_score is None else max(min_score, self.min_score)
        with self.models.use(self.backend_name) as model:
            return list(model.detect(images, queries, floor))

    def describe(self) -> dict[str, Any]:
        """Backend facts for the summary."""
        return {**_backend_facts(self.models, self.backend_name), "min_score": self.min_score}


class BackendTextReader:
    """An OCR backend of the model manager as a :class:`~visorch.tools.models.protocols.TextReader`."""

    def __init__(self, models: ModelManager, backend: str | None = None) -> None:
        self.models = models
        self.backend_name = models.backend_for(OCR, backend).name

    def read(self, image: Image.Image) -> list[TextLine]:
        """Lines in the backend's reading order."""
        with self.models.use(self.backend_name) as model:
            return list(model.read(image))

    def describe(self) -> dict[str, Any]:
        """Backend facts for the summary."""
        return _backend_facts(self.models, self.backend_name)


class BackendSpeechRecognizer:
    """A speech backend of the model manager as a :class:`~visorch.tools.models.protocols.SpeechRecognizer`."""

    def __init__(self, models: ModelManager, backend: str | None = None) -> None:
        self.models = models
        self.backend_name = models.backend_for(ASR, backend).name

    def transcribe(self, samples: np.ndarray, language: str | None) -> tuple[str, str | None, list[Word]]:
        """(text, detected language, words) for 16 kHz mono samples."""
        with self.models.use(self.backend_name) as model:
            text, detected, words = model.transcribe(samples, language)
        return str(text), detected, list(words)

    def describe(self) -> dict[str, Any]:
        """Backend facts for the summary."""
        return _backend_facts(self.models, self.backend_name)


@runtime_checkable
class Describable(Protocol):
    """A predictor that says what it is (backend facts, the agent's models); recorded in summaries."""

    def describe(self) -> dict[str, Any]:
        """Plain JSON facts: backend, version, device, configuration."""
        ...


def describe_predictor(predictor: object) -> dict[str, Any]:
    """The predictor's ``describe()`` (when it is :class:`Describable`) and its class; recorded in summaries."""
    described: dict[str, Any] = dict(predictor.describe()) if isinstance(predictor, Describable) else {}
    described.setdefault("class", f"{type(predictor).__module__}.{type(predictor).__qualname__}")
    return described
