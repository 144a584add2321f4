"""The detection tools: LOC (boxes of one kind of object) and FIND (every object the detector knows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import supervision as sv
from visorch.tools.capability import Capability
from visorch.tools.detection.backends import OPEN_VOCABULARY
from visorch.tools.detections import Detections
from visorch.tools.errors import UnknownClassError
from visorch.tools.images import ImageRef
from visorch.tools.models.backend import Backend
from visorch.tools.models.handle import ModelHandle
from visorch.tools.models.protocols import Detector
from visorch.tools.registry import Range, Tool, tool
from visorch.tools.vocabulary import COCO_CLASSES, resolve_class

DEFAULT_MIN_SCORE = 0.3


def _vocabulary_phrase(class_names: Sequence[str]) -> str:
    """How a note names a detector's vocabulary ('the 80 COCO classes', or a short list)."""
    if set(class_names) == set(COCO_CLASSES):
        return "the 80 COCO classes"
    shown = ", ".join(class_names[:12])
    return f"{len(class_names)} classes: {shown}" + (", ..." if len(class_names) > 12 else "")


def _open_vocabulary_backend(model: ModelHandle[Detector]) -> Backend | None:
    """An installed open-vocabulary detector, if there is one."""
    return next((backend for backend in model.installed() if backend.extra.get(OPEN_VOCABULARY)), None)


def _class_names(model: ModelHandle[Detector]) -> Sequence[str] | None:
    """The backend's class list (None for open vocabulary); loads the model only when it must ask it."""
    if model.backend.extra.get(OPEN_VOCABULARY):
        return None
    declared = model.backend.extra.get("classes")
    if declared is not None:
        return list(declared)
    with model.use() as detector:
        return None if detector.class_names is None else list(detector.class_names)


def _detect(
    model: ModelHandle[Detector], image: ImageRef, queries: Sequence[str] | None, min_score: float
) -> sv.Detections:
    """Run one image through the backend, batched with concurrent calls asking the same thing."""
    wanted = None if queries is None else list(queries)
    operation = f"detect:{'|'.join(wanted) if wanted is not None else '*'}:{min_score}"
    return model.run_batched(
        operation, image.pil(), lambda detector, images: detector.detect(images, wanted, min_score)
    )


@tool(
    name="LOC",
    category="detection",
    capability=Capability.DETECTION,
    cacheable=True,
    example="BOX0=LOC(image=IMAGE, object='bus')",
    limitations=(
        "The offline detectors (NanoDet-m, CenterNet) know only the 80 COCO classes (person, car, dog, chair, "
        "cup, ...); asking for another object fails with 'no class for X' (which says nothing about whether X is "
        "there), unless an open-vocabulary detector (OWLv2) is "
        "installed. Detectors miss small, distant, crowded or partly hidden objects and give them low scores "
        "(the notes of each backend give its accuracy), so raise min_score only when false boxes hurt. It does not "
        "tell instances apart by colour, pose or identity: combine with CROP, COLOR or FILTER."
    ),
)
def locate(
    image: Annotated[ImageRef, "the image to search"],
    object: Annotated[str, "what to find: one kind of object, e.g. 'bus', 'people', 'cars'"],
    model: ModelHandle[Detector],
    min_score: Annotated[float, Range(0, 1), "keep boxes at least this confident"] = DEFAULT_MIN_SCORE,
) -> Detections:
    """Find boxes of one kind of object in the image."""
    class_names = _class_names(model)
    queries = [object]
    if class_names is not None:
        class_name = resolve_class(object, class_names)
        if class_name is not None:
            queries = [class_name]
        else:
            open_backend = _open_vocabulary_backend(model)
            if open_backend is None:
                raise UnknownClassError(
                    f"no class for '{object}' in {model.name} (it knows {_vocabulary_phrase(class_names)}), "
                    f"so it cannot tell whether there is one; ask for one of its classes, or install an "
                    f"open-vocabulary detector: visorch models pull owlv2"
                )
            model = model.on(open_backend)
    found = _detect(model, image, queries, min_score)
    return Detections(found, image, source=model.name)


@tool(
    name="FIND",
    category="detection",
    capability=Capability.DETECTION,
    cacheable=True,
    example="BOX0=FIND(image=IMAGE)",
    limitations=(
        "Finds only what the detector has classes for (the 80 COCO classes offline; with OWLv2 it asks for "
        "those 80 too), at most 100 boxes per image. Small or crowded objects are often missed and labels "
        "of look-alike classes (cup/bowl, car/truck) get confused."
    ),
)
def find_objects(
    image: Annotated[ImageRef, "the image to search"],
    model: ModelHandle[Detector],
    min_score: Annotated[float, Range(0, 1), "keep boxes at least this confident"] = DEFAULT_MIN_SCORE,
) -> Detections:
    """Find every object the detector knows in the image, with its class label."""
    found = _detect(model, image, None, min_score)
    return Detections(found, image, source=model.name)


TOOLS: list[Tool] = [locate, find_objects]
