"""Vision-language tools: CAPTION, VQA, and CLIP-style CLASSIFY and MATCH over detected boxes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import numpy as np
import supervision as sv
from PIL import Image
from visorch.tools.builtin.geometry import boxes_on, clamp_window
from visorch.tools.capability import Capability
from visorch.tools.detections import CLASS_NAME, Detections
from visorch.tools.errors import ToolArgumentError
from visorch.tools.images import ImageRef
from visorch.tools.models.handle import ModelHandle
from visorch.tools.models.protocols import Captioner, ImageTextScorer, QuestionAnswerer
from visorch.tools.registry import Tool, tool
from visorch.tools.vision_language.models import softmax

CLASSIFY_TEMPLATE = "a photo of a {}."
"""Prompt each category is put in before scoring (the CLIP paper's default template)."""


def box_crops(image: ImageRef, boxes: Detections) -> list[Image.Image]:
    """The pixels of each box, cut from ``image`` (boxes found on a crop or its parent are moved first)."""
    pixels = image.pil()
    return [pixels.crop(clamp_window(image, *box)) for box in boxes_on(image, boxes)]


def _clean_texts(texts: Sequence[str], what: str) -> list[str]:
    cleaned = list(dict.fromkeys(text.strip() for text in texts if text.strip()))
    if not cleaned:
        raise ToolArgumentError(f"give at least one non-empty {what}")
    return cleaned


@tool(
    name="CAPTION",
    category="vision_language",
    capability=Capability.CAPTION,
    cacheable=True,
    example="ANSWER0=CAPTION(image=IMAGE)",
    limitations=(
        "One short generic sentence; it may name objects that are not there and rarely counts or reads text. "
        "No captioning or VQA model is available offline: configure a vision model on an OpenAI-compatible "
        "server (VISORCH_VLM_MODEL, OPENAI_BASE_URL) or pull BLIP with visorch models pull."
    ),
)
def caption(image: Annotated[ImageRef, "the image (or a crop) to describe"], model: ModelHandle[Captioner]) -> str:
    """Describe the image in one sentence."""
    return model.run_batched("caption", image.pil(), lambda captioner, images: captioner.caption(images))


@tool(
    name="VQA",
    category="vision_language",
    capability=Capability.VQA,
    cacheable=True,
    example="ANSWER0=VQA(image=IMAGE0, question='What color is the bus?')",
    limitations=(
        "Short answers (a word or two); unreliable for counting, reading text and small objects: "
        "crop to the object first and prefer COUNT over detections for numbers. "
        "No captioning or VQA model is available offline: configure a vision model on an OpenAI-compatible "
        "server (VISORCH_VLM_MODEL, OPENAI_BASE_URL) or pull BLIP with visorch models pull."
    ),
)
def visual_question(
    image: Annotated[ImageRef, "the image (or a crop) the question is about"],
    question: Annotated[str, "a question about the image"],
    model: ModelHandle[QuestionAnswerer],
) -> str:
    """Answer a question about the image in a word or two."""
    if not question.strip():
        raise ToolArgumentError("VQA needs a question")
    with model.use() as answerer:
        return str(answerer.answer(image.pil(), question.strip()))


@tool(
    name="CLASSIFY",
    category="vision_language",
    capability=Capability.IMAGE_TEXT,
    cacheable=True,
    example="BOX1=CLASSIFY(image=IMAGE, box=BOX0, categories=['cat', 'dog'])",
    limitations=(
        "Picks the likeliest of the given categories for every box, even when none fits; scores are "
        "probabilities among those categories only. Small boxes are blurry at the model's 224 px input."
    ),
)
def classify(
    image: Annotated[ImageRef, "the image the boxes are on"],
    box: Annotated[Detections, "the boxes to classify"],
    categories: Annotated[list[str], "the candidate categories"],
    model: ModelHandle[ImageTextScorer],
) -> Detections:
    """Relabel each box with the category its crop matches best (CLIP-style), scores = probabilities."""
    names = _clean_texts(categories, "category")
    if len(box) == 0:
        return box
    with model.use() as scorer:
        probabilities = np.asarray(scorer.score(box_crops(image, box), [CLASSIFY_TEMPLATE.format(n) for n in names]))
    best = probabilities.argmax(axis=1)
    data = dict(box.detections.data)
    data[CLASS_NAME] = np.array([names[i] for i in best], dtype=object)
    detections = sv.Detections(
        xyxy=box.xyxy,
        mask=box.masks,
        confidence=probabilities[np.arange(len(best)), best].astype(np.float32),
        class_id=best.astype(int),
        data=data,
    )
    return Detections(detections, box.image, model.name, box.notes)


@tool(
    name="MATCH",
    category="vision_language",
    capability=Capability.IMAGE_TEXT,
    cacheable=True,
    example="BOX1=MATCH(image=IMAGE, box=BOX0, query='the man in the red shirt')",
    limitations=(
        "Always returns one of the given boxes, even when none fits the description; its score is the "
        "probability among these boxes only. For positions (leftmost, largest) use SELECT instead."
    ),
)
def match(
    image: Annotated[ImageRef, "the image the boxes are on"],
    box: Annotated[Detections, "the candidate boxes"],
    query: Annotated[str, "a description of the one object wanted"],
    model: ModelHandle[ImageTextScorer],
) -> Detections:
    """Choose the single box whose crop best matches a text description (CLIP-style)."""
    text = _clean_texts([query], "query")[0]
    if len(box) == 0:
        return box.with_notes(f"no boxes to match with '{text}'")
    with model.use() as scorer:
        logits = np.asarray(scorer.similarity(box_crops(image, box), [text]))[:, 0]
    probabilities = softmax(logits, axis=0)
    best = int(np.argmax(logits))
    chosen = box.subset([best])
    detections = sv.Detections(
        xyxy=chosen.xyxy,
        mask=chosen.masks,
        confidence=np.array([probabilities[best]], dtype=np.float32),
        class_id=chosen.detections.class_id,
        data=dict(chosen.detections.data),
    )
    note = f"MATCH '{text}': box {best} of {len(box)} (p={probabilities[best]:.2f}, by {model.name})"
    return Detections(detections, box.image, model.name, (*box.notes, note))


TOOLS: list[Tool] = [caption, visual_question, classify, match]
