"""EXISTS and HOW_MANY: existence and counts from every installed detector fused, checked by the ImageNet
classifier, with calibrated confidence. Both answer in words that carry the uncertainty ('uncertain',
'probably 2; 1 more is doubtful'), so that "could not tell" never turns into "no" or "0".

``closer=True`` is the second look the agent takes when the first was weak (see
:mod:`visorch.roles.decision`): every expert also sees the mirrored image and overlapping tiles
(the ``fused-tiles`` backend), with that setting's own calibration; EXISTS then pools the two looks'
probabilities (:func:`~visorch.tools.fusion.calibration.pool_looks`).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import supervision as sv
from visorch.tools.capability import Capability
from visorch.tools.classification.backends import CLASSIFICATION
from visorch.tools.classification.efficientnet import classifier_views, imagenet_to_coco
from visorch.tools.context import ToolContext
from visorch.tools.detections import Detections
from visorch.tools.errors import UnknownClassError
from visorch.tools.fusion.calibration import CLOSER_LOOK, Calibration, Existence, default_calibration, pool_looks
from visorch.tools.fusion.ensemble import VOTES, WHOLE_VOTES, whole_view_scores
from visorch.tools.fusion.grounded import GroundedText
from visorch.tools.images import ImageRef
from visorch.tools.registry import Tool, tool
from visorch.tools.vocabulary import COCO_CLASSES, resolve_class

FUSED_BACKEND = "fused"
CLOSER_BACKEND = "fused-tiles"
CANDIDATE_MIN_SCORE = 0.05
CLOSER_HELP = "look closer: also a mirrored view and overlapping tiles (slower; for small objects)"
FUSED_TOOLS = ("EXISTS", "HOW_MANY")
"""The tools of this module: offered to the planner unless the agent runs the single-detector setting."""


def _coco_class(object: str) -> str:
    name = resolve_class(object, COCO_CLASSES)
    if name is None:
        raise UnknownClassError(
            f"no COCO class for '{object}': the fused detectors cannot tell whether there is one; "
            "ask for one of the 80 COCO classes (person, car, dog, cup, ...)"
        )
    return name


def _fused_boxes(ctx: ToolContext, image: ImageRef, class_name: str, backend: str) -> sv.Detections:
    with ctx.models.use(backend) as fused:
        found: sv.Detections = fused.detect([image.pil()], [class_name], CANDIDATE_MIN_SCORE)[0]
    return found


def _classifier_score(ctx: ToolContext, image: ImageRef, class_name: str, boxes: sv.Detections) -> float | None:
    """The classifier's best view (image, tiles, crops of the candidate boxes), where the class is mapped."""
    if class_name not in imagenet_to_coco():
        return None
    backends = [b for b in ctx.models.backends(CLASSIFICATION) if ctx.models.not_installed_reason(b.name) is None]
    if not backends:
        return None
    views = classifier_views(image.pil(), [tuple(map(float, box)) for box in boxes.xyxy[:4]])
    with ctx.models.use(backends[0].name) as classifier:
        evidence = classifier.evidence(views, [class_name]).get(class_name)
    return None if evidence is None else evidence.score


def _existence(
    ctx: ToolContext, image: ImageRef, class_name: str, backend: str
) -> tuple[Existence, sv.Detections, Calibration]:
    """One look's calibrated existence of the class, its candidate boxes and the calibration that judged them."""
    boxes = _fused_boxes(ctx, image, class_name, backend)
    scores = [float(s) for s in np.asarray(boxes.confidence if boxes.confidence is not None else [])]
    classifier = _classifier_score(ctx, image, class_name, boxes)
    calibration = default_calibration(backend)
    return calibration.existence(class_name, scores, classifier, whole_view_scores(boxes)), boxes, calibration


def _backend(closer: bool) -> str:
    return CLOSER_BACKEND if closer else FUSED_BACKEND


def _look(closer: bool) -> str:
    return f"; {CLOSER_LOOK}" if closer else ""


def _grounded(text: str, boxes: sv.Detections, rests_on: list[int], image: ImageRef, closer: bool) -> GroundedText:
    """The answer text with the boxes it rests on (``rests_on``: their indices), for the agent's grounding."""
    kept = boxes[np.array(rests_on, dtype=int)]
    chosen = kept if isinstance(kept, sv.Detections) else sv.Detections.empty()
    return GroundedText(text, Detections(chosen, image, source=_backend(closer)))


