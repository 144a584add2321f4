"""LLM endpoint faults: a loopback OpenAI-compatible test double that misbehaves in every way we know.

Each fault (dead, slow past the timeout, HTTP 500, garbage, truncated JSON, invalid JSON, empty
choices, a body that trickles forever, a stall after the headers) must end as a typed LLMError
within the configured bound (timeout_s plus a little slack), never a hang and never an answer.
The wall time of each is printed (pytest -s) and kept in FAULT_SECONDS for the report.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from visorch.llm.errors import LLMError, LLMResponseError, LLMTimeoutError, LLMUnreachableError
from visorch.llm.openai_backend import OpenAICompatibleBackend
from visorch.llm.types import ChatMessage, LLMRequest

pytest.importorskip("openai")  # imported before any clock starts

TIMEOUT_S = 2.0
SLACK_S = 1.5
"""A fault must end within TIMEOUT_S + SLACK_S."""

FAULT_SECONDS: dict[str, float] = {}


def _completion(text: str) -> dict[str, object]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


class FaultyEndpointTestDouble(BaseHTTPRequestHandler):
    """Test double of an OpenAI-compatible server: the first path segment names the fault to act out."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        fault = self.path.strip("/").split("/")[0]
        if fault == "slow":
            time.sleep(TIMEOUT_S * 3)
            self._send(200, json.dumps(_completion("late")).encode())
        elif fault == "http500":
            self._send(500, b'{"error": {"message": "internal failure"}}')
        elif fault == "garbage":
            self._send(200, b"\x00\xff<html>garbage", "text/html")
        elif fault == "invalid-json":
            self._send(200, b"{this is not json")
        elif fault == "truncated-json":
            body = json.dumps(_completion("FINAL=RESULT(var=IMAGE)")).encode()
            self._send(200, body[: len(body) // 2])
        elif fault == "empty-choices":
            self._send(200, json.dumps({**_completion(""), "choices": []}).encode())
        elif fault == "null-content":
            body = _completion("")
            body["choices"][0]["message"]["content"] = None  # type: ignore[index]
            self._send(200, json.dumps(body).encode())
        elif fault == "stream-forever":
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                while True:  # a chunk of whitespace every 0.2 s: no read ever times out
                    self.wfile.write(b"1\r\n \r\n")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                return
        elif fault == "stall-after-headers":
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "1000")
            self.end_headers()
            self.wfile.write(b'{"choices": [')
            self.wfile.flush()
            time.sleep(TIMEOUT_S * 3)
        else:
            self._send(200, json.dumps(_completion("ANSWER0=EVAL(expr='1')")).encode())

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may have given up already
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """The test double's base URL (http://127.0.0.1:PORT)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FaultyEndpointTestDouble)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ask(base_url: str) -> tuple[object, float]:
    backend = OpenAICompatibleBackend(base_url, model="m", timeout_s=TIMEOUT_S, max_retries=2, retry_backoff_s=0.1)
    started = time.monotonic()
    try:
        outcome: object = backend.complete(LLMRequest(messages=[ChatMessage(role="user", content="hi")]))
    except Exception as error:  # judged by the caller: only LLMError subclasses pass
        outcome = error
    finally:
        backend.close()
    return outcome, time.monotonic() - started


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ("dead", LLMUnreachableError),
        ("slow", LLMTimeoutError),
        ("http500", LLMResponseError),
        ("garbage", LLMResponseError),
        ("invalid-json", LLMResponseError),
        ("truncated-json", LLMResponseError),
        ("empty-choices", LLMResponseError),
        ("null-content", LLMResponseError),
        ("stream-forever", LLMTimeoutError),
        ("stall-after-headers", LLMTimeoutError),
    ],
)
def test_each_fault_is_a_typed_error_within_the_bound(endpoint: str, fault: str, error_type: type) -> None:
    base_url = f"http://127.0.0.1:{_free_port()}/v1" if fault == "dead" else f"{endpoint}/{fault}/v1"
    outcome, seconds = _ask(base_url)
    FAULT_SECONDS[fault] = seconds
    print(f"\n{fault}: {type(outcome).__name__} after {seconds:.2f} s: {str(outcome)[:120]}")
    assert isinstance(outcome, LLMError), f"{fault}: {type(outcome).__name__}: {outcome}"
    assert isinstance(outcome, error_type), f"{fault}: {type(outcome).__name__}: {outcome}"
    assert seconds < TIMEOUT_S + SLACK_S, f"{fault} took {seconds:.1f} s"


def test_a_healthy_test_double_answers(endpoint: str) -> None:
    outcome, seconds = _ask(f"{endpoint}/ok/v1")
    assert getattr(outcome, "text", None) == "ANSWER0=EVAL(expr='1')", outcome
    assert seconds < TIMEOUT_S


def test_a_backend_recovers_after_a_timed_out_call(endpoint: str) -> None:
    backend = OpenAICompatibleBackend(f"{endpoint}/stream-forever/v1", model="m", timeout_s=1.0, max_retries=0)
    request = LLMRequest(messages=[ChatMessage(role="user", content="hi")])
    with pytest.raises(LLMTimeoutError):
        backend.complete(request)
    backend.base_url = f"{endpoint}/ok/v1"
    backend.close()  # the next call opens a fresh client on the new URL
    assert backend.complete(request).text == "ANSWER0=EVAL(expr='1')"
    backend.close()
