"""The embedded default backend: a GGUF model run in-process by llama-cpp-python."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visorch.llm.base import LLMBackend
from visorch.llm.errors import (
    LLMConfigError,
    LLMContextLengthError,
    LLMGrammarError,
    LLMTimeoutError,
)
from visorch.llm.types import LLMRequest, LLMResponse
from visorch.tools.errors import MissingWeightsError
from visorch.tools.models.manager import default_weights_root

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaGrammar
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    from visorch.llm.grammar_decode import ForcedText

DEFAULT_GGUF_DIR = "qwen2.5-coder-1.5b-instruct"
DEFAULT_GGUF_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
INSTALL_HINT = "run `visorch models install-offline` (or point VISORCH_LLM_MODEL at a GGUF file)"
_GRAMMAR_CACHE_SIZE = 32
OPENMP_SPINCOUNT = "10000"


SMALL_GGUF_DIR = "qwen2.5-coder-0.5b-instruct"
PACK_GGUF_FILES = {
    DEFAULT_GGUF_DIR: DEFAULT_GGUF_FILE,
    SMALL_GGUF_DIR: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
}
"""The GGUF models of the offline pack, by item name (the 0.5B one is installed only when named)."""


def default_gguf_path(weights_root: Path | None = None) -> Path:
    """Where the offline pack installs the planner GGUF (Qwen2.5-Coder-1.5B-Instruct Q4_K_M)."""
    return (weights_root or default_weights_root()) / DEFAULT_GGUF_DIR / DEFAULT_GGUF_FILE


def pack_gguf_path(model: str, weights_root: Path | None = None) -> Path:
    """A GGUF file: an offline pack model named by its item (``qwen2.5-coder-0.5b-instruct``), else a path."""
    file_name = PACK_GGUF_FILES.get(model)
    if file_name is None:
        return Path(model).expanduser()
    return (weights_root or default_weights_root()) / model / file_name


@dataclass
class _LoadedLlama:
    llama: Llama
    formatter: Jinja2ChatFormatter
    vocab: Any


@dataclass(frozen=True)
class _CallParts:
    """Where one call's time went: prompt/grammar preparation, prompt evaluation, decoding (sampling included)."""

    prepare_s: float
    prefill_s: float
    decode_s: float


def _reset_perf(llama: Llama) -> None:
    import llama_cpp

    llama_cpp.llama_perf_context_reset(llama.ctx)


def _prefill_seconds(llama: Llama) -> float:
    """Time llama.cpp spent evaluating prompt batches since the last reset (its own perf counters)."""
    import llama_cpp

    return float(llama_cpp.llama_perf_context(llama.ctx).t_p_eval_ms) / 1000.0


class _Deadline:
    """A llama.cpp stopping criterion that ends generation once the call's deadline has passed."""

    def __init__(self, at: float) -> None:
        self.at = at
        self.passed = False

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        if time.monotonic() >= self.at:
            self.passed = True
        return self.passed


