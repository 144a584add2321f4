"""LLM configuration (``VISORCH_LLM_*`` environment variables) and the factory that builds a backend from it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from visorch.llm.base import LLMBackend
from visorch.llm.errors import LLMConfigError
from visorch.llm.llama_cpp_backend import LlamaCppBackend
from visorch.llm.openai_backend import ConstraintMode, OpenAICompatibleBackend
from visorch.llm.transformers_backend import TransformersBackend

RoleName = Literal["decision", "refiner"]
"""The agent roles that may run on a model of their own (the planner needs the larger one)."""


def _cores() -> int:
    return os.cpu_count() or 1


class LLMSettings(BaseSettings):
    """Which LLM backend to use and how; e.g. ``VISORCH_LLM_BACKEND=openai VISORCH_LLM_MODEL=gpt-4o-mini``."""

    model_config = SettingsConfigDict(env_prefix="VISORCH_LLM_", extra="ignore")

    backend: Literal["llama-cpp", "openai", "transformers"] = "llama-cpp"
    model: str | None = None
    """llama-cpp: path of a GGUF file (default: the offline pack's Qwen2.5-Coder-1.5B); openai: the server's
    model name (default: the first one it lists); transformers: a hub id or local directory (required)."""
    base_url: str | None = None
    """OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (default: OPENAI_BASE_URL, then OpenAI)."""
    api_key: SecretStr | None = None
    """API key (default: OPENAI_API_KEY; local servers need none)."""
    constraint_mode: ConstraintMode = "json_schema"
    """How the openai backend asks the server to enforce grammars/schemas: gbnf, json_schema, vllm or none."""
    n_ctx: int = Field(default=4096, gt=0)
    n_threads: int = Field(default_factory=_cores, gt=0)
    n_batch: int = Field(default=512, gt=0)
    """llama-cpp: prompt tokens evaluated per batch; also the logits rows each cached prompt state keeps."""
    seed: int = 0
    timeout_s: float = Field(default=300.0, gt=0)
    """Deadline of one completion call, retries included."""
    max_retries: int = Field(default=2, ge=0)
    retry_backoff_s: float = Field(default=0.5, ge=0)
    prompt_cache_mb: int = Field(default=1024, ge=0)
    """llama-cpp: RAM for the states of earlier prompts, so alternating roles keep their prefixes
    (0: reuse only the last prompt's prefix, which saves ~0.7 s per call when one prompt repeats)."""
    repack: bool = False
    """llama-cpp: let llama.cpp repack the weights into CPU-specific layouts (AMX, AVX2/NEON interleaved
    blocks) at load time. Faster prompt evaluation where it works, but it crashes the process on some CPUs
    (AMX Xeons among them), so it is off by default; ``VISORCH_LLM_REPACK=1`` turns it on."""
    device: str = "cpu"
    """transformers: the torch device."""
    prefix_states: bool = True
    """llama-cpp: keep the evaluated KV state of each role's fixed prompt prefix on disk, so a new process
    evaluates only the question's own tokens (``VISORCH_LLM_PREFIX_STATES=0`` turns it off)."""
    prefix_state_dir: Path | None = None
    """llama-cpp: where those states live (the agent uses <home>/llm-prefix-states)."""
    grammar_check_first: bool = True
    """llama-cpp, greedy requests under a grammar: check the model's likeliest token against the grammar and
    mask the whole vocabulary only when it is not allowed (same output, fewer masking passes)."""
    jump_forward: bool = True
    """llama-cpp: append the text the program grammar forces (``image=IMAGE`` after ``LOC(``, closing brackets)
    without a decode step per token (``benchmarks/llm_bench.py --planning`` measures both switches)."""
    roles: dict[RoleName, str] = Field(default_factory=dict)
    """A model of its own for the decision-maker or the refiner (the planner always uses ``model``), with the
    same backend and settings otherwise: llama-cpp, a GGUF path or an offline pack name, e.g.
    ``{"decision": "qwen2.5-coder-0.5b-instruct"}`` (``visorch models install-offline qwen2.5-coder-0.5b-instruct``;
    ``VISORCH_LLM_ROLES='{"refiner": "..."}'``); openai/transformers: a model name or id. Roles naming the
    same model share one loaded copy. Measured: ``benchmarks/role_models.py``."""


def create_backend(settings: LLMSettings | None = None) -> LLMBackend:
    """Build the backend the settings name (nothing is loaded or contacted until the first call)."""
    settings = settings or LLMSettings()
    if settings.backend == "openai":
        return OpenAICompatibleBackend(
            base_url=settings.base_url,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            model=settings.model,
            constraint_mode=settings.constraint_mode,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            retry_backoff_s=settings.retry_backoff_s,
        )
    if settings.backend == "transformers":
        if not settings.model:
            raise LLMConfigError("the transformers backend needs a model: set VISORCH_LLM_MODEL to a hub id or path")
        return TransformersBackend(settings.model, device=settings.device, timeout_s=settings.timeout_s)
    return LlamaCppBackend(
        Path(settings.model) if settings.model else None,
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        n_batch=settings.n_batch,
        seed=settings.seed,
        timeout_s=settings.timeout_s,
        prompt_cache_mb=settings.prompt_cache_mb,
        repack=settings.repack,
        prefix_state_dir=settings.prefix_state_dir if settings.prefix_states else None,
        grammar_check_first=settings.grammar_check_first,
        jump_forward=settings.jump_forward,
    )
