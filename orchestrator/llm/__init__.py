"""The LLM layer: one interface (:class:`LLMBackend`) the agent's roles call, with interchangeable backends."""

from visorch.llm.base import LLMBackend
from visorch.llm.errors import (
    LLMAuthError,
    LLMConfigError,
    LLMContextLengthError,
    LLMError,
    LLMGrammarError,
    LLMResponseError,
    LLMTimeoutError,
    LLMUnreachableError,
)
from visorch.llm.llama_cpp_backend import LlamaCppBackend, default_gguf_path
from visorch.llm.openai_backend import ConstraintMode, OpenAICompatibleBackend
from visorch.llm.scripted import ScriptedLLM
from visorch.llm.settings import LLMSettings, create_backend
from visorch.llm.transformers_backend import TransformersBackend
from visorch.llm.types import ChatMessage, LLMRequest, LLMResponse

__all__ = [
    "ChatMessage",
    "ConstraintMode",
    "LLMAuthError",
    "LLMBackend",
    "LLMConfigError",
    "LLMContextLengthError",
    "LLMError",
    "LLMGrammarError",
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
    "create_backend",
    "default_gguf_path",
]
