"""Fit :class:`~visorch.tools.fusion.calibration.Calibration` on a COCO-format data set (coco128, train2017).

    python -m visorch.tools.fusion.fit_calibration ../shared/data/coco128 [--backend fused]

Writes the backend's file beside this module (``calibration.json`` for ``fused``,
``calibration-fused-tiles.json`` for ``fused-tiles``, the closer look). The observations (per image: fused
boxes, ground truth per class, classifier scores) are gathered by :func:`observe`, which
``benchmarks/fusion.py`` reuses on coco-val.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv
from visorch.tools.fusion.calibration import (
    CALIBRATION_FILES,
    PRESENCE_FROM,
    Calibration,
    Logistic,
    PresenceFrom,
    presence_features,
)
from visorch.tools.fusion.ensemble import VOTES, whole_view_scores
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
    support: list[tuple[int, float]] = field(default_factory=list)
    """Per box of ``boxes``: how many experts voted for it, and its best vote in the whole image's views
    (0.0: only tiles saw it)."""


def _match(
    fused: sv.Detections, truth: dict[str, np.ndarray]
) -> tuple[list[tuple[str, float, bool]], list[tuple[int, float]]]:
    out, support = [], []
    whole = whole_view_scores(fused)
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
        support.append((len(fused.data[VOTES][index] or {}), whole[index]))
    return out, support


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
            boxes, support = _match(found, truth_arrays) if len(found) else ([], [])
            observations.append(ImageObservation(
                image=info["file_name"],
                boxes=boxes,
                support=support,
                truth_counts={k: len(v) for k, v in truth.items()},
                classifier={k: e.score for k, e in evidence.items()},
                nanodet=_named_scores(single),
            ))  # fmt: skip
    return observations


def _logistic(features: np.ndarray, labels: np.ndarray) -> Logistic:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=10.0).fit(features, labels)
    return Logistic(float(model.intercept_[0]), tuple(float(c) for c in model.coef_[0]))


def presence_questions(observations: list[ImageObservation]) -> list[tuple[ImageObservation, str, bool]]:
    """POPE-style questions over the observations (the harness's sampler: half present; random, popular and
    co-occurring absent classes), as (observation, class, present)."""
    from visorch.evaluation.pope_sampling import build_pope_questions

    by_image = {o.image: o for o in observations}
    questions = build_pope_questions({o.image: set(o.truth_counts) for o in observations}, list(COCO_CLASSES))
    return [(by_image[q.image], q.object, q.answer == "yes") for q in questions]


def presence_scores(observation: ImageObservation, class_name: str, presence_from: PresenceFrom) -> list[float]:
    """The scores of the class's boxes that the existence model reads: fused, or each box's best whole-view vote."""
    if presence_from == "fused score":
        return [s for n, s, _ in observation.boxes if n == class_name]
    if len(observation.support) != len(observation.boxes):
        raise ValueError(f"{observation.image}: observations without per-box support cannot fit whole-view votes")
    return [
        whole for (n, _, _), (_, whole) in zip(observation.boxes, observation.support, strict=True) if n == class_name
    ]


def fit(
    observations: list[ImageObservation], fitted_on: str, presence_from: PresenceFrom = "fused score"
) -> Calibration:
    """Box models per class (where enough boxes), one overall, and the existence model on POPE-style questions."""
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
    features, present = [], []
    for observation, name, answer in presence_questions(observations):
        own = presence_scores(observation, name, presence_from)
        features.append(presence_features(own, observation.classifier.get(name)))
        present.append(int(answer))
    presence = _logistic(np.array(features), np.array(present))
    return Calibration(per_class, overall, presence, fitted_on, presence_from)


def main(argv: list[str] | None = None) -> int:
    """Fit on the given data set and write the backend's calibration file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--backend", default="fused", choices=sorted(CALIBRATION_FILES))
    parser.add_argument("--out", type=Path, help="default: the shipped file of --backend beside this module")
    parser.add_argument("--save", type=Path, help="save (or reuse, when it exists) the observations here")
    args = parser.parse_args(argv)
    if args.save and args.save.exists():
        observations = [ImageObservation(**row) for row in json.loads(args.save.read_text())]
    else:
        observations = observe(args.data, args.backend)
        if args.save:
            args.save.write_text(json.dumps([o.__dict__ for o in observations]))
    fitted_on = f"{args.data.name} ({len(observations)} images), backend {args.backend}"
    calibration = fit(observations, fitted_on, PRESENCE_FROM[args.backend])
    out = args.out or Path(__file__).with_name(CALIBRATION_FILES[args.backend])
    out.write_text(json.dumps(calibration.to_json(), indent=1) + "\n")
    print(f"wrote {out}: {len(calibration.per_class)} per-class box models")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
