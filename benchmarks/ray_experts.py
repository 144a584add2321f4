"""Remote experts on Ray Serve against local models: call overhead, shared throughput, memory.

Run: .venv/bin/python benchmarks/ray_experts.py [--agents 4] [--rounds 3]   (needs visorch[ray], the offline pack)

On a local single-node cluster (``ray.init(num_cpus=...)``) it serves NanoDet-m as one Serve replica and prints:
- the overhead of one remote detect call against a local one (median of warm calls, one image);
- N concurrent agents against the one shared deployment, against N agents each loading its own detector
  (images per second, wall and process CPU time);
- memory: the one replica's model copy against the N local copies (as each manager measured at load:
  the larger of the process's RSS growth and the backend's declared size);
- ``eval detect`` on ``--eval-items`` coco-val images: ``--ray`` (Ray Data, N actors) against local ``--workers N``.

Timings on a shared, loaded machine are noisy; the remote figures include Ray's serialisation of each image
(a PIL image, pickled) and the result (sv.Detections) through the object store, and the replica runs on the
same cores as the agents, so this machine shows the cost of going remote, not the gain of a GPU box.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from visorch.tools.catalog import default_backends
from visorch.tools.models.manager import ModelManager, default_weights_root
from visorch.tools.remote.backend import with_remote
from visorch.tools.remote.target import RemoteExpert

BACKEND = "nanodet-m"
IMAGES = ("000000000139.jpg", "000000018575.jpg", "000000034417.jpg")


def _median_ms(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _concurrent(managers: list[ModelManager], images: list[Image.Image], rounds: int) -> tuple[float, float]:
    """(wall s, process CPU s) for every manager detecting ``images`` ``rounds`` times, one thread each."""
    errors: list[BaseException] = []

    def agent(models: ModelManager) -> None:
        try:
            with models.use(BACKEND) as detector:
                for _ in range(rounds):
                    for image in images:
                        detector.detect([image], None, 0.3)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=agent, args=(m,)) for m in managers]
    wall, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - wall, time.process_time() - cpu


def _eval_ray_against_threads(data: Path, items: int, workers: int) -> None:
    """``eval detect`` on Ray Data with ``workers`` actors against ``workers`` local threads."""
    import functools
    import tempfile

    from visorch.cli import _open_evaluation_runtime
    from visorch.evaluation.ray_runner import RayEvaluation
    from visorch.evaluation.runner import run_evaluation

    ray_options = RayEvaluation(functools.partial(_open_evaluation_runtime, None), concurrency=workers, num_cpus=0.5)
    with tempfile.TemporaryDirectory() as out:
        for name, options in (("local --workers", None), ("--ray", ray_options)):
            started = time.perf_counter()
            summary = run_evaluation(
                "detect", data, Path(out) / name.strip("-").replace(" ", "_"), limit=items,
                runtime=_open_evaluation_runtime(None), backend=BACKEND, workers=workers, show_progress=False,
                ray=options,
            )  # fmt: skip
            wall = time.perf_counter() - started
            print(
                f"eval detect, {items} items, {name} {workers}: {wall:.1f} s wall "
                f"(mAP@.5 {summary.metrics.get('map_50')})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--eval-items", type=int, default=6, help="items of eval detect (0: skip that part)")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/coco-val")
    args = parser.parse_args()

    import ray
    from ray import serve
    from visorch.tools.remote.serving import connect_cluster, serve_experts

    weights = default_weights_root()
    images = [Image.open(args.data / "val2017" / name).convert("RGB") for name in IMAGES]
    started = time.perf_counter()
    connect_cluster(None, num_cpus=args.num_cpus)
    served = serve_experts([BACKEND], weights, cpus=0.5, device="cpu")
    print(f"local Ray cluster + {BACKEND} deployment up in {time.perf_counter() - started:.1f} s")
    target = RemoteExpert(app=served[0].app, timeout_s=120)
    try:
        local = ModelManager(default_backends(), weights)
        remote = ModelManager(with_remote(default_backends(), {BACKEND: target}), weights)
        with local.use(BACKEND) as here, remote.use(BACKEND) as there:
            for _ in range(3):  # warm both paths
                here.detect(images[:1], None, 0.3)
                there.detect(images[:1], None, 0.3)
            local_ms = _median_ms(lambda: here.detect(images[:1], None, 0.3), 15)
            remote_ms = _median_ms(lambda: there.detect(images[:1], None, 0.3), 15)
        print(
            f"one detect call, one image: local {local_ms:.1f} ms, remote {remote_ms:.1f} ms "
            f"(overhead {remote_ms - local_ms:+.1f} ms, median of 15)"
        )

        n, count = args.agents, args.agents * args.rounds * len(images)
        shared = [ModelManager(with_remote(default_backends(), {BACKEND: target}), weights) for _ in range(n)]
        wall, cpu = _concurrent(shared, images, args.rounds)
        info = shared[0].backend(BACKEND).extra["client"].fresh_info()
        print(
            f"{n} agents, one shared deployment: {count / wall:.1f} images/s ({count} in {wall:.1f} s wall, "
            f"{cpu:.1f} s CPU in this process; replica loads {info.load_count}, "
            f"largest batch {max(info.batch_sizes)})"
        )

        copies = [ModelManager(default_backends(), weights) for _ in range(n)]
        load_started = time.perf_counter()
        for models in copies:
            models.load(BACKEND)
        loads = time.perf_counter() - load_started
        wall, cpu = _concurrent(copies, images, args.rounds)
        print(
            f"{n} agents, {n} local copies: {count / wall:.1f} images/s ({count} in {wall:.1f} s wall, "
            f"{cpu:.1f} s CPU; {loads:.1f} s to load {n} copies)"
        )
        copy_mb = [m.loaded()[BACKEND]["memory_mb"] for m in copies]
        print(
            f"memory: one shared copy {info.memory_mb:.0f} MB (in the replica) against {n} copies "
            f"{sum(copy_mb):.0f} MB ({', '.join(f'{mb:.0f}' for mb in copy_mb)} MB as measured at load)"
        )
        if args.eval_items:
            _eval_ray_against_threads(args.data, args.eval_items, n)
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
