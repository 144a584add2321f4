"""Load time and per-item latency of the installed segmentation and sentence-embedding backends.

Usage: python benchmarks/segmentation_embedding_latency.py [--images 10] [--questions 20] [--backend NAME ...]

Segmentation items are COCO128 photos of the shared data folder ($VISORCH_DATA_ROOT, default
``../shared/data``) prompted with their annotated boxes (at most 5 per image, largest first), so
the figure is per image *and* per box. Embedding items are questions of the shipped question set,
one per call (how the planner's example selector uses it). Load time is the model manager's first
``use`` (imports included); one warm-up item follows and is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from orchestrator.evaluation.questions import load_questions  # noqa: E402
from tools.embedding import BACKENDS as EMBEDDING_BACKENDS  # noqa: E402
from tools.images import decode_image_file  # noqa: E402
from tools.models.manager import ModelManager, default_weights_root  # noqa: E402
from tools.segmentation.backends import BACKENDS as SEGMENTATION_BACKENDS  # noqa: E402

MAX_BOXES = 5


def coco_items(count: int) -> list[tuple[str, object, np.ndarray]]:
    """(file name, decoded image, xyxy boxes of its largest annotations) for the first images with boxes."""
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
            items.append((image["file_name"], decode_image_file(path), prompts))
    return items


def _line(name: str, load_s: float, latencies_ms: list[float], per: str) -> str:
    latencies_ms.sort()
    p90 = latencies_ms[min(len(latencies_ms) - 1, int(0.9 * len(latencies_ms)))]
    return (
        f"{name:15} {load_s:7.2f} {statistics.fmean(latencies_ms):9.1f} {statistics.median(latencies_ms):9.1f} "
        f"{p90:8.1f}  {per}"
    )


def main() -> int:
    """Print one line per installed backend: load seconds, then latency statistics."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--backend", action="append", help="only these backends (default: every installed one)")
    arguments = parser.parse_args()
    manager = ModelManager([*SEGMENTATION_BACKENDS, *EMBEDDING_BACKENDS], default_weights_root())
    print(f"weights: {manager.weights_root}; {os.cpu_count()} CPUs")
    print(f"{'backend':15} {'load s':>7} {'mean ms':>9} {'median ms':>9} {'p90 ms':>8}  per")
    for backend in manager.backends():
        if arguments.backend and backend.name not in arguments.backend:
            continue
        reason = manager.not_installed_reason(backend.name)
        if reason is not None:
            print(f"{backend.name:15} not installed ({reason}): {backend.install_command}")
            continue
        started = time.perf_counter()
        with manager.use(backend.name) as model:
            load_s = time.perf_counter() - started
            latencies: list[float] = []
            if backend.capability == "segmentation":
                items = coco_items(arguments.images)
                model.segment(items[0][1], items[0][2])  # warm-up
                box_count = 0
                for _, image, prompts in items:
                    begin = time.perf_counter()
                    model.segment(image, prompts)
                    latencies.append((time.perf_counter() - begin) * 1000)
                    box_count += len(prompts)
                per_box = sum(latencies) / box_count
                print(_line(backend.name, load_s, latencies, f"image ({box_count / len(items):.1f} boxes; "
                                                             f"{per_box:.1f} ms per box)"))  # fmt: skip
            else:
                questions = [q.question for q in load_questions()][: arguments.questions]
                model.embed([questions[0]])  # warm-up
                for question in questions:
                    begin = time.perf_counter()
                    model.embed([question])
                    latencies.append((time.perf_counter() - begin) * 1000)
                print(_line(backend.name, load_s, latencies, "question"))
        manager.unload(backend.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
