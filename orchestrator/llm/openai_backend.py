"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp's server, llama-cpp-python's server)."""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from visorch.llm.base import LLMBackend
from visorch.llm.errors import (
    LLMAuthError,
    LLMConfigError,
    LLMResponseError,
    LLMTimeoutError,
    LLMUnreachableError,
)
from visorch.llm.types import LLMRequest, LLMResponse

if TYPE_CHECKING:
    import openai

ConstraintMode = Literal["gbnf", "json_schema", "vllm", "vllm-guided", "none"]
"""How a request's constraint is sent to the server:

- ``gbnf``: llama.cpp servers; a grammar as ``grammar`` in the body, a JSON schema as
  ``response_format={"type": "json_object", "schema": ...}``; regexes are not enforced.
- ``json_schema``: the OpenAI standard (OpenAI, vLLM, llama.cpp); only JSON schemas are enforced.
- ``vllm``: vLLM's ``structured_outputs`` body field (``grammar``, ``json`` or ``regex``; vLLM >= 0.10.2).
- ``vllm-guided``: vLLM's older ``guided_grammar``, ``guided_json``, ``guided_regex`` fields (removed in 0.12).
- ``none``: nothing is sent; every response reports its constraint as not enforced.
"""

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_SUPPORTED: dict[str, frozenset[str]] = {
    "gbnf": frozenset({"grammar", "json_schema"}),
    "json_schema": frozenset({"json_schema"}),
    "vllm": frozenset({"grammar", "json_schema", "regex"}),
    "vllm-guided": frozenset({"grammar", "json_schema", "regex"}),
    "none": frozenset(),
}
_RETRY_STATUS = frozenset({408, 409, 429})
MAX_RESPONSE_BYTES = 16 * 2**20
"""A completion body larger than this is refused (a runaway server), not read into memory."""
T = TypeVar("T")


