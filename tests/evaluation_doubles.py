"""Test doubles for the evaluation harness, named as such: they check the metric, scoring and
reporting machinery and say nothing about any model's accuracy.

The tool doubles implement the model protocols of ``visorch.tools.models.protocols`` (what the
harness predicts with) from the data's own annotations; they recognise an input by its decoded
pixels or samples, the only thing the protocols hand them. The answerer double returns the agent's
public ``Answer``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv
from PIL import Image
from visorch.agent import Answer, Timings
from visorch.evaluation.coco import CocoDataset
from visorch.evaluation.speech import load_speech
from visorch.evaluation.sroie import load_receipts
from visorch.tools.audio import load_audio
from visorch.tools.images import decode_image_file
from visorch.tools.text import TextLine, Word


def pixel_key(image: Image.Image) -> str:
    """A digest of an image's decoded pixels."""
    return hashlib.sha1(np.asarray(image).tobytes()).hexdigest()


def sample_key(samples: np.ndarray) -> str:
    """A digest of decoded audio samples."""
    return hashlib.sha1(np.ascontiguousarray(samples).tobytes()).hexdigest()


class AnnotationDetectorForTest:
    """Test double of a closed-vocabulary Detector: the image's COCO annotations, optionally shifted."""

    def __init__(self, dataset: CocoDataset, shift: float = 0.0, seed: int = 0) -> None:
        self.dataset = dataset
        self.shift = shift
        self.seed = seed
        self.class_names: Sequence[str] | None = list(dataset.category_names.values())
        self.image_ids = {
            pixel_key(decode_image_file(dataset.image_path(image_id))): image_id for image_id in dataset.coco.imgs
        }
        self.queries_seen: list[Sequence[str] | None] = []

    def detect(
        self, images: Sequence[Image.Image], queries: Sequence[str] | None, min_score: float
    ) -> list[sv.Detections]:
        """Every annotation (crowd regions included: COCOeval ignores matches to them)."""
        self.queries_seen.append(queries)
        return [self._detect_one(self.image_ids[pixel_key(image)]) for image in images]

    def _detect_one(self, image_id: int) -> sv.Detections:
        annotations = self.dataset.coco.imgToAnns[image_id]
        if not annotations:
            return sv.Detections.empty()
        rng = np.random.default_rng(self.seed + image_id)
        boxes = []
        for annotation in annotations:
            x, y, w, h = annotation["bbox"]
            dx, dy = rng.uniform(-self.shift, self.shift, size=2) * (w, h)
            boxes.append([x + dx, y + dy, x + w + dx, y + h + dy])
        names = [self.dataset.category_names[a["category_id"]] for a in annotations]
        return sv.Detections(
            xyxy=np.asarray(boxes, dtype=np.float32),
            confidence=np.ones(len(boxes), dtype=np.float32),
            class_id=np.zeros(len(boxes), dtype=int),
            data={"class_name": np.asarray(names, dtype=object)},
        )


class ReferenceReaderForTest:
    """Test double of a TextReader: the receipt's own line transcripts, optionally without each line's last word."""

    def __init__(self, receipts_path: Path, drop_last_word: bool = False) -> None:
        self.lines = {
            pixel_key(decode_image_file(receipt.image_path)): receipt.lines for receipt in load_receipts(receipts_path)
        }
        self.drop_last_word = drop_last_word

    def read(self, image: Image.Image) -> list[TextLine]:
        """Reference lines as OCR output."""
        found = []
        for line in self.lines[pixel_key(image)]:
            text = " ".join(line.text.split()[:-1]) if self.drop_last_word else line.text
            found.append(TextLine(text=text, box=line.box, confidence=1.0))
        return found


class ReferenceTranscriberForTest:
    """Test double of a SpeechRecognizer: the clip's reference transcript, optionally without its first word."""

    def __init__(self, speech_path: Path, drop_first_word: bool = False) -> None:
        self.texts = {sample_key(load_audio(c.audio_path).samples()): c.text for c in load_speech(speech_path)}
        self.drop_first_word = drop_first_word
        self.languages: list[str | None] = []

    def add(self, audio_path: Path, text: str) -> None:
        """Know one more clip."""
        self.texts[sample_key(load_audio(audio_path).samples())] = text

    def transcribe(self, samples: np.ndarray, language: str | None) -> tuple[str, str | None, list[Word]]:
        """Reference text for the clip."""
        self.languages.append(language)
        text = self.texts[sample_key(samples)]
        return (" ".join(text.split()[1:]) if self.drop_first_word else text), language, []


def answer_for_test(text: str, question: str, stop_reason: str = "answered") -> Answer:
    """Test double of the agent's answer: a real ``Answer`` with no programs and zero timings."""
    zero = {name: 0 for name, spec in Timings.model_fields.items() if spec.is_required()}
    return Answer(
        text=text,
        question=question,
        boxes=[],
        programs=[],
        verdicts=[],
        evidence="",
        corrections=[],
        stop_reason=stop_reason,
        timings=Timings.model_validate(zero),
        thread_id="test",
    )


@dataclass
class ScriptedAnswererForTest:
    """Test double of the agent: answers with ``script(image, question, audio)`` and counts calls."""

    script: Callable[[str, str, str | None], str]
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)

    def ask(self, *, image: str, question: str, audio: str | None = None) -> Answer:
        """The scripted answer."""
        self.calls.append((image, question, audio))
        return answer_for_test(self.script(image, question, audio), question)
