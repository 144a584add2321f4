"""Drawing detections on images with supervision's annotators (traces, TAG, answers)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import supervision as sv
from PIL import Image


def annotate(image: Image.Image, detections: sv.Detections, labels: Sequence[str]) -> Image.Image:
    """A copy of ``image`` with boxes, masks and labels drawn; colours follow the label."""
    if len(detections) == 0:
        return image.copy()
    palette_index = {name: i for i, name in enumerate(dict.fromkeys(labels))}
    coloured = sv.Detections(
        xyxy=detections.xyxy,
        mask=detections.mask,
        confidence=detections.confidence,
        class_id=np.array([palette_index[name] for name in labels], dtype=int),
    )
    # A PIL scene, drawn on in place: supervision converts it to OpenCV's BGR order for drawing and
    # pastes the result back (an RGB array passed as is comes out with red and blue swapped).
    scene = image.convert("RGB")  # always a copy
    thickness = max(1, round(max(image.size) / 320))
    text_scale = max(0.35, max(image.size) / 1600)
    if coloured.mask is not None:
        sv.MaskAnnotator(opacity=0.35, color_lookup=sv.ColorLookup.CLASS).annotate(scene, coloured)
    sv.BoxAnnotator(thickness=thickness, color_lookup=sv.ColorLookup.CLASS).annotate(scene, coloured)
    sv.LabelAnnotator(
        text_scale=text_scale, text_padding=3, color_lookup=sv.ColorLookup.CLASS, smart_position=True
    ).annotate(scene, coloured, labels=list(labels))
    return scene