class OpenAICompatibleBackend(LLMBackend):
    """A chat model behind an OpenAI-compatible HTTP API, with a deadline and bounded retries on every call.

    ``timeout_s`` bounds a whole :meth:`complete` call, retries included. Connection errors, HTTP 5xx,
    408, 409 and 429 are retried (at most ``max_retries`` times, with exponential backoff, while the
    deadline allows); other errors are raised at once as typed :class:`LLMError` subclasses.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        *,
        constraint_mode: ConstraintMode = "json_schema",
        timeout_s: float = 120.0,
        max_retries: int = 2,
        retry_backoff_s: float = 0.5,
    ) -> None:
        if constraint_mode not in _SUPPORTED:
            raise LLMConfigError(f"unknown constraint_mode {constraint_mode!r}; use one of {', '.join(_SUPPORTED)}")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        # Local servers ignore the key, but the SDK refuses to start without one.
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or "no-key"
        self._model = model or os.environ.get("VISORCH_LLM_MODEL") or None
        self.constraint_mode = constraint_mode
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self._client: openai.OpenAI | None = None
        self._client_lock = threading.Lock()

    @property
    def model(self) -> str:
        """The model name sent to the server (the server's first listed model when none was configured)."""
        return self._model or ""

    @property
    def supports_grammar(self) -> bool:
        """Whether the configured constraint mode sends GBNF grammars to the server."""
        return "grammar" in _SUPPORTED[self.constraint_mode]

    @property
    def supports_json_schema(self) -> bool:
        """Whether the configured constraint mode sends JSON schemas to the server."""
        return "json_schema" in _SUPPORTED[self.constraint_mode]

    @property
    def supports_regex(self) -> bool:
        """Whether the configured constraint mode sends regular expressions to the server."""
        return "regex" in _SUPPORTED[self.constraint_mode]

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Send one chat completion; every failure becomes a typed error within ``timeout_s``."""
        client = self._get_client()  # first: importing the SDK and building the client is not the server's time
        started = time.monotonic()
        deadline = started + self.timeout_s
        model = self._model or self._resolve_model(client, deadline)
        params = self._params(request, model)
        data = self._call(lambda timeout: self._post_completion(client, params, timeout, deadline), deadline)
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise LLMResponseError(
                f"{self.base_url} answered without any choices; is it an OpenAI-compatible endpoint "
                "(the URL usually ends in /v1)?"
            )
        choice = choices[0]
        message = _mapping(choice.get("message"))
        text = message.get("content")
        finish_reason = str(choice.get("finish_reason") or "stop")
        if not isinstance(text, str) or (not text.strip() and finish_reason != "length"):
            raise LLMResponseError(f"{self.base_url} returned an empty completion (finish_reason={finish_reason})")
        usage = _mapping(data.get("usage"))
        details = _mapping(usage.get("prompt_tokens_details"))
        return LLMResponse(
            text=text,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            seconds=time.monotonic() - started,
            cached_prompt_tokens=_count(details.get("cached_tokens")),
            backend=self.name,
            model=model,
            finish_reason=finish_reason,
            constraint_enforced=self.enforces(request),
        )

    def _post_completion(self, client: openai.OpenAI, params: dict[str, Any], timeout: float, deadline: float) -> Any:
        """POST the request and read the JSON body, giving up at ``deadline`` even if bytes keep coming.

        The SDK's timeout bounds each network read, not the whole answer: a server that trickles a
        byte a second (or streams forever) would never time out. So the body is read here in chunks
        with the deadline checked between them, and parsed here, so truncated or garbage JSON is a
        typed error too.
        """
        timeouts, transport_errors = _http_errors()
        body = bytearray()
        try:
            with client.chat.completions.with_streaming_response.create(**params, timeout=timeout) as response:
                for chunk in response.iter_bytes():
                    body += chunk
                    if time.monotonic() > deadline:
                        raise self._timeout_error()
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise LLMResponseError(
                            f"{self.base_url} sent more than {MAX_RESPONSE_BYTES // 2**20} MiB for one completion"
                        )
        except timeouts as error:
            raise self._timeout_error() from error
        except transport_errors as error:  # the connection broke while the body was read
            raise LLMResponseError(f"{self.base_url} broke off its response ({_cause(error)})") from error
        try:
            return json.loads(bytes(body).decode("utf-8"))
        except ValueError as error:  # UnicodeDecodeError included
            preview = bytes(body[:80]).decode("utf-8", "replace")
            raise LLMResponseError(
                f"{self.base_url} sent a response that is not valid JSON ({error}; it starts {preview!r}); is it an "
                "OpenAI-compatible endpoint (the URL usually ends in /v1)?"
            ) from error

    def close(self) -> None:
        """Close the HTTP connection pool."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _params(self, request: LLMRequest, model: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": model,
            "messages": [message.model_dump() for message in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            params["stop"] = request.stop
        if request.seed is not None:
            params["seed"] = request.seed
        if not self.enforces(request):
            return params
        mode = self.constraint_mode
        if mode == "gbnf" and request.grammar is not None:
            params["extra_body"] = {"grammar": request.grammar}
        elif mode == "gbnf":
            params["response_format"] = {"type": "json_object", "schema": request.json_schema}
        elif mode == "json_schema":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.json_schema, "strict": True},
            }
        else:  # vllm, vllm-guided
            constraint = request.constraint
            assert constraint is not None  # enforces() is False for unconstrained requests
            value = {"grammar": request.grammar, "json_schema": request.json_schema, "regex": request.regex}[constraint]
            if mode == "vllm":
                field = {"grammar": "grammar", "json_schema": "json", "regex": "regex"}[constraint]
                params["extra_body"] = {"structured_outputs": {field: value}}
            else:
                field = {"grammar": "guided_grammar", "json_schema": "guided_json", "regex": "guided_regex"}[constraint]
                params["extra_body"] = {field: value}
        return params

    def _get_client(self) -> openai.OpenAI:
        with self._client_lock:
            if self._client is None:
                try:
                    import openai
                except ImportError as error:
                    raise LLMConfigError(
                        "the openai backend needs the openai SDK: pip install 'visorch[llm]'"
                    ) from error
                self._client = openai.OpenAI(
                    base_url=self.base_url, api_key=self._api_key, max_retries=0, timeout=self.timeout_s
                )
            return self._client

    def _resolve_model(self, client: openai.OpenAI, deadline: float) -> str:
        models = self._call(lambda timeout: client.models.list(timeout=timeout), deadline)
        names = [entry.id for entry in getattr(models, "data", None) or []]
        if not names:
            raise LLMConfigError(f"{self.base_url} lists no models; set VISORCH_LLM_MODEL to the model to use")
        self._model = names[0]
        return names[0]

    def _call(self, send: Callable[[float], T], deadline: float) -> T:
        """Run ``send(timeout)`` with the remaining time, retrying transient failures while the deadline allows."""
        import openai

        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout_error()
            try:
                return send(remaining)
            except openai.APITimeoutError as error:
                raise self._timeout_error() from error
            except openai.APIConnectionError as error:
                cause: Exception = error
                failure: Exception = LLMUnreachableError(
                    f"cannot reach the LLM server at {self.base_url} ({_cause(error)}); start the server or fix "
                    "OPENAI_BASE_URL / VISORCH_LLM_BASE_URL"
                )
                retry_after = None
            except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
                raise LLMAuthError(
                    f"{self.base_url} rejected the API key (HTTP {error.status_code}: {_server_message(error)}); "
                    "set OPENAI_API_KEY or VISORCH_LLM_API_KEY"
                ) from error
            except openai.APIStatusError as error:
                cause = error
                failure = LLMResponseError(
                    f"{self.base_url} answered HTTP {error.status_code}: {_server_message(error)}"
                )
                if error.status_code < 500 and error.status_code not in _RETRY_STATUS:
                    raise failure from error
                retry_after = _retry_after(error)
            except openai.APIError as error:  # e.g. a 200 response whose body is not the expected JSON
                raise LLMResponseError(f"{self.base_url} sent an unusable response: {error}") from error
            attempt += 1
            delay = retry_after if retry_after is not None else self.retry_backoff_s * 2 ** (attempt - 1)
            if attempt > self.max_retries or time.monotonic() + delay >= deadline:
                raise failure from cause
            time.sleep(delay)

    def _timeout_error(self) -> LLMTimeoutError:
        return LLMTimeoutError(
            f"the LLM server at {self.base_url} did not answer within {self.timeout_s:g} s; check that it is not "
            "overloaded, or raise VISORCH_LLM_TIMEOUT_S"
        )


def _http_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(timeout, transport) exception classes of the HTTP library the openai SDK reads bodies with.

    openai 1.x and 2.x use httpx; later releases ship it as httpx2. Errors raised while a body is
    read are that library's own, not the SDK's.
    """
    timeouts: list[type[Exception]] = []
    transport: list[type[Exception]] = []
    for name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        transport.append(module.HTTPError)
    return tuple(timeouts), tuple(transport)


def _mapping(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (malformed parts of a response)."""
    return value if isinstance(value, dict) else {}


def _count(value: object) -> int:
    """A token count from the usage block, 0 when missing or malformed."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _cause(error: BaseException) -> str:
    """The innermost exception's message (e.g. 'Connection refused'), which the SDK's own message hides."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error) or type(error).__name__


def _server_message(error: openai.APIStatusError, limit: int = 500) -> str:
    message = _full_server_message(error)
    return message if len(message) <= limit else message[:limit] + " ..."


def _full_server_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(body.get("detail"), str | list):
            return str(body["detail"])
    return error.message


def _retry_after(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
