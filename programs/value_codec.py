"""Program values as exact JSON and back: what a run journal stores so a run can continue in another process.

Unlike :func:`visorch.tools.types.value_to_json` (for people: boxes rounded, masks left out), this
form is lossless: boxes and scores keep every float32 bit, masks are kept (bit-packed, compressed),
so a step restored from it feeds its dependents exactly what they got the first time. Images and
audio are references (content hash, path, size, crop parent); pixels never enter it: an input
image is read again from its file, a derived one (a crop) from the content-addressed image store.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np
import supervision as sv
from visorch.tools.audio import AudioRef
from visorch.tools.detections import Detections
from visorch.tools.images import ImageRef
from visorch.tools.text import OCRText, Transcript

_KIND = "__value__"
"""The key that marks an encoded value object (plain dicts never carry it)."""


class UnencodableValue(TypeError):
    """A value of a type the codec does not know; the step holding it is not journaled (it runs again)."""


def _array(values: np.ndarray) -> dict[str, Any]:
    return {"dtype": str(values.dtype), "shape": list(values.shape), "values": values.tolist()}


def _from_array(data: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(data["dtype"])
    return np.asarray(data["values"], dtype=dtype).reshape(data["shape"])


def _masks(masks: np.ndarray) -> dict[str, Any]:
    packed = np.packbits(np.asarray(masks, dtype=bool).reshape(-1))
    return {"shape": list(masks.shape), "bits": base64.b64encode(zlib.compress(packed.tobytes(), 6)).decode()}


def _from_masks(data: dict[str, Any]) -> np.ndarray:
    shape = tuple(data["shape"])
    packed = np.frombuffer(zlib.decompress(base64.b64decode(data["bits"])), dtype=np.uint8)
    return np.unpackbits(packed, count=int(np.prod(shape))).astype(bool).reshape(shape)


def _detections(value: Detections) -> dict[str, Any]:
    found = value.detections
    return {
        _KIND: "detections",
        "image": value.image.model_dump(mode="json"),
        "source": value.source,
        "notes": list(value.notes),
        "xyxy": _array(np.asarray(found.xyxy)),
        "confidence": None if found.confidence is None else _array(np.asarray(found.confidence)),
        "class_id": None if found.class_id is None else _array(np.asarray(found.class_id)),
        "tracker_id": None if found.tracker_id is None else _array(np.asarray(found.tracker_id)),
        "mask": None if value.masks is None else _masks(value.masks),
        "data": {key: _array(np.asarray(column)) for key, column in found.data.items()},
    }


def _from_detections(data: dict[str, Any]) -> Detections:
    def optional(key: str) -> np.ndarray | None:
        return None if data.get(key) is None else _from_array(data[key])

    found = sv.Detections(
        xyxy=_from_array(data["xyxy"]),
        mask=None if data.get("mask") is None else _from_masks(data["mask"]),
        confidence=optional("confidence"),
        class_id=optional("class_id"),
        tracker_id=optional("tracker_id"),
        data={key: _from_array(column) for key, column in data.get("data", {}).items()},
    )
    return Detections(found, ImageRef.model_validate(data["image"]), data["source"], tuple(data.get("notes", ())))


_MODELS: dict[str, type[ImageRef | AudioRef | OCRText | Transcript]] = {
    "image": ImageRef,
    "audio": AudioRef,
    "ocr_text": OCRText,
    "transcript": Transcript,
}


def encode_value(value: Any) -> Any:
    """``value`` as exact JSON data; raises :class:`UnencodableValue` for a type it does not know."""
    if isinstance(value, Detections):
        return _detections(value)
    for kind, model in _MODELS.items():
        if isinstance(value, model):
            return {_KIND: kind, **value.model_dump(mode="json")}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return encode_value(value.item())
    if isinstance(value, list):
        return [encode_value(item) for item in value]
    if isinstance(value, tuple):
        return {_KIND: "tuple", "items": [encode_value(item) for item in value]}
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {_KIND: "dict", "items": {key: encode_value(item) for key, item in value.items()}}
    raise UnencodableValue(f"no exact JSON form for a {type(value).__name__}")


def decode_value(data: Any) -> Any:
    """The value :func:`encode_value` encoded (images and audio as references; pixels load on demand)."""
    if isinstance(data, list):
        return [decode_value(item) for item in data]
    if not isinstance(data, dict):
        return data
    kind = data.get(_KIND)
    if kind == "detections":
        return _from_detections(data)
    if kind == "tuple":
        return tuple(decode_value(item) for item in data["items"])
    if kind == "dict":
        return {key: decode_value(item) for key, item in data["items"].items()}
    if kind in _MODELS:
        return _MODELS[kind].model_validate({key: item for key, item in data.items() if key != _KIND})
    raise ValueError(f"not an encoded program value: {sorted(data)[:5]}")
