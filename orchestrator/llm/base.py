"""The interface every LLM backend implements; the agent's roles depend only on this."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from types import TracebackType

from visorch.llm.types import LLMRequest, LLMResponse


class LLMBackend(ABC):
    """A chat-completion backend: local llama.cpp, an OpenAI-compatible server, transformers, or a test double."""

    name: str
    """Short backend kind, e.g. 'llama-cpp'; recorded in every response."""

    @property
    @abstractmethod
    def model(self) -> str:
        """The model this backend answers with (file name, model id or server model name)."""

    @property
    def supports_grammar(self) -> bool:
        """Whether a request's GBNF grammar is enforced while decoding."""
        return False

    @property
    def supports_json_schema(self) -> bool:
        """Whether a request's JSON schema is enforced while decoding."""
        return False

    @property
    def supports_regex(self) -> bool:
        """Whether a request's regular expression is enforced while decoding."""
        return False

    def enforces(self, request: LLMRequest) -> bool:
        """Whether this backend enforces the request's constraint (False when it has none)."""
        constraint = request.constraint
        if constraint == "grammar":
            return self.supports_grammar
        if constraint == "json_schema":
            return self.supports_json_schema
        if constraint == "regex":
            return self.supports_regex
        return False

    @abstractmethod
    def complete(self, request: LLMRequest) -> LLMResponse:
        """Run one chat completion; raises an :class:`~visorch.llm.errors.LLMError` on failure."""

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        """Run :meth:`complete` in a worker thread so the event loop stays free."""
        return await asyncio.to_thread(self.complete, request)

    def close(self) -> None:  # noqa: B027 (optional hook; most backends hold nothing to release)
        """Release the model or connection; the backend may load again on its next call."""

    def __enter__(self) -> LLMBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
