"""Typed errors of the LLM layer; each message says what to do next."""

from __future__ import annotations

from visorch.tools.errors import ConfigError, VisorchError


class LLMError(VisorchError):
    """Base class of every error the LLM layer raises on purpose.

    A missing local model file is a :class:`visorch.tools.errors.MissingWeightsError`, like any other weights.
    """


class LLMConfigError(LLMError, ConfigError):
    """The LLM settings are invalid or a backend's Python package is missing."""


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
