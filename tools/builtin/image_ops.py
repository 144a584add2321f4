"""Image operations: loading, cropping by a box or beside it, and drawing boxes."""

from __future__ import annotations

from typing import Annotated, Literal

import supervision as sv
from visorch.tools.builtin.geometry import boxes_on, clamp_window, pick_box
from visorch.tools.context import ToolContext
from visorch.tools.detections import Detections
from visorch.tools.drawing import annotate
from visorch.tools.images import ImageRef
from visorch.tools.registry import Range, Tool, tool

Side = Literal["left", "right", "above", "below"]


def _crop(ctx: ToolContext, image: ImageRef, window: tuple[int, int, int, int]) -> ImageRef:
    left, top, right, bottom = window
    pixels = image.pil().crop((left, top, right, bottom))
    return ctx.images.put(pixels, parent=image, offset=(left, top))


@tool(
    name="LOAD",
    category="image",
    example="IMAGE1=LOAD(path='photos/street.jpg')",
    limitations=(
        "Reads only the program's input files and files under the configured allowed_roots; EXIF orientation "
        "is applied and every format is converted to RGB."
    ),
    offered_to_planner=False,  # the planner must not open files by path on its own
)
def load_image(path: Annotated[str, "path of an image file"], ctx: ToolContext) -> ImageRef:
    """Load an image file (JPEG, PNG, WebP, TIFF, ...) as an image value."""
    return ctx.images.load(ctx.files.check(path))


@tool(
    name="CROP",
    category="image",
    example="IMAGE0=CROP(image=IMAGE, box=BOX0)",
    limitations="Crops one box (the first by default); fails clearly when the detections are empty.",
)
def crop(
    image: Annotated[ImageRef, "the image to crop"],
    box: Annotated[Detections, "detections whose box gives the crop window"],
    ctx: ToolContext,
    index: Annotated[int, Range(-1, None), "which box to use (0 = first, -1 = last)"] = 0,
    margin: Annotated[float, Range(0, 5), "extra border as a fraction of the box size"] = 0.0,
) -> ImageRef:
    """Crop the image to one detected box, optionally with a margin around it."""
    x1, y1, x2, y2 = pick_box(image, box, index)
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    return _crop(ctx, image, clamp_window(image, x1 - dx, y1 - dy, x2 + dx, y2 + dy))


def _crop_beside(ctx: ToolContext, image: ImageRef, box: Detections, index: int, side: Side) -> ImageRef:
    x1, y1, x2, y2 = pick_box(image, box, index)
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    window = {
        "left": (0, 0, centre_x, image.height),
        "right": (centre_x, 0, image.width, image.height),
        "above": (0, 0, image.width, centre_y),
        "below": (0, centre_y, image.width, image.height),
    }[side]
    return _crop(ctx, image, clamp_window(image, *window))


_BESIDE_LIMITATIONS = "Uses the box centre as the border, so the box itself is half inside the crop."


def _crop_beside_tool(side: Side, name: str, extent: str) -> Tool:
    """The CROP_<side> tool: the part of the image on ``side`` of a box's centre."""

    def crop_beside(
        image: Annotated[ImageRef, "the image to crop"],
        box: Annotated[Detections, "the reference box"],
        ctx: ToolContext,
        index: Annotated[int, Range(-1, None), "which box to use (0 = first, -1 = last)"] = 0,
    ) -> ImageRef:
        return _crop_beside(ctx, image, box, index, side)

    place = f"{side} of" if side in ("left", "right") else side
    crop_beside.__doc__ = f"The part of the image {place} the box centre ({extent})."
    crop_beside.__name__ = crop_beside.__qualname__ = f"crop_{side}"
    return tool(
        name=name, category="image", example=f"IMAGE0={name}(image=IMAGE, box=BOX0)", limitations=_BESIDE_LIMITATIONS
    )(crop_beside)


crop_left_of = _crop_beside_tool("left", "CROP_LEFTOF", "full height")
crop_right_of = _crop_beside_tool("right", "CROP_RIGHTOF", "full height")
crop_above = _crop_beside_tool("above", "CROP_ABOVE", "full width")
crop_below = _crop_beside_tool("below", "CROP_BELOW", "full width")


@tool(
    name="TAG",
    category="image",
    example="IMAGE0=TAG(image=IMAGE, box=BOX0)",
    limitations="Draws boxes (and masks when present) with their labels; it does not change the detections.",
)
def tag(
    image: Annotated[ImageRef, "the image to draw on"],
    box: Annotated[Detections, "the detections to draw"],
    ctx: ToolContext,
) -> ImageRef:
    """Draw the detections' boxes and labels on the image."""
    placed = sv.Detections(
        xyxy=boxes_on(image, box),
        mask=box.masks if box.image.sha256 == image.sha256 else None,
        confidence=box.detections.confidence,
        class_id=box.detections.class_id,
        data=dict(box.detections.data),
    )
    return ctx.images.put(annotate(image.pil(), placed, box.labels), parent=None)
