"""The OCR tool: read the text lines of an image."""

from __future__ import annotations

from typing import Annotated

from visorch.tools.capability import Capability
from visorch.tools.images import ImageRef
from visorch.tools.models.handle import ModelHandle
from visorch.tools.models.protocols import TextReader
from visorch.tools.registry import Tool, tool
from visorch.tools.text import OCRText


@tool(
    name="OCR",
    category="text",
    capability=Capability.OCR,
    cacheable=True,
    evidence_limit=2500,  # the evidence keeps what was read in full
    example="TEXT0=OCR(image=IMAGE)",
    limitations=(
        "Reads printed Latin (and, with RapidOCR, Chinese) text; handwriting, curved or very small text and "
        "stylised logos are often misread. Boxes are axis-aligned, so rotated lines get loose boxes. Reading "
        "order groups lines into rows by vertical overlap, so multi-column layouts read across the columns. "
        "Crop to the region first (CROP) to read small text."
    ),
)
def read_text(image: Annotated[ImageRef, "the image to read"], model: ModelHandle[TextReader]) -> OCRText:
    """Read the text lines in the image (with boxes, confidence, reading order)."""
    with model.use() as reader:
        lines = reader.read(image.pil())
    return OCRText(image=image, lines=lines, source=model.name)


TOOLS: list[Tool] = [read_text]
