"""``detect``: COCO box mAP of a detector on a COCO-format data set, scored by pycocotools' COCOeval.

The detector is any :class:`~visorch.tools.models.protocols.Detector` (the model protocol the
LOC tool uses); closed-vocabulary detectors are asked for all their classes, open-vocabulary ones
for the data set's category names, with a score floor of ``MIN_SCORE`` as mAP wants. The default
data is coco-val (COCO val2017), which the offline detectors were not trained on; the summary names
the split, and coco128 (train2017) figures are labelled optimistic.

Detector labels map to the data set's categories by name, with the synonyms and plurals of
:func:`tools.vocabulary.resolve_class` ('motorbike' -> 'motorcycle'); boxes whose label names
no category are dropped and counted. An image that fails contributes no boxes (its objects are
misses). Reported: AP@[.5:.95] and AP@.5 over all images of the run, COCOeval's 12 numbers,
and AP@.5 per category.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.cocoeval import COCOeval
from visorch.evaluation.coco import CocoDataset, open_coco
from visorch.evaluation.paths import COCO_VAL
from visorch.evaluation.plots import bar_chart
from visorch.evaluation.predictors import BackendDetector, EvaluationRuntime
from visorch.evaluation.task import Aggregate, EvalItem, ItemContext, ItemResult, ItemScore, Prediction
from visorch.tools.detections import CLASS_NAME
from visorch.tools.models.protocols import Detector
from visorch.tools.vocabulary import resolve_class

STAT_NAMES = (
    "map_50_95", "map_50", "map_75", "map_small", "map_medium", "map_large",
    "ar_1", "ar_10", "ar_100", "ar_small", "ar_medium", "ar_large",
)  # fmt: skip
"""The order of COCOeval.stats."""
MIN_SCORE = 0.001
"""Keep low-confidence boxes: COCO mAP integrates over the whole precision-recall curve."""


class DetectItem(EvalItem):
    """One image of the data set."""

    image_id: int
    file_name: str
    image_path: Path
    objects: int


class DetectTask:
    """COCO-format detection: mAP@0.5 and mAP@0.5:0.95 via pycocotools."""

    name = "detect"
    summary = "COCO box mAP of a detection backend"

    def __init__(self) -> None:
        self._dataset: CocoDataset | None = None

    @property
    def dataset(self) -> CocoDataset:
        """The data set of the last :meth:`load_items`."""
        if self._dataset is None:
            raise RuntimeError("load_items must run before predictions are made or scored")
        return self._dataset

    def default_data(self, data_root: Path) -> Path:
        """coco-val (COCO val2017, which the offline detectors never saw) in the shared data."""
        return data_root / COCO_VAL

    def load_items(self, data_path: Path, seed: int, data_root: Path) -> list[DetectItem]:
        """Every image of the annotation file, by image id."""
        self._dataset = open_coco(data_path)
        coco = self._dataset.coco
        return [
            DetectItem(
                id=str(image_id),
                type="image",
                image_id=image_id,
                file_name=coco.imgs[image_id]["file_name"],
                image_path=self._dataset.image_path(image_id),
                objects=len(coco.getAnnIds(imgIds=[image_id])),
            )
            for image_id in sorted(coco.getImgIds())
        ]

    def build_predictor(self, runtime: EvaluationRuntime, backend: str | None) -> Detector:
        """The named (or best installed) detection backend."""
        return BackendDetector(runtime.require_models(self.name), backend)

    def predict(self, item: DetectItem, predictor: Detector, context: ItemContext) -> Prediction:
        """Boxes as COCO results (xywh), with the detector's label and the category it maps to."""
        image = context.images.load(item.image_path)
        names = list(self.dataset.category_names.values())
        queries = None if predictor.class_names is not None else names
        detections = predictor.detect([image.pil()], queries, MIN_SCORE)[0]
        ids_by_name = {name: category_id for category_id, name in self.dataset.category_names.items()}
        labels = detections.data.get(CLASS_NAME, np.asarray(["object"] * len(detections)))
        scores = detections.confidence if detections.confidence is not None else np.ones(len(detections))
        boxes = []
        for (x1, y1, x2, y2), label, score in zip(detections.xyxy, labels, scores, strict=True):
            category = resolve_class(str(label), names)
            boxes.append(
                {
                    "bbox": [round(float(v), 2) for v in (x1, y1, x2 - x1, y2 - y1)],
                    "score": round(float(score), 5),
                    "label": str(label),
                    "category_id": None if category is None else ids_by_name[category],
                }
            )
        return Prediction(value={"boxes": boxes})

    def score(self, item: DetectItem, prediction: dict[str, Any] | None) -> ItemScore:
        """Counts only: mAP is a data-set-level number."""
        boxes = [] if prediction is None else prediction["boxes"]
        unmapped = sum(1 for box in boxes if box["category_id"] is None)
        return ItemScore(scores={"boxes": len(boxes), "unmapped": unmapped, "objects": item.objects})

    def _coco_eval(self, pairs: Sequence[tuple[DetectItem, ItemResult]]) -> tuple[COCOeval | None, str, int]:
        detections = []
        for item, result in pairs:
            for box in (result.prediction or {}).get("boxes", []):
                if box["category_id"] is not None:
                    detections.append({"image_id": item.image_id, **box})
        ground_truth = self.dataset.coco
        if not detections:
            return None, "no detections: every AP is 0", 0
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            evaluation = COCOeval(ground_truth, ground_truth.loadRes(detections), iouType="bbox")
            evaluation.params.imgIds = [item.image_id for item, _ in pairs]
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        table = "\n".join(line for line in output.getvalue().splitlines() if line.lstrip().startswith("Average"))
        return evaluation, table, len(detections)

    def _per_category_ap50(self, evaluation: COCOeval) -> dict[str, float]:
        precision = evaluation.eval["precision"][
            0, :, :, 0, -1
        ]  # IoU 0.5, all recalls, every class, all areas, 100 dets
        per_category = {}
        for index, category_id in enumerate(evaluation.params.catIds):
            values = precision[:, index]
            values = values[values > -1]
            if values.size:
                per_category[self.dataset.category_names[category_id]] = float(values.mean())
        return per_category

    def aggregate(self, pairs: Sequence[tuple[DetectItem, ItemResult]]) -> Aggregate:
        """COCOeval over the run's images (errored images keep their objects as misses)."""
        evaluation, table, mapped = self._coco_eval(pairs)
        stats = evaluation.stats if evaluation is not None else np.zeros(len(STAT_NAMES))
        metrics: dict[str, float | int | str | None] = {
            name: (None if value < 0 else round(float(value), 4)) for name, value in zip(STAT_NAMES, stats, strict=True)
        }
        metrics["images"] = len(pairs)
        metrics["objects"] = sum(item.objects for item, _ in pairs)
        metrics["boxes"] = sum(int(result.scores.get("boxes", 0)) for _, result in pairs)
        metrics["boxes_without_category"] = sum(int(result.scores.get("unmapped", 0)) for _, result in pairs)
        metrics["errors"] = sum(1 for _, result in pairs if result.status == "error")
        per_category = self._per_category_ap50(evaluation) if evaluation is not None else {}
        notes = []
        if metrics["boxes_without_category"]:
            notes.append(f"{metrics['boxes_without_category']} boxes had labels that name no category; dropped")
        return Aggregate(
            metrics=metrics,
            per_type={name: {"ap_50": value} for name, value in sorted(per_category.items())},
            breakdown="category",
            details={"COCOeval (bbox)": table, "boxes scored": mapped},
            notes=notes,
            split=self.dataset.split_label(),
        )

    def plots(self, pairs: Sequence[tuple[DetectItem, ItemResult]], aggregate: Aggregate, out_dir: Path) -> list[Path]:
        """AP@0.5 per category."""
        values = {name: float(row["ap_50"] or 0.0) for name, row in aggregate.per_type.items()}
        if not values:
            return []
        return [bar_chart(values, out_dir / "ap50_per_category.png", "AP@0.5 per category", "AP@0.5")]
