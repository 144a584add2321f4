"""Stage 3, visual validation: the questions' program run once through the runtime's executor.

Running every question as one program means independent steps run concurrently and the result
cache answers repeated calls. The detector's boxes are then thresholded and duplicate boxes merged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import supervision as sv
from visorch.correction.questions import ValidationPlan
from visorch.correction.types import NormalisedBox
from visorch.programs.trace import StepRecord, Trace
from visorch.runtime import Runtime
from visorch.tools.capability import Capability
from visorch.tools.detections import Detections
from visorch.tools.images import ImageRef
from visorch.tools.text import OCRText
from visorch.tools.vocabulary import resolve_class


@dataclass
class StepAnswer:
    """One program step's outcome: its value, or why it has none."""

    step: str
    ok: bool
    value: Any = None
    error: str | None = None
    error_type: str | None = None


@dataclass
class Findings:
    """What the tools found, by concept name."""

    boxes: dict[str, list[NormalisedBox]] = field(default_factory=dict)
    """Merged boxes at or above the existence threshold, best first."""
    detections: dict[str, StepAnswer] = field(default_factory=dict)
    colours: dict[str, StepAnswer] = field(default_factory=dict)
    vqa_colours: dict[str, StepAnswer] = field(default_factory=dict)
    texts: dict[str, StepAnswer] = field(default_factory=dict)
    classified: dict[str, StepAnswer] = field(default_factory=dict)
    unsure: dict[str, list[NormalisedBox]] = field(default_factory=dict)
    """Boxes of objects with no box at the existence threshold but one in the unsure band."""
    second_opinion: dict[str, tuple[str, float]] = field(default_factory=dict)
    """For unsure objects: (the second detector asked, its best score for the class)."""


def normalised_boxes(detections: Detections, min_score: float, merge_iou: float) -> list[NormalisedBox]:
    """Boxes at or above ``min_score``, duplicates merged, in 0-1 coordinates of the root image."""
    if len(detections) == 0:
        return []
    rooted = detections.in_root_image()
    found: sv.Detections = rooted.detections
    if found.confidence is not None:
        kept = found[found.confidence >= min_score]
        assert isinstance(kept, sv.Detections)
        found = kept.with_nms(threshold=merge_iou, class_agnostic=True) if len(kept) > 1 else kept
    root = rooted.image
    width, height = float(root.width), float(root.height)
    merged = Detections(found, root, rooted.source)
    order: list[int] = [int(i) for i in np.argsort([-(score or 0.0) for score in merged.scores])]
    boxes = []
    for index in order:
        x1, y1, x2, y2 = (float(v) for v in merged.xyxy[index])
        score = merged.scores[index]
        boxes.append(
            NormalisedBox(
                label=merged.labels[index],
                box=(round(x1 / width, 3), round(y1 / height, 3), round(x2 / width, 3), round(y2 / height, 3)),
                pixels=(round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)),
                score=None if score is None else round(score, 3),
            )
        )
    return boxes


def _answer(record: StepRecord) -> StepAnswer:
    return StepAnswer(record.target, record.ok, record.output if record.ok else None, record.error, record.error_type)


def ask_second_detector(
    runtime: Runtime, image: ImageRef, detector_class: str, backends: tuple[str, ...]
) -> tuple[str, float] | None:
    """(backend, best score) from the first installed detector of ``backends`` that knows the class, or None."""
    models = runtime.context.models
    for name in backends:
        known = [backend for backend in models.backends(Capability.DETECTION) if backend.name == name]
        if not known or models.not_installed_reason(name) is not None:
            continue
        with models.use(name) as detector:
            names = list(detector.class_names or [])
            query = resolve_class(detector_class, names)
            if query is None:
                continue
            found = detector.detect([image.pil()], [query], 0.01)[0]
        best = float(max(found.confidence)) if len(found) and found.confidence is not None else 0.0
        return name, best
    return None


def run_validation(
    runtime: Runtime,
    image: ImageRef,
    plan: ValidationPlan,
    min_score: float,
    merge_iou: float,
    unsure_min_score: float | None = None,
    second_opinion: tuple[str, ...] = (),
    detector_classes: dict[str, str] | None = None,
) -> tuple[Trace | None, Findings]:
    """Run the plan's program on ``image`` and sort the step outputs by concept."""
    findings = Findings()
    if not plan.source:
        return None, findings
    trace = runtime.run_program(plan.source, {"IMAGE": image})
    records = {record.target: record for record in trace.steps}
    for concept, step in plan.detect_step.items():
        answer = _answer(records[step])
        findings.detections[concept] = answer
        if answer.ok and isinstance(answer.value, Detections):
            findings.boxes[concept] = normalised_boxes(answer.value, min_score, merge_iou)
            if not findings.boxes[concept] and unsure_min_score is not None and unsure_min_score < min_score:
                unsure = normalised_boxes(answer.value, unsure_min_score, merge_iou)
                detector_class = (detector_classes or {}).get(concept)
                if unsure and detector_class:
                    findings.unsure[concept] = unsure
                    opinion = ask_second_detector(runtime, image, detector_class, second_opinion)
                    if opinion is not None:
                        findings.second_opinion[concept] = opinion
                        if opinion[1] >= min_score:  # the second detector is sure: the unsure boxes stand
                            findings.boxes[concept] = unsure
    for target, steps in ((findings.colours, plan.colour_step), (findings.vqa_colours, plan.vqa_colour_step),
                          (findings.texts, plan.ocr_step), (findings.classified, plan.classify_step)):  # fmt: skip
        for concept, step in steps.items():
            target[concept] = _answer(records[step])
    return trace, findings


def ocr_text(value: Any) -> str:
    """The text OCR read, lines joined by spaces."""
    if isinstance(value, OCRText):
        return " ".join(line.text for line in value.lines)
    return str(value or "")
