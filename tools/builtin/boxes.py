"""Box logic: counting, filtering and selecting detections."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import supervision as sv
from visorch.tools.builtin.geometry import boxes_on
from visorch.tools.detections import Detections
from visorch.tools.registry import Range, tool
from visorch.tools.vocabulary import label_matches

SelectBy = Literal["largest", "smallest", "leftmost", "rightmost", "topmost", "bottommost", "most_confident"]


@tool(
    name="COUNT",
    category="boxes",
    example="ANSWER0=COUNT(box=BOX0)",
    limitations="Counts what the detector found: missed or duplicate detections change the count.",
)
def count(box: Annotated[Detections, "the detections to count"]) -> int:
    """The number of boxes."""
    return len(box)


@tool(
    name="FILTER",
    category="boxes",
    example="BOX1=FILTER(box=BOX0, label='person', min_score=0.5)",
    limitations="Region filtering keeps boxes whose centre lies inside the first box of 'inside'.",
)
def filter_boxes(
    box: Annotated[Detections, "the detections to filter"],
    label: Annotated[str | None, "keep only this label (synonyms and plurals match)"] = None,
    min_score: Annotated[float | None, Range(0, 1), "keep only boxes with at least this confidence"] = None,
    inside: Annotated[Detections | None, "keep only boxes whose centre is inside this region's first box"] = None,
) -> Detections:
    """Keep the boxes that match a label, reach a score and/or lie inside a region."""
    keep = np.ones(len(box), dtype=bool)
    if label is not None:
        keep &= np.array([label_matches(label, name) for name in box.labels], dtype=bool)
    if min_score is not None:
        keep &= np.array([score is None or score >= min_score for score in box.scores], dtype=bool)
    if inside is not None:
        if len(inside) == 0:
            keep &= False
        else:
            x1, y1, x2, y2 = boxes_on(box.image, inside)[0]
            centres = box.detections.get_anchors_coordinates(anchor=sv.Position.CENTER)
            keep &= (centres[:, 0] >= x1) & (centres[:, 0] <= x2) & (centres[:, 1] >= y1) & (centres[:, 1] <= y2)
    return box.subset(np.flatnonzero(keep))


@tool(
    name="SELECT",
    category="boxes",
    example="BOX1=SELECT(box=BOX0, by='leftmost')",
    limitations="Returns empty detections when given none; 'largest' uses mask area when masks exist.",
)
def select_box(
    box: Annotated[Detections, "the detections to choose from"],
    by: Annotated[SelectBy, "how to choose the one box"] = "largest",
) -> Detections:
    """Choose one box by size, position or confidence."""
    if len(box) == 0:
        return box
    xyxy = box.xyxy
    centres_x, centres_y = (xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2
    scores = np.array([-1.0 if s is None else s for s in box.scores])
    key = {
        "largest": -box.areas,
        "smallest": box.areas,
        "leftmost": centres_x,
        "rightmost": -centres_x,
        "topmost": centres_y,
        "bottommost": -centres_y,
        "most_confident": -scores,
    }[by]
    return box.subset([int(np.argmin(key))])
