"""Fit :class:`~visorch.tools.fusion.calibration.Calibration` on a COCO-format data set (coco128, train2017).

    python -m visorch.tools.fusion.fit_calibration ../shared/data/coco128 [--backend fused]

Writes ``tools/fusion/calibration.json``. The observations (per image: fused boxes, ground truth per class,
classifier scores) are gathered by :func:`observe`, which ``benchmarks/fusion.py`` reuses on coco-val.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import supervision as sv
from visorch.tools.fusion.calibration import CALIBRATION_FILE, Calibration, Logistic
from visorch.tools.vocabulary import COCO_CLASSES

MIN_CLASS_BOXES = 30
MIN_CLASS_POSITIVES = 8
MATCH_IOU = 0.5


@dataclass
class ImageObservation:
    """What the experts said about one image, beside its ground truth."""

    image: str
    boxes: list[tuple[str, float, bool]]
    """(class, fused score, matches a ground-truth box of that class at IoU 0.5)."""
    truth_counts: dict[str, int]
    classifier: dict[str, float]
    nanodet: list[tuple[str, float]]
    """The single-detector baseline: NanoDet-m's boxes (class, score)."""


def _match(fused: sv.Detections, truth: dict[str, np.ndarray]) -> list[tuple[str, float, bool]]:
    out = []
    used: dict[str, set[int]] = {name: set() for name in truth}
    for index in np.argsort(-np.asarray(fused.confidence)):
        name = str(fused.data["class_name"][index])
        score = float(fused.confidence[index])  # type: ignore[index]
        gt = truth.get(name)
        hit = False
        if gt is not None and len(gt):
            overlaps = sv.box_iou_batch(fused.xyxy[index : index + 1], gt)[0]
            for candidate in np.argsort(-overlaps):
                if overlaps[candidate] >= MATCH_IOU and int(candidate) not in used[name]:
                    used[name].add(int(candidate))
                    hit = True
                    break
        out.append((name, score, hit))
    return out


def _named_scores(found: sv.Detections) -> list[tuple[str, float]]:
    if len(found) == 0 or found.confidence is None:
        return []
    return [(str(name), float(score)) for name, score in zip(found.data["class_name"], found.confidence, strict=True)]


def observe(data: Path, backend: str = "fused", limit: int | None = None) -> list[ImageObservation]:
    """Run the fused backend, NanoDet-m and the classifier over a COCO-format data set."""
    from PIL import Image
    from pycocotools.coco import COCO
    from visorch.tools.catalog import default_backends
    from visorch.tools.classification.efficientnet import classifier_views
    from visorch.tools.models.manager import ModelManager, default_weights_root

    annotations = next((data / "annotations").glob("instances_*.json"))
    coco = COCO(str(annotations))
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    models = ModelManager(default_backends(), default_weights_root())
    observations = []
    image_ids = sorted(coco.getImgIds())[:limit]
    images_dir = data / "images" if (data / "images").is_dir() else data
    with models.use(backend) as fused, models.use("nanodet-m") as nanodet, models.use("efficientnet-lite0") as clf:
        for image_id in image_ids:
            info = coco.imgs[image_id]
            path = next(images_dir.rglob(info["file_name"]))
            image = Image.open(path).convert("RGB")
            truth: dict[str, list[list[float]]] = {}
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=False)):
                x, y, w, h = ann["bbox"]
                truth.setdefault(names[ann["category_id"]], []).append([x, y, x + w, y + h])
            truth_arrays = {k: np.array(v, np.float32) for k, v in truth.items()}
            found = fused.detect([image], None, 0.05)[0]
            single = nanodet.detect([image], None, 0.05)[0]
            evidence = clf.evidence(classifier_views(image))
            observations.append(ImageObservation(
                image=info["file_name"],
                boxes=_match(found, truth_arrays) if len(found) else [],
                truth_counts={k: len(v) for k, v in truth.items()},
                classifier={k: e.score for k, e in evidence.items()},
                nanodet=_named_scores(single),
            ))  # fmt: skip
    return observations


def _logistic(features: np.ndarray, labels: np.ndarray) -> Logistic:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=10.0).fit(features, labels)
    return Logistic(float(model.intercept_[0]), tuple(float(c) for c in model.coef_[0]))


def fit(observations: list[ImageObservation], fitted_on: str) -> Calibration:
    """Box models per class (where enough boxes), one overall, and the presence-with-classifier model."""
    rows = [(name, score, hit) for o in observations for name, score, hit in o.boxes]
    scores = np.array([[s] for _, s, _ in rows])
    hits = np.array([h for _, _, h in rows], dtype=int)
    overall = _logistic(scores, hits)
    per_class = {}
    for name in sorted({n for n, _, _ in rows}):
        mask = np.array([n == name for n, _, _ in rows])
        if mask.sum() >= MIN_CLASS_BOXES and hits[mask].sum() >= MIN_CLASS_POSITIVES and (hits[mask] == 0).sum() >= 5:
            model = _logistic(scores[mask], hits[mask])
            if model.coefficients[0] > 0:
                per_class[name] = model
    draft = Calibration(per_class, overall, None, fitted_on)
    features, present = [], []
    for o in observations:
        for name, score in o.classifier.items():
            own = [s for n, s, _ in o.boxes if n == name]
            detector = 1.0 - float(np.prod([1.0 - draft.box_probability(name, s) for s in own]))
            features.append([detector, score])
            present.append(int(o.truth_counts.get(name, 0) > 0))
    presence = _logistic(np.array(features), np.array(present)) if sum(present) >= 10 else None
    detector_only, present_any = [], []
    for o in observations:  # every class in every image: a box's chance of matching is not a class's presence
        for name in COCO_CLASSES:
            own = [s for n, s, _ in o.boxes if n == name]
            detector_only.append([1.0 - float(np.prod([1.0 - draft.box_probability(name, s) for s in own]))])
            present_any.append(int(o.truth_counts.get(name, 0) > 0))
    presence_alone = _logistic(np.array(detector_only), np.array(present_any))
    return Calibration(per_class, overall, presence, fitted_on, presence_alone)


def main(argv: list[str] | None = None) -> int:
    """Fit on the given data set and write calibration.json beside this module."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--backend", default="fused")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name(CALIBRATION_FILE))
    parser.add_argument("--save", type=Path, help="save (or reuse, when it exists) the observations here")
    args = parser.parse_args(argv)
    if args.save and args.save.exists():
        observations = [ImageObservation(**row) for row in json.loads(args.save.read_text())]
    else:
        observations = observe(args.data, args.backend)
        if args.save:
            args.save.write_text(json.dumps([o.__dict__ for o in observations]))
    calibration = fit(observations, f"{args.data.name} ({len(observations)} images), backend {args.backend}")
    args.out.write_text(json.dumps(calibration.to_json(), indent=1) + "\n")
    print(f"wrote {args.out}: {len(calibration.per_class)} per-class box models")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
