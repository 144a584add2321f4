"""Typed errors of the LLM layer; each message says what to do next."""

from __future__ import annotations

from visorch.tools.errors import VisorchError


class LLMError(VisorchError):
    """Base class of every error the LLM layer raises on purpose."""


class LLMConfigError(LLMError):
    """The LLM settings are invalid or a backend's Python package is missing."""


class LLMModelMissingError(LLMConfigError):
    """The local model file (GGUF or checkpoint) is not where the settings point."""


class LLMContextLengthError(LLMError):
    """The prompt plus the requested completion does not fit the model's context window."""


class LLMGrammarError(LLMError):
    """A GBNF grammar or JSON schema could not be compiled for constrained decoding."""


class LLMUnreachableError(LLMError):
    """The LLM server refused the connection or its host name does not resolve."""


class LLMTimeoutError(LLMError):
    """The LLM did not finish within the call's deadline."""


class LLMAuthError(LLMError):
    """The LLM server rejected the API key (HTTP 401 or 403)."""


class LLMResponseError(LLMError):
    """The LLM server answered with an error (HTTP 4xx/5xx) or with unusable output."""


class LLMOutputError(LLMError):
    """Every attempt of a repair loop produced output the parser rejected."""

    def __init__(self, message: str, attempt_errors: list[str]) -> None:
        super().__init__(message)
        self.attempt_errors = attempt_errors
