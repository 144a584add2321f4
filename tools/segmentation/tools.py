"""Segmentation tools: outline boxed objects (SEG) or the object under a point (SEG_POINT) with pixel masks."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import supervision as sv
from visorch.tools.builtin.geometry import boxes_on
from visorch.tools.capability import Capability
from visorch.tools.context import ToolContext
from visorch.tools.detections import CLASS_NAME, Detections
from visorch.tools.errors import ToolArgumentError, ToolNotInstalledError
from visorch.tools.images import ImageRef
from visorch.tools.models.backend import Backend
from visorch.tools.models.handle import ModelHandle
from visorch.tools.models.protocols import PointSegmenter, Segmenter
from visorch.tools.registry import Range, Tool, tool
from visorch.tools.segmentation.backends import PROMPTS


def source_label(backend: Backend) -> str:
    """The backend name shown in results and traces, marked when the method is classical."""
    return f"{backend.name} (classical)" if backend.classical else backend.name


def _notes(backend: Backend, masks: np.ndarray, labels: list[str]) -> list[str]:
    notes = []
    if backend.classical:
        notes.append(f"masks from {backend.title}: rough where object and background share colours")
    empty = [f"{i} ({labels[i]})" for i in range(len(masks)) if not masks[i].any()]
    if empty:
        notes.append(f"{backend.name} found no mask for box {', '.join(empty)}")
    return notes


@tool(
    name="SEG",
    category="segmentation",
    capability=Capability.SEGMENTATION,
    cacheable=True,
    example="BOX1=SEG(image=IMAGE, box=BOX0)",
    limitations=(
        "One mask per box, outlining the main object in it (a box around two objects gives one mask). "
        "Uses the best installed backend: SAM, MobileSAM, FastSAM, else classical GrabCut, which is rough "
        "where object and background share colours (its results say 'grabcut (classical)')."
    ),
)
def segment(
    image: Annotated[ImageRef, "the image"],
    box: Annotated[Detections, "boxes to segment"],
    model: ModelHandle[Segmenter],
) -> Detections:
    """Outline each box's object with a pixel mask (same boxes and labels, masks added)."""
    backend = model.backend
    placed = boxes_on(image, box).astype(np.float32)
    prompts = np.clip(placed, 0, [image.width, image.height, image.width, image.height])
    method_notes: list[str] = []
    if len(box) == 0:
        masks = np.zeros((0, image.height, image.width), dtype=bool)
    else:
        with model.use() as segmenter:
            if hasattr(segmenter, "segment_with_notes"):  # says where its masks are fallback guesses
                found, method_notes = segmenter.segment_with_notes(image.pil(), prompts)
            else:
                found = segmenter.segment(image.pil(), prompts)
            masks = np.asarray(found, dtype=bool)
    if masks.shape != (len(box), image.height, image.width):
        raise ToolArgumentError(f"{backend.name} returned masks of shape {masks.shape} for {len(box)} boxes")
    detections = sv.Detections(
        xyxy=placed,
        mask=masks,
        confidence=box.detections.confidence,
        class_id=box.detections.class_id,
        data=dict(box.detections.data),
    )
    notes = [*box.notes, *_notes(backend, masks, box.labels), *method_notes]
    return Detections(detections, image, source_label(backend), tuple(notes))


def point_backend(model: ModelHandle[PointSegmenter]) -> Backend:
    """The segmentation backend to use for point prompts: the preferred one when it takes points."""
    preferred = model.backend
    for candidate in model.installed():  # the preferred one first
        if "point" in candidate.extra.get(PROMPTS, ()):
            return candidate
    options = [b for b in model.manager.backends(Capability.SEGMENTATION) if "point" in b.extra.get(PROMPTS, ())]
    commands = "; or ".join(b.install_command for b in sorted(options, key=lambda b: b.size_mb)[:2])
    raise ToolNotInstalledError(
        f"point prompts need a SAM-family model ({preferred.name} takes boxes only): run {commands}"
    )


def _takes_points(ctx: ToolContext) -> bool:
    """Whether an installed segmentation backend takes point prompts."""
    return any(
        "point" in backend.extra.get(PROMPTS, ()) and ctx.models.not_installed_reason(backend.name) is None
        for backend in ctx.models.backends(Capability.SEGMENTATION)
    )


@tool(
    name="SEG_POINT",
    availability=_takes_points,
    category="segmentation",
    capability=Capability.SEGMENTATION,
    cacheable=False,  # the backend may differ from the capability's default, which the cache key names
    example="BOX0=SEG_POINT(image=IMAGE, x=320, y=240)",
    limitations=(
        "Needs a SAM-family model (SAM, SAM 2.1, MobileSAM); GrabCut and FastSAM take boxes only. "
        "A point is ambiguous (part or whole object): SAM's best-rated of three masks is kept."
    ),
)
def segment_point(
    image: Annotated[ImageRef, "the image"],
    x: Annotated[float, Range(0, None), "horizontal pixel position of a point on the object"],
    y: Annotated[float, Range(0, None), "vertical pixel position of a point on the object"],
    model: ModelHandle[PointSegmenter],
) -> Detections:
    """Outline the object under one point with a mask; its box is the mask's bounds."""
    if not (0 <= x < image.width and 0 <= y < image.height):
        raise ToolArgumentError(f"point ({x}, {y}) is outside the {image.width}x{image.height} image")
    backend = point_backend(model)
    with model.on(backend).use() as segmenter:
        masks = np.asarray(segmenter.segment_points(image.pil(), np.array([[x, y]], dtype=np.float32)), dtype=bool)
    source = source_label(backend)
    if not masks.any():
        return Detections.empty(image, source, notes=[f"{backend.name} found no object at ({x:g}, {y:g})"])
    xyxy = sv.mask_to_xyxy(masks).astype(np.float32)
    detections = sv.Detections(
        xyxy=xyxy, mask=masks, class_id=np.array([-1]), data={CLASS_NAME: np.array(["object"], dtype=object)}
    )
    return Detections(detections, image, source)


TOOLS: list[Tool] = [segment, segment_point]
