"""The LLM layer against real backends: an embedded GGUF, a real local OpenAI-compatible server, real sockets.

The GGUF tests use the planner model the offline pack installs (``visorch models install-offline``
puts Qwen2.5-Coder-1.5B-Instruct under the weights root); ``VISORCH_TEST_GGUF`` points them at
another chat GGUF. Nothing here downloads anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import ValidationError
from visorch.llm import (
    ChatMessage,
    LlamaCppBackend,
    LLMAuthError,
    LLMConfigError,
    LLMContextLengthError,
    LLMGrammarError,
    LLMRequest,
    LLMResponse,
    LLMResponseError,
    LLMSettings,
    LLMTimeoutError,
    LLMUnreachableError,
    OpenAICompatibleBackend,
    ScriptedLLM,
    TransformersBackend,
    create_backend,
    default_gguf_path,
)
from visorch.llm.llama_cpp_backend import OPENMP_SPINCOUNT, limit_openmp_spinning
from visorch.programs.errors import ProgramSyntaxError
from visorch.programs.parser import parse_program
from visorch.tools.errors import ConfigError, MissingWeightsError

from benchmarks.llm_bench import SAMPLE_JUDGE_PROMPT as JUDGE_PREFIX
from benchmarks.llm_bench import SAMPLE_PLANNER_PROMPT as PLANNER_PREFIX

# The backend bounds llama.cpp's OpenMP spinning before its first import of llama_cpp; a test below
# imports llama_cpp directly, so do it here too.
limit_openmp_spinning()

COUNT_LINE_GRAMMAR = r"""root ::= target "=COUNT(box=" box ")"
target ::= "ANSWER" [0-9]
box ::= "BOX" [0-9]
"""
COUNT_LINE = re.compile(r"ANSWER[0-9]=COUNT\(box=BOX[0-9]\)")
PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def _user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def _find_test_gguf() -> Path | None:
    """The offline pack's planner GGUF, or VISORCH_TEST_GGUF; never downloads."""
    explicit = os.environ.get("VISORCH_TEST_GGUF")
    candidate = Path(explicit) if explicit else default_gguf_path()
    return candidate if candidate.is_file() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gguf_path() -> Path:
    """A chat GGUF on disk, or a skip that says how to install one."""
    found = _find_test_gguf()
    if found is None:
        pytest.skip(
            f"no GGUF at {default_gguf_path()}: run `visorch models install-offline` (or set VISORCH_TEST_GGUF)"
        )
    return found


@pytest.fixture(scope="module")
def llama_backend(gguf_path: Path) -> Iterator[LlamaCppBackend]:
    """One embedded model shared by the module's tests (loading it once keeps the suite fast)."""
    backend = LlamaCppBackend(gguf_path, n_ctx=2048, timeout_s=120, prompt_cache_mb=1024)
    yield backend
    backend.close()


# --- requests and settings --------------------------------------------------------------------------


def test_request_accepts_at_most_one_constraint() -> None:
    with pytest.raises(ValidationError, match="at most one"):
        LLMRequest(messages=_user("hi"), grammar="root ::= 'a'", regex="a")
    assert LLMRequest(messages=_user("hi"), regex="a+").constraint == "regex"
    assert LLMRequest(messages=_user("hi")).temperature == 0.0