def _votes_text(boxes: sv.Detections, limit: int = 3) -> str:
    if len(boxes) == 0:
        return "no candidate box"
    parts = []
    for index in range(min(limit, len(boxes))):
        votes = boxes.data[VOTES][index] or {}
        seen = ", ".join(f"{name} {score:.2f}" for name, score in votes.items())
        if WHOLE_VOTES in boxes.data and not boxes.data[WHOLE_VOTES][index]:
            seen += "; tiles only"  # the whole image and its mirror did not show it (the closer look's tiles did)
        parts.append(f"box {index} {float(np.asarray(boxes.confidence)[index]):.2f} [{seen}]")
    return "; ".join(parts)


@tool(
    name="EXISTS",
    category="detection",
    capability=Capability.DETECTION,
    cacheable=True,
    example="ANSWER0=EXISTS(image=IMAGE, object='dog')",
    limitations=(
        "Answers 'present', 'absent' or 'uncertain' with a calibrated probability and its evidence (which "
        "detectors voted, the classifier's score). 'uncertain' means the evidence is weak: look again "
        "(closer=True), and never read it as 'no'. Only the 80 COCO classes."
    ),
)
def exists(
    image: Annotated[ImageRef, "the image to look at"],
    object: Annotated[str, "one kind of object, e.g. 'dog', 'bottles'"],
    ctx: ToolContext,
    closer: Annotated[bool, CLOSER_HELP] = False,
) -> str:
    """Whether there is such an object: present / absent / uncertain, with confidence and evidence."""
    class_name = _coco_class(object)
    verdict, boxes, calibration = _existence(ctx, image, class_name, _backend(closer))
    if closer:  # the closer look adds its evidence to the first look's (calibration.pool_looks)
        verdict = pool_looks(_existence(ctx, image, class_name, FUSED_BACKEND)[0], verdict)
    scores = [float(s) for s in np.asarray(boxes.confidence if boxes.confidence is not None else [])]
    real = [i for i, score in enumerate(scores) if calibration.box_probability(class_name, score) >= 0.5]
    text = f"{verdict.describe(class_name)}{_look(closer)}; {_votes_text(boxes)}"
    return _grounded(text, boxes, real if verdict.verdict == "present" else [], image, closer)


@tool(
    name="HOW_MANY",
    category="detection",
    capability=Capability.DETECTION,
    cacheable=True,
    example="ANSWER0=HOW_MANY(image=IMAGE, object='people')",
    limitations=(
        "The most likely count from every detector fused, with its probability and the number of doubtful "
        "boxes ('probably 2 (p=0.55); 1 more is doubtful'); 'probably' is weak evidence: look again "
        "(closer=True). Small, crowded or hidden objects are still missed."
    ),
)
def how_many(
    image: Annotated[ImageRef, "the image to look at"],
    object: Annotated[str, "one kind of object, e.g. 'people', 'cars'"],
    ctx: ToolContext,
    closer: Annotated[bool, CLOSER_HELP] = False,
) -> str:
    """How many such objects there are, with confidence and how many more are doubtful."""
    class_name = _coco_class(object)
    boxes = _fused_boxes(ctx, image, class_name, _backend(closer))
    scores = [float(s) for s in np.asarray(boxes.confidence if boxes.confidence is not None else [])]
    classifier = _classifier_score(ctx, image, class_name, boxes)
    estimate = default_calibration(_backend(closer)).count(class_name, scores, classifier, whole_view_scores(boxes))
    counted = list(range(estimate.count if estimate.localised else 0))  # the best boxes (fused boxes come best first)
    hedge = "" if estimate.confident else "probably "
    doubtful = f"; {estimate.doubtful} more is doubtful" if estimate.doubtful == 1 else (
        f"; {estimate.doubtful} more are doubtful" if estimate.doubtful else "")  # fmt: skip
    seen = "" if estimate.localised else "; present, not localised: no box strong enough to count"
    text = f"{hedge}{estimate.count} (p={estimate.confidence:.2f}){doubtful}{seen}{_look(closer)}; "
    return _grounded(text + _votes_text(boxes), boxes, counted, image, closer)


TOOLS: list[Tool] = [exists, how_many]
