"""RapidOCR (PP-OCR detection + recognition in ONNX Runtime), the offline default OCR engine."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from visorch.tools.models.backend import LoadRequest
from visorch.tools.ocr.reading_order import ordered_lines
from visorch.tools.text import TextLine

MODEL_FILES = ("PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx", "ch_ppocr_mobile_v2.0_cls_mobile.onnx")
"""The ONNX models rapidocr 3.x ships inside its package (detection, recognition, orientation)."""


class RapidOCRReader:
    """Reads text lines with a loaded ``rapidocr.RapidOCR`` engine."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._lock = threading.Lock()  # RapidOCR keeps per-call settings on the engine object

    def read(self, image: Image.Image) -> list[TextLine]:
        """Lines in reading order (top to bottom, then left to right)."""
        rgb = image.convert("RGB")
        with self._lock:
            result = self.engine(rgb)
        boxes, texts, scores = (getattr(result, name, None) for name in ("boxes", "txts", "scores"))
        if boxes is None or texts is None or scores is None:
            return []  # nothing detected: rapidocr returns an output with empty fields
        return ordered_lines(zip(boxes, texts, scores, strict=True), rgb.width, rgb.height)


def locate_rapidocr_models(weights_root: Path) -> Path | None:
    """The models folder inside the installed rapidocr package, when its ONNX files are there."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if all((folder / name).is_file() for name in MODEL_FILES) else None


def load_rapidocr(request: LoadRequest) -> RapidOCRReader:
    """Build the RapidOCR engine from the models shipped in its package (no download)."""
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.log_level": "error", "Global.model_root_dir": str(request.weights_dir)})
    reader = RapidOCRReader(engine)
    # RapidOCR opens its three ONNX sessions on first use; reading one rendered line here makes
    # loading complete, so the manager's load time and memory figures are the real ones.
    reader.read(_rendered_line("RapidOCR 123"))
    return reader


def _rendered_line(text: str) -> Image.Image:
    image = Image.new("RGB", (360, 80), "white")
    ImageDraw.Draw(image).text((12, 14), text, fill="black", font=ImageFont.load_default(size=40))
    return image
