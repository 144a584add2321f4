"""Load time and per-image latency of every installed detection backend on this machine.

Usage: python benchmarks/detection_latency.py [--images 20] [--repeats 1] [--min-score 0.3] [--backend NAME ...]

Images: ultralytics' bus.jpg and zidane.jpg, then COCO128 photos from the shared data folder
($VISORCH_DATA_ROOT, default ``../shared/data`` next to the repository). Weights come from
$VISORCH_HOME/weights (or the user cache). Load time is the model manager's first ``use``
(imports included); one warm-up image follows and is not counted. Latency is one ``detect``
call of one decoded image (pre-processing, inference, NMS), all classes, at ``--min-score``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

from PIL import Image
from visorch.tools.capability import Capability
from visorch.tools.detection.backends import BACKENDS
from visorch.tools.images import decode_image_file
from visorch.tools.models.manager import ModelManager, default_weights_root

REPO_ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def benchmark_images(count: int) -> list[tuple[str, Image.Image]]:
    """bus.jpg, zidane.jpg, then COCO128 photos, decoded up front."""
    paths: list[Path] = []
    spec = importlib.util.find_spec("ultralytics")
    if spec is not None and spec.origin is not None:
        paths += [Path(spec.origin).parent / "assets" / name for name in ("bus.jpg", "zidane.jpg")]
    data_root = Path(os.environ.get("VISORCH_DATA_ROOT", REPO_ROOT.parent / "shared" / "data"))
    paths += sorted((data_root / "coco128" / "train2017").glob("*.jpg"))
    return [(path.name, decode_image_file(path)) for path in paths[:count]]


def main() -> int:
    """Print one line per installed backend: load seconds, then per-image latency statistics."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--min-score", type=float, default=0.3)
    parser.add_argument("--backend", action="append", help="only these backends (default: every installed one)")
    arguments = parser.parse_args()

    images = benchmark_images(arguments.images)
    manager = ModelManager(BACKENDS, default_weights_root())
    print(
        f"weights: {manager.weights_root}; {len(images)} images; {os.cpu_count()} CPUs; min_score {arguments.min_score}"
    )
    print(f"{'backend':15} {'load s':>7} {'mean ms':>8} {'median ms':>9} {'p90 ms':>7} {'boxes/img':>9}")
    for backend in manager.backends(Capability.DETECTION):
        if arguments.backend and backend.name not in arguments.backend:
            continue
        reason = manager.not_installed_reason(backend.name)
        if reason is not None:
            print(f"{backend.name:15} not installed ({reason}): {backend.install_command}")
            continue
        started = time.perf_counter()
        with manager.use(backend.name) as detector:
            load_s = time.perf_counter() - started
            detector.detect([images[0][1]], None, arguments.min_score)  # warm-up
            latencies, boxes = [], []
            for _ in range(arguments.repeats):
                for _, image in images:
                    started = time.perf_counter()
                    found = detector.detect([image], None, arguments.min_score)[0]
                    latencies.append((time.perf_counter() - started) * 1000)
                    boxes.append(len(found))
        latencies.sort()
        p90 = latencies[min(len(latencies) - 1, int(0.9 * len(latencies)))]
        print(
            f"{backend.name:15} {load_s:7.2f} {statistics.mean(latencies):8.1f} {statistics.median(latencies):9.1f} "
            f"{p90:7.1f} {statistics.mean(boxes):9.1f}"
        )
        manager.unload(backend.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
