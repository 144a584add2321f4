"""Parse an LLM's output, feeding parse errors back to it for a bounded number of attempts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from visorch.llm.base import LLMBackend
from visorch.llm.errors import LLMOutputError
from visorch.llm.types import ChatMessage, LLMRequest
from visorch.tools.errors import VisorchError

T = TypeVar("T")

REPAIR_INSTRUCTION = "Your previous answer was rejected: {error}\nReply again with only the corrected answer."


def complete_with_repair(
    backend: LLMBackend, request: LLMRequest, parse: Callable[[str], T], max_attempts: int = 3
) -> T:
    """Complete and parse; on a parse error (a VisorchError) show the model its output and the error and retry.

    Raises :class:`LLMOutputError` listing every attempt's error after ``max_attempts`` rejected outputs.
    Backend errors (unreachable, timeout, ...) are not retried here; they propagate at once.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    errors: list[str] = []
    current = request
    for attempt in range(1, max_attempts + 1):
        response = backend.complete(current)
        try:
            return parse(response.text)
        except VisorchError as error:
            errors.append(f"attempt {attempt}: {error}")
            current = current.followed_by(
                ChatMessage(role="assistant", content=response.text),
                ChatMessage(role="user", content=REPAIR_INSTRUCTION.format(error=error)),
            )
    listing = "\n".join(errors)
    raise LLMOutputError(
        f"the model's output was rejected {max_attempts} times by {backend.name} ({backend.model}):\n{listing}\n"
        "Try a stronger model, a grammar/schema constraint, or more attempts.",
        errors,
    )
