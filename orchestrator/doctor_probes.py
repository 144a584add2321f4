"""What ``visorch doctor`` runs in each child process: load one backend and run one tiny real inference.

Run as ``python -m visorch.doctor_probes MODULE:FUNCTION ARGUMENT``. The child prints a line
``visorch-doctor-stage: <what it is doing>`` before each step (flushed, so it survives a native
crash) and ends with ``visorch-doctor-result: {"detail": ...}``; a Python error ends it with exit
code 1 and ``visorch-doctor-error: ...``. The parent (:mod:`visorch.doctor`) reads the last stage
to say *when* a crash happened ("crashed (SIGSEGV) while decoding").
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STAGE_PREFIX = "visorch-doctor-stage: "
RESULT_PREFIX = "visorch-doctor-result: "
ERROR_PREFIX = "visorch-doctor-error: "

Probe = Callable[[str], str]
"""A probe takes its argument (a backend name, or '' ) and returns a one-line detail; it raises on failure."""


class ProbeCheckError(RuntimeError):
    """A probe ran, but its result shows the backend does not work (e.g. a detector that sees nothing)."""


def stage(description: str) -> None:
    """Announce what the probe does next (read by the parent if the process dies)."""
    print(STAGE_PREFIX + description, flush=True)


# --- the LLM -----------------------------------------------------------------------------------


def llm_settings() -> Any:
    """The LLM settings the agent uses: the config file's [llm] section over ``VISORCH_LLM_*`` variables."""
    from visorch.config import VisorchSettings

    return VisorchSettings().llm


def probe_llm(_: str) -> str:
    """The configured planner LLM answers 'What is 2+2?' (llama.cpp: loaded with the configured repack switch)."""
    settings = llm_settings()
    if settings.backend != "llama-cpp":
        return _probe_llm_backend(settings)
    from visorch.llm.llama_cpp_backend import default_gguf_path, limit_openmp_spinning, weight_repacking

    path = Path(settings.model) if settings.model else default_gguf_path()
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF model at {path}: run visorch models install-offline")
    stage("importing llama_cpp")
    limit_openmp_spinning()
    import llama_cpp

    stage(f"loading {path.name} (repack {'on' if settings.repack else 'off'})")
    with weight_repacking(settings.repack):
        llama = llama_cpp.Llama(
            model_path=str(path), n_ctx=256, n_threads=settings.n_threads, n_batch=64, seed=0, verbose=False
        )
    stage("decoding")
    started = time.perf_counter()
    result: Any = llama.create_chat_completion(
        messages=[{"role": "user", "content": "What is 2+2? Answer with one digit."}], max_tokens=3, temperature=0.0
    )
    seconds = time.perf_counter() - started
    text = str(result["choices"][0]["message"]["content"]).strip()
    llama.close()
    if "4" not in text:
        raise ProbeCheckError(f"answered {text!r} to 'What is 2+2?'; the GGUF file may be damaged")
    return f"{path.name}: answered {text!r} to 'What is 2+2?' in {seconds:.1f} s"


def _probe_llm_backend(settings: Any) -> str:
    from visorch.llm import ChatMessage, LLMRequest, create_backend

    backend = create_backend(settings)
    stage(f"asking {settings.backend} ({settings.model or 'default model'})")
    question = ChatMessage(role="user", content="What is 2+2? Answer with one digit.")
    response = backend.complete(LLMRequest(messages=[question], max_tokens=3))
    backend.close()
    return f"{settings.backend} {response.model}: answered {response.text.strip()!r} in {response.seconds:.1f} s"


# --- model backends ----------------------------------------------------------------------------


def _test_image() -> Any:
    """ultralytics' bus.jpg (a real photo with people) when it is installed, else a drawn scene."""
    import importlib.util

    from PIL import Image, ImageDraw

    spec = importlib.util.find_spec("ultralytics")
    if spec is not None and spec.origin is not None:
        bus = Path(spec.origin).parent / "assets" / "bus.jpg"
        if bus.is_file():
            return Image.open(bus).convert("RGB")
    image = Image.new("RGB", (320, 240), "white")
    ImageDraw.Draw(image).rectangle((80, 60, 240, 180), fill=(200, 30, 30))
    return image


def _text_image(text: str) -> Any:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (520, 120), "white")
    ImageDraw.Draw(image).text((20, 25), text, fill="black", font=ImageFont.load_default(size=56))
    return image


def _detect(model: Any) -> str:
    import numpy as np

    image = _test_image()
    stage("detecting objects on bus.jpg")
    started = time.perf_counter()
    detections = model.detect([image], None, 0.3)[0]
    seconds = time.perf_counter() - started
    names = [str(name) for name in detections.data.get("class_name", [])]
    counts = {name: names.count(name) for name in sorted(set(names))}
    summary = ", ".join(f"{count} {name}" for name, count in counts.items()) or "nothing"
    if model.class_names is not None and "person" in model.class_names and "person" not in counts:
        raise ProbeCheckError(f"found no person on bus.jpg (found {summary}); the weights may be damaged")
    boxes = np.asarray(detections.xyxy)
    return f"bus.jpg: {summary} ({len(boxes)} boxes) in {seconds * 1000:.0f} ms"