def test_settings_from_environment_build_the_named_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISORCH_LLM_BACKEND", "openai")
    monkeypatch.setenv("VISORCH_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("VISORCH_LLM_CONSTRAINT_MODE", "gbnf")
    monkeypatch.setenv("VISORCH_LLM_TIMEOUT_S", "7")
    backend = create_backend(LLMSettings())
    assert isinstance(backend, OpenAICompatibleBackend)
    assert (backend.base_url, backend.timeout_s, backend.supports_grammar) == ("http://127.0.0.1:9/v1", 7.0, True)
    assert not backend.supports_regex


def test_default_backend_is_the_embedded_gguf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VISORCH_HOME", str(tmp_path))
    monkeypatch.delenv("VISORCH_LLM_BACKEND", raising=False)
    monkeypatch.delenv("VISORCH_LLM_MODEL", raising=False)
    settings = LLMSettings()
    backend = create_backend(settings)
    assert isinstance(backend, LlamaCppBackend)
    assert backend.model_path == tmp_path / "weights" / "qwen2.5-coder-1.5b-instruct" / backend.model
    assert backend.n_threads == settings.n_threads == os.cpu_count()
    with pytest.raises(MissingWeightsError, match="visorch models install-offline"):
        backend.complete(LLMRequest(messages=_user("hi")))


def test_transformers_backend_needs_a_model() -> None:
    with pytest.raises(LLMConfigError, match="VISORCH_LLM_MODEL") as raised:
        create_backend(LLMSettings(backend="transformers", model=None))
    assert isinstance(raised.value, ConfigError)  # one "fix your configuration" class for callers


# --- the scripted test double ------------------------------------------------------------------


def test_scripted_llm_async_and_exhaustion() -> None:
    scripted = ScriptedLLM(["one"])
    response = asyncio.run(scripted.acomplete(LLMRequest(messages=_user("hi"))))
    assert (response.text, response.backend, response.constraint_enforced) == ("one", "scripted", False)
    with pytest.raises(LLMResponseError, match="no reply left"):
        scripted.complete(LLMRequest(messages=_user("hi")))
    with pytest.raises(ProgramSyntaxError):
        parse_program(response.text + "!")


# --- OpenAI-compatible backend: failures on real sockets ---------------------------------------------


def test_dead_endpoint_is_unreachable_within_seconds() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    backend = OpenAICompatibleBackend(url, model="m", timeout_s=20, max_retries=2, retry_backoff_s=0.2)
    import openai  # noqa: F401  # imported before the clock starts: the import alone takes seconds on a busy machine

    started = time.monotonic()
    with pytest.raises(LLMUnreachableError, match="start the server or fix OPENAI_BASE_URL") as raised:
        backend.complete(LLMRequest(messages=_user("hi")))
    assert time.monotonic() - started < 5
    assert url in str(raised.value)


@pytest.fixture()
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and reads requests but never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                connection, _ = server.accept()
                accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    stop.set()
    thread.join(timeout=2)
    for connection in accepted:
        connection.close()
    server.close()


def test_server_that_never_answers_times_out_within_the_deadline(silent_server: str) -> None:
    backend = OpenAICompatibleBackend(silent_server, model="m", timeout_s=1.5, max_retries=2)
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError, match=re.escape("did not answer within 1.5 s")):
        backend.complete(LLMRequest(messages=_user("hi")))
    assert 1.4 < time.monotonic() - started < 3.0


class _ScriptedHTTPHandler(BaseHTTPRequestHandler):
    """Answers each POST with the next (status, headers, body) of the server's script."""

    def do_POST(self) -> None:
        self.server.received.append(json.loads(self.rfile.read(int(self.headers.get("content-length", 0)))))  # type: ignore[attr-defined]
        status, headers, body = self.server.script.pop(0)  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


def _completion_body(text: str) -> bytes:
    return json.dumps(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    ).encode()


