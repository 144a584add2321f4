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
from visorch.tools.fusion.calibration import CALIBRATION_FILES, CountEstimate, Existence, Verdict, default_calibration
from visorch.tools.fusion.ensemble import VOTES, whole_view_scores
from visorch.tools.fusion.tools import CANDIDATE_MIN_SCORE, _classifier_score
from visorch.tools.images import ImageRef
from visorch.tools.text import OCRText
from visorch.tools.vocabulary import COCO_CLASSES, resolve_class


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
    second_look: dict[str, SecondLook] = field(default_factory=dict)
    """For objects with no box at the existence threshold (or only weak ones, then only when absent): the fused
    experts' calibrated word."""
    rechecked: dict[str, float] = field(default_factory=dict)
    """Objects whose best first-look box was weak (below recheck_below), with its score, that the look did not
    confirm (absent: removed; uncertain: unverified, the weak boxes kept)."""


@dataclass(frozen=True)
class SecondLook:
    """The fused experts' (and the classifier's) word on an object the detector did not find at the threshold."""

    backend: str
    existence: Existence
    count: CountEstimate
    boxes: list[NormalisedBox]
    """Fused boxes as likely real as not (calibrated box probability >= 0.5), best first."""
    verdict: Verdict
    """present / absent / uncertain by the correction's own rule (CorrectionConfig.absent_at_most on P(present),
    and a weak first-look box no other expert saw)."""
    first_box: FirstBox | None = None
    """For an object the first look found only weakly: who else saw its box (None: no weak box was checked)."""

    def describe(self, name: str) -> str:
        """'fused: dog absent, p=0.04 (detectors 0.04, classifier 0.01)'."""
        evidence = self.existence.describe(name).split(", p=", 1)[-1]
        where = "" if self.boxes or self.verdict != "present" else ", present but not localised"
        first = f"; {self.first_box.describe()}" if self.first_box is not None else ""
        return f"{self.backend}: {name} {self.verdict}{where}, p={evidence}{first}"


@dataclass(frozen=True)
class FirstBox:
    """A weak first-look box cross-checked against the fused experts' boxes: the votes of the fused box at its
    place (IoU >= CORROBORATION_IOU), so two detectors agreeing on one box tells from one detector alone."""

    source: str
    """The first look's detector."""
    score: float
    votes: dict[str, float]
    """Expert -> its score for the fused box at the first-look box's place (empty: no fused box there)."""

    @property
    def corroborated(self) -> bool:
        """Whether an expert other than the first look's own detector saw the box."""
        return any(expert != self.source for expert in self.votes)

    def describe(self) -> str:
        """'the first look's box (nanodet-m 0.36) no other expert saw' or '... also seen by centernet-mb3 0.22'."""
        others = ", ".join(f"{name} {score:.2f}" for name, score in self.votes.items() if name != self.source)
        seen = f"also seen by {others}" if others else "no other expert saw"
        return f"the first look's box ({self.source} {self.score:.2f}) {seen}"


CORROBORATION_IOU = 0.3
"""A fused box overlapping a first-look box at least this much is the same object seen again."""


def first_box_votes(box: NormalisedBox, candidates: sv.Detections) -> dict[str, float]:
    """The experts' votes on the fused candidate that overlaps ``box`` most (IoU >= CORROBORATION_IOU), or {}."""
    if len(candidates) == 0 or VOTES not in candidates.data:
        return {}
    overlaps = sv.box_iou_batch(np.array([box.pixels], dtype=np.float32), candidates.xyxy.astype(np.float32))[0]
    best = int(np.argmax(overlaps))
    if overlaps[best] < CORROBORATION_IOU:
        return {}
    return {str(name): float(score) for name, score in (candidates.data[VOTES][best] or {}).items()}


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


