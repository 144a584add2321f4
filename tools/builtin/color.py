"""Dominant colour naming: k-means in CIELAB, then the nearest named colour anchor."""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np

from tools.builtin.geometry import clamp_window, pick_box
from tools.detections import Detections
from tools.images import ImageRef
from tools.registry import tool

# Several sRGB anchors per basic colour name; a cluster centre takes the name of the nearest
# anchor in CIELAB (CIE76 distance), which is roughly perceptually uniform.
_ANCHORS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "black": ((0, 0, 0), (30, 30, 30)),
    "gray": ((128, 128, 128), (90, 90, 90), (170, 170, 170), (110, 115, 120)),
    "white": ((255, 255, 255), (225, 225, 225), (235, 235, 225)),
    "red": ((200, 30, 30), (150, 20, 20), (230, 60, 50), (110, 15, 20)),
    "orange": ((240, 140, 30), (220, 110, 20), (250, 170, 80)),
    "yellow": ((240, 220, 40), (250, 240, 120), (200, 180, 30)),
    "green": ((40, 150, 50), (20, 90, 30), (120, 190, 80), (90, 110, 50)),
    "blue": ((30, 70, 200), (20, 30, 100), (90, 160, 230), (40, 110, 170), (150, 190, 230)),
    "purple": ((120, 50, 160), (80, 30, 100), (170, 120, 200)),
    "pink": ((240, 130, 180), (250, 190, 210), (220, 80, 140)),
    "brown": ((120, 75, 40), (80, 50, 30), (160, 120, 80), (190, 160, 120)),
}


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB to (N, 3) float CIELAB (L in 0..100)."""
    as_float = (rgb.reshape(-1, 1, 3).astype(np.float32)) / 255.0
    return cv2.cvtColor(as_float, cv2.COLOR_RGB2LAB).reshape(-1, 3)


_ANCHOR_NAMES = [name for name, anchors in _ANCHORS.items() for _ in anchors]
_ANCHOR_LAB = _to_lab(np.array([rgb for anchors in _ANCHORS.values() for rgb in anchors], dtype=np.uint8))


def name_colour(lab: np.ndarray) -> str:
    """The basic colour name nearest to one CIELAB value."""
    distances = np.linalg.norm(_ANCHOR_LAB - lab.reshape(1, 3), axis=1)
    return _ANCHOR_NAMES[int(np.argmin(distances))]


def dominant_colour(pixels: np.ndarray, clusters: int = 3, seed: int = 0) -> tuple[str, float]:
    """(colour name, share of pixels) of the largest k-means cluster of (N, 3) RGB pixels."""
    if len(pixels) == 0:
        raise ValueError("no pixels to name a colour for")
    rng = np.random.default_rng(seed)
    sample = pixels if len(pixels) <= 20_000 else pixels[rng.choice(len(pixels), 20_000, replace=False)]
    lab = _to_lab(sample).astype(np.float32)
    k = int(min(clusters, len(np.unique(sample, axis=0))))
    if k <= 1:
        return name_colour(lab.mean(axis=0)), 1.0
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
    _, assignment, centres = cv2.kmeans(lab, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(assignment.reshape(-1), minlength=k)
    # Clusters with the same name pool their pixels, so two shades of blue outvote one grey.
    shares: dict[str, int] = {}
    for centre, members in zip(centres, counts, strict=True):
        colour = name_colour(centre)
        shares[colour] = shares.get(colour, 0) + int(members)
    best = max(shares, key=lambda colour: shares[colour])
    return best, shares[best] / len(sample)


@tool(
    name="COLOR",
    category="attributes",
    example="COLOR0=COLOR(image=IMAGE, box=BOX0)",
    limitations=(
        "Classical k-means colour naming (11 basic names). Without a mask, the central 60% of the box "
        "is used to limit background; lighting and shadows can shift the name."
    ),
)
def colour_of(
    image: Annotated[ImageRef, "the image"],
    box: Annotated[Detections | None, "the region to name (whole image when omitted)"] = None,
    index: Annotated[int, "which box to use"] = 0,
) -> str:
    """The dominant colour name (red, blue, white, ...) of a region or of the whole image."""
    array = image.array()
    if box is None:
        return dominant_colour(array.reshape(-1, 3))[0]
    x1, y1, x2, y2 = pick_box(image, box, index)
    masks = box.masks
    if masks is not None and box.image.sha256 == image.sha256:
        selected = array[masks[index]]
        if len(selected):
            return dominant_colour(selected)[0]
    width, height = x2 - x1, y2 - y1
    left, top, right, bottom = clamp_window(
        image, x1 + 0.2 * width, y1 + 0.2 * height, x2 - 0.2 * width, y2 - 0.2 * height
    )
    return dominant_colour(array[top:bottom, left:right].reshape(-1, 3))[0]