def _segment(model: Any) -> str:
    import numpy as np

    image = _test_image()
    box = np.array([[image.width * 0.25, image.height * 0.25, image.width * 0.75, image.height * 0.75]])
    stage("segmenting one box")
    started = time.perf_counter()
    masks = np.asarray(model.segment(image, box))
    seconds = time.perf_counter() - started
    return f"one box: mask of {int(masks[0].sum())} pixels in {seconds:.2f} s"


def _read(model: Any) -> str:
    stage("reading a rendered line of text")
    started = time.perf_counter()
    lines = model.read(_text_image("VISORCH 2026"))
    seconds = time.perf_counter() - started
    text = " ".join(line.text for line in lines).strip()
    if "2026" not in text.replace(" ", ""):
        raise ProbeCheckError(f"read {text!r} instead of 'VISORCH 2026' on clean rendered text")
    return f"read {text!r} in {seconds:.2f} s"


def _transcribe(model: Any) -> str:
    import numpy as np

    seconds_of_audio = 2.0
    times = np.arange(int(16000 * seconds_of_audio), dtype=np.float32) / 16000
    samples = (0.1 * np.sin(2 * np.pi * 220 * times)).astype(np.float32)  # no speech: it must run, not transcribe
    stage("transcribing 2 s of a tone")
    started = time.perf_counter()
    text, _, _ = model.transcribe(samples, "en")
    return f"2 s of a 220 Hz tone decoded in {time.perf_counter() - started:.2f} s (text {text.strip()[:30]!r})"


def _embed(model: Any) -> str:
    import numpy as np

    stage("embedding two sentences")
    vectors = np.asarray(model.embed(["How many buses are there?", "Count the buses in the picture."]))
    similarity = float(vectors[0] @ vectors[1])
    if not similarity > 0.5:
        raise ProbeCheckError(f"two paraphrases have cosine similarity {similarity:.2f}; the weights may be damaged")
    return f"{vectors.shape[1]}-d vectors, paraphrase similarity {similarity:.2f}"


def _caption(model: Any) -> str:
    stage("captioning bus.jpg")
    return f"caption: {model.caption([_test_image()])[0]!r}"


def _answer(model: Any) -> str:
    stage("answering a question about bus.jpg")
    return f"answer: {model.answer(_test_image(), 'What vehicle is this?')!r}"


def _score(model: Any) -> str:
    stage("scoring bus.jpg against two texts")
    scores = model.score([_test_image()], ["a photo of a bus", "a photo of a cat"])
    return f"p(bus)={float(scores[0][0]):.2f}, p(cat)={float(scores[0][1]):.2f}"


def _classify(model: Any) -> str:
    import numpy as np

    stage("classifying bus.jpg")
    probabilities = np.asarray(model.probabilities([_test_image()]))[0]
    top = int(probabilities.argmax())
    names = getattr(model, "synsets", None)
    label = names[top] if names is not None and top < len(names) else f"class {top}"
    return f"bus.jpg: top class {label!r} (p={float(probabilities[top]):.2f})"


INFERENCE_BY_CAPABILITY: dict[str, Callable[[Any], str]] = {
    "image_classification": _classify,
    "detection": _detect,
    "segmentation": _segment,
    "ocr": _read,
    "asr": _transcribe,
    "embedding": _embed,
    "caption": _caption,
    "vqa": _answer,
    "image_text": _score,
}


def probe_backend(name: str) -> str:
    """Load model backend ``name`` through the model manager and run its capability's tiny inference."""
    from visorch.config import VisorchSettings
    from visorch.tools.catalog import default_backends
    from visorch.tools.models.manager import ModelManager

    settings = VisorchSettings()
    models = ModelManager(
        default_backends(),
        weights_root=settings.weights_root,
        device=settings.models.device,
        device_overrides=settings.models.device_overrides,
    )
    backend = models.backend(name)
    stage(f"loading {name} on {models.device_for(backend)}")
    with models.use(name) as model:
        inference = INFERENCE_BY_CAPABILITY.get(backend.capability)
        return "loaded" if inference is None else inference(model)


def probe_opencv(_: str) -> str:
    """cv2 imports (its shared libraries are present) and runs one filter."""
    stage("importing cv2")
    import cv2
    import numpy as np

    stage("running a Gaussian blur")
    blurred = cv2.GaussianBlur(np.zeros((64, 64, 3), dtype=np.uint8), (5, 5), 0)
    return f"cv2 {cv2.__version__}: imported, blurred a {blurred.shape[1]}x{blurred.shape[0]} image"


# --- the child's entry point -------------------------------------------------------------------


def resolve(target: str) -> Probe:
    """``module:function`` to the probe function."""
    module_name, _, function_name = target.partition(":")
    probe: Probe = getattr(importlib.import_module(module_name), function_name)
    return probe


def main(argv: list[str] | None = None) -> int:
    """Run one probe; print its stages and result; exit 0 (worked) or 1 (a Python error)."""
    arguments = [*(argv if argv is not None else sys.argv[1:]), "", ""]
    target, argument = arguments[0], arguments[1]
    try:
        detail = resolve(target)(argument)
    except Exception as error:  # every Python-level failure becomes a row, not a traceback
        print(ERROR_PREFIX + json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
        return 1
    print(RESULT_PREFIX + json.dumps({"detail": detail}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
