"""COCO box mAP of any :class:`tools.models.protocols.Detector` on a folder of COCO images (pycocotools)."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from tools.images import decode_image_file
from tools.models.protocols import Detector

EVAL_MIN_SCORE = 0.05
"""The usual COCO evaluation threshold: low, so the precision-recall curve is complete."""


class CocoScore(BaseModel):
    """Box mAP of one detector on a COCO-format set."""

    detector: str
    images: int
    detections: int
    map_50: float
    """AP at IoU 0.5 (the PASCAL-style figure)."""
    map_50_95: float
    """AP averaged over IoU 0.5:0.95 (the main COCO figure)."""
    seconds_per_image: float


def coco_map(
    detector: Detector,
    name: str,
    images_dir: Path,
    annotations: Path,
    min_score: float = EVAL_MIN_SCORE,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CocoScore:
    """Run ``detector`` on every annotated image found in ``images_dir`` and score it with COCOeval."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(annotations))
    category_by_name = {category["name"]: category["id"] for category in truth.loadCats(truth.getCatIds())}
    images = [info for info in truth.loadImgs(sorted(truth.getImgIds())) if (images_dir / info["file_name"]).is_file()]
    images = images[:limit] if limit is not None else images
    results = []
    started = time.perf_counter()
    for index, info in enumerate(images):
        found = detector.detect([decode_image_file(images_dir / info["file_name"])], None, min_score)[0]
        names = found.data.get("class_name", [])
        for box, score, label in zip(
            found.xyxy, found.confidence if found.confidence is not None else [], names, strict=False
        ):
            if str(label) not in category_by_name:
                continue
            x1, y1, x2, y2 = (float(value) for value in box)
            results.append(
                {
                    "image_id": info["id"],
                    "category_id": category_by_name[str(label)],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(score),
                }
            )
        if progress is not None:
            progress(index + 1, len(images))
    seconds = (time.perf_counter() - started) / max(1, len(images))
    if not results:
        return CocoScore(
            detector=name, images=len(images), detections=0, map_50=0.0, map_50_95=0.0, seconds_per_image=seconds
        )
    with contextlib.redirect_stdout(io.StringIO()):
        predicted = truth.loadRes(results)
        evaluation = COCOeval(truth, predicted, iouType="bbox")
        evaluation.params.imgIds = [info["id"] for info in images]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return CocoScore(
        detector=name,
        images=len(images),
        detections=len(results),
        map_50=round(float(evaluation.stats[1]), 4),
        map_50_95=round(float(evaluation.stats[0]), 4),
        seconds_per_image=round(seconds, 4),
    )
