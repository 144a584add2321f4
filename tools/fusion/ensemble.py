"""Detector fusion: every installed fixed-class COCO detector looks at the image (optionally also flipped
and in overlapping tiles), and weighted box fusion (PyPI ``ensemble-boxes``) merges their boxes. Each fused
box keeps its votes: which experts saw it and at what score.

Two stages, so that a box seen only in a tile or only by one view is not averaged away by the views
that could not see it:
1. per expert, its views (whole image, flip, tiles) are merged by WBF with ``conf_type='max'``;
2. across experts, WBF with ``conf_type='avg'`` (a box's score is scaled by the share of experts that
   saw it), run once per group of classes covered by the same experts, so an expert that has no class
   for an object (the 24-class SSD has no 'bus') does not count as a vote against it.

Slicing: the tile geometry comes from ``sahi.slicing.get_slice_bboxes`` (the standard); sahi's own
predict/merge pipeline is not used because it wraps one model at a time and merges by NMS/GREEDYNMM, while
here the tiles of several experts go through the same two-stage WBF as every other view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import supervision as sv
from PIL import Image, ImageOps
from visorch.tools.detections import CLASS_NAME
from visorch.tools.vocabulary import COCO_CLASSES

VOTES = "votes"
"""``sv.Detections.data`` key: per box, a dict {expert name: that expert's score for the box}."""
WHOLE_VOTES = "whole_votes"
"""``sv.Detections.data`` key: per box, the votes of the whole image's views alone (the image and its mirror):
empty for a box that only tiles saw."""
FUSION_IOU = 0.55
VIEW_MIN_SCORE = 0.05
"""Boxes kept from each view before fusion (low: fusion and calibration decide, not each expert)."""


@dataclass(frozen=True)
class FusionOptions:
    """Which extra views each expert gets, and how boxes are fused."""

    flip: bool = False
    """Also run every expert on the horizontally mirrored image."""
    tiles: bool = False
    """Also run every expert on overlapping tiles (sahi's slice geometry)."""
    tile_size: int = 384
    tile_overlap: float = 0.2
    iou: float = FUSION_IOU
    weights: dict[str, float] = field(default_factory=dict)
    """Per-expert WBF weight (1.0 when absent)."""

    def tag(self) -> str:
        """A short name for reports and cache keys ('fused', 'fused+flip+tiles')."""
        return "fused" + ("+flip" if self.flip else "") + ("+tiles" if self.tiles else "")


@dataclass(frozen=True)
class Expert:
    """One detector taking part: its name, the COCO classes it can vote on, and how to run it."""

    name: str
    classes: frozenset[str]
    detect: Any
    """``detect(images, queries, min_score) -> list[sv.Detections]`` (the Detector protocol's method)."""


def tile_boxes(width: int, height: int, size: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """Overlapping tiles (x1, y1, x2, y2) covering the image; none when the image is no bigger than a tile."""
    if width <= size and height <= size:
        return []
    from sahi.slicing import get_slice_bboxes

    boxes = get_slice_bboxes(height, width, slice_height=min(size, height), slice_width=min(size, width),
                             overlap_height_ratio=overlap, overlap_width_ratio=overlap)  # fmt: skip
    return [(int(x1), int(y1), int(x2), int(y2)) for x1, y1, x2, y2 in boxes]


def _views(image: Image.Image, options: FusionOptions) -> list[tuple[Image.Image, Any]]:
    """(view image, function mapping its boxes back to original pixels) for every view asked for."""
    width = image.width
    views: list[tuple[Image.Image, Any]] = [(image, lambda xyxy: xyxy)]
    if options.flip:

        def unflip(xyxy: np.ndarray) -> np.ndarray:
            return np.stack([width - xyxy[:, 2], xyxy[:, 1], width - xyxy[:, 0], xyxy[:, 3]], axis=1)

        views.append((ImageOps.mirror(image), unflip))
    if options.tiles:
        for x1, y1, x2, y2 in tile_boxes(image.width, image.height, options.tile_size, options.tile_overlap):

            def shift(xyxy: np.ndarray, dx: int = x1, dy: int = y1) -> np.ndarray:
                return xyxy + np.array([dx, dy, dx, dy], dtype=np.float32)

            views.append((image.crop((x1, y1, x2, y2)), shift))
    return views


def _normalised(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = np.array([width, height, width, height], dtype=np.float32)
    return (np.asarray(xyxy, dtype=np.float32).reshape(-1, 4) / scale).clip(0.0, 1.0)


def _wbf(
    boxes: list[np.ndarray], scores: list[np.ndarray], labels: list[np.ndarray], weights: list[float],
    iou: float, conf_type: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    from ensemble_boxes import weighted_boxes_fusion

    if sum(len(b) for b in boxes) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int)
    fused, fused_scores, fused_labels = weighted_boxes_fusion(
        [b.tolist() for b in boxes], [s.tolist() for s in scores], [lab.tolist() for lab in labels],
        weights=weights, iou_thr=iou, skip_box_thr=0.0, conf_type=conf_type,
    )  # fmt: skip
    # a weighted mean of edges at 1.0 can come back a rounding error above it: clip, so the next stage gets [0, 1]
    fused_boxes = np.asarray(fused, np.float32).reshape(-1, 4).clip(0.0, 1.0)
    return fused_boxes, np.asarray(fused_scores, np.float32), fused_labels.astype(int)


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return sv.box_iou_batch(a, b) if len(a) and len(b) else np.zeros((len(a), len(b)))


def fuse_experts(
    image: Image.Image, experts: Sequence[Expert], queries: Sequence[str] | None, options: FusionOptions
) -> sv.Detections:
    """Fused boxes in original pixels, best first, with ``data['class_name']`` and ``data['votes']``."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    views = _views(rgb, options)
    whole_views = 2 if options.flip else 1
    per_expert: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    whole: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for expert in experts:
        wanted = None if queries is None else [q for q in queries if q in expert.classes]
        if wanted is not None and not wanted:
            continue
        found = expert.detect([view for view, _ in views], wanted, VIEW_MIN_SCORE)
        boxes, scores, labels, whole_count = [], [], [], 0
        for view, ((_, to_original), detections) in enumerate(zip(views, found, strict=True)):
            normalised = _normalised(to_original(detections.xyxy), width, height)
            has_area = (normalised[:, 2] > normalised[:, 0]) & (normalised[:, 3] > normalised[:, 1])
            if not has_area.any():
                continue
            boxes.append(normalised[has_area])
            scores.append(np.asarray(detections.confidence, np.float32)[has_area])
            labels.append(np.asarray(detections.class_id, int)[has_area])
            whole_count += view < whole_views
        if options.tiles and whole_count:
            whole[expert.name] = (np.concatenate(boxes[:whole_count]), np.concatenate(scores[:whole_count]),
                                  np.concatenate(labels[:whole_count]))  # fmt: skip
        if len(views) > 1:
            per_expert[expert.name] = _wbf(boxes, scores, labels, [1.0] * len(boxes), options.iou, "max")
        elif boxes:
            per_expert[expert.name] = (boxes[0], scores[0], labels[0])
    fused = _fuse_across(per_expert, experts, options, width, height)
    if len(fused) and options.tiles:
        whole_votes = _votes(_normalised(fused.xyxy, width, height), np.asarray(fused.class_id), whole, options.iou)
        fused.data[WHOLE_VOTES] = _object_column(whole_votes)
    elif len(fused):  # without tiles every vote is the whole image's
        fused.data[WHOLE_VOTES] = fused.data[VOTES]
    return fused


def whole_view_scores(boxes: sv.Detections) -> list[float]:
    """Per box, its best vote in the whole image's views (0.0 for a box that only tiles showed); without tiles,
    its best expert's score. What the closer look's existence model reads (calibration.PRESENCE_FROM)."""
    if len(boxes) == 0:
        return []
    column = boxes.data.get(WHOLE_VOTES, boxes.data.get(VOTES))
    if column is None:
        raise ValueError("these boxes carry no expert votes: they did not come from fuse_experts")
    return [max((votes or {}).values(), default=0.0) for votes in column]


def _object_column(values: list[dict[str, float]]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def _fuse_across(
    per_expert: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    experts: Sequence[Expert],
    options: FusionOptions,
    width: int,
    height: int,
) -> sv.Detections:
    """WBF across experts per group of classes with the same covering experts; then each box's votes."""
    seen_classes = {int(label) for _, _, labels in per_expert.values() for label in labels}
    groups: dict[tuple[str, ...], list[int]] = {}
    for class_id in seen_classes:
        covering = tuple(e.name for e in experts if COCO_CLASSES[class_id] in e.classes)
        groups.setdefault(covering, []).append(class_id)
    all_boxes, all_scores, all_labels = [], [], []
    for covering, class_ids in groups.items():
        boxes, scores, labels, weights = [], [], [], []
        for name in covering:
            expert_boxes, expert_scores, expert_labels = per_expert.get(
                name, (np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))
            )
            keep = np.isin(expert_labels, class_ids)
            boxes.append(expert_boxes[keep])
            scores.append(expert_scores[keep])
            labels.append(expert_labels[keep])
            weights.append(options.weights.get(name, 1.0))
        fused = _wbf(boxes, scores, labels, weights, options.iou, "avg")
        all_boxes.append(fused[0])
        all_scores.append(fused[1])
        all_labels.append(fused[2])
    if not all_boxes or sum(len(b) for b in all_boxes) == 0:
        return sv.Detections.empty()
    merged_scores = np.concatenate(all_scores)
    order = np.argsort(-merged_scores, kind="stable")
    boxes_n = np.concatenate(all_boxes)[order]
    fused_scores = merged_scores[order]
    fused_labels = np.concatenate(all_labels)[order].astype(int)
    votes = _votes(boxes_n, fused_labels, per_expert, options.iou)
    scale = np.array([width, height, width, height], dtype=np.float32)
    return sv.Detections(
        xyxy=boxes_n * scale,
        confidence=fused_scores.astype(np.float32),
        class_id=fused_labels,
        data={
            CLASS_NAME: np.array([COCO_CLASSES[i] for i in fused_labels], dtype=object),
            VOTES: _object_column(votes),
        },
    )


def _votes(
    fused: np.ndarray, labels: np.ndarray, per_expert: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], iou: float
) -> list[dict[str, float]]:
    """For each fused box, each expert's best-overlapping box of the same class (IoU >= ``iou``) and its score."""
    votes: list[dict[str, float]] = [{} for _ in range(len(fused))]
    for name, (boxes, scores, expert_labels) in per_expert.items():
        overlaps = _iou_matrix(fused, boxes)
        same_class = labels[:, None] == expert_labels[None, :]
        overlaps = np.where(same_class, overlaps, 0.0)
        for index in range(len(fused)):
            if overlaps.shape[1] == 0:
                break
            best = int(overlaps[index].argmax())
            if overlaps[index, best] >= iou:
                votes[index][name] = round(float(scores[best]), 4)
    return votes
