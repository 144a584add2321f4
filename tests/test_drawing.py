"""Boxes drawn on real photos keep their colours: supervision's palette colours, in RGB, in the saved PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import supervision as sv
from PIL import Image
from visorch.tools.drawing import annotate


def test_a_red_box_is_red_in_the_saved_png(bus_path: Path, tmp_path: Path) -> None:
    photo = Image.open(bus_path).convert("RGB")
    boxes = sv.Detections(xyxy=np.array([[40, 230, 250, 900], [300, 220, 500, 880]], dtype=np.float32))
    labels = ["first", "second"]  # the second label gets the palette's second colour, #FF4040 (red)
    drawn = annotate(photo, boxes, labels)
    drawn.save(tmp_path / "drawn.png")
    pixels = np.asarray(Image.open(tmp_path / "drawn.png").convert("RGB"))
    for index, (x1, _, _, y2) in enumerate(boxes.xyxy.astype(int)):
        expected = sv.ColorPalette.DEFAULT.by_idx(index).as_rgb()
        # the box's left edge, half-way down (below the label): a line of the box's own colour
        assert tuple(pixels[(230 + y2) // 2, x1]) == expected, index
    red = pixels[(220 + 880) // 2, 300]
    assert red[0] == 255 and red[1] < 100 and red[2] < 100
    assert np.array_equal(np.asarray(photo), np.asarray(Image.open(bus_path).convert("RGB")))  # input untouched
