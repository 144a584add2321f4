"""Load time and per-item latency of the installed segmentation and sentence-embedding backends.

Usage: python benchmarks/segmentation_embedding_latency.py [--images 10] [--questions 20] [--backend NAME ...]

Segmentation items are COCO128 photos of the shared data folder ($VISORCH_DATA_ROOT, default
``../shared/data``) prompted with their annotated boxes (at most 5 per image, largest first), so
the figure is per image *and* per box. Embedding items are questions of the shipped question set,
one per call (how the planner's example selector uses it). Load time is the model manager's first
``use`` (imports included); the first item after loading is reported on its own, as in
ocr_asr_latency.py (whose timing loop this script reuses).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from ocr_asr_latency import time_backend  # the script's own folder is on sys.path
from PIL import Image
from visorch.evaluation.questions import load_questions
from visorch.tools.capability import Capability
from visorch.tools.embedding import BACKENDS as EMBEDDING_BACKENDS
from visorch.tools.images import decode_image_file
from visorch.tools.models.manager import ModelManager, default_weights_root
from visorch.tools.segmentation.backends import BACKENDS as SEGMENTATION_BACKENDS

REPO_ROOT = Path(__file__).resolve().parents[1]

MAX_BOXES = 5


def coco_items(count: int) -> list[tuple[Image.Image, np.ndarray]]:
    """(decoded image, xyxy boxes of its largest annotations) for the first images with boxes."""
    root = Path(os.environ.get("VISORCH_DATA_ROOT", REPO_ROOT.parent / "shared" / "data")) / "coco128"
    annotations = json.loads(next(root.glob("annotations/*.json")).read_text())
    boxes: dict[int, list[list[float]]] = {}
    for annotation in sorted(annotations["annotations"], key=lambda a: -a["area"]):
        x, y, w, h = annotation["bbox"]
        boxes.setdefault(annotation["image_id"], []).append([x, y, x + w, y + h])
    items = []
    for image in sorted(annotations["images"], key=lambda i: i["file_name"]):
        if image["id"] in boxes and len(items) < count:
            path = root / "train2017" / image["file_name"]
            prompts = np.asarray(boxes[image["id"]][:MAX_BOXES], dtype=np.float32)
            items.append((decode_image_file(path), prompts))
    return items


def main() -> int:
    """Print one row per installed backend (the columns of ocr_asr_latency.py)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--backend", action="append", help="only these backends (default: every installed one)")
    arguments = parser.parse_args()
    manager = ModelManager([*SEGMENTATION_BACKENDS, *EMBEDDING_BACKENDS], default_weights_root())
    items = coco_items(arguments.images)
    questions = [question.question for question in load_questions()][: arguments.questions]
    boxes = sum(len(prompts) for _, prompts in items)
    print(f"weights: {manager.weights_root}; {os.cpu_count()} CPUs")
    print(f"{'backend':<15} {'load s':>7} {'first s':>8} {'median s':>9} {'mean s':>7}  note")
    for backend in manager.backends():
        if arguments.backend and backend.name not in arguments.backend:
            continue
        reason = manager.not_installed_reason(backend.name)
        if reason is not None:
            print(f"{backend.name:<15} not installed ({reason}): {backend.install_command}")
            continue
        if backend.capability == Capability.SEGMENTATION:
            figures = time_backend(manager, backend, lambda model, item: model.segment(*item), items)
            note = f"{len(items)} images, {boxes} boxes: {1000 * figures['mean_s'] * len(items) / boxes:.1f} ms per box"
        else:
            figures = time_backend(manager, backend, lambda model, question: model.embed([question]), questions)
            note = f"{len(questions)} questions, one per call"
        timings = " ".join(
            f"{figures[key]:>{width}.3f}"
            for key, width in (("load_s", 7), ("first_s", 8), ("median_s", 9), ("mean_s", 7))
        )
        print(f"{backend.name:<15} {timings}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
