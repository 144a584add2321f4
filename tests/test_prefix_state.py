"""KV states of fixed prompt prefixes on disk, on the embedded GGUF model (slow: real llama.cpp calls)."""

from __future__ import annotations

from pathlib import Path

import pytest
from visorch.llm import ChatMessage, LlamaCppBackend, LLMRequest
from visorch.llm.llama_cpp_backend import default_gguf_path

pytestmark = pytest.mark.slow

SYSTEM = (
    "You answer arithmetic questions with the number only. Numbers are written in digits. Never explain the "
    "answer and never repeat the question; reply with one number and nothing else."
)


def _request(question: str) -> LLMRequest:
    messages = [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=question)]
    return LLMRequest(messages=messages, max_tokens=4, fixed_messages=1, grammar="root ::= [0-9]+\n")


@pytest.fixture()
def model_path() -> Path:
    if not default_gguf_path().is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")
    return default_gguf_path()


def test_a_new_process_restores_the_prefix_instead_of_evaluating_it(model_path: Path, tmp_path: Path) -> None:
    first = LlamaCppBackend(model_path, prefix_state_dir=tmp_path, prompt_cache_mb=0, n_ctx=512)
    try:
        answer = first.complete(_request("What is 2 + 3?"))
    finally:
        first.close()
    saved = list(tmp_path.glob("*.kv"))
    assert answer.text == "5" and answer.cached_prompt_tokens == 0 and len(saved) == 1
    # a fresh backend (as in a new process) restores the saved prefix and evaluates only the question
    second = LlamaCppBackend(model_path, prefix_state_dir=tmp_path, prompt_cache_mb=0, n_ctx=512)
    try:
        again = second.complete(_request("What is 2 + 3?"))
        other = second.complete(_request("What is 4 + 4?"))
    finally:
        second.close()
    assert again.text == "5" and other.text == "8"
    assert again.cached_prompt_tokens >= 32 and again.prompt_tokens - again.cached_prompt_tokens < 25
    assert list(tmp_path.glob("*.kv")) == saved  # nothing new to save


def test_without_a_folder_nothing_is_saved(model_path: Path, tmp_path: Path) -> None:
    backend = LlamaCppBackend(model_path, prompt_cache_mb=0, n_ctx=512)
    try:
        assert backend.complete(_request("What is 1 + 1?")).text == "2"
    finally:
        backend.close()
    assert not list(tmp_path.iterdir())


def test_the_question_is_evaluated_again_from_the_prefix_so_a_prompt_gets_the_same_tokens(
    model_path: Path, tmp_path: Path
) -> None:
    """A repeated prompt is evaluated from the end of its fixed prefix (not from a cache's longer state, which
    llama.cpp splits into other batches and can turn a near tie): the same prompt, the same reuse, the same text."""
    backend = LlamaCppBackend(model_path, prefix_state_dir=tmp_path, n_ctx=512)
    try:
        first = backend.complete(_request("What is 17 + 25?"))
        again = backend.complete(_request("What is 17 + 25?"))  # the whole prompt is in the KV and RAM caches
        backend.complete(_request("What is 6 * 7?"))
        third = backend.complete(_request("What is 17 + 25?"))
    finally:
        backend.close()
    assert first.text == again.text == third.text == "42"
    assert first.cached_prompt_tokens == 0 and again.cached_prompt_tokens == third.cached_prompt_tokens > 32
    assert again.prompt_tokens - again.cached_prompt_tokens > 5  # the question's own turn, evaluated again
