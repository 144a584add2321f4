"""CAPTION and VQA on any OpenAI-compatible chat server with a vision model (Ollama, vLLM, a llama.cpp
server, a hosted model): the image goes as a ``data:image/jpeg;base64,...`` URL in a chat message.

No real vision-language model exists offline: these backends count as installed only once a model
is configured, ``VISORCH_VLM_MODEL=llava`` (with ``VISORCH_VLM_BASE_URL`` or ``OPENAI_BASE_URL``, and
``VISORCH_VLM_API_KEY`` or ``OPENAI_API_KEY`` where the server needs one).
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from visorch.tools.capability import Capability
from visorch.tools.errors import ToolError
from visorch.tools.models.backend import Backend, LoadRequest

CAPTION_PROMPT = "Describe this image in one sentence."
VQA_PROMPT = "Answer the question about the image in a word or two.\nQuestion: {question}"
MAX_IMAGE_SIDE = 1024
"""Images are downscaled to at most this many pixels per side before they are sent."""


class VisionServerError(ToolError):
    """The vision-language server could not be reached or gave no usable answer."""


class VisionServerSettings(BaseSettings):
    """Where the vision chat model is: ``VISORCH_VLM_*``, falling back on ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``."""

    model_config = SettingsConfigDict(env_prefix="VISORCH_VLM_", extra="ignore", populate_by_name=True)

    model: str | None = None
    """The server's vision model name; nothing is installed until this is set."""
    base_url: str | None = Field(default=None, validation_alias=AliasChoices("VISORCH_VLM_BASE_URL", "OPENAI_BASE_URL"))
    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("VISORCH_VLM_API_KEY", "OPENAI_API_KEY")
    )
    timeout_s: float = Field(default=60.0, gt=0)
    max_tokens: int = Field(default=60, gt=0)


def image_data_url(image: Image.Image) -> str:
    """The image as a JPEG data URL (downscaled to MAX_IMAGE_SIDE)."""
    picture = image.convert("RGB")
    picture.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


class ChatVisionModel:
    """A captioner and question answerer over one OpenAI-compatible chat endpoint."""

    def __init__(self, settings: VisionServerSettings) -> None:
        from openai import OpenAI

        if not settings.model:
            raise VisionServerError("no vision model is configured: set VISORCH_VLM_MODEL (and OPENAI_BASE_URL)")
        self.settings = settings
        self.model = settings.model
        self._client = OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key.get_secret_value() if settings.api_key else "not-needed",
            timeout=settings.timeout_s,
            max_retries=1,
        )
        self._lock = threading.Lock()

    def ask(self, image: Image.Image, prompt: str) -> str:
        """One chat completion with the image and the prompt; the reply's text."""
        import openai

        content: list[Any] = [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": image_data_url(image)}},
        ]
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": content}],
                max_tokens=self.settings.max_tokens,
                temperature=0.0,
            )
        except openai.APIError as error:
            where = self.settings.base_url or "the OpenAI API"
            raise VisionServerError(
                f"the vision model {self.model} at {where} failed: {error}; check the server, "
                "VISORCH_VLM_MODEL and OPENAI_BASE_URL"
            ) from None
        text = (response.choices[0].message.content or "").strip() if response.choices else ""
        if not text:
            raise VisionServerError(f"the vision model {self.model} returned no text")
        return text

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        """One caption per image (one request each)."""
        return [self.ask(image, CAPTION_PROMPT) for image in images]

    def answer(self, image: Image.Image, question: str) -> str:
        """A short answer to ``question`` about ``image``."""
        return self.ask(image, VQA_PROMPT.format(question=question))


def _locate(weights_root: Path) -> Path | None:
    """Installed means configured (there are no weights here): a small record of the configured server,
    so cached CAPTION/VQA results are keyed by the model and server they came from."""
    settings = VisionServerSettings()
    if not settings.model:
        return None
    record = weights_root / "openai-vlm" / "server.txt"
    text = f"{settings.model}\n{settings.base_url or 'https://api.openai.com/v1'}\n"
    try:
        if not record.is_file() or record.read_text() != text:
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(text)
    except OSError:
        return weights_root
    return record


def _load(request: LoadRequest) -> ChatVisionModel:
    return ChatVisionModel(VisionServerSettings())


def _backend(capability: Capability) -> Backend:
    return Backend(
        name=f"openai-vlm-{capability}",
        capability=capability,
        title="vision chat model on an OpenAI-compatible server",
        version="openai-chat-v1",
        license="the configured model's",
        size_mb=0.0,
        install_command="set VISORCH_VLM_MODEL=<vision model> and OPENAI_BASE_URL=<server>/v1",
        load=_load,
        locate=_locate,
        python_modules=("openai",),
        priority=5,
        notes=(
            "No real VLM is available offline: this needs a vision model on an OpenAI-compatible server "
            "(Ollama, vLLM, a llama.cpp server, a hosted model), configured with VISORCH_VLM_MODEL."
        ),
    )


BACKENDS: list[Backend] = [_backend(Capability.CAPTION), _backend(Capability.VQA)]
"""CAPTION and VQA over the configured server (installed only once VISORCH_VLM_MODEL is set)."""
