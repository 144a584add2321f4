"""Vision-language backends: BLIP captioning and VQA, CLIP and SigLIP image-text scoring; more by model id.

Every backend is a Hugging Face model described by a :class:`HubModelSpec`; ``visorch models pull
NAME`` saves it under ``<weights_root>/NAME`` (``save_pretrained`` layout) and it loads from there
only, so nothing reaches the hub at run time. Other models of a supported family are one spec away
(e.g. ``HubModelSpec(name="blip-large", capability="caption", model_id="Salesforce/blip-image-captioning-large")``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from visorch.tools.capability import Capability
from visorch.tools.models.backend import Backend, LoadRequest
from visorch.tools.vision_language.snapshots import load_snapshot, pull_snapshot, snapshot_dir

HubCapability = Literal[Capability.CAPTION, Capability.VQA, Capability.IMAGE_TEXT]
"""The capabilities a Hugging Face vision-language spec may declare ("caption", "vqa", "image_text")."""

MODEL_CLASSES: dict[Capability, str] = {
    Capability.CAPTION: "AutoModelForImageTextToText",
    Capability.VQA: "AutoModelForVisualQuestionAnswering",
    Capability.IMAGE_TEXT: "AutoModelForZeroShotImageClassification",
}
"""The transformers auto class that loads a model of each capability."""


class HubModelSpec(BaseModel):
    """A Hugging Face vision-language model declared as a visorch backend (from code or configuration)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="backend name, also the folder under weights")
    capability: HubCapability
    model_id: str = Field(description="Hugging Face model id, e.g. Salesforce/blip-image-captioning-base")
    title: str = ""
    license: str = "see the model card"
    size_mb: float = 0.0
    memory_mb: float = 0.0
    priority: int = 50
    prompt: str = Field(default="", description="caption: text prefix; vqa: template with {question}")
    text_padding: Literal["longest", "max_length"] = "longest"
    """How the image-text processor pads texts: SigLIP was trained on 'max_length'."""
    max_new_tokens: int = Field(default=30, ge=1, le=512)
    python_modules: tuple[str, ...] = ("transformers", "torch")
    notes: str = ""


def _load(spec: HubModelSpec, request: LoadRequest) -> Any:
    from visorch.tools.vision_language.models import HubCaptioner, HubImageTextScorer, HubQuestionAnswerer

    processor, model = load_snapshot(request.weights_dir, MODEL_CLASSES[spec.capability], request.device)
    if spec.capability == Capability.CAPTION:
        return HubCaptioner(processor, model, request.device, spec.prompt, spec.max_new_tokens)
    if spec.capability == Capability.VQA:
        return HubQuestionAnswerer(processor, model, request.device, spec.prompt or "{question}", spec.max_new_tokens)
    return HubImageTextScorer(processor, model, request.device, spec.text_padding)


def _pull(spec: HubModelSpec, weights_root: Path) -> None:
    pull_snapshot(spec.model_id, MODEL_CLASSES[spec.capability], weights_root, spec.name)


def hub_backend(spec: HubModelSpec) -> Backend:
    """The backend for one Hugging Face vision-language model."""
    return Backend(
        name=spec.name,
        capability=spec.capability,
        title=spec.title or spec.model_id,
        version=spec.model_id,
        license=spec.license,
        size_mb=spec.size_mb,
        install_command=f"visorch models pull {spec.name}",
        load=partial(_load, spec),
        locate=partial(snapshot_dir, name=spec.name),
        python_modules=spec.python_modules,
        priority=spec.priority,
        memory_mb=spec.memory_mb,
        devices=("cuda", "mps", "cpu"),
        pull=partial(_pull, spec),
        notes=spec.notes,
        extra={"model_id": spec.model_id},
    )


DEFAULT_MODELS: list[HubModelSpec] = [
    HubModelSpec(
        name="blip-base",
        capability=Capability.CAPTION,
        model_id="Salesforce/blip-image-captioning-base",
        title="BLIP captioning base (Salesforce)",
        license="BSD-3-Clause",
        size_mb=990,
        memory_mb=1200,
        priority=10,
        notes="One-sentence COCO-style captions; may name things that are not there.",
    ),
    HubModelSpec(
        name="blip-vqa-base",
        capability=Capability.VQA,
        model_id="Salesforce/blip-vqa-base",
        title="BLIP VQA base (Salesforce)",
        license="BSD-3-Clause",
        size_mb=1540,
        memory_mb=1800,
        priority=10,
        max_new_tokens=10,
        notes="Short VQAv2-style answers (yes/no, a count, a word); weak at reading text and counting.",
    ),
    HubModelSpec(
        name="siglip-base",
        capability=Capability.IMAGE_TEXT,
        model_id="google/siglip-base-patch16-224",
        title="SigLIP base patch16 224 (Google)",
        license="Apache-2.0",
        size_mb=813,
        memory_mb=1000,
        priority=10,
        text_padding="max_length",
        python_modules=("transformers", "torch", "sentencepiece"),
        notes="Zero-shot image-text matching; 224 px input, so small crops lose detail.",
    ),
    HubModelSpec(
        name="clip-vit-b32",
        capability=Capability.IMAGE_TEXT,
        model_id="openai/clip-vit-base-patch32",
        title="CLIP ViT-B/32 (OpenAI)",
        license="MIT",
        size_mb=605,
        memory_mb=700,
        priority=20,
        notes="Zero-shot image-text matching; 224 px input, so small crops lose detail.",
    ),
]

BACKENDS: list[Backend] = [hub_backend(spec) for spec in DEFAULT_MODELS]
