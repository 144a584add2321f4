"""A local Hugging Face ``transformers`` causal LM, chosen by model id or local path."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from visorch.llm.base import LLMBackend
from visorch.llm.errors import LLMConfigError, LLMContextLengthError, LLMTimeoutError
from visorch.llm.types import LLMRequest, LLMResponse
from visorch.tools.errors import MissingWeightsError


class TransformersBackend(LLMBackend):
    """A causal LM run by ``transformers``: the tokenizer's chat template, greedy decoding at temperature 0.

    Constraints (grammar, schema, regex) are not enforced: responses say so and the caller validates.
    ``model`` is a hub id (downloaded by transformers when online) or a local directory.
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path,
        *,
        device: str = "cpu",
        timeout_s: float = 300.0,
        chat_template: str | None = None,
        local_files_only: bool = False,
    ) -> None:
        self.model_id = str(model)
        self.device = device
        self.timeout_s = timeout_s
        self.chat_template = chat_template
        self.local_files_only = local_files_only
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    @property
    def model(self) -> str:
        """The model id or local path."""
        return self.model_id

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Generate one chat completion under the backend's lock."""
        import torch

        with self._lock:
            tokenizer, model = self._load()
            started = time.monotonic()
            messages = [message.model_dump() for message in request.messages]
            inputs = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(self.device)
            prompt_tokens = int(inputs["input_ids"].shape[1])
            limit = getattr(model.config, "max_position_embeddings", None)
            if limit is not None and prompt_tokens + request.max_tokens > limit:
                raise LLMContextLengthError(
                    f"the prompt has {prompt_tokens} tokens and max_tokens is {request.max_tokens}, more than the "
                    f"model's {limit} positions; shorten the prompt or lower max_tokens"
                )
            sampling: dict[str, Any] = (
                {"do_sample": True, "temperature": request.temperature}
                if request.temperature > 0
                else {"do_sample": False}
            )
            with torch.inference_mode():
                output = model.generate(
                    **inputs,
                    max_new_tokens=request.max_tokens,
                    max_time=self.timeout_s,
                    stop_strings=request.stop or None,
                    tokenizer=tokenizer,
                    pad_token_id=tokenizer.pad_token_id
                    if tokenizer.pad_token_id is not None
                    else tokenizer.eos_token_id,
                    **sampling,
                )
            new_tokens = output[0, prompt_tokens:]
            text = tokenizer.decode(new_tokens, skip_special_tokens=True)
        seconds = time.monotonic() - started
        text, stopped_by_string = _cut_at_stop(text, request.stop)
        ended_with_eos = len(new_tokens) > 0 and int(new_tokens[-1]) == tokenizer.eos_token_id
        cut_short = not (stopped_by_string or ended_with_eos) and len(new_tokens) < request.max_tokens
        if cut_short and seconds >= self.timeout_s:  # generate()'s max_time ended it
            raise LLMTimeoutError(
                f"the transformers model did not finish within {self.timeout_s:g} s; raise "
                "VISORCH_LLM_TIMEOUT_S or lower max_tokens"
            )
        finish_reason = "length" if len(new_tokens) >= request.max_tokens and not stopped_by_string else "stop"
        return LLMResponse(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(new_tokens),
            seconds=seconds,
            backend=self.name,
            model=self.model,
            finish_reason=finish_reason,
            constraint_enforced=False,
        )

    def close(self) -> None:
        """Drop the model; the next call loads it again."""
        with self._lock:
            self._loaded = None

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is not None:
            return self._loaded
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as error:
            raise LLMConfigError("the transformers backend needs transformers: pip install transformers") from error
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_id, local_files_only=self.local_files_only)
            model: Any = AutoModelForCausalLM.from_pretrained(self.model_id, local_files_only=self.local_files_only)
        except OSError as error:
            raise MissingWeightsError(
                f"cannot load the transformers model {self.model_id!r} ({error}); give a local directory with "
                "config.json, weights and tokenizer, or a hub id while online"
            ) from error
        if self.chat_template is not None:
            tokenizer.chat_template = self.chat_template
        if not tokenizer.chat_template:
            raise LLMConfigError(f"{self.model_id} has no chat template; pass chat_template= or use an instruct model")
        model.eval()
        model.to(device=self.device)
        self._loaded = (tokenizer, model)
        return self._loaded


def _cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """The text up to the first stop string (excluded), as OpenAI-style APIs return it."""
    positions = [index for index in (text.find(stop) for stop in stops) if index >= 0]
    if not positions:
        return text, False
    return text[: min(positions)], True
