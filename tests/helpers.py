"""Small tools defined for tests (named as such); they exercise the language, not models."""

from __future__ import annotations

import time
from typing import Annotated

from visorch.tools.context import ToolContext
from visorch.tools.detections import Detections
from visorch.tools.images import ImageRef
from visorch.tools.registry import tool


@tool(name="TEST_BOXES", category="test", example="BOX0=TEST_BOXES(image=IMAGE, label='person')")
def boxes_for_test(
    image: Annotated[ImageRef, "the image"],
    label: Annotated[str, "label to give the boxes"] = "object",
    count: Annotated[int, "how many boxes"] = 2,
) -> Detections:
    """Test tool: returns ``count`` fixed boxes spread across the image."""
    step = image.width / (count + 1)
    boxes = [[step * (i + 0.5), image.height * 0.25, step * (i + 1.5), image.height * 0.75] for i in range(count)]
    return Detections.from_boxes(image, boxes, [label] * count, [0.9] * count, source="test")


@tool(name="TEST_SLEEP", category="test", example="A=TEST_SLEEP(seconds=1.0, value='a')")
def sleep_for_test(
    seconds: Annotated[float, "how long to sleep"], value: Annotated[str, "what to return"] = "done"
) -> str:
    """Test tool: sleeps (releasing the GIL, like a model call) and returns ``value``."""
    time.sleep(seconds)
    return value


@tool(name="TEST_JOIN", category="test", example="C=TEST_JOIN(a=A, b=B)")
def join_for_test(a: Annotated[str, "first"], b: Annotated[str, "second"]) -> str:
    """Test tool: joins two texts."""
    return f"{a}+{b}"


@tool(name="TEST_FAIL", category="test", example="A=TEST_FAIL(message='boom')")
def fail_for_test(message: Annotated[str, "error message"], ctx: ToolContext) -> str:
    """Test tool: raises an unexpected (non-visorch) exception."""
    raise RuntimeError(message)


TEST_TOOLS = [boxes_for_test, sleep_for_test, join_for_test, fail_for_test]