class LlamaCppBackend(LLMBackend):
    """A local GGUF chat model, loaded lazily once, enforcing GBNF grammars and JSON schemas while decoding.

    One generation runs at a time (a lock guards the model). llama.cpp keeps the tokens it last
    evaluated, so a call whose prompt starts like the previous one evaluates only the new suffix.
    ``prompt_cache_mb`` > 0 also keeps the states of earlier prompts in RAM, so prompts with
    different fixed prefixes (the agent's roles) can take turns without re-evaluating them; each
    saved state costs about 200 MB (Qwen2.5, 330 tokens) and ~0.7 s of copying per call, which
    is why it can be turned off (0) for single-prompt workloads. Measured numbers:
    ``python benchmarks/llm_bench.py``.
    """

    name = "llama-cpp"

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        timeout_s: float = 300.0,
        prompt_cache_mb: int = 1024,
        repack: bool = False,
        prefix_state_dir: Path | None = None,
        grammar_check_first: bool = True,
        jump_forward: bool = True,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else default_gguf_path()
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.n_batch = n_batch
        self.seed = seed
        self.timeout_s = timeout_s
        self.prompt_cache_mb = prompt_cache_mb
        self.repack = repack
        self.prefix_state_dir = prefix_state_dir
        """Where the KV states of fixed prompt prefixes are kept (None: not kept)."""
        self.grammar_check_first = grammar_check_first
        """Greedy grammar requests: check the likeliest token against the grammar before masking the vocabulary."""
        self.jump_forward = jump_forward
        """Greedy grammar requests with a ``forced_regex``: append forced text without sampling it."""
        self._lock = threading.Lock()
        self._loaded: _LoadedLlama | None = None
        self._grammars: OrderedDict[str, LlamaGrammar] = OrderedDict()
        self._forced_texts: dict[str, ForcedText] = {}

    @property
    def model(self) -> str:
        """The GGUF file name."""
        return self.model_path.name

    @property
    def supports_grammar(self) -> bool:
        """GBNF grammars are enforced by llama.cpp's grammar sampler."""
        return True

    @property
    def supports_json_schema(self) -> bool:
        """JSON schemas are converted to GBNF and enforced the same way."""
        return True

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory."""
        return self._loaded is not None

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Generate one chat completion (greedy at temperature 0) under the backend's lock."""
        with self._lock:
            loading = time.monotonic()
            loaded = self._load()
            started = time.monotonic()
            grammar = self._grammar_for(loaded, request)
            result, reused, parts = self._generate(loaded, request, grammar, started)
        choice = result["choices"][0]
        forced = int(result.get("forced_tokens", 0))
        usage = result["usage"]
        return LLMResponse(
            text=choice["text"],
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            seconds=time.monotonic() - started,
            cached_prompt_tokens=reused,
            backend=self.name,
            model=self.model,
            finish_reason=choice["finish_reason"] or "stop",
            constraint_enforced=grammar is not None,
            load_seconds=started - loading,
            prepare_seconds=parts.prepare_s,
            prefill_seconds=parts.prefill_s,
            decode_seconds=parts.decode_s,
            forced_tokens=forced,
        )

    def close(self) -> None:
        """Free the model and its cached prompt states; the next call loads it again."""
        with self._lock:
            if self._loaded is not None:
                self._loaded.llama.close()
                self._loaded = None
            self._grammars.clear()

    def _generate(
        self, loaded: _LoadedLlama, request: LLMRequest, grammar: LlamaGrammar | None, started: float
    ) -> tuple[dict[str, Any], int, _CallParts]:
        """Run llama.cpp; returns its completion dict, how many prompt tokens it could reuse and where the
        time went."""
        from llama_cpp import StoppingCriteriaList

        llama = loaded.llama
        messages: list[Any] = [message.model_dump() for message in request.messages]
        formatted = loaded.formatter(messages=messages)
        prompt = llama.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)
        if len(prompt) + request.max_tokens > self.n_ctx:
            raise LLMContextLengthError(
                f"the prompt has {len(prompt)} tokens and max_tokens is {request.max_tokens}, more than the "
                f"context window of {self.n_ctx}; raise VISORCH_LLM_N_CTX or shorten the prompt"
            )
        reused = _reusable_prefix(llama, prompt)
        prefix_seconds, fixed_tokens = 0.0, 0
        if self.prefix_state_dir is not None and request.fixed_messages:
            fixed = self._fixed_prefix(loaded, messages[: request.fixed_messages], prompt)
            fixed_tokens = len(fixed)
            if reused < len(fixed):
                from visorch.llm.prefix_state import PrefixStateStore

                outcome = PrefixStateStore(self.prefix_state_dir, self.model_path).prepare(llama, fixed)
                prefix_seconds = outcome.seconds
                if outcome.action == "restored":  # evaluated by an earlier process, not by this call
                    reused = max(reused, min(outcome.tokens, len(prompt) - 1))
        if self._drives_decoding(request, grammar):
            reuse = (reused, fixed_tokens)
            return self._generate_greedy_grammar(loaded, request, prompt, reuse, started, prefix_seconds)
        template_stop = [formatted.stop] if isinstance(formatted.stop, str) else list(formatted.stop or [])
        deadline = _Deadline(started + self.timeout_s)
        criteria = StoppingCriteriaList([deadline, *(formatted.stopping_criteria or [])])
        generating = time.monotonic()
        _reset_perf(llama)
        result = llama.create_completion(
            prompt=prompt,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            repeat_penalty=1.0,  # programs repeat names (BOX0, BOX0...) on purpose
            stop=[*request.stop, *template_stop],
            seed=request.seed if request.seed is not None else self.seed,
            stopping_criteria=criteria,
            grammar=grammar,
        )
        if deadline.passed:
            raise LLMTimeoutError(
                f"the local model did not finish within {self.timeout_s:g} s; raise VISORCH_LLM_TIMEOUT_S "
                f"or lower max_tokens ({request.max_tokens})"
            )
        assert isinstance(result, dict)  # create_completion returns a dict unless stream=True
        generated = time.monotonic() - generating
        prefill = min(generated, _prefill_seconds(llama))
        preparing = generating - started - prefix_seconds
        return dict(result), reused, _CallParts(preparing, prefill + prefix_seconds, generated - prefill)

    def _drives_decoding(self, request: LLMRequest, grammar: LlamaGrammar | None) -> bool:
        """Whether visorch's own greedy grammar loop decodes this request (see visorch.llm.grammar_decode)."""
        wanted = self.grammar_check_first or (self.jump_forward and request.forced_regex is not None)
        return wanted and grammar is not None and request.temperature == 0 and not request.stop

    def _generate_greedy_grammar(
        self,
        loaded: _LoadedLlama,
        request: LLMRequest,
        prompt: list[int],
        reuse: tuple[int, int],
        started: float,
        prefix_seconds: float,
    ) -> tuple[dict[str, Any], int, _CallParts]:
        """Evaluate the prompt (reusing cached states as create_completion does), then decode under the grammar
        with the likeliest token checked first and forced text jumped over. ``reuse``: the prompt tokens no call
        evaluates again (see :func:`_reusable_prefix`), and how many the fixed messages account for.

        The tokens after the fixed messages (the role's prompt and worked examples, restored
        from their prefix state) are always evaluated again from there, in the same batches, even when a cache
        holds more of the prompt: llama.cpp's numbers depend on how a prompt was split into batches, so reusing
        an earlier call's longer state could turn a near tie the other way, and the same question would get a
        different program depending on what was asked before (seen with twins of one question)."""
        from visorch.llm.grammar_decode import ForcedText, greedy_grammar_decode

        llama = loaded.llama
        grammar_text = request.grammar if request.grammar is not None else _schema_to_gbnf(request.json_schema or {})
        forced = None
        if self.jump_forward and request.forced_regex is not None:
            forced = self._forced_texts.get(request.forced_regex)
            if forced is None:
                forced = self._forced_texts[request.forced_regex] = ForcedText(request.forced_regex)
        generating = time.monotonic()
        _load_cached_state(llama, prompt)
        reused, fixed_tokens = reuse
        held = min(_common_prefix(llama.input_ids[: llama.n_tokens].tolist(), prompt), len(prompt) - 1)
        if 0 < fixed_tokens < held:
            held = fixed_tokens
        llama._ctx.kv_cache_seq_rm(-1, held, -1)
        llama.n_tokens = held
        llama.eval(prompt[held:])
        prefill = time.monotonic() - generating
        decoded = greedy_grammar_decode(
            llama, grammar_text, request.max_tokens, {llama.token_eos()}, started + self.timeout_s,
            check_first=self.grammar_check_first, forced=forced,
        )  # fmt: skip
        if decoded.finish_reason == "timeout":
            raise LLMTimeoutError(
                f"the local model did not finish within {self.timeout_s:g} s; raise VISORCH_LLM_TIMEOUT_S "
                f"or lower max_tokens ({request.max_tokens})"
            )
        if llama.cache is not None:  # as create_completion: alternating roles find this state again
            llama.cache[prompt + decoded.tokens] = llama.save_state()
        text = llama.detokenize(decoded.tokens).decode("utf-8", errors="replace")
        result = {
            "choices": [{"text": text, "finish_reason": decoded.finish_reason}],
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(decoded.tokens)},
            "forced_tokens": decoded.forced,
        }
        generated = time.monotonic() - generating
        parts = _CallParts(generating - started - prefix_seconds, prefill + prefix_seconds, generated - prefill)
        return result, min(reused, held), parts

    def _fixed_prefix(self, loaded: _LoadedLlama, fixed: list[Any], prompt: list[int]) -> list[int]:
        """The prompt tokens the fixed messages account for (their rendering, up to where the prompt differs)."""
        rendered = loaded.formatter(messages=fixed)
        text = rendered.prompt.encode("utf-8")
        tokens = loaded.llama.tokenize(text, add_bos=not rendered.added_special, special=True)
        return prompt[: _common_prefix(tokens, prompt)]

    def _load(self) -> _LoadedLlama:
        if self._loaded is not None:
            return self._loaded
        if not self.model_path.is_file():
            raise MissingWeightsError(f"no GGUF model at {self.model_path}; {INSTALL_HINT}")
        limit_openmp_spinning()
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as error:
            raise LLMConfigError("the llama-cpp backend needs llama-cpp-python: pip install 'visorch[llm]'") from error
        try:
            with weight_repacking(self.repack):
                llama = llama_cpp.Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    n_batch=self.n_batch,
                    seed=self.seed,
                    verbose=False,
                )
        except ValueError as error:  # llama-cpp-python's way of saying the file did not load
            raise MissingWeightsError(
                f"{self.model_path} did not load as a GGUF model ({error}); the file may be truncated: {INSTALL_HINT}"
            ) from error
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            llama.close()
            raise LLMConfigError(
                f"{self.model_path.name} has no chat template; use an instruct/chat GGUF (the planner needs one)"
            )
        eos_id = llama.token_eos()
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=_token_text(llama, eos_id),
            bos_token=_token_text(llama, llama.token_bos()),
            stop_token_ids=[eos_id],
        )
        if self.prompt_cache_mb > 0:
            from visorch.llm.llama_prompt_cache import PromptStateCache

            llama.set_cache(PromptStateCache(capacity_bytes=self.prompt_cache_mb * 2**20))
        self._loaded = _LoadedLlama(llama, formatter, llama_cpp.llama_model_get_vocab(llama.model))
        return self._loaded

    def _grammar_for(self, loaded: _LoadedLlama, request: LLMRequest) -> LlamaGrammar | None:
        if request.grammar is not None:
            text = request.grammar
        elif request.json_schema is not None:
            text = _schema_to_gbnf(request.json_schema)
        else:
            return None
        cached = self._grammars.get(text)
        if cached is not None:
            self._grammars.move_to_end(text)
            return cached
        grammar = _compile_grammar(loaded.vocab, text)
        self._grammars[text] = grammar
        if len(self._grammars) > _GRAMMAR_CACHE_SIZE:
            self._grammars.popitem(last=False)
        return grammar


