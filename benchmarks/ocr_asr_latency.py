"""Load time and per-item latency of every installed OCR and speech-recognition backend on this machine.

Usage: python benchmarks/ocr_asr_latency.py [--receipts 3] [--utterances 10] [--backend NAME ...]

OCR items are SROIE receipts plus ultralytics' bus.jpg; speech items are the librivox and cards
utterances (``speech/*/*.wav``) of the shared data folder ($VISORCH_DATA_ROOT, default
``../shared/data`` next to the repository). Weights come from $VISORCH_HOME/weights (or the user
cache). Load time is the model manager's first ``use`` (imports included); the first item after
loading is also measured, so a lazily initialising engine shows up there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from visorch.tools.asr.backends import BACKENDS as ASR_BACKENDS
from visorch.tools.audio import load_audio
from visorch.tools.capability import Capability
from visorch.tools.images import ImageStore
from visorch.tools.models.backend import Backend
from visorch.tools.models.manager import ModelManager, default_weights_root
from visorch.tools.ocr.backends import BACKENDS as OCR_BACKENDS

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The shared evaluation data folder."""
    return Path(os.environ.get("VISORCH_DATA_ROOT", REPO_ROOT.parent / "shared" / "data"))


def ocr_items(root: Path, receipts: int) -> list[Path]:
    """The first ``receipts`` receipt scans and bus.jpg."""
    import importlib.util

    scans = sorted((root / "receipts" / "data" / "img").glob("*.jpg"))[:receipts]
    spec = importlib.util.find_spec("ultralytics")
    bus = [Path(spec.origin).parent / "assets" / "bus.jpg"] if spec and spec.origin else []
    return scans + bus


def speech_items(root: Path, utterances: int) -> list[Path]:
    """Up to ``utterances`` speech files, librivox first."""
    return (sorted((root / "speech" / "librivox").glob("*.wav")) + sorted((root / "speech" / "cards").glob("*.wav")))[
        :utterances
    ]


def time_backend(
    manager: ModelManager, backend: Backend, run: Callable[[Any, Any], object], items: Sequence[Any]
) -> dict[str, float]:
    """Load the backend, then time ``run(model, item)`` for each item."""
    started = time.perf_counter()
    with manager.use(backend.name):
        pass
    load_seconds = time.perf_counter() - started
    latencies = []
    for item in items:
        with manager.use(backend.name) as model:
            begin = time.perf_counter()
            run(model, item)
            latencies.append(time.perf_counter() - begin)
    manager.unload(backend.name)
    return {
        "load_s": load_seconds,
        "first_s": latencies[0],
        "median_s": statistics.median(latencies),
        "mean_s": statistics.fmean(latencies),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Print one row per installed backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=3, help="receipt scans per OCR backend (plus bus.jpg)")
    parser.add_argument("--utterances", type=int, default=10, help="speech files per ASR backend")
    parser.add_argument("--backend", action="append", default=[], help="only these backends (repeatable)")
    parser.add_argument("--weights-root", type=Path, default=None, help="default: $VISORCH_HOME/weights")
    arguments = parser.parse_args(argv)

    root = data_root()
    if not root.is_dir():
        parser.error(f"shared data not found at {root}; set VISORCH_DATA_ROOT")
    weights_root = arguments.weights_root or default_weights_root()
    manager = ModelManager([*OCR_BACKENDS, *ASR_BACKENDS], weights_root=weights_root)
    store = ImageStore(Path(tempfile.mkdtemp(prefix="visorch-bench-")))
    images = [store.load(path).pil() for path in ocr_items(root, arguments.receipts)]
    if not images:
        parser.error(f"no receipt images under {root}")
    clips = [load_audio(path) for path in speech_items(root, arguments.utterances)]
    samples = [clip.samples() for clip in clips]
    if not samples:
        parser.error(f"no speech files under {root}")
    audio_seconds = sum(clip.duration_s for clip in clips)

    print(f"cpu cores: {os.cpu_count()}, weights root: {weights_root}")
    print(f"OCR items: {len(images)} images; ASR items: {len(samples)} utterances, {audio_seconds:.1f} s of audio")
    header = (
        f"{'backend':<24} {'cap':<4} {'device':<6} {'load s':>7} {'first s':>8} {'median s':>9} {'mean s':>7}  note"
    )
    print(header)
    print("-" * len(header))
    for backend in manager.backends():
        if arguments.backend and backend.name not in arguments.backend:
            continue
        reason = manager.not_installed_reason(backend.name)
        if reason is not None:
            print(f"{backend.name:<24} {backend.capability:<4} not installed: {reason} ({backend.install_command})")
            continue
        if backend.capability == Capability.OCR:
            figures = time_backend(manager, backend, lambda reader, image: reader.read(image), images)
            note = f"{len(images)} images"
        else:
            figures = time_backend(manager, backend, lambda model, clip: model.transcribe(clip, "en"), samples)
            real_time = figures["mean_s"] * len(samples) / audio_seconds
            note = f"{len(samples)} utterances, real-time factor {real_time:.2f}"
        device = manager.device_for(backend)
        timings = " ".join(
            f"{figures[key]:>{width}.2f}"
            for key, width in (("load_s", 7), ("first_s", 8), ("median_s", 9), ("mean_s", 7))
        )
        print(f"{backend.name:<24} {backend.capability:<4} {device:<6} {timings}  {note}")


if __name__ == "__main__":
    main()
