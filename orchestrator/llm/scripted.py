"""ScriptedLLM: a test double that replays scripted replies, for routing tests of the agent."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

from visorch.llm.base import LLMBackend
from visorch.llm.errors import LLMResponseError
from visorch.llm.types import LLMRequest, LLMResponse


class ScriptedLLM(LLMBackend):
    """A test double, not a model: returns the scripted replies in order and records every request.

    A reply that is an exception instance is raised instead (to script timeouts or server errors).
    Token counts are whitespace word counts. Constraints are never enforced. Never a default backend.
    """

    name = "scripted"

    def __init__(self, replies: Iterable[str | Exception], model: str = "scripted") -> None:
        self._replies: deque[str | Exception] = deque(replies)
        self._model = model
        self._lock = threading.Lock()
        self.requests: list[LLMRequest] = []

    @property
    def model(self) -> str:
        """The name given at construction."""
        return self._model

    @property
    def remaining(self) -> int:
        """How many scripted replies are left."""
        return len(self._replies)

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Record the request and return (or raise) the next scripted reply."""
        started = time.monotonic()
        with self._lock:
            self.requests.append(request)
            if not self._replies:
                raise LLMResponseError(
                    f"ScriptedLLM has no reply left for request {len(self.requests)}; script more replies"
                )
            reply = self._replies.popleft()
        if isinstance(reply, Exception):
            raise reply
        return LLMResponse(
            text=reply,
            prompt_tokens=sum(len(message.content.split()) for message in request.messages),
            completion_tokens=len(reply.split()),
            seconds=time.monotonic() - started,
            backend=self.name,
            model=self._model,
            finish_reason="stop",
            constraint_enforced=False,
        )
