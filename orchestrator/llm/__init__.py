"""The LLM layer: one interface (:class:`LLMBackend`) the agent's roles call, with interchangeable backends."""

from orchestrator.llm.base import LLMBackend
from orchestrator.llm.errors import (
    LLMAuthError,
    LLMConfigError,
    LLMContextLengthError,
    LLMError,
    LLMGrammarError,
    LLMModelMissingError,
    LLMOutputError,
    LLMResponseError,
    LLMTimeoutError,
    LLMUnreachableError,
)
from orchestrator.llm.llama_cpp_backend import LlamaCppBackend, default_gguf_path
from orchestrator.llm.openai_backend import ConstraintMode, OpenAICompatibleBackend
from orchestrator.llm.repair import complete_with_repair
from orchestrator.llm.scripted import ScriptedLLM
from orchestrator.llm.settings import LLMSettings, create_backend
from orchestrator.llm.transformers_backend import TransformersBackend
from orchestrator.llm.types import ChatMessage, LLMRequest, LLMResponse

__all__ = [
    "ChatMessage",
    "ConstraintMode",
    "LLMAuthError",
    "LLMBackend",
    "LLMConfigError",
    "LLMContextLengthError",
    "LLMError",
    "LLMGrammarError",
    "LLMModelMissingError",
    "LLMOutputError",
    "LLMRequest",
    "LLMResponse",
    "LLMResponseError",
    "LLMSettings",
    "LLMTimeoutError",
    "LLMUnreachableError",
    "LlamaCppBackend",
    "OpenAICompatibleBackend",
    "ScriptedLLM",
    "TransformersBackend",
    "complete_with_repair",
    "create_backend",
    "default_gguf_path",
]
