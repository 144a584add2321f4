"""Model-free tools on real images: crops, box logic and colour naming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from visorch.tools.builtin.boxes import count, filter_boxes, select_box
from visorch.tools.builtin.color import _to_lab, colour_of, name_colour
from visorch.tools.builtin.image_ops import crop, crop_above, crop_below, crop_left_of, crop_right_of, tag
from visorch.tools.detections import Detections
from visorch.tools.errors import ToolArgumentError


@pytest.fixture()
def ctx(builtin_runtime):
    return builtin_runtime.context


@pytest.fixture()
def bus(ctx, bus_path: Path):
    return ctx.images.load(bus_path)


def _boxes(image, rows):
    return Detections.from_boxes(
        image, [r[:4] for r in rows], [r[4] for r in rows], [r[5] for r in rows], source="test"
    )


def test_crop_and_side_crops(ctx, bus) -> None:
    boxes = _boxes(bus, [(100, 200, 300, 600, "person", 0.9), (500, 100, 700, 300, "bus", 0.8)])
    cropped = crop(ctx, image=bus, box=boxes)
    assert cropped.size == (200, 400) and cropped.offset_in_root() == (100, 200)
    assert np.array_equal(cropped.array(), bus.array()[200:600, 100:300])
    second = crop(ctx, image=bus, box=boxes, index=1, margin=0.1)
    assert second.size == (240, 240)
    assert crop_left_of(ctx, image=bus, box=boxes).size == (200, bus.height)
    assert crop_right_of(ctx, image=bus, box=boxes).size == (bus.width - 200, bus.height)
    assert crop_above(ctx, image=bus, box=boxes).size == (bus.width, 400)
    assert crop_below(ctx, image=bus, box=boxes).size == (bus.width, bus.height - 400)


def test_crop_follows_boxes_found_on_a_crop(ctx, bus) -> None:
    left = crop_left_of(ctx, image=bus, box=_boxes(bus, [(400, 0, 600, 100, "bus", 0.9)]))
    inner = _boxes(left, [(10, 20, 50, 80, "person", 0.9)])
    from_root = crop(ctx, image=bus, box=inner)
    assert from_root.offset_in_root() == (10, 20) and from_root.size == (40, 60)
    moved = inner.in_root_image()
    assert moved.image == bus and moved.xyxy[0].tolist() == [10, 20, 50, 80]


def test_crop_of_empty_detections_is_a_clear_error(ctx, bus) -> None:
    empty = Detections.empty(bus, "test", notes=["no class for 'unicorn'"])
    with pytest.raises(ToolArgumentError, match=r"no box to use.*unicorn"):
        crop(ctx, image=bus, box=empty)


def test_count_filter_select(ctx, bus) -> None:
    boxes = _boxes(
        bus,
        [
            (10, 10, 110, 310, "person", 0.9),
            (600, 10, 650, 60, "person", 0.3),
            (300, 300, 500, 600, "bus", 0.8),
            (200, 50, 260, 90, "man", 0.7),
        ],
    )
    assert count(ctx, box=boxes) == 4
    people = filter_boxes(ctx, box=boxes, label="people")
    assert people.labels == ["person", "person", "man"]
    confident = filter_boxes(ctx, box=boxes, label="person", min_score=0.5)
    assert len(confident) == 2
    region = _boxes(bus, [(0, 0, 300, 400, "region", 1.0)])
    assert filter_boxes(ctx, box=boxes, inside=region).labels == ["person", "man"]
    assert select_box(ctx, box=boxes, by="largest").labels == ["bus"]
    assert select_box(ctx, box=boxes, by="leftmost").xyxy[0][0] == 10
    assert select_box(ctx, box=boxes, by="rightmost").xyxy[0][0] == 600
    assert select_box(ctx, box=boxes, by="topmost").xyxy[0][1] == 10
    assert select_box(ctx, box=boxes, by="bottommost").labels == ["bus"]
    assert select_box(ctx, box=boxes, by="most_confident").scores == [pytest.approx(0.9)]
    assert len(select_box(ctx, box=Detections.empty(bus, "t"))) == 0


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((0, 0, 0), "black"), ((255, 255, 255), "white"), ((128, 128, 128), "gray"), ((200, 30, 30), "red"),
        ((139, 0, 0), "red"), ((255, 165, 0), "orange"), ((255, 255, 0), "yellow"), ((0, 128, 0), "green"),
        ((48, 64, 26), "green"), ((0, 0, 255), "blue"), ((135, 206, 235), "blue"), ((25, 25, 112), "blue"),
        ((128, 0, 128), "purple"), ((255, 105, 180), "pink"), ((255, 192, 203), "pink"), ((139, 69, 19), "brown"),
        ((101, 67, 33), "brown"),
    ],
)  # fmt: skip
def test_colour_names_of_reference_colours(rgb: tuple[int, int, int], name: str) -> None:
    assert name_colour(_to_lab(np.array([rgb], dtype=np.uint8))[0]) == name


def test_colour_of_whole_image_and_region(ctx, tmp_path: Path) -> None:
    picture = Image.new("RGB", (200, 100), (240, 240, 240))
    picture.paste((30, 70, 200), (20, 20, 80, 80))
    image = ctx.images.load(_saved(picture, tmp_path / "p.png"))
    assert colour_of(ctx, image=image) == "white"
    region = _boxes(image, [(10, 10, 90, 90, "square", 1.0)])
    assert colour_of(ctx, image=image, box=region) == "blue"


def _saved(image: Image.Image, path: Path) -> Path:
    image.save(path)
    return path


@pytest.mark.parametrize(
    ("annotation_id", "expected"),
    [(1041642, "yellow"), (1058555, "green"), (1062309, "orange"), (582104, "gray"), (164870, "red"),
     (1072508, "orange")],
)  # fmt: skip
def test_colour_of_real_coco_objects_with_their_masks(
    ctx, shared_data: Path, annotation_id: int, expected: str
) -> None:
    from pycocotools.coco import COCO

    coco = _coco(shared_data)
    annotation = coco.anns[annotation_id]
    info = coco.imgs[annotation["image_id"]]
    image = ctx.images.load(shared_data / "coco128" / "train2017" / info["file_name"])
    x, y, w, h = annotation["bbox"]
    mask = coco.annToMask(annotation).astype(bool)[None]
    name = coco.cats[annotation["category_id"]]["name"]
    region = Detections.from_boxes(image, [[x, y, x + w, y + h]], [name], masks=mask, source="coco")
    assert colour_of(ctx, image=image, box=region) == expected, name
    assert isinstance(COCO, type)


_COCO_CACHE: dict[Path, object] = {}


def _coco(shared_data: Path):
    from pycocotools.coco import COCO

    if shared_data not in _COCO_CACHE:
        _COCO_CACHE[shared_data] = COCO(str(shared_data / "coco128" / "annotations" / "instances_train2017.json"))
    return _COCO_CACHE[shared_data]


def test_tag_draws_boxes(ctx, bus) -> None:
    boxes = _boxes(bus, [(100, 200, 300, 600, "person", 0.9)])
    drawn = tag(ctx, image=bus, box=boxes)
    assert drawn.size == bus.size
    assert not np.array_equal(drawn.array(), bus.array())
