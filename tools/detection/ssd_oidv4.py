"""SSD MobileNetV2 trained on 24 OpenImages-v4 classes (MediaPipe objectron's box detector), in LiteRT.

The ``.tflite`` ships inside npm ``@mediapipe/objectron``, packed at a byte range of
``objectron_solution_packed_assets.data`` (the ranges are listed in its loader JS). onnxruntime cannot read
``.tflite`` (it fails with "Protobuf parsing failed"), so this runs in ``ai-edge-litert`` (the PyPI build
of TensorFlow Lite's interpreter, no TensorFlow needed).

The graph emits raw SSD outputs: ``box_encodings`` [1, 1917, 4] relative to fixed anchors and
``class_predictions`` [1, 1917, 24] logits (class 0 is background). The anchors and the decoding below
are MediaPipe's ``SsdAnchorsCalculator`` / ``TfLiteTensorsToDetectionsCalculator`` with the options of its
``object_detection_oid_v4`` graph (6 layers, scales 0.2..0.95, strides 16..512, box scales 10/10/5/5,
sigmoid scores). Input: 300x300 RGB, stretched, scaled to -1..1.

Its classes are mapped onto COCO names where one clearly is the other (``OIDV4_TO_COCO``); the rest
(Boot, Box, Camera, Desk, Footwear, High heels, Stationary bicycle, Vehicle) are dropped, so this expert
votes only on those 13 COCO classes.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
from PIL import Image
from visorch.tools.detection.onnx_coco import FixedClassDetector
from visorch.tools.vocabulary import COCO_CLASSES

MODEL_FILE = "object_detection_ssd_mobilenetv2_oidv4_fp16.tflite"
INPUT_SIZE = 300
OIDV4_LABELS = (
    "???", "Bicycle", "Boot", "Laptop", "Person", "Chair", "Cattle", "Desk", "Cat", "Computer mouse",
    "Computer monitor", "Box", "Mug", "Coffee cup", "Stationary bicycle", "Table", "Bottle", "High heels",
    "Vehicle", "Footwear", "Dog", "Book", "Camera", "Car",
)  # fmt: skip
"""The label map packed next to the model (``/object_detection_oidv4_labelmap.txt``), in output order."""
OIDV4_TO_COCO = {
    "Bicycle": "bicycle", "Laptop": "laptop", "Person": "person", "Chair": "chair", "Cattle": "cow",
    "Cat": "cat", "Computer mouse": "mouse", "Computer monitor": "tv", "Mug": "cup", "Coffee cup": "cup",
    "Table": "dining table", "Bottle": "bottle", "Dog": "dog", "Book": "book", "Car": "car",
}  # fmt: skip
"""OpenImages label -> COCO class, only where COCO's annotators would give that object that class."""
COVERED_COCO_CLASSES = tuple(sorted(set(OIDV4_TO_COCO.values()), key=COCO_CLASSES.index))

_NUM_LAYERS, _MIN_SCALE, _MAX_SCALE = 6, 0.2, 0.95
_STRIDES = (16, 32, 64, 128, 256, 512)
_ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)
_BOX_SCALES = np.array([10.0, 10.0, 5.0, 5.0], dtype=np.float32)  # y, x, h, w


def _layer_scale(layer: int) -> float:
    return _MIN_SCALE + (_MAX_SCALE - _MIN_SCALE) * layer / (_NUM_LAYERS - 1)


def ssd_anchors() -> np.ndarray:
    """(1917, 4) anchors as (y_centre, x_centre, height, width), normalised; MediaPipe's SsdAnchorsCalculator."""
    anchors = []
    for layer, stride in enumerate(_STRIDES):
        scale = _layer_scale(layer)
        if layer == 0:  # reduce_boxes_in_lowest_layer
            shapes = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
        else:
            following = 1.0 if layer == _NUM_LAYERS - 1 else _layer_scale(layer + 1)
            shapes = [(scale, ratio) for ratio in _ASPECT_RATIOS] + [(math.sqrt(scale * following), 1.0)]
        sizes = [(size / math.sqrt(ratio), size * math.sqrt(ratio)) for size, ratio in shapes]
        cells = math.ceil(INPUT_SIZE / stride)
        for row in range(cells):
            for column in range(cells):
                for height, width in sizes:
                    anchors.append(((row + 0.5) / cells, (column + 0.5) / cells, height, width))
    return np.array(anchors, dtype=np.float32)


def decode_boxes(encodings: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """SSD box encodings (ty, tx, th, tw) against anchors -> normalised (x1, y1, x2, y2)."""
    scaled = encodings / _BOX_SCALES
    y_centre = scaled[:, 0] * anchors[:, 2] + anchors[:, 0]
    x_centre = scaled[:, 1] * anchors[:, 3] + anchors[:, 1]
    height = np.exp(scaled[:, 2]) * anchors[:, 2]
    width = np.exp(scaled[:, 3]) * anchors[:, 3]
    return np.stack([x_centre - width / 2, y_centre - height / 2, x_centre + width / 2, y_centre + height / 2], 1)


class SsdOidv4Detector(FixedClassDetector):
    """A detector voting on the 13 COCO classes its OpenImages classes map onto."""

    def __init__(self, model_path: Path, device: str = "cpu") -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(model_path), num_threads=2)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]["index"]
        outputs = {detail["name"]: detail["index"] for detail in self.interpreter.get_output_details()}
        self._boxes = next(index for name, index in outputs.items() if "box" in name)
        self._classes = next(index for name, index in outputs.items() if "class" in name)
        self._anchors = ssd_anchors()
        self._lock = threading.Lock()  # one interpreter holds one set of tensors
        coco_of_label = [COCO_CLASSES.index(OIDV4_TO_COCO[label]) if label in OIDV4_TO_COCO else -1
                         for label in OIDV4_LABELS]  # fmt: skip
        self._coco_ids = np.array(coco_of_label, dtype=int)

    def _predict(
        self, image: Image.Image, allowed: np.ndarray | None, min_score: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rgb = image.convert("RGB")
        pixels = np.asarray(rgb.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR), dtype=np.float32)
        tensor = (pixels / 127.5 - 1.0)[None]
        with self._lock:
            self.interpreter.set_tensor(self._input, tensor)
            self.interpreter.invoke()
            encodings = self.interpreter.get_tensor(self._boxes)[0].copy()
            logits = self.interpreter.get_tensor(self._classes)[0].copy()
        scores = 1.0 / (1.0 + np.exp(-logits))
        mapped = self._coco_ids >= 0
        scores[:, ~mapped] = 0.0
        best_label = scores.argmax(axis=1)  # one class per anchor, as MediaPipe decodes it
        best_score = scores[np.arange(len(scores)), best_label]
        keep = best_score >= min_score
        xyxy = decode_boxes(encodings[keep], self._anchors[keep]).clip(0, 1)
        xyxy *= np.array([rgb.width, rgb.height, rgb.width, rgb.height], dtype=np.float32)
        return xyxy, best_score[keep].astype(np.float32), self._coco_ids[best_label[keep]]
