"""Local stand-ins for remote models: each offers its capability's protocol and forwards calls to Serve."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import supervision as sv
from PIL import Image
from visorch.tools.capability import Capability
from visorch.tools.remote.client import RemoteExpertClient
from visorch.tools.text import TextLine, Word


class _RemoteModel:
    def __init__(self, client: RemoteExpertClient) -> None:
        self.client = client


class RemoteDetector(_RemoteModel):
    """A :class:`~visorch.tools.models.protocols.Detector` served remotely (one request per image)."""

    def __init__(self, client: RemoteExpertClient) -> None:
        super().__init__(client)
        self.class_names: Sequence[str] | None = client.info().class_names

    def detect(
        self, images: Sequence[Image.Image], queries: Sequence[str] | None, min_score: float
    ) -> list[sv.Detections]:
        wanted = None if queries is None else list(queries)
        return self.client.call_many("detect", list(images), wanted, min_score)


class RemoteSegmenter(_RemoteModel):
    """A :class:`~visorch.tools.models.protocols.Segmenter` served remotely."""

    def segment(self, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
        masks: np.ndarray = self.client.call("segment", image, boxes)
        return masks


class RemotePointSegmenter(RemoteSegmenter):
    """A :class:`~visorch.tools.models.protocols.PointSegmenter` served remotely."""

    def segment_points(self, image: Image.Image, points: np.ndarray) -> np.ndarray:
        masks: np.ndarray = self.client.call("segment_points", image, points)
        return masks


class RemoteTextReader(_RemoteModel):
    """A :class:`~visorch.tools.models.protocols.TextReader` served remotely."""

    def read(self, image: Image.Image) -> list[TextLine]:
        lines: list[TextLine] = self.client.call("read", image)
        return lines


class RemoteSpeechRecognizer(_RemoteModel):
    """A :class:`~visorch.tools.models.protocols.SpeechRecognizer` served remotely."""

    def transcribe(self, samples: np.ndarray, language: str | None) -> tuple[str, str | None, list[Word]]:
        result: tuple[str, str | None, list[Word]] = self.client.call("transcribe", samples, language)
        return result


class RemoteCaptioner(_RemoteModel):
    """A :class:`~visorch.tools.models.protocols.Captioner` served remotely."""

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        return self.client.call_many("caption", list(images))


class RemoteQuestionAnswerer(_RemoteModel):
    """A :class:`~visorch.tools.models.protocols.QuestionAnswerer` served remotely."""

    def answer(self, image: Image.Image, question: str) -> str:
        answer: str = self.client.call("answer", image, question)
        return answer


class RemoteImageTextScorer(_RemoteModel):
    """A :class:`~visorch.tools.models.protocols.ImageTextScorer` served remotely (one row per image)."""

    def score(self, images: Sequence[Image.Image], texts: Sequence[str]) -> np.ndarray:
        return np.stack(self.client.call_many("score", list(images), list(texts)))

    def similarity(self, images: Sequence[Image.Image], texts: Sequence[str]) -> np.ndarray:
        return np.stack(self.client.call_many("similarity", list(images), list(texts)))


PROXIES: dict[str, type[_RemoteModel]] = {
    Capability.DETECTION: RemoteDetector,
    Capability.SEGMENTATION: RemoteSegmenter,
    Capability.OCR: RemoteTextReader,
    Capability.ASR: RemoteSpeechRecognizer,
    Capability.CAPTION: RemoteCaptioner,
    Capability.VQA: RemoteQuestionAnswerer,
    Capability.IMAGE_TEXT: RemoteImageTextScorer,
}
"""The stand-in per capability that can be served remotely."""


def remote_model(client: RemoteExpertClient) -> _RemoteModel:
    """The stand-in for the backend ``client`` calls, by the capability its deployment reports."""
    info = client.info()
    if info.capability == Capability.SEGMENTATION and info.point_prompts:
        return RemotePointSegmenter(client)
    return PROXIES[info.capability](client)