_MODEL_PARAMS_LOCK = threading.Lock()


@contextmanager
def weight_repacking(enabled: bool) -> Iterator[None]:
    """Build llama.cpp model params with weight repacking (its "extra buffer types") on or off.

    Off by default. With repacking, llama.cpp copies the weights into CPU-specific layouts at load
    time (AMX tiles on Sapphire Rapids and later Xeons, interleaved Q4 blocks for AVX2/NEON), and
    those paths crash on some machines: llama-cpp-python 0.3.36 built with native flags segfaults
    in ``llama_decode`` on the first prompt on AMX Xeons (reproduced here; llama.cpp #20824, open
    upstream, machine-dependent), and Q4_0 repacking has crashed on AVX2 CPUs (llama.cpp #16479).
    Whether a given CPU is affected cannot be told before the process dies, so the safe default is
    off everywhere: the model then runs llama.cpp's ordinary quantised kernels, which every CPU it
    builds for can run. ``VISORCH_LLM_REPACK=1`` turns repacking back on for faster prompt
    evaluation where it is known to work (``visorch doctor`` tries the model in a child process).

    llama-cpp-python's ``Llama`` does not expose the field, so the params it builds are adjusted
    while it is constructed; a lock keeps concurrent loads from seeing each other's setting.
    """
    import llama_cpp.llama as llama_module

    library = llama_module.llama_cpp
    with _MODEL_PARAMS_LOCK:
        original = library.llama_model_default_params
        field_names = {name for name, _ in getattr(original().__class__, "_fields_", [])}
        if "use_extra_bufts" not in field_names:  # an older llama.cpp without repacking: nothing to switch
            yield
            return

        def default_params() -> Any:
            params = original()
            params.use_extra_bufts = enabled
            return params

        library.llama_model_default_params = default_params
        try:
            yield
        finally:
            library.llama_model_default_params = original