@pytest.fixture()
def http_script() -> Iterator[tuple[str, list[tuple[int, dict[str, str], bytes]], list[dict]]]:
    """A real local HTTP server replaying scripted responses and keeping the request bodies it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ScriptedHTTPHandler)
    script: list[tuple[int, dict[str, str], bytes]] = []
    server.script = script  # type: ignore[attr-defined]
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", script, server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


JSON_HEADERS = {"content-type": "application/json"}


def test_http_errors_map_to_typed_errors_and_transient_ones_are_retried(http_script) -> None:
    url, script, _ = http_script
    backend = OpenAICompatibleBackend(url, model="m", timeout_s=10, max_retries=2, retry_backoff_s=0.05)
    request = LLMRequest(messages=_user("hi"))

    script.extend([(429, {"retry-after": "0.1", **JSON_HEADERS}, b'{"error": {"message": "slow down"}}')])
    script.extend(
        [(503, JSON_HEADERS, b'{"error": {"message": "loading"}}'), (200, JSON_HEADERS, _completion_body("ok"))]
    )
    assert backend.complete(request).text == "ok"

    script.append((401, JSON_HEADERS, b'{"error": {"message": "bad key"}}'))
    with pytest.raises(LLMAuthError, match="bad key"):
        backend.complete(request)

    script.append((400, JSON_HEADERS, b'{"error": {"message": "max_tokens too large"}}'))
    with pytest.raises(LLMResponseError, match="HTTP 400: max_tokens too large"):
        backend.complete(request)

    script.extend([(500, JSON_HEADERS, b'{"error": {"message": "boom"}}')] * 3)
    with pytest.raises(LLMResponseError, match="HTTP 500: boom"):
        backend.complete(request)
    assert not script  # exactly 1 + max_retries attempts

    script.append((200, {"content-type": "text/html"}, b"<html>not an API</html>"))
    with pytest.raises(LLMResponseError, match="OpenAI-compatible"):
        backend.complete(request)

    script.append((200, JSON_HEADERS, _completion_body("")))
    with pytest.raises(LLMResponseError, match="empty completion"):
        backend.complete(request)


@pytest.mark.parametrize(
    ("mode", "request_fields", "expected_body"),
    [
        ("gbnf", {"grammar": "root ::= 'a'"}, {"grammar": "root ::= 'a'"}),
        (
            "gbnf",
            {"json_schema": {"type": "integer"}},
            {"response_format": {"type": "json_object", "schema": {"type": "integer"}}},
        ),
        ("gbnf", {"regex": "a+"}, {}),
        (
            "json_schema",
            {"json_schema": {"type": "integer"}},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": {"type": "integer"}, "strict": True},
                }
            },
        ),
        ("json_schema", {"grammar": "root ::= 'a'"}, {}),
        ("vllm", {"regex": "a+"}, {"structured_outputs": {"regex": "a+"}}),
        ("vllm", {"json_schema": {"type": "integer"}}, {"structured_outputs": {"json": {"type": "integer"}}}),
        ("vllm-guided", {"grammar": "root ::= 'a'"}, {"guided_grammar": "root ::= 'a'"}),
        ("none", {"grammar": "root ::= 'a'"}, {}),
    ],
)
def test_constraint_mode_decides_what_the_server_receives(http_script, mode, request_fields, expected_body) -> None:
    url, script, received = http_script
    script.append((200, JSON_HEADERS, _completion_body("a")))
    backend = OpenAICompatibleBackend(url, model="m", constraint_mode=mode, timeout_s=10)
    response = backend.complete(LLMRequest(messages=_user("hi"), max_tokens=5, stop=["\n"], **request_fields))
    constraint_keys = {
        "grammar",
        "response_format",
        "structured_outputs",
        "guided_grammar",
        "guided_json",
        "guided_regex",
    }
    assert {key: value for key, value in received[0].items() if key in constraint_keys} == expected_body
    assert (received[0]["max_tokens"], received[0]["temperature"], received[0]["stop"]) == (5, 0.0, ["\n"])
    assert response.constraint_enforced == bool(expected_body)


# --- TransformersBackend: code path on locally built random weights ----------------------------------


@pytest.fixture(scope="module")
def random_transformers_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama-architecture model with random weights and a byte-level BPE tokenizer, built offline."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)  # the same random weights on every run
    directory = tmp_path_factory.mktemp("random-llm")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([PLANNER_PREFIX] * 3, trainer)
    chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=chat_template
    )
    fast.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def test_transformers_backend_random_weights_code_path(random_transformers_model: Path) -> None:
    backend = TransformersBackend(random_transformers_model, local_files_only=True, timeout_s=60)
    request = LLMRequest(messages=_user("How many buses?"), max_tokens=8, grammar="root ::= 'x'")
    first = backend.complete(request)
    second = backend.complete(request)
    assert first.text == second.text  # greedy decoding is deterministic
    assert first.prompt_tokens > 5
    assert 1 <= first.completion_tokens <= 8
    assert first.finish_reason in {"stop", "length"}
    assert (first.backend, first.constraint_enforced) == ("transformers", False)
    assert len(first.text) >= 4  # seeded random weights: 8 tokens of gibberish
    stop = first.text[2:4]  # a stop string ends the text before it, as OpenAI-style APIs do
    stopped = backend.complete(request.model_copy(update={"stop": [stop]}))
    assert stopped.text == first.text[: first.text.find(stop)]
    backend.timeout_s = 1e-4
    with pytest.raises(LLMTimeoutError, match="transformers model did not finish"):
        backend.complete(request.model_copy(update={"max_tokens": 64}))
    backend.close()


def test_transformers_backend_missing_model_is_typed(tmp_path: Path) -> None:
    backend = TransformersBackend(tmp_path / "no-such-model", local_files_only=True)
    with pytest.raises(MissingWeightsError, match="no-such-model"):
        backend.complete(LLMRequest(messages=_user("hi")))


# --- LlamaCppBackend on a real GGUF -----------------------------------------------------------------


@pytest.mark.slow
def test_llama_cpp_grammar_restricts_the_output(llama_backend: LlamaCppBackend) -> None:
    request = LLMRequest(messages=_user("Write a short poem about the sea."), grammar=COUNT_LINE_GRAMMAR, max_tokens=24)
    response = llama_backend.complete(request)
    assert COUNT_LINE.fullmatch(response.text), response.text
    assert parse_program(response.text).steps[0].tool == "COUNT"
    assert (response.constraint_enforced, response.finish_reason, response.backend) == (True, "stop", "llama-cpp")
    assert response.prompt_tokens > 5 and response.completion_tokens > 3


@pytest.mark.slow
def test_llama_cpp_json_schema_restricts_the_output(llama_backend: LlamaCppBackend) -> None:
    request = LLMRequest(messages=_user("Name one painter."), json_schema=PERSON_SCHEMA, max_tokens=48)
    response = llama_backend.complete(request)
    person = json.loads(response.text)
    assert set(person) == {"name", "age"} and isinstance(person["age"], int)


@pytest.mark.slow
def test_llama_cpp_reuses_prompt_prefixes(llama_backend: LlamaCppBackend) -> None:
    def ask(system: str, question: str) -> LLMResponse:
        messages = [ChatMessage(role="system", content=system), ChatMessage(role="user", content=question)]
        return llama_backend.complete(LLMRequest(messages=messages, max_tokens=1))

    cold = ask(PLANNER_PREFIX, "How many cats are there?")
    warm = ask(PLANNER_PREFIX, "Is the bus red?")  # the prefix is still in llama.cpp's KV cache
    other_role = ask(JUDGE_PREFIX, "Is the bus red?")  # replaces the KV cache contents
    back = ask(PLANNER_PREFIX, "Are there two dogs?")  # restored from the RAM prompt cache
    assert cold.prompt_tokens > 250
    assert cold.cached_prompt_tokens < 20 and other_role.cached_prompt_tokens < 20
    assert warm.cached_prompt_tokens > cold.prompt_tokens - 20  # only the question is evaluated again
    assert back.cached_prompt_tokens > cold.prompt_tokens - 20
    print(
        f"prefix reuse ({cold.prompt_tokens} prompt tokens): cold {cold.seconds:.2f} s, warm {warm.seconds:.2f} s, "
        f"other role {other_role.seconds:.2f} s, back from RAM cache {back.seconds:.2f} s"
    )


@pytest.mark.slow
def test_llama_cpp_runs_one_generation_at_a_time(llama_backend: LlamaCppBackend) -> None:
    request = LLMRequest(messages=_user("Name a colour."), max_tokens=4)

    async def both() -> list[LLMResponse]:
        return list(await asyncio.gather(llama_backend.acomplete(request), llama_backend.acomplete(request)))

    started = time.monotonic()
    first, second = asyncio.run(both())
    elapsed = time.monotonic() - started
    assert first.text.strip() and second.text.strip()
    # Each response's time starts once it holds the model, so serialised calls add up.
    assert elapsed >= 0.9 * (first.seconds + second.seconds)


@pytest.mark.slow
def test_llama_cpp_refuses_a_request_longer_than_the_context(llama_backend: LlamaCppBackend) -> None:
    with pytest.raises(LLMContextLengthError, match="VISORCH_LLM_N_CTX"):
        llama_backend.complete(LLMRequest(messages=_user("hi"), max_tokens=llama_backend.n_ctx))


@pytest.mark.slow
def test_llama_cpp_rejects_a_broken_grammar_instead_of_crashing(llama_backend: LlamaCppBackend) -> None:
    with pytest.raises(LLMGrammarError, match="root"):
        llama_backend.complete(LLMRequest(messages=_user("hi"), grammar="root ::= ( 'a'", max_tokens=4))


@pytest.mark.slow
def test_llama_cpp_generation_stops_at_the_deadline(llama_backend: LlamaCppBackend) -> None:
    configured = llama_backend.timeout_s
    llama_backend.timeout_s = 0.5
    started = time.monotonic()
    try:
        with pytest.raises(LLMTimeoutError, match=re.escape("within 0.5 s")):
            llama_backend.complete(LLMRequest(messages=_user("Count from 1 to 300."), max_tokens=400))
    finally:
        llama_backend.timeout_s = configured
    assert time.monotonic() - started < 10


def test_prompt_state_cache_limit_counts_the_logits_rows() -> None:
    import numpy as np
    from llama_cpp.llama import LlamaState
    from visorch.llm.llama_prompt_cache import PromptStateCache

    cache = PromptStateCache(capacity_bytes=2**20)
    for first_token in range(5):  # each state: 1 KB of KV data but 300 KB of logits rows
        scores = np.zeros((75, 1000), dtype=np.single)
        ids = np.array([first_token, 1, 2, 3], dtype=np.intc)
        cache[ids.tolist()] = LlamaState(ids, scores, 4, bytes(1024), 1024, 0)
    assert len(cache.cache_state) == 3
    assert cache.cache_size <= 2**20
    assert cache[[4, 1, 2, 9]].input_ids[0] == 4  # longest-prefix lookup still works


def test_llama_cpp_missing_or_corrupt_gguf_says_how_to_install(tmp_path: Path) -> None:
    backend = LlamaCppBackend(tmp_path / "missing.gguf")
    with pytest.raises(MissingWeightsError, match=r"visorch models install-offline"):
        backend.complete(LLMRequest(messages=_user("hi")))
    assert not backend.loaded
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(range(256)))
    with pytest.raises(MissingWeightsError, match=r"did not load as a GGUF model.*install-offline"):
        LlamaCppBackend(truncated).complete(LLMRequest(messages=_user("hi")))


# --- OpenAICompatibleBackend against llama-cpp-python's real OpenAI-compatible server ------------------


SERVER_WITHOUT_REPACKING = """
import runpy, sys
from visorch.llm.llama_cpp_backend import weight_repacking
sys.argv[0] = "llama_cpp.server"
with weight_repacking(False):
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module")
def llama_server(gguf_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free port, waited for with a deadline, stopped afterwards."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    # The server builds its own Llama, with llama.cpp's default weight repacking, which segfaults on the first
    # prompt on AMX CPUs; it runs with repacking off, as the embedded backend does (see weight_repacking).
    command = [sys.executable, "-c", SERVER_WITHOUT_REPACKING, "--model", str(gguf_path), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "2048", "--n_threads", str(os.cpu_count() or 1)]
    log = log_path.open("w")  # a file, not a pipe: the server's verbose log would fill a pipe and block it
    # Bounded OpenMP spinning, as the embedded backend sets it: spinning threads crawl on a busy machine.
    environment = {"GOMP_SPINCOUNT": OPENMP_SPINCOUNT, **os.environ}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{base_url}/models", timeout=2):
                break
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not start within 90 s")
            time.sleep(0.3)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.slow
def test_openai_backend_chats_with_a_real_server(llama_server: str) -> None:
    backend = OpenAICompatibleBackend(llama_server, constraint_mode="none", timeout_s=120)
    response = backend.complete(LLMRequest(messages=_user("Reply with one word: hello."), max_tokens=8))
    assert response.text.strip()
    assert response.model.endswith(".gguf")  # resolved from the server's model list
    assert response.prompt_tokens > 0 and response.completion_tokens > 0
    assert not response.constraint_enforced
    backend.close()


@pytest.mark.slow
def test_openai_backend_gbnf_mode_enforces_grammar_and_schema(llama_server: str) -> None:
    backend = OpenAICompatibleBackend(llama_server, constraint_mode="gbnf", timeout_s=120)
    grammar_request = LLMRequest(messages=_user("Write a poem."), grammar=COUNT_LINE_GRAMMAR, max_tokens=24)
    response = backend.complete(grammar_request)
    assert COUNT_LINE.fullmatch(response.text), response.text
    assert response.constraint_enforced
    schema_request = LLMRequest(messages=_user("Name one painter."), json_schema=PERSON_SCHEMA, max_tokens=48)
    person = json.loads(backend.complete(schema_request).text)
    assert set(person) == {"name", "age"}
    regex_request = LLMRequest(messages=_user("hi"), regex="[a-z]+")
    assert not backend.enforces(regex_request)  # llama.cpp servers take no regex: the caller validates


@pytest.mark.slow
def test_openai_json_schema_mode_reports_the_servers_refusal(llama_server: str) -> None:
    # llama-cpp-python's server knows only {"type": "json_object", "schema": ...}: use constraint_mode="gbnf".
    backend = OpenAICompatibleBackend(llama_server, constraint_mode="json_schema", timeout_s=60, max_retries=0)
    with pytest.raises(LLMResponseError, match="json_object"):
        backend.complete(LLMRequest(messages=_user("Name one painter."), json_schema=PERSON_SCHEMA, max_tokens=48))
