"""Loaded vision-language models behind visorch's protocols: captioner, question answerer, image-text scorer."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image


def _new_tokens(generated: Any, prompt_ids: Any | None) -> Any:
    """Generated ids without the prompt, for decoder-only models that echo it (BLIP's decoders do not)."""
    if prompt_ids is None or generated.shape[1] <= prompt_ids.shape[1]:
        return generated
    length = prompt_ids.shape[1]
    if bool((generated[:, :length] == prompt_ids.to(generated.device)).all()):
        return generated[:, length:]
    return generated


def _rgb(images: Sequence[Image.Image]) -> list[Image.Image]:
    return [image.convert("RGB") for image in images]


class HubCaptioner:
    """A captioning model (``AutoModelForImageTextToText``: BLIP, GIT, ...) with its processor."""

    def __init__(self, processor: Any, model: Any, device: str, prompt: str = "", max_new_tokens: int = 30) -> None:
        self.processor = processor
        self.model = model
        self.device = device
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self._lock = threading.Lock()  # generate() on one model is not safe to run from two threads at once

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        """One caption per image."""
        import torch

        if not images:
            return []
        texts = {"text": [self.prompt] * len(images)} if self.prompt else {}
        inputs = self.processor(images=_rgb(images), return_tensors="pt", **texts).to(self.device)
        with self._lock, torch.inference_mode():
            generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens)
        tokens = _new_tokens(generated, inputs.get("input_ids"))
        return [text.strip() for text in self.processor.batch_decode(tokens, skip_special_tokens=True)]


class HubQuestionAnswerer:
    """A VQA model (``AutoModelForVisualQuestionAnswering``: BLIP VQA, ...) with its processor.

    ``prompt`` wraps the question (``{question}``), e.g. 'Question: {question} Answer:' for BLIP-2.
    """

    def __init__(self, processor: Any, model: Any, device: str, prompt: str = "{question}", max_new_tokens: int = 10):
        self.processor = processor
        self.model = model
        self.device = device
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self._lock = threading.Lock()

    def answer(self, image: Image.Image, question: str) -> str:
        """A short answer."""
        import torch

        text = self.prompt.format(question=question)
        inputs = self.processor(images=image.convert("RGB"), text=text, return_tensors="pt").to(self.device)
        with self._lock, torch.inference_mode():
            generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens)
        tokens = _new_tokens(generated, inputs.get("input_ids"))
        return str(self.processor.batch_decode(tokens, skip_special_tokens=True)[0]).strip()


class HubImageTextScorer:
    """A contrastive image-text model (``AutoModelForZeroShotImageClassification``: CLIP, SigLIP, ...).

    ``text_padding`` is 'max_length' for models trained on fixed-length text (SigLIP), else 'longest'.
    """

    def __init__(self, processor: Any, model: Any, device: str, text_padding: str = "longest") -> None:
        self.processor = processor
        self.model = model
        self.device = device
        self.text_padding = text_padding

    def similarity(self, images: Sequence[Image.Image], texts: Sequence[str]) -> np.ndarray:
        """(len(images), len(texts)) raw model logits, comparable across images (to rank images for a text)."""
        import torch

        if not images or not texts:
            return np.zeros((len(images), len(texts)), dtype=np.float32)
        inputs = self.processor(
            text=list(texts), images=_rgb(images), return_tensors="pt", padding=self.text_padding, truncation=True
        ).to(self.device)
        with torch.inference_mode():
            logits = self.model(**inputs).logits_per_image
        return logits.float().cpu().numpy()

    def score(self, images: Sequence[Image.Image], texts: Sequence[str]) -> np.ndarray:
        """(len(images), len(texts)) probabilities over the texts, per image (softmax of the logits)."""
        return softmax(self.similarity(images, texts), axis=1)


def softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    """Numerically stable softmax along ``axis``."""
    if logits.size == 0:
        return logits.astype(np.float32)
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return (shifted / shifted.sum(axis=axis, keepdims=True)).astype(np.float32)
