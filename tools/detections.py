"""Detections: boxes (and optional masks) found on one image.

A thin typed wrapper over ``supervision.Detections``: every detector, segmenter and OCR engine
returns this one type, and box maths (areas, IoU, NMS, drawing) come from supervision.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import supervision as sv
from pydantic import BaseModel
from visorch.tools.drawing import annotate
from visorch.tools.images import ImageRef
from visorch.tools.kinds import ValueKind
from visorch.tools.quoting import quote_text
from visorch.tools.rendering import image_tag, meta_line

CLASS_NAME = "class_name"  # supervision's own key for per-box label strings
TEXT = "text"  # per-box text (OCR lines)


class BoxRecord(BaseModel):
    """One box as plain data (JSON, prompts, answers)."""

    box: tuple[float, float, float, float]
    label: str
    score: float | None = None
    text: str | None = None
    mask_area: int | None = None


class DetectionsRecord(BaseModel):
    """Detections as plain data, without pixels or masks."""

    image: ImageRef
    source: str
    boxes: list[BoxRecord]


@dataclass(frozen=True)
class Detections:
    """Boxes found on ``image`` by ``source`` (a backend name), wrapping ``sv.Detections``."""

    value_kind: ClassVar[ValueKind] = ValueKind.DETECTIONS
    widens_to: ClassVar[frozenset[ValueKind]] = frozenset()

    detections: sv.Detections
    image: ImageRef
    source: str = "unknown"
    notes: tuple[str, ...] = field(default=())
    """Caveats worth showing the planner (e.g. 'no class for unicorn in this detector')."""

    @classmethod
    def empty(cls, image: ImageRef, source: str, notes: Sequence[str] = ()) -> Detections:
        """No boxes."""
        return cls(sv.Detections.empty(), image, source, tuple(notes))

    @classmethod
    def from_boxes(
        cls,
        image: ImageRef,
        xyxy: Any,
        labels: Sequence[str],
        scores: Sequence[float] | None = None,
        source: str = "unknown",
        masks: np.ndarray | None = None,
        texts: Sequence[str] | None = None,
        class_ids: Sequence[int] | None = None,
        notes: Sequence[str] = (),
    ) -> Detections:
        """Build from plain arrays: xyxy (N, 4) in ``image`` pixels, one label per box."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        count = len(boxes)
        if len(labels) != count:
            raise ValueError(f"{count} boxes but {len(labels)} labels")
        data: dict[str, Any] = {CLASS_NAME: np.asarray(list(labels), dtype=object)}
        if texts is not None:
            data[TEXT] = np.asarray(list(texts), dtype=object)
        detections = sv.Detections(
            xyxy=boxes,
            mask=None if masks is None else np.asarray(masks, dtype=bool),
            confidence=None if scores is None else np.asarray(scores, dtype=np.float32),
            class_id=np.asarray(class_ids if class_ids is not None else [-1] * count, dtype=int),
            data=data,
        )
        return cls(detections, image, source, tuple(notes))

    def __len__(self) -> int:
        return len(self.detections)

    @property
    def xyxy(self) -> np.ndarray:
        """(N, 4) float boxes in ``image`` pixels."""
        return self.detections.xyxy

    @property
    def labels(self) -> list[str]:
        """One label per box."""
        names = self.detections.data.get(CLASS_NAME)
        return [str(name) for name in names] if names is not None else ["object"] * len(self)

    @property
    def scores(self) -> list[float | None]:
        """One confidence per box (None where the source gives none)."""
        if self.detections.confidence is None:
            return [None] * len(self)
        return [float(score) for score in self.detections.confidence]

    @property
    def texts(self) -> list[str] | None:
        """Per-box text (OCR lines), or None."""
        values = self.detections.data.get(TEXT)
        return None if values is None else [str(value) for value in values]

    @property
    def masks(self) -> np.ndarray | None:
        """(N, H, W) boolean masks, or None (supervision's compact masks are expanded)."""
        mask = self.detections.mask
        return None if mask is None else np.asarray(mask, dtype=bool)

    @property
    def areas(self) -> np.ndarray:
        """Box areas in pixels (mask areas where masks exist)."""
        masks = self.masks
        if masks is not None:
            return masks.reshape(len(self), -1).sum(axis=1).astype(float)
        return np.asarray(self.detections.box_area, dtype=float)

    def subset(self, indices: Sequence[int] | np.ndarray) -> Detections:
        """The boxes at ``indices``, in that order."""
        index = np.asarray(indices, dtype=int)
        chosen = self.detections[index]
        assert isinstance(chosen, sv.Detections)
        return Detections(chosen, self.image, self.source, self.notes)

    def with_notes(self, *notes: str) -> Detections:
        """The same boxes with extra caveats."""
        return Detections(self.detections, self.image, self.source, self.notes + tuple(notes))

    def in_root_image(self) -> Detections:
        """The boxes moved into the coordinates of the original (uncropped) image."""
        if self.image.parent is None:
            return self
        dx, dy = self.image.offset_in_root()
        moved = sv.Detections(
            xyxy=self.xyxy + np.array([dx, dy, dx, dy], dtype=np.float32),
            mask=None,
            confidence=self.detections.confidence,
            class_id=self.detections.class_id,
            data=dict(self.detections.data),
        )
        return Detections(moved, self.image.root(), self.source, self.notes)

    def records(self) -> list[BoxRecord]:
        """Boxes as plain data, rounded to a tenth of a pixel."""
        texts = self.texts
        masks = self.masks
        return [
            BoxRecord(
                box=(
                    round(float(box[0]), 1),
                    round(float(box[1]), 1),
                    round(float(box[2]), 1),
                    round(float(box[3]), 1),
                ),
                label=label,
                score=None if score is None else round(score, 3),
                text=None if texts is None else texts[i],
                mask_area=None if masks is None else int(masks[i].sum()),
            )
            for i, (box, label, score) in enumerate(zip(self.xyxy, self.labels, self.scores, strict=True))
        ]

    def to_record(self) -> DetectionsRecord:
        """Plain data for JSON."""
        return DetectionsRecord(image=self.image, source=self.source, boxes=self.records())

    def content_key(self) -> str:
        """A hash of the boxes, labels and masks, for result caching."""
        digest = hashlib.sha256(self.image.sha256.encode())
        digest.update(np.ascontiguousarray(self.xyxy, dtype=np.float32).tobytes())
        digest.update("\x1f".join(self.labels).encode())
        if self.masks is not None:
            digest.update(np.packbits(self.masks).tobytes())
        return digest.hexdigest()

    def describe(self, limit: int = 10) -> str:
        """A short text summary for prompts and logs."""
        if len(self) == 0:
            note = f" ({'; '.join(self.notes)})" if self.notes else ""
            return f"no boxes{note}"
        parts = []
        for record in self.records()[:limit]:
            x1, y1, x2, y2 = (round(v) for v in record.box)
            score = "" if record.score is None else f" {record.score:.2f}"
            # a line OCR read is quoted as data, never instructions (visorch.tools.quoting)
            text = "" if record.text is None else f" read: {quote_text(record.text, limit=200)}"
            parts.append(f"{record.label}{score}{text} [{x1},{y1},{x2},{y2}]")
        more = f", ... ({len(self) - limit} more)" if len(self) > limit else ""
        return f"{len(self)} box{'es' if len(self) != 1 else ''}: " + ", ".join(parts) + more

    def to_json_data(self) -> dict[str, Any]:
        """The boxes as JSON data (no masks or pixels)."""
        return {"kind": self.value_kind.value, **self.to_record().model_dump(mode="json")}

    def to_html(self) -> str:
        """The image with the boxes drawn, a table of the boxes (the first 50) and the source."""
        parts = []
        pixels = self.image.pil_if_readable()
        if pixels is not None:
            parts.append(image_tag(annotate(pixels, self.detections, self.labels), self.describe(3)))
        if len(self) == 0:
            note = "; ".join(self.notes)
            parts.append(f"<div>no boxes{' — ' + html.escape(note) if note else ''}</div>")
        else:
            rows = "".join(
                f"<tr><td>{html.escape(r.label)}</td><td>{'' if r.score is None else f'{r.score:.2f}'}</td>"
                f"<td>{', '.join(str(round(v)) for v in r.box)}</td>"
                f"<td>{'' if r.text is None else html.escape(r.text)}</td></tr>"
                for r in self.records()[:50]
            )
            parts.append(
                "<table class='boxes'><tr><th>label</th><th>score</th><th>box (x1, y1, x2, y2)</th><th>text</th></tr>"
                f"{rows}</table>"
            )
        parts.append(meta_line(f"source: {self.source}"))
        return "".join(parts)

    def as_kind(self, expected: ValueKind) -> Detections:
        """Itself: detections stand in for no other kind."""
        return self

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"Detections({self.describe(limit=3)}, source={self.source})"
