"""Every tool and model backend visorch ships, in one list each (nothing loads on import)."""

from __future__ import annotations

from visorch.tools import embedding
from visorch.tools.asr import backends as asr_backends
from visorch.tools.asr import tools as asr_tools
from visorch.tools.builtin import boxes, color, image_ops
from visorch.tools.classification import backends as classification_backends
from visorch.tools.detection import backends as detection_backends
from visorch.tools.detection import tools as detection_tools
from visorch.tools.fusion import backends as fusion_backends
from visorch.tools.fusion import tools as fusion_tools
from visorch.tools.models.backend import Backend
from visorch.tools.ocr import backends as ocr_backends
from visorch.tools.ocr import tools as ocr_tools
from visorch.tools.registry import Tool
from visorch.tools.segmentation import backends as segmentation_backends
from visorch.tools.segmentation import tools as segmentation_tools
from visorch.tools.vision_language import backends as vision_language_backends
from visorch.tools.vision_language import openai_vlm
from visorch.tools.vision_language import tools as vision_language_tools


def builtin_tools() -> list[Tool]:
    """Tools that need no model."""
    return [
        image_ops.load_image,
        image_ops.crop,
        image_ops.crop_left_of,
        image_ops.crop_right_of,
        image_ops.crop_above,
        image_ops.crop_below,
        image_ops.tag,
        boxes.count,
        boxes.filter_boxes,
        boxes.select_box,
        color.colour_of,
    ]


def model_tools() -> list[Tool]:
    """Tools backed by models (each one fails clearly when its capability is not installed)."""
    return [
        *detection_tools.TOOLS,
        *fusion_tools.TOOLS,
        *segmentation_tools.TOOLS,
        *ocr_tools.TOOLS,
        *asr_tools.TOOLS,
        *vision_language_tools.TOOLS,
    ]


def default_backends() -> list[Backend]:
    """Every declared model backend, installed or not (nothing is imported or loaded here)."""
    return [
        *detection_backends.BACKENDS,
        *fusion_backends.BACKENDS,
        *classification_backends.BACKENDS,
        *segmentation_backends.BACKENDS,
        *ocr_backends.BACKENDS,
        *asr_backends.BACKENDS,
        *vision_language_backends.BACKENDS,
        *openai_vlm.BACKENDS,
        *embedding.BACKENDS,
    ]
