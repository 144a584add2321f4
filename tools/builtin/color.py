"""Dominant colour naming: k-means in CIELAB, then the nearest named colour anchor."""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np
from visorch.tools.builtin.geometry import clamp_window, pick_box
from visorch.tools.detections import Detections
from visorch.tools.images import ImageRef
from visorch.tools.registry import Range, tool

CHROMATIC_WEIGHT = 1 / 0.75
"""A chromatic name wins over a larger grey/white if its share is at least 75% of theirs."""

_ACHROMATIC = {"black", "gray", "white"}


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB to (N, 3) float CIELAB (L in 0..100)."""
    as_float = (rgb.reshape(-1, 1, 3).astype(np.float32)) / 255.0
    return cv2.cvtColor(as_float, cv2.COLOR_RGB2LAB).reshape(-1, 3)


def name_colour(lab: np.ndarray) -> str:
    """The basic colour name of one CIELAB value, by lightness, chroma and hue angle (LCh).

    Hue borders were placed on CSS named colours of known basic category; Lab hue puts pure red
    near 40 degrees, yellow near 100, green near 136, blue near 306.
    """
    lightness, a, b = (float(v) for v in lab.reshape(3))
    chroma = float(np.hypot(a, b))
    hue = float(np.degrees(np.arctan2(b, a))) % 360
    if lightness < 12 or (chroma < 12 and lightness < 22):
        return "black"
    if chroma < 12:
        return "white" if lightness > 85 else "gray"
    if hue >= 345 or hue < 20:
        return "pink" if lightness > 55 else "red"
    if hue < 45:
        if lightness >= 60:
            return "pink"
        return "red" if chroma >= 40 else "brown"
    if hue < 80:
        return "orange" if chroma >= 55 or (lightness >= 55 and chroma >= 40) else "brown"
    if hue < 110:
        return "yellow" if lightness >= 40 and chroma >= 20 else "brown"
    if hue < 180:
        return "green"
    if hue < 309:
        return "blue"
    return "pink" if lightness > 65 else "purple"


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
    _, assignment, centres = cv2.kmeans(lab, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    counts = np.bincount(assignment.reshape(-1), minlength=k)
    # Clusters with the same name pool their pixels, so two shades of blue outvote one grey.
    shares: dict[str, float] = {}
    for centre, members in zip(centres, counts, strict=True):
        colour = name_colour(centre)
        shares[colour] = shares.get(colour, 0.0) + int(members) / len(sample)
    # People name an object by its colour, not by its shadows: dark pixels (windows, shade) only
    # win when they cover most of the region, and a chromatic colour beats a somewhat larger grey.
    if shares.get("black", 0.0) < 0.7:
        shares.pop("black", None)
    weighted = {name: share * (1.0 if name in _ACHROMATIC else CHROMATIC_WEIGHT) for name, share in shares.items()}
    best = max(weighted, key=lambda colour: weighted[colour])
    return best, shares[best]


@tool(
    name="COLOR",
    category="attributes",
    example="ANSWER0=COLOR(image=IMAGE, box=BOX0)",
    limitations=(
        "Classical: k-means in CIELAB, clusters named by lightness/chroma/hue (11 basic names). "
        "Without a mask, the central 60% of the box "
        "is used to limit background; lighting and shadows can shift the name."
    ),
)
def colour_of(
    image: Annotated[ImageRef, "the image"],
    box: Annotated[Detections | None, "the region to name (whole image when omitted)"] = None,
    index: Annotated[int, Range(-1, None), "which box to use (0 = first, -1 = last)"] = 0,
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
