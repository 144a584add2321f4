"""The embedded llama.cpp backend never takes the process down: weight repacking is off unless asked for.

llama.cpp's weight repacking segfaults on some CPUs (AMX Xeons among them) on the first prompt, so
these tests run the real model in a child process, where a native crash fails the test with the
signal's name instead of aborting pytest.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from visorch.llm import LLMSettings, create_backend
from visorch.llm.llama_cpp_backend import LlamaCppBackend, default_gguf_path, weight_repacking

CHILD_COMPLETION = textwrap.dedent(
    """
    import json, sys
    from visorch.llm import LLMRequest, ChatMessage, LLMSettings, create_backend
    backend = create_backend(LLMSettings(model=sys.argv[1], n_ctx=512))
    request = LLMRequest(messages=[ChatMessage(role="user", content="What is 2+2? Answer with one digit.")],
                         max_tokens=4, grammar='root ::= [0-9]')
    response = backend.complete(request)
    params = backend._loaded.llama.model_params
    print(json.dumps({"text": response.text, "use_extra_bufts": bool(params.use_extra_bufts)}))
    """
)


def _outcome(result: subprocess.CompletedProcess[str]) -> str:
    if result.returncode < 0:
        return f"crashed with {signal.Signals(-result.returncode).name}"
    return f"exited {result.returncode}: {result.stderr[-2000:]}"


@pytest.fixture(scope="module")
def gguf() -> Path:
    path = default_gguf_path()
    if not path.is_file():
        pytest.skip(f"no GGUF at {path}: run `visorch models install-offline`")
    return path


@pytest.mark.slow
def test_embedded_llm_completes_a_prompt_in_a_child_process(gguf: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD_COMPLETION, str(gguf)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"the embedded LLM {_outcome(result)}"
    reply = json.loads(result.stdout.strip().splitlines()[-1])
    assert reply == {"text": "4", "use_extra_bufts": False}


def test_repack_is_off_by_default_and_the_setting_reaches_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VISORCH_LLM_REPACK", raising=False)
    assert LLMSettings().repack is False
    backend = create_backend(LLMSettings())
    assert isinstance(backend, LlamaCppBackend) and backend.repack is False
    monkeypatch.setenv("VISORCH_LLM_REPACK", "1")
    backend = create_backend(LLMSettings())
    assert isinstance(backend, LlamaCppBackend) and backend.repack is True


@pytest.mark.parametrize("enabled", [False, True])
def test_repack_setting_reaches_the_model_params(enabled: bool) -> None:
    import llama_cpp.llama as llama_module

    library = llama_module.llama_cpp
    original = library.llama_model_default_params
    with weight_repacking(enabled):
        assert library.llama_model_default_params().use_extra_bufts is enabled
    assert library.llama_model_default_params is original  # restored afterwards
    assert original().use_extra_bufts is True  # llama.cpp's own default, which crashes on some CPUs
