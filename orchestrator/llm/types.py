"""The values exchanged with every LLM backend: messages, requests and responses."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ChatMessage(BaseModel):
    """One message of a chat conversation."""

    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class LLMRequest(BaseModel):
    """A chat completion request, with at most one decoding constraint (grammar, JSON schema or regex)."""

    model_config = ConfigDict(frozen=True)

    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int = Field(default=512, gt=0)
    temperature: float = Field(default=0.0, ge=0.0)
    stop: list[str] = Field(default_factory=list)
    grammar: str | None = None
    """GBNF grammar text (llama.cpp syntax) the output must match."""
    json_schema: dict[str, Any] | None = None
    """JSON schema the output must validate against."""
    regex: str | None = None
    """Regular expression the output must match (enforced only by servers that support it)."""
    seed: int | None = None
    forced_regex: str | None = None
    """A regular expression whose language holds the grammar's (the program regex for the program grammar):
    where it allows a single next character, a local backend appends the forced text without sampling it
    (jump-forward decoding). Only a hint: the grammar still decides what is valid."""
    fixed_messages: int = Field(default=0, ge=0)
    """How many leading messages are the same in every call of this role (system prompt, fixed examples):
    a local backend may keep their evaluated state on disk for later processes."""

    @model_validator(mode="after")
    def _one_constraint(self) -> LLMRequest:
        given = [name for name in ("grammar", "json_schema", "regex") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of grammar, json_schema and regex (got {', '.join(given)})")
        return self

    @property
    def constraint(self) -> Literal["grammar", "json_schema", "regex"] | None:
        """Which constraint the request carries, if any."""
        if self.grammar is not None:
            return "grammar"
        if self.json_schema is not None:
            return "json_schema"
        if self.regex is not None:
            return "regex"
        return None

    def followed_by(self, *messages: ChatMessage) -> LLMRequest:
        """The same request with ``messages`` appended to the conversation."""
        return self.model_copy(update={"messages": [*self.messages, *messages]})


class LLMResponse(BaseModel):
    """What a backend returns for one request, with its cost and whether the constraint was enforced."""

    model_config = ConfigDict(frozen=True)

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    """Wall time of the call (a local backend's first-call model load excluded)."""
    cached_prompt_tokens: int = 0
    """Prompt tokens reused from the backend's cache instead of being evaluated again (0 when unknown)."""
    backend: str
    model: str
    finish_reason: str
    """'stop' (natural end or stop string), 'length' (max_tokens reached) or the server's own value."""
    load_seconds: float = 0.0
    """Time this call spent loading the model (a local backend's first call), outside ``seconds``."""
    prepare_seconds: float = 0.0
    """Of ``seconds``: rendering the chat template, tokenising, compiling the grammar (0 when unknown)."""
    prefill_seconds: float = 0.0
    """Of ``seconds``: evaluating the prompt tokens not reused from the cache (0 when unknown)."""
    decode_seconds: float = 0.0
    """Of ``seconds``: generating the completion, sampling under the constraint included (0 when unknown)."""
    forced_tokens: int = 0
    """Of ``completion_tokens``: appended without a decode step because the grammar forced them (jump-forward)."""
    constraint_enforced: bool
    """True when the request's grammar/schema/regex was applied while decoding; False when the request
    had none or the backend could not apply it (then the caller must validate the text itself)."""

    @property
    def tokens_per_second(self) -> float:
        """Completion tokens per second of wall time (prompt evaluation included)."""
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0