def limit_openmp_spinning() -> None:
    """Let llama.cpp's OpenMP threads spin only briefly before sleeping, unless the user set a policy.

    Measured on a 2-core machine, Qwen2.5-Coder-1.5B Q4_K_M, 2 threads, decode tok/s. Busy machine
    (load 4-9): libgomp's default 0.6-0.9, GOMP_SPINCOUNT=10000 3.2-4.0, OMP_WAIT_POLICY=PASSIVE 6.0-6.2.
    Light load: default 9.2-9.6, GOMP_SPINCOUNT=10000 8.1-8.8, PASSIVE 6.1-6.9. OpenMP runtimes read
    these variables when they load, so this affects only those loaded afterwards (llama_cpp's, and
    torch's if torch is imported later).
    """
    if "llama_cpp" in sys.modules or "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return
    os.environ["GOMP_SPINCOUNT"] = OPENMP_SPINCOUNT


def _reusable_prefix(llama: Llama, prompt: list[int]) -> int:
    """Prompt tokens llama.cpp will not evaluate again: the longest prefix shared with the tokens in its
    KV cache, or with a state kept in its prompt cache (it loads that state when the prefix is longer)."""
    evaluated = _common_prefix(llama.input_ids[: llama.n_tokens].tolist(), prompt)
    if llama.cache is not None:
        try:
            state = llama.cache[prompt]
        except KeyError:
            pass
        else:
            evaluated = max(evaluated, _common_prefix(state.input_ids[: state.n_tokens].tolist(), prompt))
    # llama.cpp re-evaluates the last prompt token when the whole prompt is cached, to refresh its logits
    return min(evaluated, len(prompt) - 1)