def look_again(
    runtime: Runtime,
    image: ImageRef,
    classes: dict[str, str],
    backend: str,
    absent_at_most: float = 0.5,
    merge_iou: float = 0.6,
    weak: dict[str, tuple[NormalisedBox, str]] | None = None,
) -> dict[str, SecondLook] | None:
    """Concept -> the fused experts' calibrated existence and count for its class (one pass over the experts
    for all ``classes``, concept -> COCO class), or None when ``backend`` is not installed here.

    The verdict: present when the calibrated existence says present or a box is as likely real as not; absent
    when the calibrated P(present) is at most ``absent_at_most``, or when the concept's weak first-look box
    (``weak``: concept -> (box, the first look's detector)) is one no other expert saw; else uncertain.
    """
    models = runtime.context.models
    known = [b for b in models.backends(Capability.DETECTION) if b.name == backend]
    wanted = sorted({name for name in classes.values() if name in COCO_CLASSES})
    if not known or models.not_installed_reason(backend) is not None or not wanted:
        return None
    with models.use(backend) as fused:
        found: sv.Detections = fused.detect([image.pil()], wanted, CANDIDATE_MIN_SCORE)[0]
    calibration = default_calibration(backend if backend in CALIBRATION_FILES else "fused")  # the backend's own fit
    names = Detections(found, image, backend).labels
    looks = {}
    for concept, class_name in classes.items():
        if class_name not in wanted:
            continue
        mine = found[np.array([name == class_name for name in names], dtype=bool)] if len(found) else found
        assert isinstance(mine, sv.Detections)
        scores = [float(score) for score in np.asarray(mine.confidence if mine.confidence is not None else [])]
        classifier = _classifier_score(runtime.context, image, class_name, mine)
        whole = whole_view_scores(mine) if calibration.presence_from == "whole-view vote" else None
        existence = calibration.existence(class_name, scores, classifier, whole)
        threshold = calibration.threshold(class_name)
        boxes = normalised_boxes(Detections(mine, image, backend), threshold, merge_iou) if len(mine) else []
        first = None
        if weak and concept in weak:
            box, source = weak[concept]
            first = FirstBox(source, box.score or 0.0, first_box_votes(box, mine))
        verdict: Verdict = "uncertain"
        if existence.verdict == "present" or boxes:
            verdict = "present"
        elif existence.probability <= absent_at_most or (first is not None and not first.corroborated):
            verdict = "absent"
        count = calibration.count(class_name, scores, None, whole)
        looks[concept] = SecondLook(backend, existence, count, boxes, verdict, first)
    return looks


def run_validation(
    runtime: Runtime,
    image: ImageRef,
    plan: ValidationPlan,
    min_score: float,
    merge_iou: float,
    unsure_min_score: float | None = None,
    second_opinion: tuple[str, ...] = (),
    detector_classes: dict[str, str] | None = None,
    second_look: str | None = None,
    absent_at_most: float = 0.5,
    recheck_below: float = 0.0,
) -> tuple[Trace | None, Findings]:
    """Run the plan's program on ``image`` and sort the step outputs by concept.

    Objects with no box at ``min_score`` get a second look: the fused experts (``second_look``, one pass for
    all of them) when installed, else the first installed detector of ``second_opinion`` for a box in the
    unsure band. With a second look, objects whose best box is below ``recheck_below`` are looked at too: they
    lose their boxes when the look says absent, and are unverified (boxes kept) when it is uncertain."""
    findings = Findings()
    if not plan.source:
        return None, findings
    trace = runtime.run_program(plan.source, {"IMAGE": image})
    records = {record.target: record for record in trace.steps}
    classes = detector_classes or {}
    missing: dict[str, Detections] = {}
    weak: dict[str, tuple[NormalisedBox, str]] = {}
    for concept, step in plan.detect_step.items():
        answer = _answer(records[step])
        findings.detections[concept] = answer
        if answer.ok and isinstance(answer.value, Detections):
            boxes = findings.boxes[concept] = normalised_boxes(answer.value, min_score, merge_iou)
            if not boxes and classes.get(concept):
                missing[concept] = answer.value
            elif boxes and classes.get(concept) and (boxes[0].score or 0.0) < recheck_below:
                weak[concept] = (boxes[0], answer.value.source)
    looks = None
    if (missing or weak) and second_look:
        wanted = {c: classes[c] for c in [*missing, *weak]}
        looks = look_again(runtime, image, wanted, second_look, absent_at_most, merge_iou, weak)
    if looks is not None:
        for concept, look in looks.items():
            if concept in weak:  # found by the first look: absent overrules it, uncertain leaves it unverified
                if look.verdict != "present":
                    findings.rechecked[concept] = weak[concept][0].score or 0.0
                    findings.second_look[concept] = look
                if look.verdict == "absent":
                    findings.boxes[concept] = []
                continue
            findings.second_look[concept] = look
            if look.verdict == "present":
                findings.boxes[concept] = look.boxes
    elif unsure_min_score is not None and unsure_min_score < min_score:
        for concept, detections in missing.items():
            unsure = normalised_boxes(detections, unsure_min_score, merge_iou)
            if not unsure:
                continue
            findings.unsure[concept] = unsure
            opinion = ask_second_detector(runtime, image, classes[concept], second_opinion)
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
