"""Every tool and model backend visorch ships, in one list each (nothing loads on import)."""

from __future__ import annotations

import importlib

from tools.builtin import boxes, color, image_ops
from tools.models.backend import Backend
from tools.registry import Tool

CAPABILITY_PACKAGES = ("detection", "segmentation", "ocr", "asr", "vision_language")
"""Packages under tools/ that each export TOOLS (tools.py) and BACKENDS (backends.py)."""


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
    found: list[Tool] = []
    for package in CAPABILITY_PACKAGES:
        module = importlib.import_module(f"tools.{package}.tools")
        found.extend(module.TOOLS)
    return found


def default_backends() -> list[Backend]:
    """Every declared model backend, installed or not."""
    found: list[Backend] = []
    for package in CAPABILITY_PACKAGES:
        module = importlib.import_module(f"tools.{package}.backends")
        found.extend(module.BACKENDS)
    return found