def _load_cached_state(llama: Llama, prompt: list[int]) -> None:
    """Load the RAM prompt cache's state for ``prompt`` when it shares more with it than the KV cache does
    (what llama-cpp-python's create_completion does before evaluating a prompt)."""
    if llama.cache is None:
        return
    try:
        state = llama.cache[prompt]
    except KeyError:
        return
    cached = _common_prefix(state.input_ids[: state.n_tokens].tolist(), prompt)
    if cached > _common_prefix(llama.input_ids[: llama.n_tokens].tolist(), prompt):
        llama.load_state(state)


def _common_prefix(first: list[int], second: list[int]) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


def _token_text(llama: Llama, token: int) -> str:
    return llama.detokenize([token], special=True).decode("utf-8", errors="replace") if token != -1 else ""


def _schema_to_gbnf(schema: dict[str, Any]) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as error:  # the converter raises bare exceptions for unsupported schema features
        raise LLMGrammarError(
            f"the JSON schema cannot be turned into a grammar ({error}); simplify the schema"
        ) from error


def _compile_grammar(vocab: Any, text: str) -> LlamaGrammar:
    """Check a GBNF grammar with llama.cpp's own parser before use (an invalid one would crash the sampler)."""
    import llama_cpp
    from llama_cpp import LlamaGrammar

    sampler = llama_cpp.llama_sampler_init_grammar(vocab, text.encode("utf-8"), b"root")
    if not sampler:
        first_line = text.strip().splitlines()[0] if text.strip() else "(empty)"
        raise LLMGrammarError(
            "the GBNF grammar does not compile (llama.cpp printed the parse error on stderr); it needs a "
            f"`root ::= ...` rule and llama.cpp GBNF syntax. It starts with: {first_line[:120]}"
        )
    llama_cpp.llama_sampler_free(sampler)
    return LlamaGrammar.from_string(text, verbose=False)
