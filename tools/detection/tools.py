"""The detection tools: LOC (boxes of one kind of object) and FIND (every object the detector knows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import supervision as sv
from visorch.tools.context import ToolContext
from visorch.tools.detection.backends import OPEN_VOCABULARY
from visorch.tools.detections import Detections
from visorch.tools.errors import UnknownClassError
from visorch.tools.images import ImageRef
from visorch.tools.models.backend import Backend
from visorch.tools.registry import Tool, tool
from visorch.tools.vocabulary import COCO_CLASSES, resolve_class

DEFAULT_MIN_SCORE = 0.3


def _vocabulary_phrase(class_names: Sequence[str]) -> str:
    """How a note names a detector's vocabulary ('the 80 COCO classes', or a short list)."""
    if set(class_names) == set(COCO_CLASSES):
        return "the 80 COCO classes"
    shown = ", ".join(class_names[:12])
    return f"{len(class_names)} classes: {shown}" + (", ..." if len(class_names) > 12 else "")


def _open_vocabulary_backend(ctx: ToolContext) -> Backend | None:
    """An installed open-vocabulary detector, if there is one."""
    for backend in ctx.models.backends("detection"):
        if backend.extra.get(OPEN_VOCABULARY) and ctx.models.not_installed_reason(backend.name) is None:
            return backend
    return None


def _class_names(ctx: ToolContext, backend: Backend) -> Sequence[str] | None:
    """The backend's class list (None for open vocabulary); loads the model only when it must ask it."""
    if backend.extra.get(OPEN_VOCABULARY):
        return None
    declared = backend.extra.get("classes")
    if declared is not None:
        return list(declared)
    with ctx.models.use(backend.name) as detector:
        return None if detector.class_names is None else list(detector.class_names)


def _detect(
    ctx: ToolContext, backend: Backend, image: ImageRef, queries: Sequence[str] | None, min_score: float
) -> sv.Detections:
    """Run one image through the backend, batched with concurrent calls asking the same thing."""
    wanted = None if queries is None else list(queries)
    operation = f"detect:{'|'.join(wanted) if wanted is not None else '*'}:{min_score}"
    result: sv.Detections = ctx.models.run_batched(
        backend.name, operation, image.pil(), lambda detector, images: detector.detect(images, wanted, min_score)
    )
    return result


@tool(
    name="LOC",
    category="detection",
    capability="detection",
    cacheable=True,
    example="BOX0=LOC(image=IMAGE, object='bus')",
    limitations=(
        "The offline detectors (NanoDet-m, CenterNet) know only the 80 COCO classes (person, car, dog, chair, "
        "cup, ...); asking for another object fails with 'no class for X' (which says nothing about whether X is "
        "there), unless an open-vocabulary detector (OWLv2) is "
        "installed. NanoDet-m misses many small, distant, crowded or partly hidden objects (0.48 mAP@0.5 even "
        "on COCO images it was trained on) and its scores are low, so raise min_score only when false boxes "
        "hurt. It does not tell instances apart by colour, pose or identity: combine with CROP, COLOR or FILTER."
    ),
)
def locate(
    image: Annotated[ImageRef, "the image to search"],
    object: Annotated[str, "what to find: one kind of object, e.g. 'bus', 'people', 'cars'"],
    ctx: ToolContext,
    min_score: Annotated[float, "keep boxes at least this confident (0 to 1)"] = DEFAULT_MIN_SCORE,
) -> Detections:
    """Find boxes of one kind of object in the image."""
    backend = ctx.models.backend_for("detection")
    class_names = _class_names(ctx, backend)
    queries = [object]
    if class_names is not None:
        class_name = resolve_class(object, class_names)
        if class_name is not None:
            queries = [class_name]
        else:
            open_backend = _open_vocabulary_backend(ctx)
            if open_backend is None:
                raise UnknownClassError(
                    f"no class for '{object}' in {backend.name} (it knows {_vocabulary_phrase(class_names)}), "
                    f"so it cannot tell whether there is one; ask for one of its classes, or install an "
                    f"open-vocabulary detector: visorch models pull owlv2"
                )
            backend = open_backend
    found = _detect(ctx, backend, image, queries, min_score)
    return Detections(found, image, source=backend.name)


@tool(
    name="FIND",
    category="detection",
    capability="detection",
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
    ctx: ToolContext,
    min_score: Annotated[float, "keep boxes at least this confident (0 to 1)"] = DEFAULT_MIN_SCORE,
) -> Detections:
    """Find every object the detector knows in the image, with its class label."""
    backend = ctx.models.backend_for("detection")
    found = _detect(ctx, backend, image, None, min_score)
    return Detections(found, image, source=backend.name)


TOOLS: list[Tool] = [locate, find_objects]
